// SIGReg (LeJEPA, Balestriero & LeCun 2025): the Epps-Pulley statistic of the embeddings projected on
// M random unit directions, integrated by the trapezoid rule on [0, t_max] with weight exp(-t^2/2)
// (doubled, since the integrand is even in t), times the batch size, averaged over directions.
import { Rng } from '../data/random.js';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Tensor } from '../graph/tensor.js';

export interface SigregOptions {
  /** upper end of the integration range; default 3 */
  tMax?: number;
  /** number of trapezoid knots on [0, t_max] (including both ends); default 17 */
  knots?: number;
  /** the batch size N when it is fixed; when absent it is read from z's shape in the graph */
  n?: number;
}

export const SIGREG_T_MAX = 3;
export const SIGREG_KNOTS = 17;

export interface Quadrature {
  t: Float64Array;
  /** exp(-t^2/2), the standard normal characteristic function at t */
  phi: Float64Array;
  /** trapezoid weights times exp(-t^2/2), doubled for the negative half */
  weights: Float64Array;
}

export function sigregQuadrature(opts: SigregOptions = {}): Quadrature {
  const tMax = opts.tMax ?? SIGREG_T_MAX;
  const knots = opts.knots ?? SIGREG_KNOTS;
  if (!(tMax > 0)) throw new Error(`SIGReg: t_max must be positive, got ${tMax}`);
  if (!(knots >= 2) || !Number.isInteger(knots)) throw new Error(`SIGReg: knots must be an integer >= 2, got ${knots}`);
  const dt = tMax / (knots - 1);
  const t = Float64Array.from({ length: knots }, (_, i) => i * dt);
  const phi = Float64Array.from(t, (v) => Math.exp(-0.5 * v * v));
  const weights = Float64Array.from(phi, (p, i) => (i === 0 || i === knots - 1 ? dt : 2 * dt) * p);
  return { t, phi, weights };
}

/** E[SIGReg] when z is exactly N(0, I): sum_t w_t (1 - phi_t^2), whatever N, K and the directions. */
export function sigregGaussianMean(opts: SigregOptions = {}): number {
  const q = sigregQuadrature(opts);
  let s = 0;
  for (let i = 0; i < q.t.length; i++) s += q.weights[i] * (1 - q.phi[i] * q.phi[i]);
  return s;
}

/** M random unit directions in R^K as the columns of a [K, M] float32 matrix. */
export function randomDirections(rng: Rng, K: number, M: number): Float32Array {
  const a = new Float64Array(K * M);
  for (let i = 0; i < a.length; i++) a[i] = rng.normal();
  const out = new Float32Array(K * M);
  for (let m = 0; m < M; m++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += a[k * M + m] ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let k = 0; k < K; k++) out[k * M + m] = a[k * M + m] * inv;
  }
  return out;
}

/**
 * Adds SIGReg to a graph. z: [..., N, K] float32 embeddings; dirs: [K, M] unit directions (columns).
 * Leading axes of z are independent batches (e.g. views); the result is the mean over them and over
 * the directions, a float32 scalar.
 */
export function sigreg(b: GraphBuilder, z: Value, dirs: Value, opts: SigregOptions = {}): Value {
  const q = sigregQuadrature(opts);
  const T = q.t.length;
  const proj = b.matmul(z, dirs); // [..., N, M]
  const xt = b.mul(b.unsqueeze(proj, [-1]), b.constant(Tensor.f32([T], q.t), 'sigreg_t')); // [..., N, M, T]
  const cosMean = b.reduceMean(b.cos(xt), [-3], false); // [..., M, T]
  const sinMean = b.reduceMean(b.sin(xt), [-3], false);
  const dc = b.sub(cosMean, b.constant(Tensor.f32([T], q.phi), 'sigreg_phi'));
  const err = b.add(b.mul(dc, dc), b.mul(sinMean, sinMean));
  const integral = b.reduceSum(b.mul(err, b.constant(Tensor.f32([T], q.weights), 'sigreg_w')), [-1], false); // [..., M]
  let n: Value;
  if (opts.n !== undefined) n = b.scalar(opts.n);
  else n = b.cast(b.op('Shape', [z], { start: { type: 'int', value: -2 }, end: { type: 'int', value: -1 } }), 'float32');
  const stat = b.mul(integral, n);
  return b.reduceMean(b.reshape(stat, [-1]), [0], false);
}

/**
 * Float64 reference: SIGReg of z (row-major [N, K]) with directions dirs (row-major [K, M]).
 */
export function sigregReference(z: ArrayLike<number>, N: number, K: number, dirs: ArrayLike<number>, M: number, opts: SigregOptions = {}): number {
  if (z.length !== N * K) throw new Error(`sigregReference: z has ${z.length} entries, expected ${N} x ${K}`);
  if (dirs.length !== K * M) throw new Error(`sigregReference: dirs has ${dirs.length} entries, expected ${K} x ${M}`);
  const q = sigregQuadrature(opts);
  let total = 0;
  const p = new Float64Array(N);
  for (let m = 0; m < M; m++) {
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += z[i * K + k] * dirs[k * M + m];
      p[i] = s;
    }
    let integral = 0;
    for (let j = 0; j < q.t.length; j++) {
      let c = 0;
      let s = 0;
      for (let i = 0; i < N; i++) {
        c += Math.cos(q.t[j] * p[i]);
        s += Math.sin(q.t[j] * p[i]);
      }
      c /= N;
      s /= N;
      integral += q.weights[j] * ((c - q.phi[j]) ** 2 + s * s);
    }
    total += N * integral;
  }
  return total / M;
}
