import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { langevin, scoreAndCoefficient, ScoreGradient } from '../src/experiments/langevin.js';
import { energyDistance } from '../src/experiments/stats.js';
import { SynthEncoder } from '../src/experiments/synth.js';
import { initMlpWeights, MlpConfig, mlpForward } from '../src/models/mlp.js';

test('the coefficient matrix C is the gradient of JEPA-SCORE with respect to J', () => {
  const rng = new Rng(2);
  for (const [K, D] of [[2, 2], [3, 5], [5, 3]]) {
    const J = Float64Array.from({ length: K * D }, () => rng.normal());
    const { score, C } = scoreAndCoefficient(J, K, D);
    // closed form check of the score: sum of log singular values = 0.5 log det of the smaller Gram matrix (2 x 2 case)
    if (K === 2 && D === 2) assert.ok(Math.abs(score - Math.log(Math.abs(J[0] * J[3] - J[1] * J[2]))) < 1e-12);
    const h = 1e-6;
    for (let i = 0; i < K * D; i++) {
      const p = Float64Array.from(J);
      const m = Float64Array.from(J);
      p[i] += h;
      m[i] -= h;
      const fd = (scoreAndCoefficient(p, K, D).score - scoreAndCoefficient(m, K, D).score) / (2 * h);
      assert.ok(Math.abs(fd - C[i]) < 1e-6 * Math.max(1, Math.abs(fd)), `K=${K} D=${D} entry ${i}: ${C[i]} vs ${fd}`);
    }
  }
  // a clipped singular value contributes log(eps) and no gradient
  const r = scoreAndCoefficient(Float64Array.of(1, 0, 0, 0), 2, 2);
  assert.ok(Math.abs(r.score - Math.log(1e-6)) < 1e-12);
  assert.deepEqual([...r.C], [1, 0, 0, 0]);
});

// float64 truth: J by central differences of the JS forward pass, then the score, then its central differences
function scoreFd(enc: SynthEncoder, x: number[]): number {
  const { mlp } = enc;
  const K = mlp.outputDim;
  const D = mlp.inputDim;
  const f = (p: number[]) => mlpForward(mlp, enc.weights, p.map((v, d) => (v - enc.mean[d]) / enc.scale), 1);
  const J = new Float64Array(K * D);
  const h = 1e-5;
  for (let d = 0; d < D; d++) {
    const a = f(x.map((v, j) => (j === d ? v + h : v)));
    const b = f(x.map((v, j) => (j === d ? v - h : v)));
    for (let k = 0; k < K; k++) J[k * D + d] = (a[k] - b[k]) / (2 * h);
  }
  return scoreAndCoefficient(J, K, D).score;
}

test('grad_x JEPA-SCORE from second-order autodiff matches finite differences', async () => {
  const rng = new Rng(6);
  for (const [D, K] of [[2, 2], [3, 2], [2, 3]]) {
    const mlp: MlpConfig = { inputDim: D, outputDim: K, width: 16, depth: 2, activation: 'tanh' };
    const enc: SynthEncoder = { mlp, weights: initMlpWeights(mlp, rng), mean: Float32Array.from({ length: D }, () => rng.normal()), scale: 1.7 };
    const n = 12;
    const x = Float32Array.from({ length: n * D }, () => 2 * rng.normal());
    const sg = await ScoreGradient.create(enc, n, { threads: 1 });
    const { score, grad } = await sg.evaluate(x);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const p = Array.from(x.subarray(i * D, i * D + D));
      assert.ok(Math.abs(score[i] - scoreFd(enc, p)) < 1e-4, `score ${score[i]} vs ${scoreFd(enc, p)}`);
      const h = 1e-3;
      for (let d = 0; d < D; d++) {
        const fd = (scoreFd(enc, p.map((v, j) => (j === d ? v + h : v))) - scoreFd(enc, p.map((v, j) => (j === d ? v - h : v)))) / (2 * h);
        worst = Math.max(worst, Math.abs(fd - grad[i * D + d]) / Math.max(0.1, Math.abs(fd)));
      }
    }
    assert.ok(worst < 5e-3, `D=${D} K=${K}: worst relative error ${worst}`);
    const check = await sg.gradientCheck(x, 1e-2);
    assert.ok(check.relError < 1e-2, `gradientCheck ${JSON.stringify(check)}`);
    await sg.release();
  }
});

test('unadjusted Langevin with the exact score samples a 2-D Gaussian', async () => {
  const rng = new Rng(4);
  const n = 800;
  const mu = [1, -2];
  const start = Float64Array.from({ length: n * 2 }, () => 4 * rng.normal());
  const grad = async (x: Float64Array) => Float64Array.from(x, (v, i) => -(v - mu[i % 2]) / 0.25);
  const { x, clipped } = await langevin(start, 2, grad, { chains: n, steps: 300, eta: 0.01, maxDrift: 0.05 }, rng);
  const truth = Float64Array.from({ length: n * 2 }, (_, i) => mu[i % 2] + 0.5 * rng.normal());
  const ed = energyDistance(x, truth, 2);
  assert.ok(ed < 0.02, `energy distance ${ed}`);
  assert.ok(energyDistance(start, truth, 2) > 1);
  assert.ok(clipped > 0, "the drift limit was exercised");
});

test('a small Langevin run writes results.json and the picture, with a passing gradient check', async () => {
  const { mkdtempSync, readFileSync, existsSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { defaultLangevinConfig, runLangevin } = await import('../src/experiments/langevin.js');
  const dir = mkdtempSync(join(tmpdir(), 'langevin-'));
  try {
    const cfg = { ...defaultLangevinConfig(), samples: 2000, steps: 1500, heldOut: 300, chains: 300, langevinSteps: 500, grid: 24, threads: 1 };
    const { result } = await runLangevin(cfg, dir);
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    for (const k of ['energy_distance', 'baseline_energy_distance', 'full_energy_distance', 'oracle_energy_distance', 'gaussian_fit_energy_distance']) assert.equal(typeof json[k], 'number', k);
    assert.ok(existsSync(join(dir, 'langevin.png')) && existsSync(join(dir, 'langevin.svg')));
    assert.ok(result.gradient_check.relative_error < 1e-2, JSON.stringify(result.gradient_check));
    // the samplers move towards the data: all beat the broad starting noise
    assert.ok(result.energy_distance < result.baseline_energy_distance, `${result.energy_distance} vs ${result.baseline_energy_distance}`);
    assert.ok(result.full_energy_distance < result.baseline_energy_distance);
    assert.ok(result.oracle_energy_distance < result.baseline_energy_distance);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
