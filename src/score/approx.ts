// Approximate JEPA-SCORE from r << K Jacobian products instead of K.
//
// Each sketch is a fixed, seeded K x s matrix Omega with orthonormal columns. One batched reverse-mode
// run with the s columns as cotangents gives J_s = Omega^T J (s x D), and the estimate of that sketch is
//   (K / s) * sum_{i <= s} log max(sigma_i(Omega^T J), eps),
// i.e. the mean log singular value of the compressed Jacobian, times K. With several sketches (the r
// products split between them) the estimates are averaged.
//   - 'sketch': Omega is Haar-random (QR of a Gaussian matrix): a random rotation of the embedding.
//   - 'subset': Omega is s distinct columns of the identity: a random subset of embedding coordinates.
// Scale: with s = K (Omega square orthogonal) the estimate equals the exact score; when J J^T is a multiple
// of the identity it equals the exact score for every s. Otherwise it is biased: by Cauchy interlacing the
// s singular values of Omega^T J lie between the K-s+i-th and the i-th of J, so the estimate sits between
// (K/s) x (sum of the s smallest log sigma) and (K/s) x (sum of the s largest). It estimates the mean log
// singular value of J on a random s-dimensional slice of the embedding, reported on the exact score's
// scale (x K). The same Omega is used for every image, so the bias is shared and rankings stay comparable.
import { Rng } from '../data/random.js';
import { gram, symmetricEigen } from './linalg.js';
import { DEFAULT_EPS } from './spectrum.js';

export type ApproxMethod = 'sketch' | 'subset' | 'basis';
/** the methods that need nothing but a seed (basis needs rows from calibrationBasis) */
export const APPROX_METHODS: ApproxMethod[] = ['sketch', 'subset'];

/** The default number of products: K/8, rounded up (measured in docs/fast.md: Spearman 0.99 to the exact score on digits-vit). */
export function defaultApproxRows(K: number): number {
  return Math.max(1, Math.ceil(K / 8));
}

export interface ApproxOptions {
  /** Jacobian products per image in total (1 <= rows <= K); default K/8 rounded up (defaultApproxRows) */
  rows?: number;
  method?: ApproxMethod;
  /** split the rows into this many independent sketches and average (default 1) */
  sketches?: number;
  /** seed of the sketch matrices (default 0) */
  seed?: number;
  /** method 'basis': the one sketch to use, s x K orthonormal rows (from calibrationBasis), s = rows */
  basis?: Float64Array;
}

export interface ApproxResult {
  /** the estimate on the exact score's scale (see above) */
  score: number;
  /** each sketch's estimate */
  perSketch: number[];
  /** the singular values of the first sketch, descending */
  singularValues: Float64Array;
}

/** Rows per sketch: the r products split as evenly as possible. */
export function sketchSizes(rows: number, sketches: number): number[] {
  const base = Math.floor(rows / sketches);
  return Array.from({ length: sketches }, (_, i) => base + (i < rows % sketches ? 1 : 0));
}

