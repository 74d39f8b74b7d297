// Langevin sampling from exp(JEPA-SCORE) in 2-D: the gradient of the score comes from second-order
// autodiff through the graph that computes the Jacobian rows.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { vjp } from '../autodiff/index.js';
import { Rng } from '../data/random.js';
import { Tensor } from '../graph/tensor.js';
import { renderSpec, writePlot } from '../report/plots.js';
import { Session } from '../runtime/session.js';
import { symmetricEigen } from '../score/linalg.js';
import { DEFAULT_EPS } from '../score/spectrum.js';
import { stepRng } from '../train/trainer.js';
import { cholesky, GaussianMixture } from './gmm.js';
import { energyDistance, mmd2, pearson } from './stats.js';
import { checkSynthConfig, DataConfig, DEFAULT_DATA, DEFAULT_ENCODER, DEFAULT_TRAIN, EncoderConfig, encoderGraph, JacobianScorer, makeData, SynthEncoder, TrainConfig, trainEncoder } from './synth.js';

/**
 * JEPA-SCORE s(x) = sum_k log max(sigma_k, eps) and the matrix C = sum over sigma_k > eps of u_k v_k^T / sigma_k
 * (K x D), so that grad_x s = sum_{k,d} C[k,d] dJ[k,d]/dx.
 */
export function scoreAndCoefficient(J: ArrayLike<number>, K: number, D: number, eps = DEFAULT_EPS): { score: number; C: Float64Array } {
  const wide = K <= D;
  const n = wide ? K : D;
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let s = 0;
      if (wide) for (let d = 0; d < D; d++) s += J[i * D + d] * J[j * D + d];
      else for (let k = 0; k < K; k++) s += J[k * D + i] * J[k * D + j];
      G[i * n + j] = s;
      G[j * n + i] = s;
    }
  const { values, vectors } = symmetricEigen(G, n, true);
  // P = sum over kept i of w_i w_i^T / lambda_i; C = P J (wide) or J P (tall)
  const P = new Float64Array(n * n);
  let score = 0;
  for (let i = 0; i < n; i++) {
    const lambda = Math.max(values[i], 0);
    const sigma = Math.sqrt(lambda);
    score += Math.log(Math.max(sigma, eps));
    if (!(sigma > eps)) continue;
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) P[a * n + b] += (vectors[i * n + a] * vectors[i * n + b]) / lambda;
  }
  const C = new Float64Array(K * D);
  for (let k = 0; k < K; k++)
    for (let d = 0; d < D; d++) {
      let s = 0;
      if (wide) for (let j = 0; j < K; j++) s += P[k * K + j] * J[j * D + d];
      else for (let j = 0; j < D; j++) s += J[k * D + j] * P[j * D + d];
      C[k * D + d] = s;
    }
  return { score, C };
}

/** JEPA-SCORE and its input gradient for a fixed number of points at once. */
export class ScoreGradient {
  private constructor(
    private readonly jac: Session,
    private readonly second: Session,
    private readonly cot1: string,
    private readonly cot2: string,
    private readonly jacOut: string,
    private readonly zOut: string,
    private readonly gradOut: string,
    readonly n: number,
    readonly K: number,
    readonly D: number,
  ) {}

  static async create(enc: SynthEncoder, n: number, opts: { threads?: number } = {}): Promise<ScoreGradient> {
    const K = enc.mlp.outputDim;
    const D = enc.mlp.inputDim;
    const { graph, input, output } = encoderGraph(enc, n);
    // first order: cotangent [K, n, K] with e_k on every point gives the Jacobian rows J [K, n, D]
    const first = await vjp(graph, { outputs: [output], wrt: [input], mode: 'batched', keepOutputs: true });
    // second order: the vjp of the Jacobian graph with cotangent C [K, n, D] is sum C . dJ/dx per point
    const jacGraph = { ...first.graph, outputs: first.graph.outputs.filter((o) => o.name === first.grads[0]) };
    const second = await vjp(jacGraph, { outputs: [first.grads[0]], wrt: [input], mode: 'standard', inputShapes: { [first.cotangents[0]]: [K, n, K] }, keepOutputs: false });
    const jac = await Session.create(first.graph, { threads: opts.threads });
    const sec = await Session.create(second.graph, { threads: opts.threads });
    return new ScoreGradient(jac, sec, first.cotangents[0], second.cotangents[0], first.grads[0], output, second.grads[0], n, K, D);
  }

