// Gradient rules for Conv (any stride, padding and dilation; groups for the input gradient) and ConvTranspose.
import { attr, attrInt, attrInts, attrString } from '../../graph/graph.js';
import { Tensor } from '../../graph/tensor.js';
import { Ctx } from '../context.js';
import type { Rule } from './index.js';

interface ConvParams {
  n: number;
  kernel: number[];
  strides: number[];
  dilations: number[];
  pads: number[];
  group: number;
}

function convParams(c: Ctx, xDims: number[], kernel: number[]): ConvParams {
  const n = xDims.length - 2;
  const ones = new Array<number>(n).fill(1);
  const strides = attrInts(c.node, 'strides', ones);
  const dilations = attrInts(c.node, 'dilations', ones);
  const group = attrInt(c.node, 'group', 1);
  let pads = attrInts(c.node, 'pads', new Array<number>(2 * n).fill(0));
  const auto = attrString(c.node, 'auto_pad', 'NOTSET');
  if (auto === 'VALID') pads = new Array<number>(2 * n).fill(0);
  else if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    if (c.node.op !== 'Conv') throw c.fail(`auto_pad ${auto} is not supported here`);
    pads = new Array<number>(2 * n).fill(0);
    for (let i = 0; i < n; i++) {
      const inp = xDims[i + 2];
      const out = Math.ceil(inp / strides[i]);
      const total = Math.max(0, (out - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - inp);
      const small = Math.floor(total / 2);
      pads[i] = auto === 'SAME_UPPER' ? small : total - small;
      pads[i + n] = total - pads[i];
    }
  } else if (auto !== 'NOTSET') throw c.fail(`unknown auto_pad ${auto}`);
  return { n, kernel, strides, dilations, pads, group };
}

function geometry(p: ConvParams) {
  return {
    strides: attr.ints(p.strides),
    dilations: attr.ints(p.dilations),
    pads: attr.ints(p.pads),
  };
}

/** Folds the lead axis into the batch axis: [k, N, ...] -> [k*N, ...]. */
function foldLead(c: Ctx, cot: string, dims: number[]): string {
  return c.lead ? c.e.reshape(cot, [-1, ...dims.slice(1)]) : cot;
}

function isPatchConv(p: ConvParams, x: number[]): boolean {
  return (
    p.n === 2 &&
    p.group === 1 &&
    p.pads.every((v) => v === 0) &&
    p.dilations.every((v) => v === 1) &&
    p.strides.every((s, i) => s === p.kernel[i] && x[i + 2] % s === 0)
  );
}

