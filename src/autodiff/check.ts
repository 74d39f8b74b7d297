// Checks a VJP graph against central finite differences of the forward graph.
import { Rng } from '../data/random.js';
import { Graph } from '../graph/graph.js';
import { getNumber, Tensor } from '../graph/tensor.js';
import { Session } from '../runtime/session.js';
import { inferDtypes } from './dtypes.js';
import { liftInitializers, vjp, VjpMode } from './vjp.js';

export interface GradCheckOptions {
  outputs: string[];
  wrt: string[];
  /** values for every graph input; their shapes fix the probe shapes */
  feeds: Record<string, Tensor>;
  mode?: VjpMode;
  /** number of (cotangent, direction) pairs; in batched mode the k of one run (default 3) */
  rows?: number;
  /** finite-difference step (default 1e-5 for float64 wrt, 1e-2 for float32) */
  eps?: number;
  seed?: number;
}

export interface GradCheckResult {
  /** per row r: <grad_r, v_r> and the central difference <u_r, (f(x + eps v_r) - f(x - eps v_r)) / 2 eps> */
  rows: { analytic: number; numeric: number }[];
  /** max over rows of |analytic - numeric| / max(|analytic|, |numeric|, 1e-12) */
  maxRelError: number;
  /** batched mode: max |batched row - standard-mode grad| / max |standard-mode grad| over rows */
  batchedVsStandard?: number;
}

function randomLike(dtype: 'float32' | 'float64', dims: number[], rng: Rng): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  return dtype === 'float64' ? Tensor.f64(dims, rng.normals(n, true)) : Tensor.f32(dims, rng.normals(n));
}

function dot(a: Tensor, b: Tensor, offset = 0): number {
  let s = 0;
  for (let i = 0; i < b.size; i++) s += getNumber(a, offset + i) * getNumber(b, i);
  return s;
}

function axpy(x: Tensor, v: Tensor, eps: number): Tensor {
  const out = Tensor.zeros(x.dtype, x.dims.slice());
  for (let i = 0; i < x.size; i++) (out.data as Float64Array)[i] = getNumber(x, i) + eps * getNumber(v, i);
  return out;
}

/** Compares vjp(g) with finite differences along random directions (see GradCheckResult). */
export async function checkVjp(g: Graph, opts: GradCheckOptions): Promise<GradCheckResult> {
  const rng = new Rng(opts.seed ?? 7);
  const rows = opts.rows ?? 3;
  const mode = opts.mode ?? 'standard';
  const dtypes = inferDtypes(g);
  const inputShapes: Record<string, number[]> = {};
  for (const [k, t] of Object.entries(opts.feeds)) inputShapes[k] = t.dims;

  // forward with the wrt initializers as inputs
  const liftNames = opts.wrt.filter((w) => g.initializers.has(w));
  const fwd = liftInitializers(g, liftNames);
  fwd.outputs = opts.outputs.map((o) => ({ name: o, dtype: dtypes.get(o)! }));
  const base: Record<string, Tensor> = { ...opts.feeds };
  for (const w of liftNames) base[w] = g.initializers.get(w)!;
  const fs = await Session.create(fwd);

  const wrtT = opts.wrt.map((w) => base[w]);
  const dirs = Array.from({ length: rows }, () => wrtT.map((t) => randomLike(t.dtype as 'float32' | 'float64', t.dims, rng)));
  const outDims = (await fs.run(base)) as Record<string, Tensor>;
  const cots = Array.from({ length: rows }, () => opts.outputs.map((o) => randomLike(outDims[o].dtype as 'float32' | 'float64', outDims[o].dims, rng)));

  const numeric: number[] = [];
  for (let r = 0; r < rows; r++) {
    const eps = opts.eps ?? (wrtT[0].dtype === 'float64' ? 1e-5 : 1e-2);
    const plus = { ...base };
    const minus = { ...base };
    opts.wrt.forEach((w, i) => {
      plus[w] = axpy(base[w], dirs[r][i], eps);
      minus[w] = axpy(base[w], dirs[r][i], -eps);
    });
    const fp = await fs.run(plus);
    const fm = await fs.run(minus);
    let s = 0;
    opts.outputs.forEach((o, i) => {
      s += (dot(fp[o], cots[r][i]) - dot(fm[o], cots[r][i])) / (2 * eps);
    });
    numeric.push(s);
  }
  await fs.release();

  const grader = async (m: VjpMode) => {
    const res = await vjp(g, { outputs: opts.outputs, wrt: opts.wrt, mode: m, inputShapes, keepOutputs: false });
    const s = await Session.create(res.graph);
    return {
      run: async (cotFeeds: Tensor[]): Promise<Tensor[]> => {
        const feeds: Record<string, Tensor> = { ...opts.feeds };
        res.cotangents.forEach((c, i) => (feeds[c] = cotFeeds[i]));
        const out = await s.run(feeds);
        return res.grads.map((n) => out[n]);
      },
      release: () => s.release(),
    };
  };

  const std = await grader('standard');
  const standard: Tensor[][] = [];
  for (let r = 0; r < rows; r++) standard.push(await std.run(cots[r]));
  await std.release();
  const analytic: number[] = [];
  let batchedVsStandard: number | undefined;
  if (mode === 'batched') {
    const stacked = opts.outputs.map((_, i) => {
      const one = cots[0][i];
      const t = Tensor.zeros(one.dtype, [rows, ...one.dims]);
      for (let r = 0; r < rows; r++) (t.data as Float64Array).set(cots[r][i].data as Float64Array, r * one.size);
      return t;
    });
    const bat = await grader('batched');
    const grads = await bat.run(stacked);
    await bat.release();
    let diff = 0;
    let scale = 0;
    for (let r = 0; r < rows; r++) {
      let s = 0;
      grads.forEach((gt, i) => {
        const n = wrtT[i].size;
        if (gt.dims[0] !== rows || gt.size !== rows * n) throw new Error(`checkVjp: batched grad has shape [${gt.dims}]`);
        s += dot(gt, dirs[r][i], r * n);
        for (let j = 0; j < n; j++) {
          const st = getNumber(standard[r][i], j);
          diff = Math.max(diff, Math.abs(getNumber(gt, r * n + j) - st));
          scale = Math.max(scale, Math.abs(st));
        }
      });
      analytic.push(s);
    }
    batchedVsStandard = diff / Math.max(scale, 1e-30);
  } else {
    for (let r = 0; r < rows; r++) analytic.push(standard[r].reduce((s, gt, i) => s + dot(gt, dirs[r][i]), 0));
  }
  const out = analytic.map((a, r) => ({ analytic: a, numeric: numeric[r] }));
  const maxRelError = Math.max(...out.map(({ analytic: a, numeric: n }) => Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-12)));
  return { rows: out, maxRelError, batchedVsStandard };
}