  private identity(): Tensor {
    const { K, n } = this;
    const cot = new Float32Array(K * n * K);
    for (let k = 0; k < K; k++) for (let i = 0; i < n; i++) cot[(k * n + i) * K + k] = 1;
    return new Tensor('float32', [K, n, K], cot);
  }

  private check(x: Float32Array) {
    if (x.length !== this.n * this.D) throw new Error(`ScoreGradient: expected ${this.n} points of dimension ${this.D}, got ${x.length} values`);
  }

  /** Per-point Jacobians as [n][K*D] from the layout [K, n, D], and the embeddings [n, K]. */
  private async jacobiansAndEmbeddings(x: Float32Array, eye: Tensor): Promise<{ Js: Float64Array[]; z: Float32Array }> {
    const { K, n, D } = this;
    const out = await this.jac.run({ x: new Tensor('float32', [n, D], x), [this.cot1]: eye });
    const g = out[this.jacOut].data as Float32Array;
    const Js = Array.from({ length: n }, (_, i) => {
      const J = new Float64Array(K * D);
      for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) J[k * D + d] = g[(k * n + i) * D + d];
      return J;
    });
    return { Js, z: out[this.zOut].data as Float32Array };
  }

  /** JEPA-SCORE of each point. */
  async scores(x: Float32Array): Promise<Float64Array> {
    this.check(x);
    const { Js } = await this.jacobiansAndEmbeddings(x, this.identity());
    return Float64Array.from(Js, (J) => scoreAndCoefficient(J, this.K, this.D).score);
  }

  /**
   * JEPA-SCORE and grad_x JEPA-SCORE ([n, D]) of each point, and the gradient of the full variant
   * JEPA-SCORE + log N(f(x); 0, I), which adds -J^T f(x).
   */
  async evaluate(x: Float32Array): Promise<{ score: Float64Array; grad: Float64Array; gradFull: Float64Array }> {
    this.check(x);
    const { K, n, D } = this;
    const eye = this.identity();
    const { Js, z } = await this.jacobiansAndEmbeddings(x, eye);
    const score = new Float64Array(n);
    const C = new Float32Array(K * n * D);
    Js.forEach((J, i) => {
      const r = scoreAndCoefficient(J, K, D);
      score[i] = r.score;
      for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) C[(k * n + i) * D + d] = r.C[k * D + d];
    });
    const out = await this.second.run({ x: new Tensor('float32', [n, D], x), [this.cot1]: eye, [this.cot2]: new Tensor('float32', [K, n, D], C) });
    const grad = Float64Array.from(out[this.gradOut].data as Float32Array);
    const gradFull = Float64Array.from(grad);
    Js.forEach((J, i) => {
      for (let d = 0; d < D; d++) for (let k = 0; k < K; k++) gradFull[i * D + d] -= J[k * D + d] * z[i * K + k];
    });
    return { score, grad, gradFull };
  }

  /** Largest |autodiff - central difference| over the points and coordinates, relative to the largest gradient entry. */
  async gradientCheck(x: Float32Array, h: number): Promise<{ maxAbsError: number; maxGrad: number; relError: number }> {
    const { grad } = await this.evaluate(x);
    let maxAbsError = 0;
    let maxGrad = 0;
    for (let d = 0; d < this.D; d++) {
      const xp = Float32Array.from(x);
      const xm = Float32Array.from(x);
      for (let i = 0; i < this.n; i++) {
        xp[i * this.D + d] += h;
        xm[i * this.D + d] -= h;
      }
      const sp = await this.scores(xp);
      const sm = await this.scores(xm);
      for (let i = 0; i < this.n; i++) {
        // the step actually taken in float32
        const step = xp[i * this.D + d] - xm[i * this.D + d];
        const fd = (sp[i] - sm[i]) / step;
        maxAbsError = Math.max(maxAbsError, Math.abs(fd - grad[i * this.D + d]));
        maxGrad = Math.max(maxGrad, Math.abs(grad[i * this.D + d]));
      }
    }
    return { maxAbsError, maxGrad, relError: maxAbsError / Math.max(maxGrad, 1e-12) };
  }

  async release(): Promise<void> {
    await this.jac.release();
    await this.second.release();
  }
}

