// Gaussian mixtures in D dimensions with exact log-density, gradient of the log-density and sampling.
import { Rng } from '../data/random.js';

export interface RandomMixtureOptions {
  dim: number;
  components: number;
  seed: number;
  /** component means are drawn from N(0, meanScale^2 I); default 2.5 */
  meanScale?: number;
  /** each component's overall standard deviation is log-uniform in this range; default [0.15, 0.6] */
  scaleRange?: [number, number];
  /** largest ratio between a component's covariance eigenvalues; default 4 */
  condition?: number;
  /** weights are Dirichlet(alpha); default 2 */
  weightAlpha?: number;
}

/** A Gaussian mixture sum_c w_c N(mu_c, Sigma_c), all matrices row-major float64. */
export class GaussianMixture {
  readonly components: number;
  /** lower Cholesky factors of the covariances */
  readonly chol: Float64Array[];
  private readonly logNorm: Float64Array;
  private readonly logWeights: Float64Array;

  constructor(
    readonly dim: number,
    readonly weights: Float64Array,
    readonly means: Float64Array[],
    readonly covs: Float64Array[],
  ) {
    const C = weights.length;
    if (!(dim >= 1) || !Number.isInteger(dim)) throw new Error(`GaussianMixture: dim must be a positive integer, got ${dim}`);
    if (C < 1 || means.length !== C || covs.length !== C) throw new Error(`GaussianMixture: ${C} weights, ${means.length} means and ${covs.length} covariances`);
    let total = 0;
    for (const w of weights) {
      if (!(w > 0)) throw new Error(`GaussianMixture: weights must be positive, got ${w}`);
      total += w;
    }
    if (Math.abs(total - 1) > 1e-9) throw new Error(`GaussianMixture: weights sum to ${total}, not 1`);
    this.components = C;
    this.chol = [];
    this.logNorm = new Float64Array(C);
    this.logWeights = Float64Array.from(weights, Math.log);
    for (let c = 0; c < C; c++) {
      if (means[c].length !== dim) throw new Error(`GaussianMixture: mean ${c} has ${means[c].length} entries, expected ${dim}`);
      if (covs[c].length !== dim * dim) throw new Error(`GaussianMixture: covariance ${c} has ${covs[c].length} entries, expected ${dim * dim}`);
      const L = cholesky(covs[c], dim);
      if (!L) throw new Error(`GaussianMixture: covariance ${c} is not positive definite`);
      this.chol.push(L);
      let logDet = 0;
      for (let i = 0; i < dim; i++) logDet += 2 * Math.log(L[i * dim + i]);
      this.logNorm[c] = -0.5 * dim * Math.log(2 * Math.PI) - 0.5 * logDet;
    }
  }

  /** A random mixture: random means, random well-conditioned full covariances, Dirichlet weights. */
  static random(o: RandomMixtureOptions): GaussianMixture {
    const { dim: D, components: C } = o;
    if (!(C >= 1) || !Number.isInteger(C)) throw new Error(`GaussianMixture.random: components must be a positive integer, got ${C}`);
    const meanScale = o.meanScale ?? 2.5;
    const [lo, hi] = o.scaleRange ?? [0.15, 0.6];
    const cond = o.condition ?? 4;
    const alpha = o.weightAlpha ?? 2;
    if (!(lo > 0 && hi >= lo)) throw new Error(`GaussianMixture.random: bad scale range [${lo}, ${hi}]`);
    if (!(cond >= 1)) throw new Error(`GaussianMixture.random: condition must be >= 1, got ${cond}`);
    const rng = new Rng(o.seed);
    const weights = new Float64Array(C);
    for (let c = 0; c < C; c++) weights[c] = gammaSample(rng, alpha);
    const wsum = weights.reduce((a, b) => a + b, 0);
    for (let c = 0; c < C; c++) weights[c] /= wsum;
    const means: Float64Array[] = [];
    const covs: Float64Array[] = [];
    for (let c = 0; c < C; c++) {
      means.push(Float64Array.from({ length: D }, () => meanScale * rng.normal()));
      const scale = Math.exp(rng.range(Math.log(lo), Math.log(hi)));
      // eigenvalues scale^2 * r_i with log r_i uniform in [-log(cond)/2, log(cond)/2]
      const eig = Float64Array.from({ length: D }, () => scale * scale * Math.exp(rng.range(-0.5, 0.5) * Math.log(cond)));
      const Q = randomOrthogonal(rng, D);
      const S = new Float64Array(D * D);
      for (let i = 0; i < D; i++)
        for (let j = 0; j <= i; j++) {
          let s = 0;
          for (let k = 0; k < D; k++) s += Q[i * D + k] * eig[k] * Q[j * D + k];
          S[i * D + j] = s;
          S[j * D + i] = s;
        }
      covs.push(S);
    }
    return new GaussianMixture(D, weights, means, covs);
  }

  /** n samples (row-major n x D) and their component labels. */
  sample(n: number, rng: Rng): { x: Float64Array; labels: Int32Array } {
    const D = this.dim;
    const x = new Float64Array(n * D);
    const labels = new Int32Array(n);
    const cum = new Float64Array(this.components);
    let acc = 0;
    for (let c = 0; c < this.components; c++) cum[c] = acc += this.weights[c];
    const e = new Float64Array(D);
    for (let i = 0; i < n; i++) {
      const u = rng.uniform() * acc;
      let c = 0;
      while (c < this.components - 1 && u >= cum[c]) c++;
      labels[i] = c;
      for (let d = 0; d < D; d++) e[d] = rng.normal();
      const L = this.chol[c];
      const mu = this.means[c];
      for (let r = 0; r < D; r++) {
        let s = mu[r];
        for (let k = 0; k <= r; k++) s += L[r * D + k] * e[k];
        x[i * D + r] = s;
      }
    }
    return { x, labels };
  }

