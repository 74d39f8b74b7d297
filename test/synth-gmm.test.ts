import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { GaussianMixture } from '../src/experiments/gmm.js';

// Independent direct computation: Gauss-Jordan inverse and LU determinant, then the textbook formula.
function inverseAndLogDet(a: Float64Array, n: number): { inv: Float64Array; logDet: number } {
  const m = Array.from({ length: n }, (_, i) => [...a.slice(i * n, i * n + n), ...Array.from({ length: n }, (_, j) => (i === j ? 1 : 0))]);
  let logDet = 0;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    const piv = m[c][c];
    logDet += Math.log(Math.abs(piv));
    for (let j = 0; j < 2 * n; j++) m[c][j] /= piv;
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * n; j++) m[r][j] -= f * m[c][j];
    }
  }
  return { inv: Float64Array.from(m.flatMap((row) => row.slice(n))), logDet };
}

function directDensity(g: GaussianMixture, x: number[]): number {
  const D = g.dim;
  let p = 0;
  for (let c = 0; c < g.components; c++) {
    const { inv, logDet } = inverseAndLogDet(g.covs[c], D);
    const d = x.map((v, i) => v - g.means[c][i]);
    let q = 0;
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) q += d[i] * inv[i * D + j] * d[j];
    p += g.weights[c] * Math.pow(2 * Math.PI, -D / 2) * Math.exp(-0.5 * logDet) * Math.exp(-0.5 * q);
  }
  return p;
}

test('log p of a random mixture matches the direct formula', () => {
  for (const D of [1, 2, 5, 12]) {
    const g = GaussianMixture.random({ dim: D, components: 4, seed: 3 + D });
    const { x } = g.sample(20, new Rng(1));
    const lp = g.logProb(x);
    for (let i = 0; i < 20; i++) {
      const direct = Math.log(directDensity(g, [...x.subarray(i * D, i * D + D)]));
      assert.ok(Math.abs(lp[i] - direct) < 1e-9 * Math.max(1, Math.abs(direct)), `D=${D} point ${i}: ${lp[i]} vs ${direct}`);
    }
  }
});

test('a 2-D mixture density integrates to one and its samples have the mixture moments', () => {
  const g = GaussianMixture.random({ dim: 2, components: 5, seed: 7 });
  // midpoint rule on a box that holds all components with a wide margin
  const lo = -12;
  const hi = 12;
  const n = 600;
  const h = (hi - lo) / n;
  const pts = new Float64Array(n * n * 2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      pts[(i * n + j) * 2] = lo + (i + 0.5) * h;
      pts[(i * n + j) * 2 + 1] = lo + (j + 0.5) * h;
    }
  const lp = g.logProb(pts);
  let total = 0;
  for (const v of lp) total += Math.exp(v) * h * h;
  assert.ok(Math.abs(total - 1) < 1e-4, `integral ${total}`);

  const N = 40000;
  const { x, labels } = g.sample(N, new Rng(2));
  const { mean, cov } = g.moments();
  const m = [0, 0];
  for (let i = 0; i < N; i++) for (let d = 0; d < 2; d++) m[d] += x[i * 2 + d] / N;
  const c = [0, 0, 0, 0];
  for (let i = 0; i < N; i++)
    for (let a = 0; a < 2; a++) for (let b = 0; b < 2; b++) c[a * 2 + b] += ((x[i * 2 + a] - m[a]) * (x[i * 2 + b] - m[b])) / N;
  const scale = Math.sqrt(cov[0] + cov[3]);
  for (let d = 0; d < 2; d++) assert.ok(Math.abs(m[d] - mean[d]) < 0.03 * scale, `mean ${m} vs ${mean}`);
  for (let k = 0; k < 4; k++) assert.ok(Math.abs(c[k] - cov[k]) < 0.05 * scale * scale, `cov ${c} vs ${cov}`);
  const counts = new Array(g.components).fill(0);
  for (const l of labels) counts[l]++;
  for (let k = 0; k < g.components; k++) assert.ok(Math.abs(counts[k] / N - g.weights[k]) < 0.01);
});

test('grad log p matches central finite differences', () => {
  const D = 3;
  const g = GaussianMixture.random({ dim: D, components: 3, seed: 4, meanScale: 0.5 });
  const { x } = g.sample(10, new Rng(8));
  const grad = g.gradLogProb(x);
  const h = 1e-5;
  for (let i = 0; i < 10; i++)
    for (let d = 0; d < D; d++) {
      const xp = Float64Array.from(x.subarray(i * D, i * D + D));
      const xm = Float64Array.from(xp);
      xp[d] += h;
      xm[d] -= h;
      const fd = (g.logProb(xp)[0] - g.logProb(xm)[0]) / (2 * h);
      assert.ok(Math.abs(grad[i * D + d] - fd) < 1e-5 * Math.max(1, Math.abs(fd)), `${grad[i * D + d]} vs ${fd}`);
    }
});

test('random mixtures are seeded, well-conditioned and validated', () => {
  const a = GaussianMixture.random({ dim: 4, components: 3, seed: 1, condition: 4, scaleRange: [0.5, 0.5] });
  const b = GaussianMixture.random({ dim: 4, components: 3, seed: 1, condition: 4, scaleRange: [0.5, 0.5] });
  assert.deepEqual([...a.covs[2]], [...b.covs[2]]);
  assert.deepEqual([...a.weights], [...b.weights]);
  // trace = sum of eigenvalues, all within [0.25/2, 0.25*2]
  for (const S of a.covs) {
    const tr = S[0] + S[5] + S[10] + S[15];
    assert.ok(tr >= 4 * 0.125 - 1e-12 && tr <= 4 * 0.5 + 1e-12);
  }
  assert.throws(() => new GaussianMixture(2, Float64Array.of(1), [Float64Array.of(0, 0)], [Float64Array.of(1, 2, 2, 1)]), /covariance 0 is not positive definite/);
  assert.throws(() => new GaussianMixture(2, Float64Array.of(0.5), [Float64Array.of(0, 0)], [Float64Array.of(1, 0, 0, 1)]), /weights sum to 0.5/);
  assert.throws(() => a.logProb(new Float64Array(7)), /7 values is not/);
});
