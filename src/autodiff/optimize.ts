// Peephole clean-up of a batched backward pass: a k-sized product that is then scaled by a scalar,
// (a * F) * c or (a * F) / c with F and c free of k, becomes a * (F * c), so the scaling happens once on
// the forward side instead of on every row.
import { Graph, Node } from '../graph/graph.js';
import { sizeOf } from '../graph/tensor.js';
import { Emitter } from './emit.js';

/**
 * Rewrites `g.nodes[from..]` in place. `kInputs` are the values that carry the k axis (the cotangent
 * inputs); `shapes` gives forward shapes, used to spot scalars.
 */
export function foldScalars(g: Graph, from: number, kInputs: string[], shapes: Map<string, number[]>, e: Emitter): void {
  const hasK = new Set(kInputs);
  const producer = new Map<string, Node>();
  const uses = new Map<string, number>();
  for (const n of g.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
  for (const o of g.outputs) uses.set(o.name, (uses.get(o.name) ?? 0) + 1);
  const isScalar = (v: string) => {
    const t = g.initializers.get(v);
    if (t) return t.size === 1;
    const s = shapes.get(v);
    return !!s && sizeOf(s) === 1;
  };
  const nodes = g.nodes;
  for (let j = from; j < nodes.length; j++) {
    const n = nodes[j];
    if (n.inputs.some((i) => hasK.has(i))) for (const o of n.outputs) hasK.add(o);
    for (const o of n.outputs) producer.set(o, n);
    if ((n.op !== 'Mul' && n.op !== 'Div') || n.inputs.length !== 2) continue;
    let [u, c] = n.inputs;
    if (n.op === 'Mul' && !hasK.has(u)) [u, c] = [c, u];
    if (!hasK.has(u) || hasK.has(c) || !isScalar(c) || uses.get(u) !== 1) continue;
    const p = producer.get(u);
    if (!p || p.op !== 'Mul' || p.inputs.length !== 2) continue;
    const [a, f] = hasK.has(p.inputs[0]) ? p.inputs : [p.inputs[1], p.inputs[0]];
    if (!hasK.has(a) || hasK.has(f)) continue;
    // f * c (or f / c) once, on the forward side, placed just before n
    const before = nodes.length;
    const fc = e.op(n.op, [f, c]);
    const made = nodes.splice(before);
    nodes.splice(j, 0, ...made);
    j += made.length;
    n.op = 'Mul';
    n.inputs = [a, fc];
    uses.set(u, 0);
    uses.set(a, (uses.get(a) ?? 0) + 1);
  }
}
