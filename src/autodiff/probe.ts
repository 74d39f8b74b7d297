// Runs a forward graph once on small random data with every intermediate as an output,
// to learn the concrete shape of each value and the contents of integer tensors.
import { cloneGraph, Graph, Node, ValueInfo } from '../graph/graph.js';
import { DType, isFloat, Tensor } from '../graph/tensor.js';
import { Rng } from '../data/random.js';
import { runOnce } from '../runtime/session.js';

/** Concrete shapes for the graph inputs: `given` where set, else the declared static shape. */
export function concreteInputShapes(g: Graph, given: Record<string, number[]> = {}, who = `graph ${g.name}`): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const name of Object.keys(given)) {
    if (!g.inputs.some((v) => v.name === name)) throw new Error(`${who}: inputShapes names '${name}', which is not a graph input`);
  }
  for (const v of g.inputs) {
    const s = given[v.name];
    if (s) {
      if (v.shape && v.shape.length !== s.length) {
        throw new Error(`${who}: input '${v.name}' has rank ${v.shape.length}, inputShapes gives [${s.join(',')}]`);
      }
      s.forEach((d, i) => {
        const decl = v.shape?.[i];
        if (!Number.isInteger(d) || d < 0) throw new Error(`${who}: inputShapes['${v.name}'] has a bad dim ${d}`);
        if (typeof decl === 'number' && decl !== d) {
          throw new Error(`${who}: input '${v.name}' has dim ${i} fixed to ${decl}, inputShapes gives ${d}`);
        }
      });
      out.set(v.name, s.slice());
      continue;
    }
    if (!v.shape || v.shape.some((d) => typeof d !== 'number')) {
      throw new Error(`${who}: input '${v.name}' has shape [${(v.shape ?? ['?']).join(',')}]; pass its concrete shape in inputShapes`);
    }
    out.set(v.name, v.shape as number[]);
  }
  return out;
}

function randomTensor(dtype: DType, dims: number[], rng: Rng): Tensor {
  const t = Tensor.zeros(dtype, dims);
  if (dtype === 'float32' || dtype === 'float64') {
    const d = t.data as Float32Array | Float64Array;
    for (let i = 0; i < d.length; i++) d[i] = 0.5 * rng.normal();
  }
  return t;
}

export interface Probe {
  /** shape of every graph input, initializer and node output */
  shapes: Map<string, number[]>;
  /** contents of the graph inputs, of non-float node outputs and of the float outputs asked for */
  values: Map<string, Tensor>;
}

/** Float initializers larger than this are replaced by constant fills in the probe (their values do not matter). */
const BIG = 1024;

/**
 * Runs `g` (nodes in topological order) at the given input shapes. `dtypes` must hold the dtype of each
 * node output; float outputs come back as shapes only, except those `keep` asks for. Float inputs get
 * random values, other inputs zeros; large float weights are replaced by a constant fill, as only shapes
 * and integer values are wanted.
 */
export async function probeGraph(
  g: Graph,
  shapes: Map<string, number[]>,
  dtypes: Map<string, DType>,
  keep: (v: string) => boolean = () => false,
  seed = 1,
): Promise<Probe> {
  const pg = cloneGraph(g);
  const rng = new Rng(seed);
  const feeds: Record<string, Tensor> = {};
  for (const v of pg.inputs) {
    v.shape = shapes.get(v.name)!;
    feeds[v.name] = randomTensor(v.dtype, v.shape as number[], rng);
  }
  const fills: Node[] = [];
  for (const [name, t] of g.initializers) {
    if ((t.dtype !== 'float32' && t.dtype !== 'float64') || t.size <= BIG || shapes.has(name)) continue;
    pg.initializers.delete(name);
    const dims = `${name}\u0001dims`;
    pg.initializers.set(dims, Tensor.i64([t.dims.length], t.dims));
    const fill = Tensor.zeros(t.dtype, [1]);
    (fill.data as Float32Array)[0] = 0.01;
    fills.push({ name: `${name}\u0001fill`, op: 'ConstantOfShape', inputs: [dims], outputs: [name], attrs: { value: { type: 'tensor', value: fill } } });
  }
  pg.nodes = [...fills, ...pg.nodes];
  const outs: ValueInfo[] = [];
  const shapeOf = new Map<string, string>();
  const seen = new Set<string>(pg.inputs.map((v) => v.name));
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o || seen.has(o)) continue;
      seen.add(o);
      const dt = dtypes.get(o)!;
      if (isFloat(dt) && !keep(o)) {
        const s = `${o}\u0001shape`;
        pg.nodes.push({ name: `${o}\u0001shape_node`, op: 'Shape', inputs: [o], outputs: [s], attrs: {} });
        shapeOf.set(o, s);
        outs.push({ name: s, dtype: 'int64' });
      } else outs.push({ name: o, dtype: dt });
    }
  }
  pg.outputs = outs;
  const res = await runOnce(pg, feeds, { optimization: 'disabled' });
  const probe: Probe = { shapes: new Map(), values: new Map() };
  for (const [k, t] of g.initializers) probe.shapes.set(k, t.dims);
  for (const [k, t] of Object.entries(feeds)) {
    probe.shapes.set(k, t.dims);
    probe.values.set(k, t);
  }
  for (const n of g.nodes) {
    for (const o of n.outputs) {
      if (!o || probe.shapes.has(o)) continue;
      const s = shapeOf.get(o);
      if (s) probe.shapes.set(o, res[s].toNumbers());
      else {
        const t = res[o];
        if (isFloat(t.dtype) !== isFloat(dtypes.get(o)!)) throw new Error(`graph ${g.name}: '${o}' came out as ${t.dtype}, expected ${dtypes.get(o)}`);
        probe.shapes.set(o, t.dims);
        probe.values.set(o, t);
      }
    }
  }
  return probe;
}
