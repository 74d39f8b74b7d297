// Reverse mode on ONNX graphs: builds a graph that computes vector-Jacobian products.
import { GraphBuilder } from '../graph/builder.js';
import { cloneGraph, Dim, Graph, Node, producers, pruneGraph, topoSort } from '../graph/graph.js';
import { isFloat } from '../graph/tensor.js';
import { Ctx, ForwardInfo } from './context.js';
import { inferDtypes } from './dtypes.js';
import { Emitter } from './emit.js';
import { applyRegion, findRegions, Region } from './fuse.js';
import { foldScalars } from './optimize.js';
import { concreteInputShapes, probeGraph } from './probe.js';
import { RULES, ZERO_GRAD_OPS } from './rules/index.js';

export type VjpMode = 'standard' | 'batched';

export interface VjpOptions {
  /** forward values to differentiate (graph outputs or intermediates), float */
  outputs: string[];
  /** graph inputs or initializers */
  wrt: string[];
  /** default 'standard' */
  mode?: VjpMode;
  /** concrete shapes for inputs with symbolic dims */
  inputShapes?: Record<string, number[]>;
  /** also output the forward `outputs` (default true) */
  keepOutputs?: boolean;
}

export interface VjpResult {
  /** forward inputs + one cotangent input per output; outputs: grads (+ forward outputs) */
  graph: Graph;
  /** names of the cotangent inputs, in the order of opts.outputs */
  cotangents: string[];
  /** names of the gradient outputs, in the order of opts.wrt */
  grads: string[];
}

function checkNames(g: Graph, list: unknown, what: string): string[] {
  if (!Array.isArray(list) || !list.length || list.some((s) => typeof s !== 'string')) {
    throw new Error(`vjp(${g.name}): ${what} must be a non-empty list of value names`);
  }
  if (new Set(list).size !== list.length) throw new Error(`vjp(${g.name}): ${what} lists a name twice`);
  return list as string[];
}

/**
 * Builds the VJP graph of `g`. Standard mode: cotangents and grads have the forward shapes.
 * Batched mode: each cotangent is [k, ...output shape] and each grad [k, ...wrt shape], k symbolic.
 * The result is specialised to the probed input shapes (`inputShapes`, else the static ones), except k.
 */
