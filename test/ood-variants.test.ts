// The OOD variants of JEPA-SCORE on small inputs, each against an independent computation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { variantValues, VariantFit } from '../src/experiments/ood.js';
import {
  complexityBits,
  complexityCorrected,
  embeddingLogDensity,
  fitEmbeddingDensity,
  knnMean,
  regressionSlope,
  toBytes,
  viewAverage,
} from '../src/experiments/variants.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

test('complexity: flat images compress to a few bits, noise does not compress; stored DEFLATE has an exact size', () => {
  const rng = new Rng(5);
  const black = new Float32Array(784);
  const grey = new Float32Array(784).fill(128 / 255);
  const noise = Float32Array.from({ length: 784 }, () => rng.int(256) / 255);
  const digitLike = new Float32Array(784);
  for (let y = 6; y < 22; y++) for (let x = 12; x < 16; x++) digitLike[y * 28 + x] = 1;
  const bits = [black, grey, digitLike, noise].map((x) => complexityBits(x));
  assert.ok(bits[0] < 200 && bits[1] < 200, `flat images: ${bits[0]}, ${bits[1]} bits`);
  assert.ok(bits[0] < bits[2] && bits[2] < bits[3], `ordering ${bits}`);
  // uniform bytes are incompressible: at least 8 bits a pixel
  assert.ok(bits[3] >= 784 * 8, `noise ${bits[3]} bits`);
  // level 0 writes one stored block: a 3-bit header padded to a byte, LEN and NLEN (4 bytes), then the bytes
  assert.equal(complexityBits(noise, 0), 8 * (1 + 4 + 784));
  assert.equal(complexityBits(black, 0), 8 * (1 + 4 + 784));
  // pixels are rounded to 8 bits first, so values within half a level compress the same
  assert.deepEqual(toBytes([0, 0.5 / 255 - 1e-6, 1, 1.2, -0.1, 0.5]), Uint8Array.from([0, 0, 255, 255, 0, 128]));
  // Serra et al.'s sign: score (nats) + L bits x ln 2
  close(complexityCorrected(-40, 1000), -40 + 693.1471805599453, 1e-9, 'complexity-corrected');
});

test('regression slope: exact on a line, least squares on noisy data', () => {
  close(regressionSlope([1, 2, 3, 4], [5, 8, 11, 14]), 3, 1e-12, 'line');
  // closed form for x = 0,1,2 and y = 0,2,1: slope = cov/var = 0.5
  close(regressionSlope([0, 1, 2], [0, 2, 1]), 0.5, 1e-12, 'three points');
  close(regressionSlope([1, 2, 3, 4, 5], [2, 4, 5, 4, 5]), 0.6, 1e-12, 'sum (x - 3)(y - 4) = 6 over sum (x - 3)^2 = 10');
  assert.throws(() => regressionSlope([1, 2, 3], [1, 2]), /need at least 2 paired values, got 3 and 2/);
  assert.throws(() => regressionSlope([1, 1], [2, 3]), /all x values are equal/);
});

test('fitted embedding density: a Gaussian and a class mixture against explicit 2-D formulas', () => {
  const rng = new Rng(11);
  const z: Float64Array[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 60; i++) {
    const c = i % 3 === 0 ? 1 : 0; // class weights 2/3 and 1/3
    z.push(Float64Array.from([rng.normal() + 3 * c, 0.5 * rng.normal() + 0.3 * rng.normal() - c]));
    labels.push(c);
  }
  const q = [Float64Array.from([0.3, -0.2]), Float64Array.from([4, 2])];
  // one Gaussian: maximum-likelihood mean and covariance (divide by n)
  const mean = (pts: Float64Array[]) => [0, 1].map((d) => pts.reduce((a, p) => a + p[d], 0) / pts.length);
  const logN = (x: Float64Array, m: number[], S: number[]) => {
    const det = S[0] * S[3] - S[1] * S[2];
    const a = x[0] - m[0];
    const b = x[1] - m[1];
    const quad = (S[3] * a * a - 2 * S[1] * a * b + S[0] * b * b) / det;
    return -0.5 * quad - 0.5 * Math.log(det) - Math.log(2 * Math.PI);
  };
  const m = mean(z);
  const S = [0, 0, 0, 0];
  for (const p of z) {
    const a = p[0] - m[0];
    const b = p[1] - m[1];
    S[0] += (a * a) / z.length;
    S[1] += (a * b) / z.length;
    S[3] += (b * b) / z.length;
  }
  S[2] = S[1];
  const g = embeddingLogDensity(fitEmbeddingDensity(z), q);
  for (let i = 0; i < q.length; i++) close(g[i], logN(q[i], m, S), 1e-9, `Gaussian log-density ${i}`);
  // classes: per-class means, covariance pooled over classes, log sum_c pi_c N(x; m_c, S)
  const groups = [0, 1].map((c) => z.filter((_, i) => labels[i] === c));
  const means = groups.map(mean);
  const P = [0, 0, 0, 0];
  groups.forEach((pts, c) => {
    for (const p of pts) {
      const a = p[0] - means[c][0];
      const b = p[1] - means[c][1];
      P[0] += (a * a) / z.length;
      P[1] += (a * b) / z.length;
      P[3] += (b * b) / z.length;
    }
  });
  P[2] = P[1];
  const mix = embeddingLogDensity(fitEmbeddingDensity(z, labels), q);
  for (let i = 0; i < q.length; i++) {
    const ref = Math.log((40 / 60) * Math.exp(logN(q[i], means[0], P)) + (20 / 60) * Math.exp(logN(q[i], means[1], P)));
    close(mix[i], ref, 1e-9, `class-mixture log-density ${i}`);
  }
});

