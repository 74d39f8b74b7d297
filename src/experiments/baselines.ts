// OOD baselines computed on embeddings: kNN distance, Mahalanobis distance, embedding norm.
// Each returns an in-distribution score (higher = more in-distribution), fitted on a training split.
import { symmetricEigen } from '../score/linalg.js';

function checkEmbeddings(what: string, zs: ArrayLike<number>[], dim?: number): number {
  if (zs.length === 0) throw new Error(`${what}: no embeddings`);
  const k = dim ?? zs[0].length;
  zs.forEach((z, i) => {
    if (z.length !== k) throw new Error(`${what}: embedding ${i} has ${z.length} dims, expected ${k}`);
  });
  return k;
}

/** Copies of the embeddings scaled to unit L2 norm (zero vectors stay zero). */
export function l2Normalize(zs: ArrayLike<number>[]): Float64Array[] {
  return zs.map((z) => {
    let s = 0;
    for (let i = 0; i < z.length; i++) s += z[i] * z[i];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    return Float64Array.from(z as ArrayLike<number>, (v) => v * inv);
  });
}

/**
 * Deep nearest-neighbour OOD score (Sun et al. 2022): minus the Euclidean distance from each
 * L2-normalised query to its k-th nearest L2-normalised training embedding, for every k asked.
 */
export function knnScores(train: ArrayLike<number>[], queries: ArrayLike<number>[], ks: number[]): Map<number, Float64Array> {
  const dim = checkEmbeddings('kNN training set', train);
  checkEmbeddings('kNN queries', queries, dim);
  const kmax = Math.max(...ks);
  if (!ks.every((k) => Number.isInteger(k) && k >= 1)) throw new Error(`kNN: k must be positive integers, got ${ks.join(',')}`);
  if (kmax > train.length) throw new Error(`kNN: k = ${kmax} exceeds the ${train.length} training embeddings`);
  const n = train.length;
  const flat = new Float64Array(n * dim);
  l2Normalize(train).forEach((z, i) => flat.set(z, i * dim));
  const out = new Map<number, Float64Array>(ks.map((k) => [k, new Float64Array(queries.length)]));
  const best = new Float64Array(kmax); // the kmax largest cosine similarities, descending
  l2Normalize(queries).forEach((q, qi) => {
    best.fill(-Infinity);
    for (let i = 0; i < n; i++) {
      let s = 0;
      const o = i * dim;
      for (let d = 0; d < dim; d++) s += q[d] * flat[o + d];
      if (s <= best[kmax - 1]) continue;
      let j = kmax - 1;
      while (j > 0 && best[j - 1] < s) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = s;
    }
    for (const k of ks) {
      // |a - b|^2 = 2 - 2 cos for unit vectors
      out.get(k)![qi] = -Math.sqrt(Math.max(0, 2 - 2 * best[k - 1]));
    }
  });
  return out;
}

/** A fitted Gaussian: mean(s) and the inverse of a shared covariance. */
export interface MahalanobisModel {
  dim: number;
  /** one mean per class (a single one when class-agnostic) */
  means: Float64Array[];
  /** inverse covariance (row-major dim x dim), eigenvalues floored for stability */
  precision: Float64Array;
}

/**
 * Fits the Mahalanobis baseline (Lee et al. 2018). Without labels: one mean and covariance.
 * With labels: one mean per class and the covariance pooled (tied) over classes.
 */
export function fitMahalanobis(train: ArrayLike<number>[], labels?: number[]): MahalanobisModel {
  const dim = checkEmbeddings('Mahalanobis training set', train);
  if (labels && labels.length !== train.length) throw new Error(`Mahalanobis: ${labels.length} labels for ${train.length} embeddings`);
  const groups = new Map<number, number[]>();
  train.forEach((_, i) => {
    const c = labels ? labels[i] : 0;
    if (!groups.has(c)) groups.set(c, []);
    groups.get(c)!.push(i);
  });
  const means: Float64Array[] = [];
  const cov = new Float64Array(dim * dim);
  const centred = new Float64Array(dim);
  for (const c of [...groups.keys()].sort((a, b) => a - b)) {
    const idx = groups.get(c)!;
    const m = new Float64Array(dim);
    for (const i of idx) for (let d = 0; d < dim; d++) m[d] += train[i][d];
    for (let d = 0; d < dim; d++) m[d] /= idx.length;
    means.push(m);
    for (const i of idx) {
      for (let d = 0; d < dim; d++) centred[d] = train[i][d] - m[d];
      for (let a = 0; a < dim; a++) {
        const ca = centred[a];
        const row = a * dim;
        for (let b = 0; b <= a; b++) cov[row + b] += ca * centred[b];
      }
    }
  }
  for (let a = 0; a < dim; a++) {
    for (let b = 0; b <= a; b++) {
      cov[a * dim + b] /= train.length;
      cov[b * dim + a] = cov[a * dim + b];
    }
  }
  const eig = symmetricEigen(cov, dim, true);
  const floor = Math.max(eig.values[0] * 1e-9, 1e-300);
  const precision = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    const inv = 1 / Math.max(eig.values[i], floor);
    const v = eig.vectors.subarray(i * dim, (i + 1) * dim);
    for (let a = 0; a < dim; a++) {
      const va = v[a] * inv;
      for (let b = 0; b < dim; b++) precision[a * dim + b] += va * v[b];
    }
  }
  return { dim, means, precision };
}

/** Minus the smallest squared Mahalanobis distance to the fitted mean(s). */
export function mahalanobisScores(model: MahalanobisModel, queries: ArrayLike<number>[]): Float64Array {
  const { dim, means, precision } = model;
  checkEmbeddings('Mahalanobis queries', queries, dim);
  const diff = new Float64Array(dim);
  return Float64Array.from(queries, (q) => {
    let best = Infinity;
    for (const m of means) {
      for (let d = 0; d < dim; d++) diff[d] = q[d] - m[d];
      let s = 0;
      for (let a = 0; a < dim; a++) {
        let t = 0;
        const row = a * dim;
        for (let b = 0; b < dim; b++) t += precision[row + b] * diff[b];
        s += diff[a] * t;
      }
      if (s < best) best = s;
    }
    return -best;
  });
}

/** The embedding's L2 norm (larger = more in-distribution, as the feature-norm baseline assumes). */
export function normScores(queries: ArrayLike<number>[]): Float64Array {
  return Float64Array.from(queries, (q) => {
    let s = 0;
    for (let i = 0; i < q.length; i++) s += q[i] * q[i];
    return Math.sqrt(s);
  });
}