export async function vjp(g: Graph, opts: VjpOptions): Promise<VjpResult> {
  const mode = opts.mode ?? 'standard';
  if (mode !== 'standard' && mode !== 'batched') throw new Error(`vjp(${g.name}): unknown mode '${mode}'`);
  if (g.opset < 13) throw new Error(`vjp(${g.name}): opset ${g.opset} is older than the supported 13`);
  const outputs = checkNames(g, opts.outputs, 'outputs');
  const wrt = checkNames(g, opts.wrt, 'wrt');
  const lead = mode === 'batched' ? 1 : 0;

  const order = topoSort(g);
  const dtypes = inferDtypes(g, order);
  const inputNames = new Set(g.inputs.map((v) => v.name));
  for (const w of wrt) {
    if (!inputNames.has(w) && !g.initializers.has(w)) throw new Error(`vjp(${g.name}): wrt '${w}' is not a graph input or initializer`);
    if (!isFloat(dtypes.get(w)!)) throw new Error(`vjp(${g.name}): wrt '${w}' is ${dtypes.get(w)}, not a float tensor`);
  }
  for (const o of outputs) {
    const t = dtypes.get(o);
    if (!t) throw new Error(`vjp(${g.name}): output '${o}' is not a value of the graph`);
    if (!isFloat(t)) throw new Error(`vjp(${g.name}): output '${o}' is ${t}, not a float tensor`);
  }

  const sorted: Graph = { ...g, nodes: order };
  const shapes = concreteInputShapes(g, opts.inputShapes, `vjp(${g.name})`);
  // which values depend on input data (as opposed to shapes and constants)
  const wrtSet = new Set(wrt);
  const dataDependent = new Set<string>([...inputNames, ...wrt]);
  for (const n of order) {
    if (n.op === 'Shape' || n.op === 'Size') continue;
    if (n.inputs.some((i) => dataDependent.has(i))) for (const o of n.outputs) if (o) dataDependent.add(o);
  }
  const constants = new Set([...g.initializers.keys()].filter((k) => !wrtSet.has(k)));

  // active: float values that depend on wrt; relevant: active values that reach an output
  const active = new Set<string>(wrt);
  for (const n of order) {
    if (ZERO_GRAD_OPS.has(n.op) || !n.inputs.some((i) => active.has(i))) continue;
    for (const o of n.outputs) if (o && isFloat(dtypes.get(o)!)) active.add(o);
  }
  const relevant = new Set(outputs.filter((o) => active.has(o)));
  const onPath: Node[] = [];
  for (let j = order.length - 1; j >= 0; j--) {
    const n = order[j];
    if (!n.outputs.some((o) => relevant.has(o))) continue;
    onPath.push(n);
    for (const i of n.inputs) if (active.has(i)) relevant.add(i);
  }
  const consumers = new Map<string, Node[]>();
  for (const n of onPath) {
    for (const i of new Set(n.inputs)) {
      const list = consumers.get(i);
      if (list) list.push(n);
      else consumers.set(i, [n]);
    }
  }
  for (const n of onPath) {
    if (!RULES[n.op] || (n.domain && n.domain !== 'ai.onnx')) {
      throw new Error(`vjp(${g.name}): no gradient rule for op ${n.domain ? n.domain + '.' : ''}${n.op} (node '${n.name}'), which lies between wrt and outputs`);
    }
  }

  // shapes of everything, contents of integer values and of the float values rules read (fixed Pow exponents)
  const wanted = new Set(order.filter((n) => n.op === 'Pow' && !dataDependent.has(n.inputs[1])).map((n) => n.inputs[1]));
  const probe = await probeGraph(sorted, shapes, dtypes, (v) => wanted.has(v));

  // the new graph: forward nodes, cotangent inputs, backward nodes
  const out = cloneGraph(sorted);
  out.name = `${g.name}_vjp`;
  for (const v of out.inputs) v.shape = shapes.get(v.name)!.slice();
  out.outputs = [];
  const taken = new Set<string>([...out.inputs.map((v) => v.name), ...out.initializers.keys()]);
  for (const n of out.nodes) for (const o of [n.name, ...n.outputs]) taken.add(o);
  const unique = (base: string) => {
    let s = base;
    for (let i = 1; taken.has(s); i++) s = `${base}_${i}`;
    taken.add(s);
    return s;
  };
  const b = GraphBuilder.from(out);
  const e = new Emitter(b, g.opset);
  const fwdShape = (v: string) => probe.shapes.get(v)!;
  const cotShape = (v: string): Dim[] => (lead ? ['k', ...fwdShape(v)] : fwdShape(v).slice());

  const cotangents = outputs.map((o) => {
    const name = unique(`${o}_cot`);
    b.input(name, dtypes.get(o)!, cotShape(o));
    return name;
  });

  const info: ForwardInfo = {
    graphName: g.name,
    opset: g.opset,
    dtypes,
    shapes: probe.shapes,
    values: probe.values,
    initializers: g.initializers,
    dataDependent,
    constants,
    producers: producers(sorted),
    consumers,
    outputs: new Set(outputs),
  };

  const contributions = new Map<string, string[]>();
  const push = (v: string, c: string) => {
    const list = contributions.get(v);
    if (list) list.push(c);
    else contributions.set(v, [c]);
  };
  const total = (v: string): string | undefined => {
    const list = contributions.get(v);
    if (!list) return undefined;
    if (list.length > 1) contributions.set(v, [e.sum(list)]);
    return contributions.get(v)![0];
  };
  outputs.forEach((o, i) => push(o, cotangents[i]));
  const ctx = new Ctx(e, info, lead, cotangents[0], total);

  // batched mode: elementwise chains get one k-sized Mul
  const { regions, absorbed } = lead
    ? findRegions(onPath, active, info.outputs, fwdShape, info.producers, consumers)
    : { regions: new Map<Node, Region>(), absorbed: new Set<Node>() };

  for (const n of onPath) {
    if (absorbed.has(n)) continue;
    const dys = n.outputs.map((o) => (relevant.has(o) ? total(o) : undefined));
    if (dys.every((d) => !d)) continue;
    const region = regions.get(n);
    if (region) {
      push(region.input, applyRegion(ctx, region, dys[0]!));
      continue;
    }
    const needed = n.inputs.map((i) => !!i && relevant.has(i));
    ctx.attach(n, dys, needed);
    const gs = RULES[n.op](ctx);
    n.inputs.forEach((v, i) => {
      if (!needed[i]) return;
      const gi = gs[i];
      if (!gi) throw ctx.fail(`the rule gave no gradient for input ${i} ('${v}')`);
      push(v, gi);
    });
  }

  const fwdCount = order.length;

  // name the gradients: rename the producing backward node's output, or copy with Identity
  const grads: string[] = [];
  const renamed = new Map<string, string>();
  for (const w of wrt) {
    let gv = total(w) ?? ctx.zeros(fwdShape(w), dtypes.get(w)!);
    gv = renamed.get(gv) ?? gv;
    const name = unique(`${w}_grad`);
    const k = b.graph.nodes.findIndex((n, j) => j >= fwdCount && n.outputs.includes(gv));
    if (k >= 0 && !renamed.has(gv) && ![...renamed.values()].includes(gv)) {
      for (let j = k; j < b.graph.nodes.length; j++) {
        const n = b.graph.nodes[j];
        n.outputs = n.outputs.map((o) => (o === gv ? name : o));
        n.inputs = n.inputs.map((o) => (o === gv ? name : o));
      }
      renamed.set(gv, name);
    } else {
      b.graph.nodes.push({ name: b.fresh('n_Identity'), op: 'Identity', inputs: [gv], outputs: [name], attrs: {} });
    }
    grads.push(name);
    b.graph.outputs.push({ name, dtype: dtypes.get(w)!, shape: cotShape(w) });
  }
  if (opts.keepOutputs ?? true) {
    for (const o of outputs) b.graph.outputs.push({ name: o, dtype: dtypes.get(o)!, shape: fwdShape(o).slice() });
  }
  if (lead) foldScalars(b.graph, fwdCount, cotangents, probe.shapes, e);
  return { graph: pruneGraph(b.graph), cotangents, grads };
}

/** Turns initializers into graph inputs (for training: weights fed every step). */
export function liftInitializers(g: Graph, names: string[]): Graph {
  const out = cloneGraph(g);
  for (const name of names) {
    const t = out.initializers.get(name);
    if (!t) throw new Error(`liftInitializers(${g.name}): '${name}' is not an initializer`);
    out.initializers.delete(name);
    out.inputs.push({ name, dtype: t.dtype, shape: t.dims.slice() });
  }
  return out;
}