  /** Per-component log w_c + log N(x; mu_c, Sigma_c) for one point, and the whitened residuals if asked. */
  private componentLogs(x: ArrayLike<number>, off: number, out: Float64Array, whitened?: Float64Array[]): void {
    const D = this.dim;
    const y = new Float64Array(D);
    for (let c = 0; c < this.components; c++) {
      const L = this.chol[c];
      const mu = this.means[c];
      // forward substitution: L y = x - mu
      let q = 0;
      for (let r = 0; r < D; r++) {
        let s = x[off + r] - mu[r];
        for (let k = 0; k < r; k++) s -= L[r * D + k] * y[k];
        y[r] = s / L[r * D + r];
        q += y[r] * y[r];
      }
      out[c] = this.logWeights[c] + this.logNorm[c] - 0.5 * q;
      if (whitened) whitened[c].set(y);
    }
  }

  /** log p(x) for n points (row-major n x D). */
  logProb(x: ArrayLike<number>, n = x.length / this.dim): Float64Array {
    if (!Number.isInteger(n) || x.length !== n * this.dim) throw new Error(`GaussianMixture.logProb: ${x.length} values is not ${n} points of dimension ${this.dim}`);
    const out = new Float64Array(n);
    const logs = new Float64Array(this.components);
    for (let i = 0; i < n; i++) {
      this.componentLogs(x, i * this.dim, logs);
      out[i] = logSumExp(logs);
    }
    return out;
  }

  /** grad_x log p(x) for n points (row-major n x D). */
  gradLogProb(x: ArrayLike<number>, n = x.length / this.dim): Float64Array {
    const D = this.dim;
    if (!Number.isInteger(n) || x.length !== n * D) throw new Error(`GaussianMixture.gradLogProb: ${x.length} values is not ${n} points of dimension ${D}`);
    const out = new Float64Array(n * D);
    const logs = new Float64Array(this.components);
    const ys = Array.from({ length: this.components }, () => new Float64Array(D));
    const g = new Float64Array(D);
    for (let i = 0; i < n; i++) {
      this.componentLogs(x, i * D, logs, ys);
      const lse = logSumExp(logs);
      for (let c = 0; c < this.components; c++) {
        const r = Math.exp(logs[c] - lse);
        // Sigma^-1 (x - mu) = L^-T y: back substitution
        const L = this.chol[c];
        const y = ys[c];
        for (let row = D - 1; row >= 0; row--) {
          let s = y[row];
          for (let k = row + 1; k < D; k++) s -= L[k * D + row] * g[k];
          g[row] = s / L[row * D + row];
        }
        for (let d = 0; d < D; d++) out[i * D + d] -= r * g[d];
      }
    }
    return out;
  }

  /** The mixture's mean and covariance. */
  moments(): { mean: Float64Array; cov: Float64Array } {
    const D = this.dim;
    const mean = new Float64Array(D);
    for (let c = 0; c < this.components; c++) for (let d = 0; d < D; d++) mean[d] += this.weights[c] * this.means[c][d];
    const cov = new Float64Array(D * D);
    for (let c = 0; c < this.components; c++) {
      const w = this.weights[c];
      const mu = this.means[c];
      for (let i = 0; i < D; i++)
        for (let j = 0; j < D; j++) cov[i * D + j] += w * (this.covs[c][i * D + j] + (mu[i] - mean[i]) * (mu[j] - mean[j]));
    }
    return { mean, cov };
  }
}

export function logSumExp(a: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
  if (m === -Infinity) return -Infinity;
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.exp(a[i] - m);
  return m + Math.log(s);
}

/** Lower Cholesky factor of a symmetric positive definite matrix, or undefined when it is not one. */
export function cholesky(a: ArrayLike<number>, n: number): Float64Array | undefined {
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k];
      if (i === j) {
        if (!(s > 0)) return undefined;
        L[i * n + i] = Math.sqrt(s);
      } else L[i * n + j] = s / L[j * n + j];
    }
  return L;
}

/** A uniformly random orthogonal matrix (Gram-Schmidt on a Gaussian matrix). */
export function randomOrthogonal(rng: Rng, n: number): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (;;) {
      for (let j = 0; j < n; j++) q[i * n + j] = rng.normal();
      for (let p = 0; p < i; p++) {
        let dot = 0;
        for (let j = 0; j < n; j++) dot += q[i * n + j] * q[p * n + j];
        for (let j = 0; j < n; j++) q[i * n + j] -= dot * q[p * n + j];
      }
      let norm = 0;
      for (let j = 0; j < n; j++) norm += q[i * n + j] ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-8) {
        for (let j = 0; j < n; j++) q[i * n + j] /= norm;
        break;
      }
    }
  }
  return q;
}

/** Gamma(alpha, 1) by Marsaglia and Tsang. */
function gammaSample(rng: Rng, alpha: number): number {
  if (alpha < 1) return gammaSample(rng, alpha + 1) * Math.pow(rng.uniform() || 1e-300, 1 / alpha);
  const d = alpha - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = rng.uniform();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u || 1e-300) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}