const conv: Rule = (c) => {
  const [x, w, b] = c.node.inputs;
  const sx = c.shape(x);
  const sw = c.shape(w);
  const sy = c.shape(c.y);
  const p = convParams(c, sx, sw.slice(2));
  const dy = c.dyReq();
  const L = c.lead;
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  const [N, C] = sx;
  const O = sw[0];
  const patch = isPatchConv(p, sx);
  if (c.needs(0)) {
    if (patch) {
      // x grad of a patch embedding: W^T [C*p*q, O] @ dy [kN, O, h*w], then un-patchify
      const [ph, pw] = p.kernel;
      const [h, wd] = [sy[2], sy[3]];
      const wt = c.memo(`patchWT:${w}`, () => {
        const t = c.constTensor(w);
        if (t) return c.e.shared(`patchWT:${w}`, () => transpose2(new Tensor(t.dtype, [O, C * ph * pw], t.data)), 'wT');
        return c.e.transpose(c.e.reshape(w, [O, C * ph * pw]), [1, 0]);
      });
      const d3 = c.e.reshape(dy, [-1, O, h * wd]);
      const cols = c.e.matmul(wt, d3);
      const r6 = c.e.reshape(cols, [-1, C, ph, pw, h, wd]);
      const t6 = c.e.transpose(r6, [0, 1, 4, 2, 5, 3]);
      out[0] = c.reshape(t6, sx);
    } else {
      const yDims = sy;
      const outPad = p.kernel.map((k, i) => {
        const full = (yDims[i + 2] - 1) * p.strides[i] + (k - 1) * p.dilations[i] + 1 - p.pads[i] - p.pads[i + p.n];
        return sx[i + 2] - full;
      });
      const ct = c.e.op('ConvTranspose', [foldLead(c, dy, sy), w], {
        ...geometry(p),
        group: attr.int(p.group),
        output_padding: attr.ints(outPad),
      });
      out[0] = c.reshape(ct, sx);
    }
  }
  if (c.needs(1)) {
    if (p.group !== 1) throw c.fail('no weight gradient for grouped convolutions');
    if (patch) {
      const [ph, pw] = p.kernel;
      const [h, wd] = [sy[2], sy[3]];
      // patches [N, h*w, C*p*q] on the forward side
      const patches = c.memo(`patches:${x}:${ph}:${pw}`, () => {
        const r6 = c.e.reshape(x, [N, C, h, ph, wd, pw]);
        const t6 = c.e.transpose(r6, [0, 2, 4, 1, 3, 5]);
        return c.e.reshape(t6, [N, h * wd, C * ph * pw]);
      });
      const d = c.e.reshape(dy, L ? [-1, N, O, h * wd] : [N, O, h * wd]);
      const prod = c.e.matmul(d, patches);
      out[1] = c.reshape(c.e.reduceSum(prod, [L], false), sw);
    } else {
      const xt = c.memo(`convXT:${x}`, () => c.e.transpose(x, [1, 0, ...range(p.n, 2)]));
      const dyT = L ? c.e.reshape(c.e.transpose(dy, [0, 2, 1, ...range(p.n, 3)]), [-1, N, ...sy.slice(2)]) : c.e.transpose(dy, [1, 0, ...range(p.n, 2)]);
      let g = c.e.op('Conv', [xt, dyT], {
        strides: attr.ints(p.dilations),
        dilations: attr.ints(p.strides),
        pads: attr.ints(p.pads),
      });
      // the result may run past the kernel; keep the first kernel taps
      const full = p.kernel.map((_, i) => Math.floor((sx[i + 2] + p.pads[i] + p.pads[i + p.n] - ((sy[i + 2] - 1) * p.strides[i] + 1)) / p.dilations[i]) + 1);
      if (full.some((f, i) => f !== p.kernel[i])) g = c.e.slice(g, p.kernel.map(() => 0), p.kernel, range(p.n, 2));
      const gt = c.e.transpose(g, [1, 0, ...range(p.n, 2)]);
      out[1] = L ? c.e.reshape(gt, [-1, ...sw]) : gt;
    }
  }
  if (b && c.needs(2)) out[2] = c.e.reduceSum(dy, [L, ...range(p.n, L + 2)], false);
  return out;
};

const convTranspose: Rule = (c) => {
  const [x, w] = c.node.inputs;
  if (c.node.attrs.output_shape) throw c.fail('no gradient for ConvTranspose with output_shape');
  if (c.needs(1) || c.needs(2)) throw c.fail('only the input gradient of ConvTranspose is supported');
  const sx = c.shape(x);
  const sw = c.shape(w);
  const p = convParams(c, sx, sw.slice(2));
  const g = c.e.op('Conv', [foldLead(c, c.dyReq(), c.shape(c.y)), w], { ...geometry(p), group: attr.int(p.group) });
  return [c.reshape(g, sx), undefined, undefined];
};

function range(n: number, from: number): number[] {
  return Array.from({ length: n }, (_, i) => i + from);
}

function transpose2(t: Tensor): Tensor {
  const [m, n] = t.dims;
  const out = Tensor.zeros(t.dtype, [n, m]);
  const src = t.data as Float32Array;
  const dst = out.data as Float32Array;
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dst[j * m + i] = src[i * n + j];
  return out;
}

export const convRules: Record<string, Rule> = {
  Conv: conv,
  ConvTranspose: convTranspose,
};
