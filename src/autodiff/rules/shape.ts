// Gradient rules for ops that move data around: Transpose, reshapes, Expand, Concat, Split, Slice, Gather, Pad.
import { attrInt, attrInts, attrString } from '../../graph/graph.js';
import { sizeOf, Tensor } from '../../graph/tensor.js';
import { Ctx } from '../context.js';
import type { Rule } from './index.js';

const transpose: Rule = (c) => {
  const r = c.shape(c.x).length;
  const perm = c.node.attrs.perm ? attrInts(c.node, 'perm') : Array.from({ length: r }, (_, i) => r - 1 - i);
  const inv = new Array<number>(r);
  perm.forEach((p, i) => (inv[p] = i));
  return [c.transpose(c.dyReq(), inv)];
};

/** Reshape, Flatten, Squeeze, Unsqueeze: reshape the cotangent back. */
const reshapeBack: Rule = (c) => [c.reshape(c.dyReq(), c.shape(c.x))];

const expand: Rule = (c) => [c.unbroadcast(c.dyReq(), c.shape(c.y), c.shape(c.x))];

const concat: Rule = (c) => {
  const r = c.shape(c.y).length;
  const axis = c.axis(attrInt(c.node, 'axis'), r);
  const sizes = c.node.inputs.map((v) => c.shape(v)[axis - c.lead]);
  const want = c.node.inputs.map((_, i) => c.needs(i));
  const dy = c.dyReq();
  if (want.filter(Boolean).length === 1) {
    const i = want.indexOf(true);
    const start = sizes.slice(0, i).reduce((s, v) => s + v, 0);
    return c.node.inputs.map((_, j) => (j === i ? c.e.slice(dy, [start], [start + sizes[i]], [axis]) : undefined));
  }
  const parts = c.e.split(dy, sizes, axis);
  return parts.map((p, i) => (want[i] ? p : undefined));
};

const split: Rule = (c) => {
  const r = c.shape(c.x).length;
  const axis = c.axis(attrInt(c.node, 'axis', 0), r);
  const dt = c.dtype(c.x);
  const parts = c.node.outputs.map((o, i) => c.dy(i) ?? c.zeros(c.shape(o), dt));
  return [c.e.concat(parts, axis)];
};

/** Start/end/step per axis of a Slice node, clamped as ONNX does. */
function sliceRanges(c: Ctx): { start: number; end: number; step: number }[] {
  const dims = c.shape(c.x);
  const starts = c.ints(c.in(1), 'slice start');
  const ends = c.ints(c.in(2), 'slice end');
  const axes = c.in(3) ? c.ints(c.in(3), 'slice axis') : starts.map((_, i) => i);
  const steps = c.in(4) ? c.ints(c.in(4), 'slice step') : starts.map(() => 1);
  const out = dims.map((d) => ({ start: 0, end: d, step: 1 }));
  axes.forEach((a0, i) => {
    const a = a0 < 0 ? a0 + dims.length : a0;
    const d = dims[a];
    const step = steps[i];
    let s = starts[i] < 0 ? starts[i] + d : starts[i];
    let e = ends[i] < 0 ? ends[i] + d : ends[i];
    if (step > 0) {
      s = Math.min(Math.max(s, 0), d);
      e = Math.min(Math.max(e, 0), d);
    } else {
      s = Math.min(Math.max(s, 0), d - 1);
      e = Math.min(Math.max(e, -1), d - 1);
    }
    out[a] = { start: s, end: e, step };
  });
  return out;
}

function indicesOf(r: { start: number; end: number; step: number }): number[] {
  const idx: number[] = [];
  if (r.step > 0) for (let i = r.start; i < r.end; i += r.step) idx.push(i);
  else for (let i = r.start; i > r.end; i += r.step) idx.push(i);
  return idx;
}

/**
 * The adjoint of picking `idx` along forward axis `axis`: scatters (adds) a cotangent of forward shape
 * `dims` (where dims[axis] = idx.length) into one with dims[axis] = n.
 */
function scatterAxis(c: Ctx, cot: string, dims: number[], axis: number, idx: number[], n: number): string {
  const m = idx.length;
  if (idx.every((v, i) => v === idx[0] + i)) {
    const pads = new Array<number>(2 * (dims.length + c.lead)).fill(0);
    pads[axis + c.lead] = idx[0];
    pads[dims.length + c.lead + axis + c.lead] = n - idx[0] - m;
    return c.e.pad(cot, pads);
  }
  const dt = c.dtype(c.x);
  const onehot = c.e.shared(`onehot:${dt}:${n}:${idx.join(',')}`, () => {
    const t = Tensor.zeros(dt, [n, m]);
    idx.forEach((v, j) => ((t.data as Float32Array)[v * m + j] += 1));
    return t;
  }, 'onehot');
  return matmulScatter(c, cot, dims, axis, onehot, n);
}

