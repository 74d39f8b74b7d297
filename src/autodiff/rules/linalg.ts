// Gradient rules for MatMul, Gemm, Softmax, LayerNormalization and reductions.
import { Attr, attrFloat, attrInt, attrInts } from '../../graph/graph.js';
import { sizeOf } from '../../graph/tensor.js';
import { Ctx } from '../context.js';
import type { Rule } from './index.js';

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => i + from);

const matmul: Rule = (c) => {
  const [a, b] = c.node.inputs;
  const sa = c.shape(a);
  const sb = c.shape(b);
  const sy = c.shape(c.y);
  const ra = sa.length;
  const rb = sb.length;
  const L = c.lead;
  const dy = c.dyReq();
  const out: (string | undefined)[] = [undefined, undefined];
  if (c.needs(0)) {
    if (rb === 1) {
      // y = A b: dA = dy[..., None] * b
      out[0] = c.e.mul(c.e.unsqueeze(dy, [-1]), b);
    } else if (ra === 1) {
      // y = a B: dA = sum over the batch of B dy[..., None]
      const t = c.e.matmul(b, c.e.unsqueeze(dy, [-1]));
      out[0] = c.e.reduceSum(t, [...range(rb - 2, L), L + rb - 1], false);
    } else {
      const t = c.e.matmul(dy, c.transposeLast2(b));
      out[0] = c.unbroadcast(t, [...sy.slice(0, -1), sa[ra - 1]], sa);
    }
  }
  if (c.needs(1)) {
    if (ra === 1 && rb === 1) {
      out[1] = c.e.mul(c.e.unsqueeze(dy, [-1]), a);
    } else if (ra === 1) {
      out[1] = c.e.mul(c.e.unsqueeze(dy, [-2]), c.memo(`col:${a}`, () => c.e.reshape(a, [sa[0], 1])));
    } else if (rb === 1) {
      const t = c.e.matmul(c.e.unsqueeze(dy, [-2]), a);
      out[1] = c.e.reduceSum(t, range(ra - 1, L), false);
    } else if (rb === 2) {
      // a constant-shaped weight: flatten the batch of A into rows
      const K = sa[ra - 1];
      const N = sb[1];
      const P = sizeOf(sa.slice(0, -1));
      if (!L) {
        const a2 = ra === 2 ? a : c.memo(`rows:${a}`, () => c.e.reshape(a, [P, K]));
        const dy2 = ra === 2 ? dy : c.e.reshape(dy, [P, N]);
        out[1] = c.e.op('Gemm', [a2, dy2], { transA: { type: 'int', value: 1 } });
      } else {
        const aT = ra === 2 ? c.transposeLast2(a) : c.memo(`rowsT:${a}`, () => c.e.transpose(c.e.reshape(a, [P, K]), [1, 0]));
        const dy2 = ra === 2 ? dy : c.e.reshape(dy, [-1, P, N]);
        out[1] = c.e.matmul(aT, dy2);
      }
    } else {
      const t = c.e.matmul(c.transposeLast2(a), dy);
      out[1] = c.unbroadcast(t, [...sy.slice(0, -2), sa[ra - 1], sy[sy.length - 1]], sb);
    }
  }
  return out;
};

const gemm: Rule = (c) => {
  const [a, b, cc] = c.node.inputs;
  const alpha = attrFloat(c.node, 'alpha', 1);
  const beta = attrFloat(c.node, 'beta', 1);
  const tA = attrInt(c.node, 'transA', 0) === 1;
  const tB = attrInt(c.node, 'transB', 0) === 1;
  const dt = c.dtype(c.y);
  const dy = c.dyReq();
  const int = (v: boolean) => ({ type: 'int' as const, value: v ? 1 : 0 });
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (!c.lead) {
    const al: Record<string, Attr> = alpha === 1 ? {} : { alpha: { type: 'float', value: alpha } };
    if (c.needs(0)) {
      out[0] = tA ? c.e.op('Gemm', [b, dy], { ...al, transA: int(tB), transB: int(true) }) : c.e.op('Gemm', [dy, b], { ...al, transB: int(!tB) });
    }
    if (c.needs(1)) {
      out[1] = tB ? c.e.op('Gemm', [dy, a], { ...al, transA: int(true), transB: int(tA) }) : c.e.op('Gemm', [a, dy], { ...al, transA: int(!tA) });
    }
  } else {
    const scale = (v: string) => (alpha === 1 ? v : c.e.mul(v, c.scalar(alpha, dt)));
    const dyT = () => c.e.transpose(dy, [0, 2, 1]);
    if (c.needs(0)) {
      out[0] = scale(tA ? c.e.matmul(tB ? c.transposeLast2(b) : b, dyT()) : c.e.matmul(dy, tB ? b : c.transposeLast2(b)));
    }
    if (c.needs(1)) {
      out[1] = scale(tB ? c.e.matmul(dyT(), tA ? c.transposeLast2(a) : a) : c.e.matmul(tA ? a : c.transposeLast2(a), dy));
    }
  }
  if (cc && c.needs(2)) {
    let t = c.unbroadcast(dy, c.shape(c.y), c.shape(cc));
    if (beta !== 1) t = c.e.mul(t, c.scalar(beta, dt));
    out[2] = t;
  }
  return out;
};