/** Checks the options against K and fills the defaults. */
export function checkApprox(opts: ApproxOptions, K: number): Required<Omit<ApproxOptions, 'basis'>> {
  const method = opts.method ?? (opts.basis ? 'basis' : 'sketch');
  if (method === 'basis' && opts.rows === undefined) throw new Error('approx: method basis needs rows (the basis size)');
  const o = { ...opts, rows: opts.rows ?? defaultApproxRows(K) };
  if (method === 'basis') {
    if (!o.basis || o.basis.length !== o.rows * K) throw new Error(`approx: method basis needs basis rows (${o.rows} x ${K}), got ${o.basis ? o.basis.length : 'none'} values`);
    if ((o.sketches ?? 1) !== 1) throw new Error('approx: method basis uses one sketch');
    if (o.rows > K) throw new Error(`approx: ${o.rows} rows asked for, the embedding has only K = ${K}`);
    return { rows: o.rows, method, sketches: 1, seed: o.seed ?? 0 };
  }
  const sketches = o.sketches ?? 1;
  const seed = o.seed ?? 0;
  if (o.basis) throw new Error(`approx: a basis is only used by method basis, not ${method}`);
  if (!APPROX_METHODS.includes(method)) throw new Error(`approx: method must be one of ${APPROX_METHODS.join(', ')}, got '${method}'`);
  if (!Number.isInteger(o.rows) || o.rows < 1) throw new Error(`approx: rows must be a positive integer, got ${o.rows}`);
  if (o.rows > K) throw new Error(`approx: ${o.rows} rows asked for, the embedding has only K = ${K}`);
  if (!Number.isInteger(sketches) || sketches < 1 || sketches > o.rows) throw new Error(`approx: sketches must be an integer from 1 to rows (${o.rows}), got ${sketches}`);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`approx: seed must be a non-negative integer, got ${seed}`);
  return { rows: o.rows, method, sketches, seed };
}

/** s orthonormal columns in R^K as an s x K row-major matrix (Omega^T), by Gram-Schmidt (twice) on Gaussians. */
export function haarRows(K: number, s: number, rng: Rng): Float64Array {
  const q = new Float64Array(s * K);
  for (let i = 0; i < s; i++) {
    const v = q.subarray(i * K, (i + 1) * K);
    for (let k = 0; k < K; k++) v[k] = rng.normal();
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < i; j++) {
        const u = q.subarray(j * K, (j + 1) * K);
        let d = 0;
        for (let k = 0; k < K; k++) d += u[k] * v[k];
        for (let k = 0; k < K; k++) v[k] -= d * u[k];
      }
    }
    let n = 0;
    for (let k = 0; k < K; k++) n += v[k] * v[k];
    n = Math.sqrt(n);
    for (let k = 0; k < K; k++) v[k] /= n;
  }
  return q;
}