export interface LangevinOptions {
  /** number of chains */
  chains: number;
  steps: number;
  /** step size eta in x units (squared); the update is x + eta/2 grad + sqrt(eta) noise */
  eta: number;
  /** each drift eta/2 grad is clipped to this length (guards against steps where sigma_k nearly vanishes) */
  maxDrift: number;
}

/** Unadjusted Langevin from `start` (row-major [chains, D]) with a gradient function. Returns the end points and how often the drift was clipped. */
export async function langevin(start: Float64Array, D: number, grad: (x: Float64Array) => Promise<Float64Array>, o: LangevinOptions, rng: Rng): Promise<{ x: Float64Array; clipped: number }> {
  const x = Float64Array.from(start);
  let clipped = 0;
  const half = o.eta / 2;
  const sq = Math.sqrt(o.eta);
  for (let t = 0; t < o.steps; t++) {
    const g = await grad(x);
    for (let i = 0; i < o.chains; i++) {
      let norm = 0;
      for (let d = 0; d < D; d++) norm += (half * g[i * D + d]) ** 2;
      norm = Math.sqrt(norm);
      let f = 1;
      if (!Number.isFinite(norm)) throw new Error(`langevin: the gradient is not finite for chain ${i} at step ${t}`);
      if (norm > o.maxDrift) {
        f = o.maxDrift / norm;
        clipped++;
      }
      for (let d = 0; d < D; d++) x[i * D + d] += f * half * g[i * D + d] + sq * rng.normal();
    }
  }
  return { x, clipped };
}

// ------------------------------------------------------------------ the experiment

export interface LangevinConfig extends DataConfig, EncoderConfig, TrainConfig {
  seed: number;
  /** training set size */
  samples: number;
  chains: number;
  langevinSteps: number;
  /** eta in units of the data variance */
  stepSize: number;
  /** the starting noise: N(data mean, (initScale * data std)^2 I) */
  initScale: number;
  /** grid resolution of the density pictures */
  grid: number;
  threads?: number;
}

export function defaultLangevinConfig(): LangevinConfig {
  return { ...DEFAULT_DATA, ...DEFAULT_ENCODER, ...DEFAULT_TRAIN, seed: 7, samples: 5000, chains: 1000, langevinSteps: 1500, stepSize: 0.003, initScale: 2, grid: 60 };
}

export function checkLangevinConfig(c: LangevinConfig, where = 'langevin'): void {
  checkSynthConfig({ ...c, dims: [2], samples: [c.samples], seeds: [c.seed] }, where);
  for (const [name, v, min] of [['chains', c.chains, 2], ['langevin steps', c.langevinSteps, 0], ['grid', c.grid, 4]] as const)
    if (!Number.isInteger(v) || v < min) throw new Error(`${where}: ${name} must be an integer >= ${min}, got ${v}`);
  if (!(c.stepSize > 0)) throw new Error(`${where}: step size must be positive, got ${c.stepSize}`);
  if (!(c.initScale > 0)) throw new Error(`${where}: init scale must be positive, got ${c.initScale}`);
}

export interface LangevinResult {
  /** Langevin on exp(JEPA-SCORE) vs a fresh true sample */
  energy_distance: number;
  /** the starting noise vs the same fresh sample */
  baseline_energy_distance: number;
  /** Langevin on exp(JEPA-SCORE + log N(f(x); 0, I)), the full change of variables */
  full_energy_distance: number;
  /** the same sampler driven by the true grad log p: what the sampler alone achieves */
  oracle_energy_distance: number;
  /** a sample of the Gaussian with the mixture's exact mean and covariance: a stricter reference than the start */
  gaussian_fit_energy_distance: number;
  mmd2: number;
  baseline_mmd2: number;
  full_mmd2: number;
  oracle_mmd2: number;
  mmd_bandwidth: number;
  gradient_check: { points: number; h: number; max_abs_error: number; max_gradient: number; relative_error: number };
  pearson_heldout: number;
  chains: number;
  steps: number;
  eta: number;
  clipped_drifts: number;
  train_seconds: number;
  /** Adam steps the encoder took (training stops on convergence) */
  train_steps: number;
  sample_seconds: number;
}