function softmaxAxes(c: Ctx): number[] {
  const r = c.shape(c.x).length;
  if (c.info.opset >= 13) return [c.axis(attrInt(c.node, 'axis', -1), r)];
  const a = c.axis(attrInt(c.node, 'axis', 1), r);
  return range(r + c.lead - a, a);
}

const softmax: Rule = (c) => {
  const axes = softmaxAxes(c);
  const r = c.shape(c.y).length;
  // attention: when P = softmax(S) only feeds O = P @ V, s = sum(dP * P) over the last axis equals
  // sum(dO * O) over the (shorter) head axis, and dP - s = [dO, s] @ [V, -1]^T comes out of one MatMul
  // (the plain dP of the MatMul rule is then unused and pruned): one pass over P instead of four
  const users = c.info.consumers.get(c.y) ?? [];
  const mm = users.length === 1 && users[0].op === 'MatMul' && users[0].inputs[0] === c.y && users[0].inputs[1] !== c.y ? users[0] : undefined;
  if (mm && axes.length === 1 && axes[0] === r - 1 + c.lead && !c.info.outputs.has(c.y)) {
    const o = mm.outputs[0];
    const dO = c.cotangent(o);
    const so = c.shape(o);
    const sy = c.shape(c.y);
    if (dO && so.length === r && sy.slice(0, -2).every((d, i) => d === so[i])) {
      const s = c.e.reduceSum(c.e.mul(dO, o), [r - 1 + c.lead], true);
      const v = mm.inputs[1];
      const rv = c.shape(v).length;
      if (rv < 2) return [c.e.mul(c.e.sub(c.dyReq(), s), c.y)];
      const vaT = c.memo(`vaugT:${v}`, () => {
        const pads = new Array<number>(2 * rv).fill(0);
        pads[2 * rv - 1] = 1;
        const va = c.e.op('Pad', [v, c.e.ints(pads), c.scalar(-1, c.dtype(v))], { mode: { type: 'string', value: 'constant' } });
        return c.e.transpose(va, [...range(rv - 2), rv - 1, rv - 2]);
      });
      const dps = c.e.matmul(c.e.concat([dO, s], r - 1 + c.lead), vaT);
      return [c.e.mul(dps, c.y)];
    }
  }
  const t = c.e.mul(c.dyReq(), c.y);
  const s = c.e.reduceSum(t, axes, true);
  return [c.e.sub(t, c.e.mul(c.y, s))];
};

const logSoftmax: Rule = (c) => {
  const axes = softmaxAxes(c);
  const dy = c.dyReq();
  const p = c.memo(`exp:${c.y}`, () => c.e.op('Exp', [c.y]));
  return [c.e.sub(dy, c.e.mul(p, c.e.reduceSum(dy, axes, true)))];
};

const layerNorm: Rule = (c) => {
  const [x, scale, bias] = c.node.inputs;
  if (c.dy(1) || c.dy(2)) throw c.fail('gradients through the Mean/InvStdDev outputs are not supported');
  const sx = c.shape(x);
  const r = sx.length;
  const a0 = c.axis(attrInt(c.node, 'axis', -1), r) - c.lead;
  const eps = attrFloat(c.node, 'epsilon', 1e-5);
  const fwdAxes = range(r - a0, a0);
  // recompute the normalised input and 1/std on the forward side
  const { xhat, rstd } = lnStats(c, x, fwdAxes, eps);
  const dy = c.dyReq();
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.needs(0)) {
    const axes = fwdAxes.map((i) => i + c.lead);
    const s = c.memo(`lnS:${c.y}`, () => c.e.mul(scale, rstd));
    const gp = c.e.mul(dy, s);
    const m1 = c.e.reduceMean(gp, axes, true);
    const m2 = c.e.reduceMean(c.e.mul(gp, xhat), axes, true);
    out[0] = c.e.sub(c.e.sub(gp, m1), c.e.mul(xhat, m2));
  }
  if (c.needs(1)) out[1] = c.unbroadcast(c.e.mul(dy, xhat), sx, c.shape(scale));
  if (bias && c.needs(2)) out[2] = c.unbroadcast(dy, sx, c.shape(bias));
  return out;
};

