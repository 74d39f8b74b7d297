import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { buildDigitsEncoder, defaultDigitsConfig, initDigitsWeights } from '../src/models/digits.js';
import { approxScoreFromGram, approxScoreFromJacobian, defaultApproxRows, haarRows, sketchMatrices, sketchSizes, subsetRows } from '../src/score/approx.js';
import { JepaScorer } from '../src/score/jepa.js';
import { gram } from '../src/score/linalg.js';
import { scoreFromJacobian } from '../src/score/spectrum.js';
import { orthonormalRows as orthonormal } from './support/orthonormal.js';


// J = U diag(s) V^T (K x D, K <= D); U = identity when `diagonal`
function jacobian(K: number, D: number, s: number[], rng: Rng, diagonal = false): Float64Array {
  const U = diagonal ? Array.from({ length: K }, (_, i) => Float64Array.from({ length: K }, (_, j) => (i === j ? 1 : 0))) : orthonormal(K, K, rng);
  const V = orthonormal(K, D, rng);
  const J = new Float64Array(K * D);
  for (let i = 0; i < K; i++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) J[k * D + d] += U[i][k] * s[i] * V[i][d];
  return J;
}

const logSum = (s: number[]) => s.reduce((a, v) => a + Math.log(v), 0);

test('haarRows and subsetRows give orthonormal rows; the r products split evenly', () => {
  const rng = new Rng(3);
  for (const q of [haarRows(12, 5, rng), subsetRows(12, 5, rng)]) {
    for (let i = 0; i < 5; i++)
      for (let j = 0; j < 5; j++) {
        let d = 0;
        for (let k = 0; k < 12; k++) d += q[i * 12 + k] * q[j * 12 + k];
        assert.ok(Math.abs(d - (i === j ? 1 : 0)) < 1e-12, `${i},${j}: ${d}`);
      }
  }
  assert.deepEqual(sketchSizes(10, 4), [3, 3, 2, 2]);
  assert.deepEqual(sketchMatrices(8, { rows: 6, sketches: 3 }).map((m) => m.length), [16, 16, 16]);
  assert.throws(() => sketchMatrices(8, { rows: 9 }), /only K = 8/);
  assert.throws(() => sketchMatrices(8, { rows: 2, sketches: 3 }), /sketches/);
});

test('with r = K rows (square orthogonal Omega) the sketch equals the exact score', () => {
  const rng = new Rng(5);
  const K = 10;
  const D = 30;
  const s = Array.from({ length: K }, () => 10 ** rng.range(-3, 1));
  const J = jacobian(K, D, s, rng);
  const exact = scoreFromJacobian(J, K, D).score;
  assert.ok(Math.abs(exact - logSum(s)) < 1e-9);
  for (const method of ['sketch', 'subset'] as const) {
    const a = approxScoreFromJacobian(J, K, D, { rows: K, method, seed: 4 });
    assert.ok(Math.abs(a.score - exact) < 1e-8, `${method}: ${a.score} vs ${exact}`);
  }
});

test('an isotropic Jacobian (J J^T = c^2 I) gives the exact score for every r', () => {
  const rng = new Rng(6);
  const K = 16;
  const D = 40;
  const J = jacobian(K, D, Array(K).fill(0.3), rng);
  for (const rows of [1, 2, 4, 8]) {
    for (const sketches of [1, 2]) {
      if (sketches > rows) continue;
      const a = approxScoreFromJacobian(J, K, D, { rows, sketches, seed: rows });
      assert.ok(Math.abs(a.score - K * Math.log(0.3)) < 1e-9, `rows ${rows}: ${a.score}`);
    }
  }
});

test('subset on a diagonal J J^T: each estimate is (K/s) x the chosen log sigmas, unbiased over subsets', () => {
  const rng = new Rng(7);
  const K = 12;
  const D = 20;
  const s = Array.from({ length: K }, () => 10 ** rng.range(-2, 1));
  const J = jacobian(K, D, s, rng, true);
  const rows = 3;
  let mean = 0;
  const n = 2000;
  for (let seed = 0; seed < n; seed++) {
    const a = approxScoreFromJacobian(J, K, D, { rows, method: 'subset', seed });
    // independent truth: which coordinates the sketch picked, and their log sigma
    const q = sketchMatrices(K, { rows, method: 'subset', seed })[0];
    let picked = 0;
    for (let i = 0; i < rows; i++) for (let k = 0; k < K; k++) if (q[i * K + k] === 1) picked += Math.log(s[k]);
    assert.ok(Math.abs(a.score - (K / rows) * picked) < 1e-9);
    mean += a.score / n;
  }
  // E over uniform subsets = sum_k log sigma_k; sd of one estimate is about (K/s) sqrt(s) sd(log sigma)
  const exact = logSum(s);
  assert.ok(Math.abs(mean - exact) < 0.6, `mean ${mean} vs exact ${exact}`);
});