test('kNN mean: the mean value of the k most cosine-similar training embeddings', () => {
  const rng = new Rng(3);
  const train = Array.from({ length: 40 }, () => Float64Array.from({ length: 5 }, () => rng.normal()));
  const values = Float64Array.from({ length: 40 }, () => rng.normal() * 10);
  const queries = Array.from({ length: 6 }, () => Float64Array.from({ length: 5 }, () => rng.normal()));
  const got = knnMean(train, values, queries, 4);
  queries.forEach((q, i) => {
    // brute force: smallest angle = largest cosine
    const cos = train.map((t, j) => {
      const dot = t.reduce((a, v, d) => a + v * q[d], 0);
      return [dot / Math.hypot(...t) / Math.hypot(...q), j];
    });
    cos.sort((a, b) => b[0] - a[0]);
    close(got[i], cos.slice(0, 4).reduce((a, [, j]) => a + values[j], 0) / 4, 1e-12, `query ${i}`);
  });
  // scaling a query or a training embedding changes nothing
  close(knnMean(train.map((t) => t.map((v) => 3 * v)), values, [queries[0].map((v) => 0.1 * v)], 4)[0], got[0], 1e-12, 'scale invariance');
  assert.throws(() => knnMean(train, values, queries, 41), /k must be 1\.\.40/);
});

test('view average (eq. 4): -log mean exp(-score), stable for large scores', () => {
  const s = [-1, 0.5, 2];
  close(viewAverage(s), -Math.log((Math.exp(1) + Math.exp(-0.5) + Math.exp(-2)) / 3), 1e-12, 'three views');
  close(viewAverage([7.25]), 7.25, 1e-12, 'one view');
  // shifting every view shifts the average (checks the stable form far from 0)
  close(viewAverage(s.map((v) => v - 2000)), viewAverage(s) - 2000, 1e-9, 'shift');
  // it lies between the smallest view and the mean (Jensen)
  const v = viewAverage([-50, -40, -45]);
  assert.ok(v >= -50 && v <= -45, `${v}`);
});

test('variantValues: every variant is its formula', () => {
  const rng = new Rng(9);
  const trainZ = Array.from({ length: 30 }, () => Float32Array.from({ length: 3 }, () => rng.normal()));
  const labels = trainZ.map((_, i) => i % 2);
  const trainScores = Float64Array.from({ length: 30 }, () => -40 + 5 * rng.normal());
  const gaussian = fitEmbeddingDensity(trainZ);
  const classes = fitEmbeddingDensity(trainZ, labels);
  const fit: VariantFit = { slope: -0.02, gaussian, classes, trainZ, trainScores, k: 5 };
  const r = { score: -47.5, embedding: Float32Array.from([0.2, -1, 0.4]) };
  const v = variantValues(fit, r, 1500, -44);
  close(v['jepa-score+complexity'], -47.5 + 1500 * Math.LN2, 1e-9, '+complexity');
  close(v['jepa-score-complexity'], -47.5 - 1500 * Math.LN2, 1e-9, '-complexity');
  close(v['jepa-score-complexity-fit'], -47.5 + 0.02 * 1500, 1e-9, 'complexity-fit');
  close(v['jepa-score+fitted-log-density'], -47.5 + embeddingLogDensity(gaussian, [r.embedding])[0], 1e-9, 'fitted log-density');
  close(v['jepa-score+class-log-density'], -47.5 + embeddingLogDensity(classes, [r.embedding])[0], 1e-9, 'class log-density');
  close(v['jepa-score-knn-normalised'], -47.5 - knnMean(trainZ, trainScores, [r.embedding], 5)[0], 1e-9, 'kNN-normalised');
  assert.equal(v['jepa-score-views'], -44);
  assert.equal(variantValues({ ...fit, classes: undefined }, r, 1500)['jepa-score-views'], undefined);
  assert.equal(variantValues({ ...fit, classes: undefined }, r, 1500)['jepa-score+class-log-density'], undefined);
});
