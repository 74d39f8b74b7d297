// Singular values and JEPA-SCOREs from a Jacobian, in float64.
import { gram, symmetricEigen } from './linalg.js';

export const DEFAULT_EPS = 1e-6;
const F32_EPS = 2 ** -23;

export interface SpectrumOptions {
  /** clip singular values below this (the paper's eps) */
  eps?: number;
  /** how many top right singular vectors (each of length D) to return */
  vectors?: number;
  /** relative rank tolerance: sigma_k counts when sigma_k > rankTol * sigma_max (default max(K, D) * float32 eps) */
  rankTol?: number;
}

export interface Spectrum {
  /** sum_k log max(sigma_k, eps) over the min(K, D) singular values: the paper's JEPA-SCORE */
  score: number;
  /** sum of log sigma_k over the numerical rank only (sigma_k > sigma_max * max(K, D) * float32 eps) */
  scoreRank: number;
  /** the numerical rank used by scoreRank */
  rank: number;
  /** singular values, descending, min(K, D) of them */
  singularValues: Float64Array;
  /** top right singular vectors (input space), when asked for */
  vectors?: Float32Array[];
}

/** Rank threshold on singular values: sigma_max * max(K, D) * float32 epsilon (J is computed in float32), or sigma_max * rankTol. */
export function rankTolerance(sigmaMax: number, K: number, D: number, rankTol?: number): number {
  return sigmaMax * (rankTol ?? Math.max(K, D) * F32_EPS);
}

/** Turns the eigenvalues of a Gram matrix (descending) into the scores. */
export function spectrumFromEigenvalues(eigenvalues: Float64Array, K: number, D: number, eps = DEFAULT_EPS, rankTol?: number): Spectrum {
  const singularValues = Float64Array.from(eigenvalues, (v) => Math.sqrt(Math.max(v, 0)));
  const tol = rankTolerance(singularValues[0] ?? 0, K, D, rankTol);
  let score = 0;
  let scoreRank = 0;
  let rank = 0;
  for (const s of singularValues) {
    score += Math.log(Math.max(s, eps));
    if (s > tol && s > 0) {
      scoreRank += Math.log(s);
      rank++;
    }
  }
  return { score, scoreRank, rank, singularValues };
}

/**
 * Scores from a Jacobian J (K x D, row-major). The Gram matrix of the smaller side is formed in float64
 * and its eigenvalues give the singular values.
 */
export function scoreFromJacobian(J: Float32Array | Float64Array, K: number, D: number, opts: SpectrumOptions = {}): Spectrum {
  if (J.length !== K * D) throw new Error(`scoreFromJacobian: J has ${J.length} entries, expected ${K} x ${D}`);
  checkFinite(J, 'Jacobian');
  const wide = K <= D;
  const g = wide ? gram(J, K, D) : gram(transpose(J, K, D), D, K);
  return finishSpectrum(g, J, K, D, opts);
}

export function finishSpectrum(g: Float64Array, J: Float32Array | Float64Array, K: number, D: number, opts: SpectrumOptions): Spectrum {
  const n = Math.min(K, D);
  const nv = Math.min(opts.vectors ?? 0, n);
  const eig = symmetricEigen(g, n, nv > 0);
  const spec = spectrumFromEigenvalues(eig.values, K, D, opts.eps ?? DEFAULT_EPS, opts.rankTol);
  if (nv > 0) spec.vectors = rightVectors(J, K, D, eig.vectors, spec.singularValues, nv);
  return spec;
}

// v_i = J^T u_i / sigma_i (K <= D, u from J J^T), or the eigenvectors of J^T J directly (K > D).
function rightVectors(J: ArrayLike<number>, K: number, D: number, eigvecs: Float64Array, sv: Float64Array, count: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const v = new Float32Array(D);
    if (K > D) {
      for (let d = 0; d < D; d++) v[d] = eigvecs[i * D + d];
    } else {
      const inv = sv[i] > 0 ? 1 / sv[i] : 0;
      for (let k = 0; k < K; k++) {
        const u = eigvecs[i * K + k] * inv;
        if (u === 0) continue;
        const row = k * D;
        for (let d = 0; d < D; d++) v[d] += u * J[row + d];
      }
    }
    out.push(v);
  }
  return out;
}

export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

export class NonFiniteError extends Error {}

export function checkFinite(a: ArrayLike<number>, what: string) {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) bad++;
  if (bad) throw new NonFiniteError(`${what} has ${bad} non-finite entries (NaN or Inf) of ${a.length}`);
}

/** log N(z; 0, I) */
export function logStandardNormal(z: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) s += z[i] * z[i];
  return -0.5 * s - 0.5 * z.length * Math.log(2 * Math.PI);
}

