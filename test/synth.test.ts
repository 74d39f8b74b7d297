import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { synthConfigFromFlags } from '../src/cli/synth.js';
import { Rng } from '../src/data/random.js';
import { GaussianMixture } from '../src/experiments/gmm.js';
import { pearson } from '../src/experiments/stats.js';
import { defaultSynthConfig, JacobianScorer, makeData, runSynth, SynthEncoder } from '../src/experiments/synth.js';
import { Tensor } from '../src/graph/tensor.js';
import { initMlpWeights, MlpConfig, mlpForward } from '../src/models/mlp.js';
import { logStandardNormal, scoreFromJacobian } from '../src/score/spectrum.js';

test('Jacobians of the encoder (batched vjp, many points per run) match finite differences', async () => {
  const rng = new Rng(12);
  const D = 3;
  const K = 3;
  const mlp: MlpConfig = { inputDim: D, outputDim: K, width: 10, depth: 2, activation: 'tanh' };
  const enc: SynthEncoder = { mlp, weights: initMlpWeights(mlp, rng), mean: Float32Array.of(0.5, -1, 2), scale: 1.3 };
  const n = 37; // not a multiple of the chunk: the last chunk is padded
  const x = Float64Array.from({ length: n * D }, () => 2 * rng.normal());
  const scorer = await JacobianScorer.create(enc, { chunk: 16, threads: 1 });
  const { J, embedding } = await scorer.jacobians(x);
  const s = await scorer.scores(x);
  await scorer.release();
  const f = (p: number[]) => mlpForward(mlp, enc.weights, p.map((v, d) => (v - enc.mean[d]) / enc.scale), 1);
  const h = 1e-5;
  for (let i = 0; i < n; i++) {
    const p = Array.from(x.subarray(i * D, i * D + D));
    const Jfd = new Float64Array(K * D);
    for (let d = 0; d < D; d++) {
      const a = f(p.map((v, j) => (j === d ? v + h : v)));
      const b = f(p.map((v, j) => (j === d ? v - h : v)));
      for (let k = 0; k < K; k++) Jfd[k * D + d] = (a[k] - b[k]) / (2 * h);
    }
    for (let e = 0; e < K * D; e++) assert.ok(Math.abs(J[i * K * D + e] - Jfd[e]) < 1e-5, `point ${i} entry ${e}: ${J[i * K * D + e]} vs ${Jfd[e]}`);
    const z = f(p);
    for (let k = 0; k < K; k++) assert.ok(Math.abs(embedding[i * K + k] - z[k]) < 1e-5);
    const want = scoreFromJacobian(Jfd, K, D).score;
    assert.ok(Math.abs(s.score[i] - want) < 1e-4, `score ${s.score[i]} vs ${want}`);
    assert.ok(Math.abs(s.full[i] - want - logStandardNormal(z)) < 1e-4);
  }
});

