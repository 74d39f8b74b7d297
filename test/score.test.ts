import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { NonFiniteError, rankTolerance, scoreFromJacobian } from '../src/score/spectrum.js';
import { orthonormalRows } from './support/orthonormal.js';


function jacobianWithSpectrum(K: number, D: number, s: number[], rng: Rng): Float64Array {
  const n = Math.min(K, D);
  const U = orthonormalRows(n, K, rng);
  const V = orthonormalRows(n, D, rng);
  const J = new Float64Array(K * D);
  for (let i = 0; i < n; i++) for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) J[k * D + d] += U[i][k] * s[i] * V[i][d];
  return J;
}

test('scoreFromJacobian gives sum log max(sigma, eps) for a known spectrum (K < D and K > D)', () => {
  const rng = new Rng(11);
  for (const [K, D] of [[6, 20], [9, 4]]) {
    const n = Math.min(K, D);
    const s = Array.from({ length: n }, (_, i) => (i === n - 1 ? 0 : i === n - 2 ? 3e-7 : 10 ** rng.range(-2, 1))).sort((a, b) => b - a);
    const J = jacobianWithSpectrum(K, D, s, rng);
    const r = scoreFromJacobian(J, K, D, { vectors: 2 });
    const expected = s.reduce((acc, v) => acc + Math.log(Math.max(v, 1e-6)), 0);
    assert.ok(Math.abs(r.score - expected) < 1e-9, `${r.score} vs ${expected} sv ${[...r.singularValues]} s ${s}`);
    assert.equal(r.singularValues.length, n);
    for (let i = 0; i < n - 2; i++) assert.ok(Math.abs(r.singularValues[i] - s[i]) < 1e-12 * s[0]);
    // numerical rank drops the zero and the 3e-7 value only if under the tolerance
    const tol = rankTolerance(s[0], K, D);
    const kept = s.filter((v) => v > tol);
    assert.equal(r.rank, kept.length);
    const keptSum = kept.reduce((a, v) => a + Math.log(v), 0);
    // a Gram matrix resolves sigma only to about sqrt(float64 eps) * sigma_max in absolute terms
    assert.ok(Math.abs(r.scoreRank - keptSum) < 1e-4, `${r.scoreRank} vs ${keptSum}: ${[...r.singularValues]} vs ${s}`);
    // top right singular vectors: unit length and J v = sigma u => |J v| = sigma
    for (let i = 0; i < 2; i++) {
      const v = r.vectors![i];
      assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-6);
      let norm2 = 0;
      for (let k = 0; k < K; k++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += J[k * D + d] * v[d];
        norm2 += dot * dot;
      }
      assert.ok(Math.abs(Math.sqrt(norm2) - s[i]) < 1e-5 * s[0]);
    }
  }
});

test('rankTol sets the relative threshold of the numerical rank', () => {
  const J = Float64Array.from([1, 0, 0, 0, 0.01, 0, 0, 0, 1e-4]); // diag(1, 0.01, 1e-4)
  assert.equal(scoreFromJacobian(J, 3, 3).rank, 3);
  const r = scoreFromJacobian(J, 3, 3, { rankTol: 1e-3 });
  assert.equal(r.rank, 2);
  assert.ok(Math.abs(r.scoreRank - Math.log(0.01)) < 1e-12);
  assert.ok(Math.abs(r.score - Math.log(1e-6)) < 1e-9);
});

test('a Jacobian with NaN is rejected with a clear error', () => {
  const J = new Float32Array(6);
  J[3] = NaN;
  assert.throws(() => scoreFromJacobian(J, 2, 3), (e: unknown) => e instanceof NonFiniteError && /1 non-finite entries/.test((e as Error).message));
});
