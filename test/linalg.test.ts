import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { GramSession } from '../src/score/gram.js';
import { gram, symmetricEigen } from '../src/score/linalg.js';

function randomOrthogonal(n: number, rng: Rng): Float64Array {
  // Gram-Schmidt on a Gaussian matrix
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from({ length: n }, () => rng.normal());
    for (let j = 0; j < i; j++) {
      let d = 0;
      for (let k = 0; k < n; k++) d += v[k] * q[j * n + k];
      for (let k = 0; k < n; k++) v[k] -= d * q[j * n + k];
    }
    const norm = Math.hypot(...v);
    for (let k = 0; k < n; k++) q[i * n + k] = v[k] / norm;
  }
  return q;
}

test('symmetricEigen recovers a known spectrum and eigenvectors', () => {
  const rng = new Rng(5);
  for (const n of [1, 2, 5, 40]) {
    const q = randomOrthogonal(n, rng);
    const lam = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1e-14 : 10 ** rng.range(-3, 3))).sort((a, b) => b - a);
    const a = new Float64Array(n * n);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += q[k * n + i] * lam[k] * q[k * n + j];
        a[i * n + j] = s;
      }
    const { values, vectors } = symmetricEigen(a, n, true);
    const scale = lam[0];
    for (let i = 0; i < n; i++) assert.ok(Math.abs(values[i] - lam[i]) < 1e-12 * scale, `n=${n} value ${i}: ${values[i]} vs ${lam[i]}`);
    // A v = lambda v for each eigenvector
    for (let r = 0; r < n; r++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < n; j++) s += a[i * n + j] * vectors[r * n + j];
        assert.ok(Math.abs(s - values[r] * vectors[r * n + i]) < 1e-11 * scale);
      }
    }
  }
});

test('symmetricEigen handles diagonal, zero and repeated eigenvalues', () => {
  const d = symmetricEigen([3, 0, 0, 0, 0, 0, 0, 0, 3], 3);
  assert.deepEqual([...d.values], [3, 3, 0]);
  const z = symmetricEigen(new Float64Array(16), 4);
  assert.deepEqual([...z.values], [0, 0, 0, 0]);
});

test('gram matches direct products in float64', () => {
  const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
  assert.deepEqual([...gram(a, 2, 3)], [14, 32, 32, 77]);
});

test('the onnxruntime float64 Gram equals the JS one', async () => {
  const rng = new Rng(2);
  const [rows, cols] = [7, 1000];
  const J = Float32Array.from({ length: rows * cols }, () => rng.normal());
  const s = await GramSession.create(rows, cols, 1);
  const g = await s.gram(J);
  await s.release();
  const ref = gram(J, rows, cols);
  for (let i = 0; i < ref.length; i++) assert.ok(Math.abs(g[i] - ref[i]) < 1e-12 * Math.abs(ref[i] + 1));
});