test('the estimate from the Gram matrix J J^T equals the one from J', () => {
  const rng = new Rng(9);
  const K = 16;
  const D = 24;
  const J = Float64Array.from({ length: K * D }, () => rng.normal() * 10 ** rng.range(-1, 1));
  for (const o of [{ rows: 4 }, { rows: 6, sketches: 3, seed: 2 }, { rows: 5, method: 'subset' as const }]) {
    const a = approxScoreFromJacobian(J, K, D, o).score;
    const b = approxScoreFromGram(gram(J, K, D), K, o).score;
    assert.ok(Math.abs(a - b) < 1e-9 * Math.abs(a), `${a} vs ${b}`);
  }
});

test('sketch estimates obey Cauchy interlacing: between (K/s) x the s smallest and the s largest log sigma', () => {
  const rng = new Rng(8);
  const K = 20;
  const D = 50;
  const s = Array.from({ length: K }, () => 10 ** rng.range(-3, 1)).sort((a, b) => b - a);
  const J = jacobian(K, D, s, rng);
  for (const rows of [2, 5, 10]) {
    const a = approxScoreFromJacobian(J, K, D, { rows, seed: 1 });
    const hi = (K / rows) * logSum(s.slice(0, rows));
    const lo = (K / rows) * logSum(s.slice(K - rows));
    assert.ok(a.score <= hi + 1e-9 && a.score >= lo - 1e-9, `${lo} <= ${a.score} <= ${hi}`);
  }
});

test('JepaScorer with approx: the ORT products give the estimate of the exact Jacobian; r = K gives the exact score', async () => {
  const cfg = defaultDigitsConfig();
  const enc = buildDigitsEncoder(cfg, initDigitsWeights(cfg, new Rng(1)));
  const rng = new Rng(2);
  const x = Float32Array.from({ length: 784 }, () => rng.range(0, 1));
  const exact = await JepaScorer.create(enc, { threads: 1 });
  const { J } = await exact.jacobian(x);
  const e = await exact.score(x);
  await exact.release();
  for (const o of [{ rows: 8, method: 'sketch' as const, sketches: 2, seed: 3 }, { rows: 4, method: 'subset' as const }, { rows: 64, method: 'sketch' as const, chunk: 20 }]) {
    const sc = await JepaScorer.create(enc, { threads: 1, approx: o, chunk: o.chunk });
    const a = await sc.score(x);
    await sc.release();
    const ref = approxScoreFromJacobian(J, 64, 784, o);
    assert.ok(Math.abs(a.score - ref.score) < 1e-3 * Math.abs(ref.score) + 1e-3, `${a.score} vs ${ref.score}`);
    assert.equal(a.approx?.rows, o.rows);
    if (o.rows === 64) assert.ok(Math.abs(a.score - e.score) < 1e-3 * Math.abs(e.score), `r = K: ${a.score} vs exact ${e.score}`);
  }
  await assert.rejects(JepaScorer.create(enc, { approx: { rows: 65 } }), /only K = 64/);
  // without rows: the default K/8 rounded up, the same sketch as asking for it
  const dflt = await JepaScorer.create(enc, { threads: 1, approx: {} });
  const d = await dflt.score(x);
  await dflt.release();
  assert.equal(d.approx?.rows, 8);
  assert.ok(Math.abs(d.score - approxScoreFromJacobian(J, 64, 784, { rows: 8 }).score) < 1e-3 * Math.abs(d.score) + 1e-3);
  assert.deepEqual([defaultApproxRows(64), defaultApproxRows(384), defaultApproxRows(100), defaultApproxRows(3)], [8, 48, 13, 1]);
  assert.throws(() => sketchMatrices(64, { method: 'basis', basis: new Float64Array(64) }), /method basis needs rows/);
});
