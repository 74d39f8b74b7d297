// Variants of JEPA-SCORE for OOD detection. Each is fitted on the training split only (never on OOD data).
//
// The change of variables for an encoder z = f(x) gives, on the data manifold,
//   log p_x(x) = log p_z(f(x)) + sum_k log sigma_k(J_f(x)),
// the second term being JEPA-SCORE. The paper drops log p_z assuming p_z = N(0, I) (SIGReg); our variants
// keep it with N(0, I) (`jepa-score+log-density`, in ood.ts) or with the embedding density fitted on the
// training embeddings (a Gaussian, or a mixture of class Gaussians with a shared covariance).
// The complexity correction follows Serra et al. 2020: a density model's log-likelihood ratio against a
// generic lossless compressor, log p(x) - log p_0(x) with -log2 p_0(x) = L(x) bits, i.e. score + L(x) ln 2.
import { deflateRawSync } from 'node:zlib';
import { symmetricEigen } from '../score/linalg.js';
import { fitMahalanobis, l2Normalize, MahalanobisModel } from './baselines.js';

/** The 8-bit bytes of an image in [0, 1] (rounded, clamped). */
export function toBytes(img: ArrayLike<number>): Uint8Array {
  return Uint8Array.from(img as ArrayLike<number>, (v) => Math.min(255, Math.max(0, Math.round(v * 255))));
}

/**
 * Complexity L(x) in bits: 8 x the size of the image's 8-bit pixels losslessly compressed with raw DEFLATE
 * (zlib level 9 by default, no header), as Serra et al. 2020 use a PNG / FLIF codelength.
 */
export function complexityBits(img: ArrayLike<number>, level = 9): number {
  return 8 * deflateRawSync(toBytes(img), { level }).length;
}

/** Serra et al.'s sign: score + L(x) ln 2 (L in bits, the score in nats). */
export function complexityCorrected(score: number, bits: number): number {
  return score + bits * Math.LN2;
}

/** Least-squares slope of y on x (how the score changes per bit of complexity on the training images). */
export function regressionSlope(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n < 2 || y.length !== n) throw new Error(`regression: need at least 2 paired values, got ${n} and ${y.length}`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) ** 2;
  }
  if (sxx === 0) throw new Error('regression: all x values are equal');
  return sxy / sxx;
}

/** A Gaussian (or a mixture of class Gaussians with a shared covariance) fitted to training embeddings. */
export interface EmbeddingDensity {
  model: MahalanobisModel;
  /** log of each component's weight (class frequency) */
  logWeights: number[];
  /** -0.5 (K log 2 pi + log det Sigma) */
  logNorm: number;
}

/** Maximum-likelihood fit: one Gaussian, or with labels one per class sharing the pooled covariance. */
export function fitEmbeddingDensity(train: ArrayLike<number>[], labels?: number[]): EmbeddingDensity {
  const model = fitMahalanobis(train, labels);
  const counts = new Map<number, number>();
  for (let i = 0; i < train.length; i++) {
    const c = labels ? labels[i] : 0;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const logWeights = [...counts.keys()].sort((a, b) => a - b).map((c) => Math.log(counts.get(c)! / train.length));
  // log det Sigma = -log det(precision)
  const eig = symmetricEigen(model.precision, model.dim);
  let logDetPrecision = 0;
  for (const v of eig.values) logDetPrecision += Math.log(v);
  const logNorm = -0.5 * (model.dim * Math.log(2 * Math.PI) - logDetPrecision);
  return { model, logWeights, logNorm };
}

/** log p_z(z) under the fitted density (log-sum-exp over the components). */
export function embeddingLogDensity(d: EmbeddingDensity, queries: ArrayLike<number>[]): Float64Array {
  const { dim, means, precision } = d.model;
  const diff = new Float64Array(dim);
  const terms = new Float64Array(means.length);
  return Float64Array.from(queries, (q) => {
    if (q.length !== dim) throw new Error(`embedding density: a query has ${q.length} dims, expected ${dim}`);
    means.forEach((m, c) => {
      for (let a = 0; a < dim; a++) diff[a] = q[a] - m[a];
      let s = 0;
      for (let a = 0; a < dim; a++) {
        let t = 0;
        for (let b = 0; b < dim; b++) t += precision[a * dim + b] * diff[b];
        s += diff[a] * t;
      }
      terms[c] = d.logWeights[c] - 0.5 * s;
    });
    let mx = -Infinity;
    for (const t of terms) mx = Math.max(mx, t);
    let sum = 0;
    for (const t of terms) sum += Math.exp(t - mx);
    return d.logNorm + mx + Math.log(sum);
  });
}

/**
 * For each query, the mean of `values` over its k nearest training embeddings (cosine similarity, i.e.
 * Euclidean on L2-normalised embeddings; ties keep the earlier training image).
 */
export function knnMean(train: ArrayLike<number>[], values: ArrayLike<number>, queries: ArrayLike<number>[], k: number): Float64Array {
  if (train.length !== values.length) throw new Error(`kNN mean: ${values.length} values for ${train.length} training embeddings`);
  if (!Number.isInteger(k) || k < 1 || k > train.length) throw new Error(`kNN mean: k must be 1..${train.length}, got ${k}`);
  const T = l2Normalize(train);
  const sims = new Float64Array(T.length);
  return Float64Array.from(l2Normalize(queries), (q) => {
    if (q.length !== T[0].length) throw new Error(`kNN mean: a query has ${q.length} dims, expected ${T[0].length}`);
    for (let i = 0; i < T.length; i++) {
      let s = 0;
      for (let a = 0; a < q.length; a++) s += q[a] * T[i][a];
      sims[i] = s;
    }
    const order = Array.from({ length: T.length }, (_, i) => i).sort((a, b) => sims[b] - sims[a] || a - b);
    let s = 0;
    for (let j = 0; j < k; j++) s += values[order[j]];
    return s / k;
  });
}

/** The paper's eq. 4 over views: -log mean_v exp(-score_v), computed stably. */
export function viewAverage(scores: ArrayLike<number>): number {
  if (scores.length === 0) throw new Error('view average: no views');
  let m = Infinity;
  for (let i = 0; i < scores.length; i++) m = Math.min(m, scores[i]);
  let s = 0;
  for (let i = 0; i < scores.length; i++) s += Math.exp(-(scores[i] - m));
  return m - Math.log(s / scores.length);
}
