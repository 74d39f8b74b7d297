// Training objectives on embeddings of several views, z: [V, N, K] (views, batch, embedding).
import { GraphBuilder, Value } from '../graph/builder.js';
import { Tensor } from '../graph/tensor.js';
import { sigreg, SigregOptions } from './sigreg.js';

export interface ObjectiveValues {
  /** the scalar to minimise */
  loss: Value;
  invariance: Value;
  regularizer: Value;
}

/** JEPA invariance term: mean over views, points and dimensions of (mean over views of z - z)^2. */
export function invariance(b: GraphBuilder, z: Value): Value {
  const centre = b.reduceMean(z, [0], true);
  const d = b.sub(z, centre);
  return b.reduceMean(b.reshape(b.mul(d, d), [-1]), [0], false);
}

export interface LejepaOptions extends SigregOptions {
  /** weight of SIGReg */
  lambda: number;
}

/** LeJEPA: invariance + lambda * SIGReg (SIGReg per view, averaged). dirs: [K, M]. */
export function lejepaLoss(b: GraphBuilder, z: Value, dirs: Value, opts: LejepaOptions): ObjectiveValues {
  const inv = invariance(b, z);
  const reg = sigreg(b, z, dirs, opts);
  return { loss: b.add(inv, b.mul(reg, b.scalar(opts.lambda))), invariance: inv, regularizer: reg };
}

/** |mean|^2 + |covariance - I|_F^2 of each view (covariance with 1/N), averaged over views. */
export function momentMatching(b: GraphBuilder, z: Value, K: number): Value {
  const mean = b.reduceMean(z, [1], true); // [V, 1, K]
  const c = b.sub(z, mean);
  const outer = b.mul(b.unsqueeze(c, [3]), b.unsqueeze(c, [2])); // [V, N, K, K]
  const cov = b.reduceMean(outer, [1], false); // [V, K, K]
  const eye = new Float32Array(K * K);
  for (let i = 0; i < K; i++) eye[i * K + i] = 1;
  const dc = b.sub(cov, b.constant(Tensor.f32([K, K], eye), 'eye'));
  const covTerm = b.reduceSum(b.mul(dc, dc), [1, 2], false); // [V]
  const meanTerm = b.reduceSum(b.mul(mean, mean), [1, 2], false); // [V]
  return b.reduceMean(b.add(covTerm, meanTerm), [0], false);
}

/** invariance + lambda * moment matching. */
export function momentLoss(b: GraphBuilder, z: Value, K: number, opts: { lambda: number }): ObjectiveValues {
  const inv = invariance(b, z);
  const reg = momentMatching(b, z, K);
  return { loss: b.add(inv, b.mul(reg, b.scalar(opts.lambda))), invariance: inv, regularizer: reg };
}
