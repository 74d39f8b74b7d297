import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { fitMahalanobis, knnScores, l2Normalize, mahalanobisScores, normScores } from '../src/experiments/baselines.js';

function randomSet(rng: Rng, n: number, dim: number, mean = 0): Float32Array[] {
  return Array.from({ length: n }, () => Float32Array.from({ length: dim }, () => mean + rng.normal()));
}

// Solves A x = b by Gaussian elimination with partial pivoting (independent of the eigen path).
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = c + 1; r < n; r++) {
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  const x = new Array(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r][n];
    for (let k = r + 1; k < n; k++) s -= m[r][k] * x[k];
    x[r] = s / m[r][r];
  }
  return x;
}

test('kNN scores equal minus the k-th smallest distance found by sorting', () => {
  const rng = new Rng(11);
  const train = randomSet(rng, 80, 6);
  const queries = randomSet(rng, 12, 6, 0.3);
  const got = knnScores(train, queries, [1, 5, 50]);
  const tn = l2Normalize(train);
  l2Normalize(queries).forEach((q, i) => {
    const d = tn.map((t) => Math.hypot(...t.map((v, j) => v - q[j]))).sort((a, b) => a - b);
    for (const k of [1, 5, 50]) assert.ok(Math.abs(got.get(k)![i] + d[k - 1]) < 1e-9, `k=${k} query ${i}`);
  });
});

test('kNN rejects k larger than the training set and mismatched dims', () => {
  const rng = new Rng(1);
  assert.throws(() => knnScores(randomSet(rng, 3, 4), randomSet(rng, 2, 4), [5]), /k = 5 exceeds the 3 training embeddings/);
  assert.throws(() => knnScores(randomSet(rng, 3, 4), randomSet(rng, 2, 5), [1]), /kNN queries: embedding 0 has 5 dims, expected 4/);
});

test('Mahalanobis scores match a direct solve with the sample covariance', () => {
  const rng = new Rng(5);
  const dim = 5;
  // correlated data: x = A g + mu
  const A = Array.from({ length: dim }, () => Array.from({ length: dim }, () => rng.normal()));
  const train = Array.from({ length: 300 }, () => {
    const g = Array.from({ length: dim }, () => rng.normal());
    return Float64Array.from(A.map((row, i) => row.reduce((s, v, j) => s + v * g[j], 0) + i));
  });
  const labels = train.map((_, i) => i % 3);
  // class-conditional: shift each class
  const trainC = train.map((z, i) => Float64Array.from(z, (v, d) => v + (d === 0 ? 4 * labels[i] : 0)));
  const queries = randomSet(rng, 7, dim, 1);

  const check = (data: Float64Array[], lab: number[] | undefined) => {
    const classes = lab ? [0, 1, 2] : [0];
    const means = classes.map((c) => {
      const idx = data.map((_, i) => i).filter((i) => !lab || lab[i] === c);
      return Array.from({ length: dim }, (_, d) => idx.reduce((s, i) => s + data[i][d], 0) / idx.length);
    });
    const cov = Array.from({ length: dim }, () => new Array(dim).fill(0));
    data.forEach((z, i) => {
      const m = means[lab ? lab[i] : 0];
      for (let a = 0; a < dim; a++) for (let b = 0; b < dim; b++) cov[a][b] += ((z[a] - m[a]) * (z[b] - m[b])) / data.length;
    });
    const got = mahalanobisScores(fitMahalanobis(data, lab), queries);
    queries.forEach((q, i) => {
      const want = Math.min(...means.map((m) => {
        const diff = m.map((v, d) => q[d] - v);
        const x = solve(cov, diff);
        return diff.reduce((s, v, d) => s + v * x[d], 0);
      }));
      assert.ok(Math.abs(got[i] + want) < 1e-8 * Math.max(1, want), `query ${i}: ${got[i]} vs ${-want}`);
    });
  };
  check(train, undefined);
  check(trainC, labels);
});

test('norm scores are L2 norms', () => {
  assert.deepEqual([...normScores([[3, 4], [0, 0], [1, 1, 1, 1]])], [5, 0, 2]);
});
