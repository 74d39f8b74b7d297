// Batched-mode fusion of elementwise chains. A chain of elementwise ops with one active input x and one
// output y of x's shape (GELU, SiLU, scalings, ...) has a diagonal Jacobian D = dy/dx. D is computed once on
// the forward side by forward mode with tangent 1, so the backward costs one k-sized Mul instead of one
// or more per op.
import { Node } from '../graph/graph.js';
import { Ctx } from './context.js';
import { powDerivative, UNARY_DERIVATIVES } from './rules/elementwise.js';

export interface Region {
  root: Node;
  /** in forward order */
  nodes: Node[];
  /** the one active input */
  input: string;
}

const LINEAR = new Set(['Add', 'Sub', 'Mul', 'Div', 'Neg', 'Identity']);

function fusible(n: Node, active: Set<string>): boolean {
  if ((n.domain && n.domain !== 'ai.onnx') || n.outputs.length !== 1) return false;
  if (LINEAR.has(n.op)) return true;
  if (n.op === 'Pow') return !active.has(n.inputs[1]);
  return n.op in UNARY_DERIVATIVES;
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Finds the chains worth fusing. `onPath` lists the nodes that get rules, in reverse topological order;
 * `consumers` maps a value to the on-path nodes reading it.
 */
export function findRegions(
  onPath: Node[],
  active: Set<string>,
  outputs: Set<string>,
  shapeOf: (v: string) => number[],
  producer: Map<string, Node>,
  consumers: Map<string, Node[]>,
): { regions: Map<Node, Region>; absorbed: Set<Node> } {
  const regions = new Map<Node, Region>();
  const absorbed = new Set<Node>();
  const position = new Map(onPath.map((n, i) => [n, i]));
  for (const root of onPath) {
    if (absorbed.has(root) || !fusible(root, active)) continue;
    const yShape = shapeOf(root.outputs[0]);
    const inR = new Set<Node>([root]);
    const stack = root.inputs.filter((v) => active.has(v));
    while (stack.length) {
      const v = stack.pop()!;
      const p = producer.get(v);
      if (!p || inR.has(p) || absorbed.has(p) || !position.has(p) || !fusible(p, active)) continue;
      if (outputs.has(v) || !same(shapeOf(v), yShape)) continue;
      if (!(consumers.get(v) ?? []).every((n) => inR.has(n))) continue;
      inR.add(p);
      for (const i of p.inputs) if (active.has(i)) stack.push(i);
    }
    if (inR.size < 2) continue;
    const produced = new Set([...inR].map((n) => n.outputs[0]));
    const ext = new Set<string>();
    for (const n of inR) for (const i of n.inputs) if (active.has(i) && !produced.has(i)) ext.add(i);
    if (ext.size !== 1) continue;
    const input = [...ext][0];
    if (!same(shapeOf(input), yShape)) continue;
    const nodes = [...inR].sort((a, b) => position.get(b)! - position.get(a)!);
    regions.set(root, { root, nodes, input });
    for (const n of inR) if (n !== root) absorbed.add(n);
  }
  return { regions, absorbed };
}

const ONE = '\u0001one';

/** The cotangent of the region's input: dy * D, with D from forward mode over the region. */
export function applyRegion(c: Ctx, r: Region, dy: string): string {
  const dt = c.dtype(r.input);
  const one = () => c.scalar(1, dt);
  const mulT = (t: string | undefined, v: string) => (!t ? undefined : t === ONE ? v : c.e.mul(t, v));
  const negT = (t: string | undefined) => (!t ? undefined : t === ONE ? c.scalar(-1, dt) : c.e.neg(t));
  const addT = (a: string | undefined, b: string | undefined) => {
    if (!a) return b;
    if (!b) return a;
    if (a === ONE && b === ONE) return c.scalar(2, dt);
    return c.e.add(a === ONE ? one() : a, b === ONE ? one() : b);
  };
  const tan = new Map<string, string>([[r.input, ONE]]);
  for (const n of r.nodes) {
    c.attach(n, [], []);
    const t = (i: number) => tan.get(n.inputs[i]);
    const [a, b] = n.inputs;
    let out: string | undefined;
    switch (n.op) {
      case 'Add':
        out = addT(t(0), t(1));
        break;
      case 'Sub':
        out = addT(t(0), negT(t(1)));
        break;
      case 'Mul':
        out = addT(mulT(t(0), b), mulT(t(1), a));
        break;
      case 'Div': {
        const t0 = t(0);
        out = addT(t0 === ONE ? c.e.div(one(), b) : t0 ? c.e.div(t0, b) : undefined, negT(mulT(t(1), c.e.div(c.y, b))));
        break;
      }
      case 'Neg':
        out = negT(t(0));
        break;
      case 'Identity':
        out = t(0);
        break;
      case 'Pow': {
        const d = powDerivative(c);
        out = d ? mulT(t(0), d) : t(0);
        break;
      }
      default:
        out = mulT(t(0), UNARY_DERIVATIVES[n.op](c));
    }
    if (out) tan.set(n.outputs[0], out);
  }
  const d = tan.get(r.root.outputs[0]);
  if (!d) throw c.fail('fused region does not depend on its input');
  return d === ONE ? dy : c.e.mul(dy, d);
}
