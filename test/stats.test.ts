import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { energyDistance, mmd2, pearson, ranks, spearman } from '../src/experiments/stats.js';

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
function erf(x: number): number {
  const s = Math.sign(x);
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return s * y;
}
const Phi = (x: number) => 0.5 * (1 + erf(x / Math.SQRT2));

test('pearson and spearman on a hand-computed example with ties', () => {
  const x = [1, 2, 3, 4, 5];
  const y = [2, 4, 5, 4, 5];
  assert.ok(Math.abs(pearson(x, y) - 6 / Math.sqrt(60)) < 1e-12);
  assert.deepEqual([...ranks(y)], [1, 2.5, 4.5, 2.5, 4.5]);
  assert.ok(Math.abs(spearman(x, y) - 7 / Math.sqrt(90)) < 1e-12);
  assert.equal(spearman(x, x.map(Math.exp)), 1);
  assert.ok(Number.isNaN(pearson(x, [1, 1, 1, 1, 1])));
  assert.throws(() => pearson([1, 2], [1, 2, 3]), /pearson: the two series have different lengths/);
  assert.throws(() => spearman([1, NaN], [1, 2]), /spearman: point 1 is not finite/);
});

test('correlations of a bivariate normal match the closed forms', () => {
  const rng = new Rng(11);
  const rho = 0.6;
  const n = 20000;
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = rng.normal();
    const v = rng.normal();
    a[i] = u;
    b[i] = rho * u + Math.sqrt(1 - rho * rho) * v;
  }
  // standard errors are about (1 - rho^2)/sqrt(n) = 0.0045
  assert.ok(Math.abs(pearson(a, b) - rho) < 0.015);
  assert.ok(Math.abs(spearman(a, b) - (6 / Math.PI) * Math.asin(rho / 2)) < 0.015);
});

test('energy distance between shifted normals matches the closed form', () => {
  const rng = new Rng(5);
  const n = 3000;
  const mu = 1;
  const x = Float64Array.from({ length: n }, () => rng.normal());
  const y = Float64Array.from({ length: n }, () => mu + rng.normal());
  const z = Float64Array.from({ length: n }, () => rng.normal());
  // X - Y ~ N(-mu, 2): E|X - Y| = s sqrt(2/pi) exp(-mu^2/(2 s^2)) + mu (1 - 2 Phi(-mu/s)), s = sqrt 2; E|X - X'| = 2/sqrt(pi)
  const s = Math.SQRT2;
  const cross = s * Math.sqrt(2 / Math.PI) * Math.exp((-mu * mu) / (2 * s * s)) + mu * (1 - 2 * Phi(-mu / s));
  const truth = 2 * cross - 4 / Math.sqrt(Math.PI);
  const est = energyDistance(x, y, 1);
  // the estimate's standard deviation at n = 3000 is about 0.02
  assert.ok(Math.abs(est - truth) < 0.07, `energy distance ${est} vs ${truth}`);
  assert.ok(Math.abs(energyDistance(x, z, 1)) < 0.02);
  assert.throws(() => energyDistance(x, y.subarray(0, 1), 1), /energyDistance: needs at least 2 points/);
});

test('MMD between 2-D normals matches the closed form', () => {
  const rng = new Rng(9);
  const n = 1200;
  const mu = [0.8, -0.4];
  const h = 1.5;
  const x = Float64Array.from({ length: 2 * n }, () => rng.normal());
  const y = Float64Array.from({ length: 2 * n }, (_, i) => mu[i % 2] + rng.normal());
  // E k(X, X') = (h^2/(h^2+2))^(d/2); E k(X, Y) adds exp(-|mu|^2 / (2 (h^2 + 2)))
  const c = h * h / (h * h + 2);
  const m2 = mu[0] ** 2 + mu[1] ** 2;
  const truth = 2 * c * (1 - Math.exp(-m2 / (2 * (h * h + 2))));
  const est = mmd2(x, y, 2, h);
  assert.equal(est.bandwidth, h);
  assert.ok(Math.abs(est.mmd2 - truth) < 0.01, `mmd2 ${est.mmd2} vs ${truth}`);
  const z = Float64Array.from({ length: 2 * n }, () => rng.normal());
  assert.ok(Math.abs(mmd2(x, z, 2, h).mmd2) < 0.004);
  assert.ok(mmd2(x, y, 2).bandwidth > 1);
});