function gaussianFitSample(gmm: GaussianMixture, n: number, rng: Rng): Float64Array {
  const { mean, cov } = gmm.moments();
  const D = gmm.dim;
  const L = cholesky(cov, D);
  if (!L) throw new Error('langevin: the mixture covariance is not positive definite');
  const out = new Float64Array(n * D);
  const e = new Float64Array(D);
  for (let i = 0; i < n; i++) {
    for (let d = 0; d < D; d++) e[d] = rng.normal();
    for (let r = 0; r < D; r++) {
      let v = mean[r];
      for (let k = 0; k <= r; k++) v += L[r * D + k] * e[k];
      out[i * D + r] = v;
    }
  }
  return out;
}

function gaussianStart(n: number, mean: ArrayLike<number>, std: number, rng: Rng): Float64Array {
  const D = mean.length;
  return Float64Array.from({ length: n * D }, (_, i) => mean[i % D] + std * rng.normal());
}

export async function runLangevin(cfg: LangevinConfig, outDir: string, log: (msg: string) => void = () => {}): Promise<{ result: LangevinResult; files: string[] }> {
  checkLangevinConfig(cfg);
  await mkdir(outDir, { recursive: true });
  const D = 2;
  const data = makeData(D, cfg.samples, cfg);
  log(`training the encoder on ${cfg.samples} points`);
  const tr = await trainEncoder(data.train, D, cfg, log);
  const enc = tr.encoder;
  const scale = enc.scale;
  const mean = Float64Array.from(enc.mean);

  const sg = await ScoreGradient.create(enc, cfg.chains, { threads: cfg.threads });
  const checkPoints = Math.min(cfg.chains, 200);
  const checkX = new Float32Array(cfg.chains * D);
  checkX.set(Float32Array.from(data.test.subarray(0, checkPoints * D)));
  // small h: near points where a singular value nearly vanishes the score curves sharply (truncation error ~ h^2)
  const h = 3e-4 * scale;
  const gc = await sg.gradientCheck(checkX, h);
  log(`score gradient vs central differences (h = ${h.toPrecision(2)}): max error ${gc.maxAbsError.toExponential(2)} of largest entry ${gc.maxGrad.toExponential(2)}`);

  const eta = cfg.stepSize * scale * scale;
  const opts: LangevinOptions = { chains: cfg.chains, steps: cfg.langevinSteps, eta, maxDrift: scale };
  const start = gaussianStart(cfg.chains, mean, cfg.initScale * scale, stepRng(cfg.seed, 0, 31));
  const t0 = performance.now();
  const model = await langevin(start, D, async (x) => (await sg.evaluate(Float32Array.from(x))).grad, opts, stepRng(cfg.seed, 0, 32));
  const sampleSeconds = (performance.now() - t0) / 1000;
  const full = await langevin(start, D, async (x) => (await sg.evaluate(Float32Array.from(x))).gradFull, opts, stepRng(cfg.seed, 0, 32));
  const oracle = await langevin(start, D, async (x) => data.gmm.gradLogProb(x), opts, stepRng(cfg.seed, 0, 32));
  await sg.release();
  log(`${cfg.langevinSteps} Langevin steps of ${cfg.chains} chains in ${sampleSeconds.toFixed(1)} s (drift clipped ${model.clipped} times)`);

  const fresh = data.gmm.sample(cfg.chains, stepRng(cfg.seed, 0, 33)).x;
  const ed = energyDistance(model.x, fresh, D);
  const edFull = energyDistance(full.x, fresh, D);
  const edBase = energyDistance(start, fresh, D);
  const edOracle = energyDistance(oracle.x, fresh, D);
  const gaussian = gaussianFitSample(data.gmm, cfg.chains, stepRng(cfg.seed, 0, 34));
  const edGaussian = energyDistance(gaussian, fresh, D);
  const m = mmd2(model.x, fresh, D);
  const mFull = mmd2(full.x, fresh, D, m.bandwidth);
  const mBase = mmd2(start, fresh, D, m.bandwidth);
  const mOracle = mmd2(oracle.x, fresh, D, m.bandwidth);

  const scorer = await JacobianScorer.create(enc, { threads: cfg.threads });
  const held = await scorer.scores(data.test);
  const lo = [0, 1].map((d) => mean[d] - 3 * scale);
  const hi = [0, 1].map((d) => mean[d] + 3 * scale);
  const grid = densityGrid(data.gmm, lo, hi, cfg.grid);
  const gridScores = await scorer.scores(grid.points);
  const pictures = { score: gridScores.score, full: gridScores.full, samples: model.x, fullSamples: full.x, truth: fresh };
  await scorer.release();

  const result: LangevinResult = {
    energy_distance: ed,
    baseline_energy_distance: edBase,
    full_energy_distance: edFull,
    oracle_energy_distance: edOracle,
    gaussian_fit_energy_distance: edGaussian,
    mmd2: m.mmd2,
    baseline_mmd2: mBase.mmd2,
    full_mmd2: mFull.mmd2,
    oracle_mmd2: mOracle.mmd2,
    mmd_bandwidth: m.bandwidth,
    gradient_check: { points: checkPoints, h, max_abs_error: gc.maxAbsError, max_gradient: gc.maxGrad, relative_error: gc.relError },
    pearson_heldout: pearson(held.score, data.testLogProb),
    chains: cfg.chains,
    steps: cfg.langevinSteps,
    eta,
    clipped_drifts: model.clipped,
    train_seconds: tr.trainSeconds,
    train_steps: tr.steps,
    sample_seconds: sampleSeconds,
  };
  const { threads: _t, ...config } = cfg;
  const files = [join(outDir, 'results.json')];
  await writeFile(files[0], JSON.stringify({ ...result, config }, null, 2) + '\n');
  const plot = await renderSpec(langevinSpec(grid, pictures, lo, hi, result));
  files.push(...(await writePlot(plot, outDir, 'langevin')));
  return { result, files };
}

