// Runs a forward graph once on small random data with every intermediate as an output,
// to learn the concrete shape of each value and the contents of integer tensors.
import { cloneGraph, Graph, ValueInfo } from '../graph/graph.js';
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

/**
 * Runs `g` at the given input shapes and returns every graph input and node output by name.
 * `dtypes` must hold the dtype of each node output. Float inputs get random values, others zeros.
 */
export async function probeValues(g: Graph, shapes: Map<string, number[]>, dtypes: Map<string, DType>, seed = 1): Promise<Map<string, Tensor>> {
  const pg = cloneGraph(g);
  const rng = new Rng(seed);
  const feeds: Record<string, Tensor> = {};
  for (const v of pg.inputs) {
    v.shape = shapes.get(v.name)!;
    feeds[v.name] = randomTensor(v.dtype, v.shape as number[], rng);
  }
  const outs: ValueInfo[] = [];
  const seen = new Set<string>(pg.inputs.map((v) => v.name));
  for (const n of pg.nodes) {
    for (const o of n.outputs) {
      if (!o || seen.has(o)) continue;
      seen.add(o);
      outs.push({ name: o, dtype: dtypes.get(o)! });
    }
  }
  pg.outputs = outs;
  const res = await runOnce(pg, feeds, { optimization: 'disabled' });
  const m = new Map<string, Tensor>(Object.entries(res));
  for (const [k, t] of Object.entries(feeds)) m.set(k, t);
  for (const o of outs) {
    const t = m.get(o.name);
    if (t && isFloat(t.dtype) !== isFloat(o.dtype)) throw new Error(`graph ${g.name}: '${o.name}' came out as ${t.dtype}, expected ${o.dtype}`);
  }
  return m;
}