test('one Gaussian, exact transport map: JEPA-SCORE is constant and the full variant is log p (closed form)', async () => {
  // f(x) = L^-1 (x - m) maps N(m, L L^T) to N(0, I); built as a relu MLP: L^-1 v = relu(L^-1 v) - relu(-L^-1 v)
  const D = 3;
  const m = Float64Array.of(0.5, -1, 2);
  const cov = Float64Array.of(2, 0.5, 0.3, 0.5, 1, 0.2, 0.3, 0.2, 0.5);
  const gmm = new GaussianMixture(D, Float64Array.of(1), [m], [cov]);
  const L = gmm.chol[0];
  const A = new Float64Array(D * D); // A = L^-1 by forward substitution, column by column
  for (let c = 0; c < D; c++)
    for (let i = 0; i < D; i++) {
      let v = i === c ? 1 : 0;
      for (let k = 0; k < i; k++) v -= L[i * D + k] * A[k * D + c];
      A[i * D + c] = v / L[i * D + i];
    }
  const mlp: MlpConfig = { inputDim: D, outputDim: D, width: 2 * D, depth: 1, activation: 'relu' };
  const w0 = new Float32Array(2 * D * D);
  const w1 = new Float32Array(D * 2 * D);
  for (let i = 0; i < D; i++) {
    for (let j = 0; j < D; j++) [w0[i * D + j], w0[(D + i) * D + j]] = [A[i * D + j], -A[i * D + j]];
    [w1[i * 2 * D + i], w1[i * 2 * D + D + i]] = [1, -1];
  }
  const weights = new Map([
    ['layers.0.weight', Tensor.f32([2 * D, D], w0)],
    ['layers.0.bias', Tensor.f32([2 * D])],
    ['layers.1.weight', Tensor.f32([D, 2 * D], w1)],
    ['layers.1.bias', Tensor.f32([D])],
  ]);
  const enc: SynthEncoder = { mlp, weights, mean: Float32Array.from(m), scale: 1 };
  const { x } = gmm.sample(300, new Rng(5));
  const scorer = await JacobianScorer.create(enc, { chunk: 64, threads: 1 });
  const s = await scorer.scores(x);
  await scorer.release();
  const lp = gmm.logProb(x);
  let logDetL = 0;
  for (let i = 0; i < D; i++) logDetL += Math.log(L[i * D + i]);
  const halfSq = Float64Array.from(lp, (_, i) => (s.embedding[i * D] ** 2 + s.embedding[i * D + 1] ** 2 + s.embedding[i * D + 2] ** 2) / 2);
  for (let i = 0; i < lp.length; i++) {
    assert.ok(Math.abs(s.score[i] + logDetL) < 1e-4, `JEPA-SCORE ${s.score[i]} vs -log det L ${-logDetL}`);
    assert.ok(Math.abs(s.full[i] - lp[i]) < 1e-3, `full variant ${s.full[i]} vs log p ${lp[i]}`);
  }
  // all of log p's variation sits in the dropped term: ||f||^2/2 = -log p + const
  assert.ok(pearson(halfSq, lp) < -0.99999);
  assert.ok(pearson(s.full, lp) > 0.99999);
});

test('the data of a cell: one mixture per dimension, nested training sets', () => {
  const cfg = defaultSynthConfig();
  const a = makeData(3, 100, { ...cfg, seed: 7 });
  const b = makeData(3, 400, { ...cfg, seed: 7 });
  assert.deepEqual([...a.train], [...b.train.subarray(0, 300)]);
  assert.deepEqual([...a.test], [...b.test]);
  assert.deepEqual([...a.gmm.logProb(a.test)], [...a.testLogProb]);
  assert.notDeepEqual([...makeData(3, 100, { ...cfg, seed: 8 }).train], [...a.train]);
});