/** s distinct coordinates of K as an s x K selection matrix (rows of the identity), in increasing order. */
export function subsetRows(K: number, s: number, rng: Rng): Float64Array {
  const idx = Array.from({ length: K }, (_, i) => i);
  for (let i = 0; i < s; i++) {
    const j = i + rng.int(K - i);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  const pick = idx.slice(0, s).sort((a, b) => a - b);
  const q = new Float64Array(s * K);
  pick.forEach((c, i) => (q[i * K + c] = 1));
  return q;
}

/**
 * A data-adapted sketch ('basis'): the top s eigenvectors of the mean of G / tr(G) over the Gram matrices
 * G = J J^T of a few calibration images, as s x K rows. It keeps the embedding directions where the
 * Jacobians of such images are largest; the (K/s) scaling then overstates the score (the directions left
 * out are the weaker ones); the ranking is what it is for.
 */
export function calibrationBasis(grams: Float64Array[], K: number, s: number): Float64Array {
  if (!grams.length) throw new Error('calibrationBasis: no calibration Gram matrices');
  if (!Number.isInteger(s) || s < 1 || s > K) throw new Error(`calibrationBasis: s must be an integer from 1 to K = ${K}, got ${s}`);
  const M = new Float64Array(K * K);
  for (const G of grams) {
    if (G.length !== K * K) throw new Error(`calibrationBasis: a Gram matrix has ${G.length} entries, expected ${K} x ${K}`);
    let tr = 0;
    for (let k = 0; k < K; k++) tr += G[k * K + k];
    if (!(tr > 0)) continue;
    for (let i = 0; i < K * K; i++) M[i] += G[i] / tr;
  }
  return symmetricEigen(M, K, true).vectors.slice(0, s * K);
}

/** The sketch matrices (each Omega^T, s x K row-major) of the options, the same for every image. */
export function sketchMatrices(K: number, o: ApproxOptions): Float64Array[] {
  const c = checkApprox(o, K);
  if (c.method === 'basis') return [Float64Array.from(o.basis!)];
  const rng = new Rng(c.seed * 1_000_003 + 17);
  return sketchSizes(c.rows, c.sketches).map((s) => (c.method === 'sketch' ? haarRows(K, s, rng.fork()) : subsetRows(K, s, rng.fork())));
}

/** One sketch's estimate from Y = Omega^T J (s x D): (K / s) * sum log max(sigma_i(Y), eps). */
export function sketchEstimate(Y: ArrayLike<number>, s: number, D: number, K: number, eps = DEFAULT_EPS): { estimate: number; singularValues: Float64Array } {
  const small = s <= D;
  const g = small ? gram(Y, s, D) : gram(transposed(Y, s, D), D, s);
  const n = Math.min(s, D);
  const ev = symmetricEigen(g, n).values;
  const sv = Float64Array.from(ev, (v) => Math.sqrt(Math.max(v, 0)));
  let sum = 0;
  for (const v of sv) sum += Math.log(Math.max(v, eps));
  // with s > D, only D singular values exist; the rest count as eps (as in the exact score)
  sum += (s - n) * Math.log(eps);
  return { estimate: (K / s) * sum, singularValues: sv };
}

/** Omega^T J for a K x D Jacobian (row-major) and one sketch (s x K). */
export function applySketch(rows: Float64Array, s: number, J: ArrayLike<number>, K: number, D: number): Float64Array {
  const Y = new Float64Array(s * D);
  for (let i = 0; i < s; i++) {
    for (let k = 0; k < K; k++) {
      const w = rows[i * K + k];
      if (w === 0) continue;
      const row = k * D;
      const out = i * D;
      for (let d = 0; d < D; d++) Y[out + d] += w * J[row + d];
    }
  }
  return Y;
}

/** The approximate score from a full Jacobian (for checks and measurements; the scorer never forms J). */
export function approxScoreFromJacobian(J: ArrayLike<number>, K: number, D: number, o: ApproxOptions, eps = DEFAULT_EPS): ApproxResult {
  const mats = sketchMatrices(K, o);
  return combine(mats.map((m) => sketchEstimate(applySketch(m, m.length / K, J, K, D), m.length / K, D, K, eps)));
}

/**
 * The same estimate from the K x K Gram matrix G = J J^T (float64, row-major): the eigenvalues of
 * Omega^T G Omega are the squared singular values of Omega^T J. Cheaper when many sketches meet one J.
 */
export function approxScoreFromGram(G: Float64Array, K: number, o: ApproxOptions, eps = DEFAULT_EPS, mats = sketchMatrices(K, o)): ApproxResult {
  return combine(
    mats.map((m) => {
      const s = m.length / K;
      const GO = new Float64Array(K * s); // G Omega, K x s
      for (let k = 0; k < K; k++)
        for (let i = 0; i < s; i++) {
          let v = 0;
          for (let l = 0; l < K; l++) v += G[k * K + l] * m[i * K + l];
          GO[k * s + i] = v;
        }
      const C = new Float64Array(s * s);
      for (let i = 0; i < s; i++)
        for (let j = 0; j < s; j++) {
          let v = 0;
          for (let k = 0; k < K; k++) v += m[i * K + k] * GO[k * s + j];
          C[i * s + j] = v;
        }
      const sv = Float64Array.from(symmetricEigen(C, s).values, (v) => Math.sqrt(Math.max(v, 0)));
      let sum = 0;
      for (const v of sv) sum += Math.log(Math.max(v, eps));
      return { estimate: (K / s) * sum, singularValues: sv };
    }),
  );
}

export function combine(parts: { estimate: number; singularValues: Float64Array }[]): ApproxResult {
  const perSketch = parts.map((p) => p.estimate);
  return { score: perSketch.reduce((a, b) => a + b, 0) / perSketch.length, perSketch, singularValues: parts[0].singularValues };
}

function transposed(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}