/** onehot [n, m] @ cot viewed as [-1, m, post], reshaped back with n along `axis`. */
function matmulScatter(c: Ctx, cot: string, dims: number[], axis: number, onehot: string, n: number): string {
  const m = dims[axis];
  const post = sizeOf(dims.slice(axis + 1));
  const r = c.e.reshape(cot, [-1, m, post]);
  const y = c.e.matmul(onehot, r);
  return c.reshape(y, [...dims.slice(0, axis), n, ...dims.slice(axis + 1)]);
}

const slice: Rule = (c) => {
  const dims = c.shape(c.x);
  const ranges = sliceRanges(c);
  let cot = c.dyReq();
  if (ranges.every((r) => r.step === 1)) {
    const R = dims.length + c.lead;
    const pads = new Array<number>(2 * R).fill(0);
    ranges.forEach((r, a) => {
      pads[a + c.lead] = r.start;
      pads[R + a + c.lead] = dims[a] - Math.max(r.end, r.start);
    });
    return [c.e.pad(cot, pads)];
  }
  const cur = c.shape(c.y).slice();
  ranges.forEach((r, a) => {
    const idx = indicesOf(r);
    if (idx.length === dims[a] && r.step === 1) return;
    cot = scatterAxis(c, cot, cur, a, idx, dims[a]);
    cur[a] = dims[a];
  });
  return [cot];
};

const gather: Rule = (c) => {
  const [x, ind] = c.node.inputs;
  const dims = c.shape(x);
  const axis = c.axis(attrInt(c.node, 'axis', 0), dims.length) - c.lead;
  const n = dims[axis];
  const is = c.shape(ind);
  const m = sizeOf(is);
  const fwd = [...dims.slice(0, axis), m, ...dims.slice(axis + 1)];
  const cot = is.length === 1 ? c.dyReq() : c.reshape(c.dyReq(), fwd);
  if (c.isStatic(ind)) {
    const idx = c.ints(ind, 'gather index').map((v) => (v < 0 ? v + n : v));
    return [scatterAxis(c, cot, fwd, axis, idx, n), undefined];
  }
  // indices known only at run time: a one-hot matrix [n, m] built in the graph
  const dt = c.dtype(x);
  const it = c.dtype(ind);
  let flat = c.e.reshape(ind, [1, -1]);
  flat = c.e.op('Where', [c.e.op('Less', [flat, c.scalar(0, it)]), c.e.add(flat, c.scalar(n, it)), flat]);
  const rows = c.e.shared(`arange:${it}:${n}`, () => {
    const t = Tensor.zeros(it, [n, 1]);
    for (let i = 0; i < n; i++) t.data[i] = it === 'int64' ? BigInt(i) : i;
    return t;
  }, 'arange');
  const onehot = c.e.cast(c.e.op('Equal', [rows, flat]), dt);
  return [matmulScatter(c, cot, fwd, axis, onehot, n), undefined];
};

const pad: Rule = (c) => {
  const mode = attrString(c.node, 'mode', 'constant');
  if (mode !== 'constant') throw c.fail(`no gradient for Pad mode '${mode}'`);
  if (c.needs(2)) throw c.fail('no gradient for the Pad constant value');
  const r = c.shape(c.x).length;
  const given = c.ints(c.in(1), 'pad amount');
  const axes = c.in(3) ? c.ints(c.in(3), 'pad axis').map((a) => (a < 0 ? a + r : a)) : Array.from({ length: r }, (_, i) => i);
  const R = r + c.lead;
  const pads = new Array<number>(2 * R).fill(0);
  axes.forEach((a, i) => {
    pads[a + c.lead] = -given[i];
    pads[R + a + c.lead] = -given[axes.length + i];
  });
  return [c.e.pad(c.dyReq(), pads)];
};

/** Tile: view the cotangent as [r0, d0, r1, d1, ...] and sum over the repeats. */
const tile: Rule = (c) => {
  const sx = c.shape(c.x);
  const reps = c.ints(c.in(1), 'tile repeat');
  if (reps.every((r) => r === 1)) return [c.dyReq(), undefined];
  const split = sx.flatMap((d, i) => [reps[i], d]);
  const t = c.reshape(c.dyReq(), split);
  const axes = sx.map((_, i) => 2 * i + c.lead).filter((_, i) => reps[i] !== 1);
  return [c.reshape(c.e.reduceSum(t, axes, false), sx), undefined];
};

export const shapeRules: Record<string, Rule> = {
  Tile: tile,
  Transpose: transpose,
  Reshape: reshapeBack,
  Flatten: reshapeBack,
  Squeeze: reshapeBack,
  Unsqueeze: reshapeBack,
  Expand: expand,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Pad: pad,
};