function lnStats(c: Ctx, x: string, axes: number[], eps: number): { xhat: string; rstd: string } {
  const dt = c.dtype(x);
  const key = `ln:${x}:${axes.join(',')}:${eps}`;
  const xc = c.memo(`${key}:xc`, () => c.e.sub(x, c.e.reduceMean(x, axes, true)));
  const rstd = c.memo(`${key}:rstd`, () => {
    const v = c.e.reduceMean(c.e.mul(xc, xc), axes, true);
    return c.e.div(c.scalar(1, dt), c.e.op('Sqrt', [c.e.add(v, c.scalar(eps, dt))]));
  });
  const xhat = c.memo(`${key}:xhat`, () => c.e.mul(xc, rstd));
  return { xhat, rstd };
}

/** The reduced axes of a Reduce* node (normalised), or undefined for a no-op. */
function reduceAxes(c: Ctx): number[] | undefined {
  const r = c.shape(c.x).length;
  let axes: number[] | undefined;
  const axesInput = c.node.op === 'ReduceSum' ? c.info.opset >= 13 : c.info.opset >= 18;
  if (axesInput) {
    const v = c.in(1);
    if (v) axes = c.ints(v, 'reduction axes');
  } else {
    axes = c.node.attrs.axes ? attrInts(c.node, 'axes') : undefined;
  }
  if (!axes || !axes.length) {
    if (attrInt(c.node, 'noop_with_empty_axes', 0)) return undefined;
    return range(r);
  }
  return axes.map((a) => c.axis(a, r) - c.lead);
}

/**
 * ReduceMax/Min (the cotangent shared evenly among ties), ReduceL2 (x / y) and ReduceLogSumExp (exp(x - y)):
 * dX = expand(dy) * W with W computed on the forward side.
 */
const reduceWeighted = (kind: 'extremum' | 'l2' | 'lse'): Rule => (c) => {
  const axes = reduceAxes(c);
  const dy = c.dyReq();
  const sx = c.shape(c.x);
  const dt = c.dtype(c.x);
  const ax = axes ?? [];
  const keep = sx.map((d, i) => (ax.includes(i) ? 1 : d));
  const keepdims = attrInt(c.node, 'keepdims', 1) === 1;
  const yk = keepdims || !axes ? c.y : c.memo(`keep:${c.y}`, () => c.e.reshape(c.y, keep));
  const w = c.memo(`rw:${c.y}`, () => {
    if (kind === 'l2') return c.e.div(c.x, yk);
    if (kind === 'lse') return c.e.op('Exp', [c.e.sub(c.x, yk)]);
    const mask = c.e.cast(c.e.op('Equal', [c.x, yk]), dt);
    return axes ? c.e.div(mask, c.e.reduceSum(mask, ax, true)) : mask;
  });
  const t = keepdims || !axes ? dy : c.reshape(dy, keep);
  return [c.e.mul(t, w)];
};

const reduce = (kind: 'sum' | 'mean' | 'sumsq'): Rule => (c) => {
  const axes = reduceAxes(c);
  const dy = c.dyReq();
  if (!axes) return kind === 'sumsq' ? [c.e.mul(dy, c.e.mul(c.x, c.scalar(2, c.dtype(c.x))))] : [dy];
  const sx = c.shape(c.x);
  const keep = sx.map((d, i) => (axes.includes(i) ? 1 : d));
  let t = attrInt(c.node, 'keepdims', 1) ? dy : c.reshape(dy, keep);
  const dt = c.dtype(c.x);
  if (kind === 'mean') t = c.e.mul(t, c.scalar(sx.length ? sizeOf(keep) / sizeOf(sx) : 1, dt));
  const full = c.e.op('Expand', [t, c.e.ints(c.lead ? [1, ...sx] : sx)]);
  if (kind === 'sumsq') return [c.e.mul(full, c.memo(`2x:${c.x}`, () => c.e.mul(c.x, c.scalar(2, dt))))];
  return [full];
};

export const linalgRules: Record<string, Rule> = {
  MatMul: matmul,
  Gemm: gemm,
  Softmax: softmax,
  LogSoftmax: logSoftmax,
  LayerNormalization: layerNorm,
  ReduceSum: reduce('sum'),
  ReduceMean: reduce('mean'),
  ReduceSumSquare: reduce('sumsq'),
  ReduceMax: reduceWeighted('extremum'),
  ReduceMin: reduceWeighted('extremum'),
  ReduceL2: reduceWeighted('l2'),
  ReduceLogSumExp: reduceWeighted('lse'),
};