test('a small grid writes results.json, the CSV and the heatmaps, and recovers the 2-D density', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'synth-'));
  try {
    const cfg = { ...defaultSynthConfig(), dims: [2], samples: [2000], steps: 400, batch: 128, directions: 16, heldOut: 500, threads: 1 };
    const { cells } = await runSynth(cfg, dir);
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    assert.equal(json.cells.length, 1);
    for (const key of ['dim', 'samples', 'pearson', 'spearman', 'pearson_full', 'spearman_full', 'train_seconds']) assert.equal(typeof json.cells[0][key], 'number', key);
    const csv = readFileSync(join(dir, 'results.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 2);
    assert.ok(csv[0].startsWith('dim,samples,pearson,spearman,pearson_full,spearman_full,train_seconds'));
    for (const f of ['heatmap.svg', 'heatmap.png', 'heatmap_full.svg', 'heatmap_full.png']) assert.ok(existsSync(join(dir, f)), f);
    assert.deepEqual([...readFileSync(join(dir, 'heatmap.png')).subarray(1, 4)], [0x50, 0x4e, 0x47]);
    // even this short run (about 1 s of training) learns a density that tracks the true one: measured 0.89 and 0.95
    assert.ok(cells[0].pearson > 0.8, `pearson ${cells[0].pearson}`);
    assert.ok(cells[0].pearson_full > 0.9, `pearson_full ${cells[0].pearson_full}`);
    assert.ok(cells[0].pearson_within > 0.5 && cells[0].logp_std > 1);
    // the dropped term ||f||^2/2: far-out points have low density and large norms (measured -0.92); the
    // "if exact" Pearson is corr(log p + ||f||^2/2, log p), which the closed form gives from the three columns
    const c = cells[0];
    assert.ok(c.norm_logp_corr! < -0.5, `norm_logp_corr ${c.norm_logp_corr}`);
    const [sl, sn, r] = [c.logp_std, c.norm_sd!, c.norm_logp_corr!];
    assert.ok(Math.abs(c.pearson_oracle! - (sl + r * sn) / Math.sqrt(sl * sl + sn * sn + 2 * r * sl * sn)) < 1e-9);
    assert.ok(c.full_slope! > 0.5 && c.full_slope! < 2, `full_slope ${c.full_slope}`);
    assert.ok(csv[0].includes(',norm_sd,norm_logp_corr,pearson_oracle,full_slope,'));
    // a rerun (e.g. after a killed grid) takes finished cells from cells.jsonl instead of training again
    const logs: string[] = [];
    const again = await runSynth(cfg, dir, (m) => logs.push(m));
    assert.ok(logs.some((m) => /D=2 n=2000: done in an earlier run/.test(m)));
    assert.deepEqual(again.cells, cells);
    // other settings do not reuse it
    const other = await runSynth({ ...cfg, steps: 20 }, dir, (m) => logs.push(m));
    assert.notEqual(other.cells[0].final_loss, cells[0].final_loss);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('synth --seeds prints the JEPA-SCORE and full-variant summaries of results.json', () => {
  const dir = mkdtempSync(join(tmpdir(), 'synth-cli-'));
  try {
    const bin = new URL('../bin/jepa-score.js', import.meta.url).pathname;
    const args = ['synth', '--dims', '2', '--samples', '300', '--seeds', '1-2', '--steps', '30', '--min-steps', '30', '--held-out', '100', '--batch', '64', '--threads', '1', '--out', dir];
    const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    const [plain, full] = [json.summary[0], json.summary_full[0]];
    const line = r.stderr.split('\n').find((l) => l.startsWith('D=2\tn=300\tpearson over 2 seeds'));
    assert.ok(line, r.stderr);
    assert.ok(line.includes(`mean ${plain.mean.toFixed(3)} sd ${plain.sd.toFixed(3)}`), line);
    assert.ok(line.includes(`| full variant: mean ${full.mean.toFixed(3)} min ${full.min.toFixed(3)}, >= 0.9 on ${full.at_least_0_9}/2`), line);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad synth flags give one-line errors', () => {
  assert.throws(() => synthConfigFromFlags({ dims: '2,x' }), /--dims must be a comma-separated list of positive integers, got '2,x'/);
  assert.throws(() => synthConfigFromFlags({ samples: '0' }), /--samples must be/);
  assert.throws(() => synthConfigFromFlags({ lambda: 'abc' }), /--lambda must be a number/);
  assert.throws(() => synthConfigFromFlags({ activation: 'sine' }), /--activation must be one of/);
  assert.throws(() => synthConfigFromFlags({ objective: 'vicreg' }), /--objective must be lejepa or moments/);
  assert.throws(() => synthConfigFromFlags({ scales: '2,1' }), /--scales must be 'lo,hi'/);
  assert.throws(() => synthConfigFromFlags({ views: '1' }), /--views must be an integer >= 2/);
  assert.deepEqual(synthConfigFromFlags({ dims: '2, 4', samples: '5000' }).dims, [2, 4]);
});