interface Grid {
  points: Float64Array;
  logp: Float64Array;
  n: number;
  cell: [number, number];
  lo: number[];
}

function densityGrid(gmm: GaussianMixture, lo: number[], hi: number[], n: number): Grid {
  const cell: [number, number] = [(hi[0] - lo[0]) / n, (hi[1] - lo[1]) / n];
  const points = new Float64Array(n * n * 2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      points[(i * n + j) * 2] = lo[0] + (j + 0.5) * cell[0];
      points[(i * n + j) * 2 + 1] = lo[1] + (i + 0.5) * cell[1];
    }
  return { points, logp: gmm.logProb(points), n, cell, lo };
}

// Normalised densities on the grid (summing to one over the cells), as rows for vega.
function densityRows(grid: Grid, logq: Float64Array): { x: number; x2: number; y: number; y2: number; v: number }[] {
  let max = -Infinity;
  for (const v of logq) max = Math.max(max, v);
  let total = 0;
  const q = Float64Array.from(logq, (v) => {
    const e = Math.exp(v - max);
    total += e;
    return e;
  });
  const cellArea = grid.cell[0] * grid.cell[1];
  return Array.from(q, (v, k) => {
    const x = grid.points[k * 2];
    const y = grid.points[k * 2 + 1];
    return { x: x - grid.cell[0] / 2, x2: x + grid.cell[0] / 2, y: y - grid.cell[1] / 2, y2: y + grid.cell[1] / 2, v: v / total / cellArea };
  });
}

interface Pictures {
  score: Float64Array;
  full: Float64Array;
  samples: Float64Array;
  fullSamples: Float64Array;
  truth: Float64Array;
}

function langevinSpec(grid: Grid, p: Pictures, lo: number[], hi: number[], r: LangevinResult): TopLevelSpec {
  const size = 230;
  const xs = { field: 'x', type: 'quantitative' as const, scale: { domain: [lo[0], hi[0]] }, title: 'x1' };
  const ys = { field: 'y', type: 'quantitative' as const, scale: { domain: [lo[1], hi[1]] }, title: 'x2' };
  const heat = (rows: object[], title: string, scheme = 'viridis') => ({
    data: { values: rows },
    mark: { type: 'rect' as const },
    encoding: { x: xs, x2: { field: 'x2' }, y: ys, y2: { field: 'y2' }, color: { field: 'v', type: 'quantitative' as const, scale: { scheme }, legend: null } },
    ...(title ? { title } : {}),
  });
  const inside = (a: Float64Array) => {
    const pts: { x: number; y: number }[] = [];
    for (let i = 0; i < a.length / 2; i++) {
      const x = a[i * 2];
      const y = a[i * 2 + 1];
      if (x >= lo[0] && x <= hi[0] && y >= lo[1] && y <= hi[1]) pts.push({ x, y });
    }
    return pts;
  };
  const trueRows = densityRows(grid, grid.logp);
  const panel = (title: string, layer: object[]) => ({ title, width: size, height: size, layer });
  const scatter = (a: Float64Array, title: string, color: string) => {
    const pts = inside(a);
    return panel(`${title} (${pts.length} in view)`, [heat(trueRows, '', 'greys'), { data: { values: pts }, mark: { type: 'circle', size: 5, opacity: 0.6, color }, encoding: { x: xs, y: ys } }]);
  };
  return {
    title: {
      text: 'Langevin sampling from exp(JEPA-SCORE) on a 2-D Gaussian mixture (densities normalised on the grid)',
      subtitle: [
        `energy distance to a fresh true sample: exp(JEPA-SCORE) ${r.energy_distance.toFixed(3)}, exp(JEPA-SCORE + log N(f(x))) ${r.full_energy_distance.toFixed(3)},`,
        `starting noise ${r.baseline_energy_distance.toFixed(3)}, the same sampler with the true score ${r.oracle_energy_distance.toFixed(3)}, the best-fitting Gaussian ${r.gaussian_fit_energy_distance.toFixed(3)}`,
      ],
    },
    vconcat: [
      {
        hconcat: [
          panel('true density p(x)', [heat(trueRows, '')]),
          panel('exp(JEPA-SCORE)', [heat(densityRows(grid, p.score), '')]),
          panel('exp(JEPA-SCORE) N(f(x); 0, I)', [heat(densityRows(grid, p.full), '')]),
        ],
      },
      {
        hconcat: [
          scatter(p.truth, 'true sample', '#4c78a8'),
          scatter(p.samples, 'Langevin, JEPA-SCORE', '#e45756'),
          scatter(p.fullSamples, 'Langevin, full variant', '#f58518'),
        ],
      },
    ],
    resolve: { scale: { color: 'independent' } },
  } as TopLevelSpec;
}

/** Mean, min and max of each Langevin metric over seeds. */
export interface LangevinSeedSummary {
  seeds: number[];
  metrics: Record<string, { mean: number; min: number; max: number }>;
  /** seeds whose exp(JEPA-SCORE) samples are closer to the mixture than the starting noise */
  beats_start: number;
  /** seeds whose full-variant samples are within 0.05 (energy distance) of the true-score sampler's */
  full_near_true_score: number;
}

const SUMMARY_KEYS = ['energy_distance', 'baseline_energy_distance', 'full_energy_distance', 'oracle_energy_distance', 'gaussian_fit_energy_distance', 'pearson_heldout', 'train_seconds'] as const;

export function summariseLangevin(seeds: number[], results: LangevinResult[]): LangevinSeedSummary {
  const metrics: LangevinSeedSummary['metrics'] = {};
  for (const k of SUMMARY_KEYS) {
    const v = results.map((r) => r[k]);
    metrics[k] = { mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) };
  }
  return {
    seeds,
    metrics,
    beats_start: results.filter((r) => r.energy_distance < r.baseline_energy_distance).length,
    full_near_true_score: results.filter((r) => r.full_energy_distance < r.oracle_energy_distance + 0.05).length,
  };
}

/** runLangevin once per seed into outDir/seed-<s>/ (a finished seed is read back, not rerun), then summary.json. */
export async function runLangevinSeeds(cfg: LangevinConfig, seeds: number[], outDir: string, log: (msg: string) => void = () => {}): Promise<{ results: LangevinResult[]; summary: LangevinSeedSummary; files: string[] }> {
  const results: LangevinResult[] = [];
  const { threads: _t, seed: _s, ...config } = cfg;
  for (const seed of seeds) {
    const dir = join(outDir, `seed-${seed}`);
    const prev = join(dir, 'results.json');
    if (existsSync(prev)) {
      const json = JSON.parse(readFileSync(prev, 'utf8')) as LangevinResult & { config: LangevinConfig };
      const { seed: ps, ...pc } = json.config;
      if (ps === seed && JSON.stringify(pc) === JSON.stringify(config)) {
        log(`seed ${seed}: done in an earlier run (${prev})`);
        results.push(json);
        continue;
      }
    }
    log(`seed ${seed}`);
    results.push((await runLangevin({ ...cfg, seed }, dir, log)).result);
  }
  const summary = summariseLangevin(seeds, results);
  const file = join(outDir, 'summary.json');
  await writeFile(file, JSON.stringify({ ...summary, per_seed: results.map((r, i) => ({ seed: seeds[i], ...r })), config }, null, 2) + '\n');
  return { results, summary, files: [file] };
}
