// Density recovery on synthetic data (the paper's figure 2): train an MLP encoder with a JEPA objective on
// samples of a Gaussian mixture, then compare JEPA-SCORE on held-out points with the exact log p(x).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { vjp } from '../autodiff/index.js';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Activation, addMlp, initMlpWeights, MlpConfig, mlpWeightShapes } from '../models/mlp.js';
import { heatmap, writePlot } from '../report/plots.js';
import { Session } from '../runtime/session.js';
import { logStandardNormal, scoreFromJacobian } from '../score/spectrum.js';
import { lejepaLoss, momentLoss, ObjectiveValues } from '../train/objectives.js';
import { randomDirections } from '../train/sigreg.js';
import { BatchSampler, stepRng, Trainer } from '../train/trainer.js';
import { GaussianMixture } from './gmm.js';
import { meanStd, pearson, spearman } from './stats.js';
import { regressionSlope } from './variants.js';

export interface DataConfig {
  components: number;
  /** component means ~ N(0, meanScale^2 I) */
  meanScale: number;
  /** each component's standard deviation is log-uniform in this range */
  scaleRange: [number, number];
  /** largest eigenvalue ratio within one covariance */
  condition: number;
  /** mixture weights ~ Dirichlet(weightAlpha); small values give very uneven weights */
  weightAlpha: number;
  /** held-out points for the evaluation */
  heldOut: number;
}

export interface EncoderConfig {
  /** embedding dimension K; 0 means K = D */
  embedDim: number;
  width: number;
  depth: number;
  activation: Activation;
}

export interface TrainConfig {
  objective: 'lejepa' | 'moments';
  /** weight of the regulariser (SIGReg or moment matching) */
  lambda: number;
  /** standard deviation of the view noise x + noise, in units of the data's overall standard deviation */
  noise: number;
  views: number;
  /** most Adam steps; training stops earlier when the loss has converged (see trainEncoder) */
  steps: number;
  /** fewest steps before the convergence test may stop training */
  minSteps: number;
  /** the convergence test compares mean losses over windows of this many steps */
  window: number;
  /** converged when `patience` windows in a row fail to lower the best window mean by more than tol (relative) */
  tol: number;
  patience: number;
  batch: number;
  lr: number;
  /** SIGReg: random directions per step, t_max and trapezoid knots */
  directions: number;
  tMax: number;
  knots: number;
}

export interface SynthConfig extends DataConfig, EncoderConfig, TrainConfig {
  dims: number[];
  samples: number[];
  /** one replicate of the grid per seed; each seed draws both the mixture and the training unless fixed below */
  seeds: number[];
  /** fixes the mixture, the training and held-out points for every replicate (only the training varies) */
  dataSeed?: number;
  /** fixes the weights, batches, view noise and SIGReg directions for every replicate (only the mixture varies) */
  trainSeed?: number;
  threads?: number;
}

/** The data and training seeds of replicate `seed`. */
export function cellSeeds(cfg: Pick<SynthConfig, 'dataSeed' | 'trainSeed'>, seed: number): { dataSeed: number; trainSeed: number } {
  return { dataSeed: cfg.dataSeed ?? seed, trainSeed: cfg.trainSeed ?? seed };
}

export const DEFAULT_DATA: DataConfig = { components: 8, meanScale: 1.5, scaleRange: [0.3, 8], condition: 4, weightAlpha: 0.5, heldOut: 2000 };
export const DEFAULT_ENCODER: EncoderConfig = { embedDim: 0, width: 128, depth: 2, activation: 'tanh' };
export const DEFAULT_TRAIN: TrainConfig = { objective: 'lejepa', lambda: 1, noise: 0.05, views: 2, steps: 8000, minSteps: 2000, window: 200, tol: 0.01, patience: 3, batch: 256, lr: 3e-3, directions: 64, tMax: 3, knots: 17 };

export function defaultSynthConfig(): SynthConfig {
  return { ...DEFAULT_DATA, ...DEFAULT_ENCODER, ...DEFAULT_TRAIN, dims: [2, 4, 8, 16, 32], samples: [1000, 5000, 20000], seeds: [7] };
}

/** Checks a configuration; `where` names its source in the messages. */
export function checkSynthConfig(c: SynthConfig, where = 'synth'): void {
  const posInt = (v: number, name: string, min = 1) => {
    if (!Number.isInteger(v) || v < min) throw new Error(`${where}: ${name} must be an integer >= ${min}, got ${v}`);
  };
  const pos = (v: number, name: string, allowZero = false) => {
    if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new Error(`${where}: ${name} must be ${allowZero ? 'non-negative' : 'positive'}, got ${v}`);
  };
  if (!c.dims.length) throw new Error(`${where}: no input dimensions given`);
  if (!c.samples.length) throw new Error(`${where}: no sample sizes given`);
  c.dims.forEach((d) => posInt(d, 'each input dimension'));
  c.samples.forEach((n) => posInt(n, 'each sample size', 2));
  posInt(c.components, 'components');
  posInt(c.heldOut, 'held-out points', 10);
  posInt(c.embedDim, 'embedding dimension', 0);
  posInt(c.width, 'width');
  posInt(c.depth, 'depth', 0);
  posInt(c.views, 'views', 2);
  posInt(c.steps, 'steps');
  posInt(c.minSteps, 'min steps', 0);
  posInt(c.window, 'window', 10);
  posInt(c.patience, 'patience');
  pos(c.tol, 'tol', true);
  if (!c.seeds.length) throw new Error(`${where}: no seeds given`);
  c.seeds.forEach((s) => posInt(s, 'each seed', 0));
  if (c.dataSeed !== undefined) posInt(c.dataSeed, 'data seed', 0);
  if (c.trainSeed !== undefined) posInt(c.trainSeed, 'train seed', 0);
  posInt(c.batch, 'batch', 2);
  posInt(c.directions, 'directions');
  posInt(c.knots, 'knots', 2);
  pos(c.meanScale, 'mean scale', true);
  pos(c.scaleRange[0], 'smallest component scale');
  if (!(c.scaleRange[1] >= c.scaleRange[0])) throw new Error(`${where}: component scale range [${c.scaleRange}] is empty`);
  if (!(c.condition >= 1)) throw new Error(`${where}: condition must be >= 1, got ${c.condition}`);
  pos(c.weightAlpha, 'weight alpha');
  pos(c.lambda, 'lambda', true);
  pos(c.noise, 'noise', true);
  pos(c.lr, 'learning rate');
  pos(c.tMax, 't_max');
  if (c.objective !== 'lejepa' && c.objective !== 'moments') throw new Error(`${where}: unknown objective '${c.objective}' (choose lejepa or moments)`);
}

// ------------------------------------------------------------------ data

export interface SynthData {
  gmm: GaussianMixture;
  /** row-major [samples, D] */
  train: Float64Array;
  /** row-major [heldOut, D] */
  test: Float64Array;
  testLogProb: Float64Array;
  /** mixture component of each held-out point */
  testLabels: Int32Array;
}

/** The mixture depends on (seed, D) only; the training set of n points is a prefix of one long stream. */
export function makeData(dim: number, samples: number, cfg: DataConfig & { seed: number }): SynthData {
  const gmm = GaussianMixture.random({ dim, components: cfg.components, seed: stepRng(cfg.seed, dim, 11).nextU32(), meanScale: cfg.meanScale, scaleRange: cfg.scaleRange, condition: cfg.condition, weightAlpha: cfg.weightAlpha });
  const train = gmm.sample(samples, stepRng(cfg.seed, dim, 12)).x;
  const { x: test, labels } = gmm.sample(cfg.heldOut, stepRng(cfg.seed, dim, 13));
  return { gmm, train, test, testLogProb: gmm.logProb(test), testLabels: labels };
}

// ------------------------------------------------------------------ encoder

/** An MLP encoder with the input standardisation (x - mean) / scale folded in front. */
export interface SynthEncoder {
  mlp: MlpConfig;
  weights: Map<string, Tensor>;
  mean: Float32Array;
  scale: number;
}

/** Adds the encoder to a graph; `w(name)` gives the value of each MLP weight. x: [..., D] -> [..., K]. */
export function addEncoder(b: GraphBuilder, enc: SynthEncoder, x: Value, w: (name: string) => Value): Value {
  const D = enc.mlp.inputDim;
  const centred = b.sub(x, b.constant(Tensor.f32([D], enc.mean), 'input_mean'));
  const scaled = b.mul(centred, b.scalar(1 / enc.scale));
  return addMlp(b, enc.mlp, scaled, w);
}

/** A graph x [batch, D] -> z [batch, K] with the weights as initializers. */
export function encoderGraph(enc: SynthEncoder, batch: number): { graph: Graph; input: string; output: string } {
  const b = new GraphBuilder('synth_encoder');
  const x = b.input('x', 'float32', [batch, enc.mlp.inputDim]);
  for (const [name] of mlpWeightShapes(enc.mlp)) b.init(name, enc.weights.get(name)!);
  const z = b.identity(addEncoder(b, enc, x, (n) => n));
  b.output(z, 'float32', [batch, enc.mlp.outputDim]);
  return { graph: b.build(), input: x, output: z };
}

function standardise(x: Float64Array, D: number): { mean: Float32Array; scale: number } {
  const n = x.length / D;
  const mean = new Float64Array(D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) mean[d] += x[i * D + d] / n;
  let v = 0;
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) v += (x[i * D + d] - mean[d]) ** 2;
  return { mean: Float32Array.from(mean), scale: Math.sqrt(v / (n * D)) || 1 };
}

export interface TrainResult {
  encoder: SynthEncoder;
  trainSeconds: number;
  /** Adam steps taken */
  steps: number;
  /** whether the convergence test stopped training (else the step cap did) */
  converged: boolean;
  stopReason: string;
  /** loss, invariance and regulariser at the end (mean of the last 50 steps) */
  final: { loss: number; invariance: number; regularizer: number };
}

/** Trains an encoder on `train` (row-major [n, D]) with the configured objective. */
export async function trainEncoder(train: Float64Array, dim: number, cfg: EncoderConfig & TrainConfig & { seed: number; threads?: number }, log?: (msg: string) => void): Promise<TrainResult> {
  const n = train.length / dim;
  const K = cfg.embedDim || dim;
  const mlp: MlpConfig = { inputDim: dim, outputDim: K, width: cfg.width, depth: cfg.depth, activation: cfg.activation };
  const { mean, scale } = standardise(train, dim);
  const encoder: SynthEncoder = { mlp, weights: initMlpWeights(mlp, stepRng(cfg.seed, dim, 21)), mean, scale };
  const V = cfg.views;
  const B = Math.min(cfg.batch, n);
  const M = cfg.directions;
  const b = new GraphBuilder('synth_train');
  const x = b.input('x', 'float32', [V, B, dim]);
  const dirs = cfg.objective === 'lejepa' ? b.input('dirs', 'float32', [K, M]) : undefined;
  for (const [name] of mlpWeightShapes(mlp)) b.init(name, encoder.weights.get(name)!);
  const z = addEncoder(b, encoder, x, (nm) => nm);
  const obj: ObjectiveValues =
    cfg.objective === 'lejepa' ? lejepaLoss(b, z, dirs!, { lambda: cfg.lambda, tMax: cfg.tMax, knots: cfg.knots, n: B }) : momentLoss(b, z, K, { lambda: cfg.lambda });
  b.output(obj.loss, 'float32', []);
  const trainer = await Trainer.create(b.build(), {
    loss: obj.loss,
    params: mlpWeightShapes(mlp).map(([nm]) => nm),
    metrics: [obj.invariance, obj.regularizer],
    adam: { lr: cfg.lr },
    session: { threads: cfg.threads },
  });
  const sampler = new BatchSampler(n, B, stepRng(cfg.seed, dim, 22).nextU32());
  const noise = cfg.noise * scale;
  const batch = (step: number): Record<string, Tensor> => {
    const idx = sampler.indices(step);
    const rng = stepRng(cfg.seed, step, 23);
    const xs = new Float32Array(V * B * dim);
    for (let v = 0; v < V; v++)
      for (let i = 0; i < B; i++) for (let d = 0; d < dim; d++) xs[(v * B + i) * dim + d] = train[idx[i] * dim + d] + noise * rng.normal();
    const feeds: Record<string, Tensor> = { x: new Tensor('float32', [V, B, dim], xs) };
    if (dirs) feeds.dirs = new Tensor('float32', [K, M], randomDirections(rng, K, M));
    return feeds;
  };
  // Learning rate: warm-up, constant peak until the loss has converged, then a cosine decay to 0 over
  // `decay` steps, and stop. Converged: `patience` windows in a row whose mean loss is not below the best
  // earlier window mean by more than tol (relative). Without convergence the decay starts so that training
  // ends at cfg.steps.
  const warmup = Math.min(100, Math.floor(cfg.steps / 10));
  const stop = new ConvergenceTest(cfg.window, cfg.tol, cfg.patience);
  let decayStart = -1;
  let decay = 0;
  let end = cfg.steps;
  let reason = '';
  const startDecay = (s: number, why: string) => {
    decayStart = s;
    decay = Math.min(cfg.steps - s, Math.max(cfg.window, Math.round(0.25 * s)));
    end = s + decay;
    reason = why;
    log?.(`  step ${s}: ${why}; cosine decay of the learning rate over ${decay} steps`);
  };
  const lr = (s: number) => {
    if (s < warmup) return (cfg.lr * (s + 1)) / warmup;
    if (decayStart < 0 || s < decayStart) return cfg.lr;
    return 0.5 * cfg.lr * (1 + Math.cos((Math.PI * (s - decayStart)) / Math.max(1, decay)));
  };
  const tail: number[][] = [];
  const t0 = performance.now();
  const reg = cfg.objective === 'lejepa' ? 'SIGReg' : 'moments';
  for (let s = 0; s < end; s++) {
    const r = await trainer.trainStep(batch(s), lr(s));
    tail.push([r.loss, r.metrics[obj.invariance], r.metrics[obj.regularizer]]);
    if (tail.length > 50) tail.shift();
    if (log && (s % 500 === 0 || s === end - 1)) log(`  step ${s + 1}: loss ${r.loss.toFixed(4)} invariance ${r.metrics[obj.invariance].toExponential(2)} ${reg} ${r.metrics[obj.regularizer].toFixed(3)}`);
    if (decayStart >= 0) continue;
    const done = s >= warmup && stop.add(r.loss);
    if (done && s + 1 >= Math.min(cfg.minSteps, cfg.steps)) startDecay(s + 1, `converged (window mean loss ${stop.best.toFixed(4)}, no gain above ${(100 * cfg.tol).toFixed(1)}% for ${cfg.patience} windows of ${cfg.window} steps)`);
    else if (s + 1 >= cfg.steps - Math.max(cfg.window, Math.round(0.2 * cfg.steps)) && s + 1 >= warmup) startDecay(s + 1, `not converged by step ${s + 1} (cap ${cfg.steps})`);
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  encoder.weights = trainer.weights();
  await trainer.release();
  const avg = (j: number) => tail.reduce((a, r) => a + r[j], 0) / tail.length;
  return { encoder, trainSeconds, steps: end, converged: reason.startsWith('converged'), stopReason: reason, final: { loss: avg(0), invariance: avg(1), regularizer: avg(2) } };
}

/** Plateau test on a noisy loss: window means, and a count of windows without relative improvement. */
export class ConvergenceTest {
  best = Infinity;
  private sum = 0;
  private count = 0;
  private stale = 0;
  constructor(readonly window: number, readonly tol: number, readonly patience: number) {}
  /** Adds one step's loss; true once `patience` windows in a row have not improved on the best window. */
  add(loss: number): boolean {
    this.sum += loss;
    if (++this.count < this.window) return false;
    const mean = this.sum / this.count;
    this.sum = 0;
    this.count = 0;
    if (this.best === Infinity || mean < this.best - this.tol * Math.abs(this.best)) this.stale = 0;
    else this.stale++;
    this.best = Math.min(this.best, mean);
    return this.stale >= this.patience;
  }
}

// ------------------------------------------------------------------ scoring

export interface PointScores {
  /** JEPA-SCORE: sum_k log max(sigma_k(J), 1e-6) */
  score: Float64Array;
  /** JEPA-SCORE + log N(f(x); 0, I) */
  full: Float64Array;
  /** row-major [n, K] */
  embedding: Float32Array;
}

/**
 * Computes J_f (K x D) at every point with one batched-mode vjp run per chunk of points: the cotangent
 * e_k is placed on every point of the chunk at once, since the points do not interact.
 */
export class JacobianScorer {
  private constructor(
    private readonly session: Session,
    private readonly cotangent: string,
    private readonly grad: string,
    private readonly output: string,
    readonly K: number,
    readonly D: number,
    readonly chunk: number,
  ) {}

  static async create(enc: SynthEncoder, opts: { chunk?: number; threads?: number } = {}): Promise<JacobianScorer> {
    const chunk = opts.chunk ?? 256;
    const { graph, input, output } = encoderGraph(enc, chunk);
    const res = await vjp(graph, { outputs: [output], wrt: [input], mode: 'batched', keepOutputs: true });
    const session = await Session.create(res.graph, { threads: opts.threads });
    return new JacobianScorer(session, res.cotangents[0], res.grads[0], output, enc.mlp.outputDim, enc.mlp.inputDim, chunk);
  }

  /** Jacobians (row-major [n, K, D]) and embeddings ([n, K]) of n points (row-major [n, D]). */
  async jacobians(points: ArrayLike<number>): Promise<{ J: Float32Array; embedding: Float32Array }> {
    const { K, D, chunk } = this;
    const n = points.length / D;
    const J = new Float32Array(n * K * D);
    const embedding = new Float32Array(n * K);
    const cot = new Float32Array(K * chunk * K);
    for (let k = 0; k < K; k++) for (let i = 0; i < chunk; i++) cot[(k * chunk + i) * K + k] = 1;
    const cotT = new Tensor('float32', [K, chunk, K], cot);
    for (let start = 0; start < n; start += chunk) {
      const m = Math.min(chunk, n - start);
      const x = new Float32Array(chunk * D);
      for (let i = 0; i < m * D; i++) x[i] = points[start * D + i];
      const out = await this.session.run({ x: new Tensor('float32', [chunk, D], x), [this.cotangent]: cotT });
      const g = out[this.grad].data as Float32Array; // [K, chunk, D]
      const z = out[this.output].data as Float32Array;
      for (let i = 0; i < m; i++) {
        for (let k = 0; k < K; k++) for (let d = 0; d < D; d++) J[((start + i) * K + k) * D + d] = g[(k * chunk + i) * D + d];
        for (let k = 0; k < K; k++) embedding[(start + i) * K + k] = z[i * K + k];
      }
    }
    return { J, embedding };
  }

  async scores(points: ArrayLike<number>): Promise<PointScores> {
    const { K, D } = this;
    const n = points.length / D;
    const { J, embedding } = await this.jacobians(points);
    const score = new Float64Array(n);
    const full = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      score[i] = scoreFromJacobian(J.subarray(i * K * D, (i + 1) * K * D), K, D).score;
      full[i] = score[i] + logStandardNormal(embedding.subarray(i * K, (i + 1) * K));
    }
    return { score, full, embedding };
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

// ------------------------------------------------------------------ the grid

export interface CellResult {
  dim: number;
  samples: number;
  /** the replicate's seed, and the seeds its mixture and its training used */
  seed: number;
  data_seed: number;
  train_seed: number;
  pearson: number;
  spearman: number;
  pearson_full: number;
  spearman_full: number;
  train_seconds: number;
  /** Pearson(JEPA-SCORE, log p) within each mixture component, averaged with the components' point counts as weights */
  pearson_within: number;
  /** standard deviation of log p over the held-out points */
  logp_std: number;
  /** sd of the dropped term ||f(x)||^2 / 2 over the held-out points (sqrt(K/2) for exact N(0, I) embeddings) */
  norm_sd?: number;
  /** Pearson(||f(x)||^2 / 2, log p): JEPA-SCORE = log p + ||f||^2/2 + c for an exact transport map */
  norm_logp_corr?: number;
  /** Pearson(log p + ||f||^2/2, log p): what JEPA-SCORE would reach if the full variant were exactly log p, with this embedding */
  pearson_oracle?: number;
  /** least-squares slope of the full variant on log p (1 when the learned density is calibrated) */
  full_slope?: number;
  embed_dim: number;
  eval_seconds: number;
  final_loss: number;
  final_invariance: number;
  final_regularizer: number;
  /** Adam steps taken, and whether the convergence test (not the cap) ended training */
  steps: number;
  converged: boolean;
}

export async function runCell(dim: number, samples: number, seed: number, cfg: SynthConfig, log?: (msg: string) => void): Promise<CellResult> {
  const { dataSeed, trainSeed } = cellSeeds(cfg, seed);
  const data = makeData(dim, samples, { ...cfg, seed: dataSeed });
  const tr = await trainEncoder(data.train, dim, { ...cfg, seed: trainSeed }, log);
  const t0 = performance.now();
  const scorer = await JacobianScorer.create(tr.encoder, { threads: cfg.threads });
  const s = await scorer.scores(data.test);
  await scorer.release();
  const lp = data.testLogProb;
  // the dropped term -log N(f(x); 0, I) = ||f(x)||^2/2 + const (a constant moves neither its sd nor a Pearson)
  const dropped = Float64Array.from(lp, (_, i) => s.score[i] - s.full[i]);
  return {
    dim,
    samples,
    seed,
    data_seed: dataSeed,
    train_seed: trainSeed,
    pearson: pearson(s.score, lp),
    spearman: spearman(s.score, lp),
    pearson_full: pearson(s.full, lp),
    spearman_full: spearman(s.full, lp),
    train_seconds: tr.trainSeconds,
    pearson_within: withinComponents(s.score, lp, data.testLabels, data.gmm.components),
    logp_std: meanStd(lp).std,
    norm_sd: meanStd(dropped).std,
    norm_logp_corr: pearson(dropped, lp),
    pearson_oracle: pearson(Float64Array.from(lp, (v, i) => v + dropped[i]), lp),
    full_slope: regressionSlope(lp, s.full),
    embed_dim: tr.encoder.mlp.outputDim,
    eval_seconds: (performance.now() - t0) / 1000,
    final_loss: tr.final.loss,
    final_invariance: tr.final.invariance,
    final_regularizer: tr.final.regularizer,
    steps: tr.steps,
    converged: tr.converged,
  };
}

/** Pearson correlation inside each component (those with at least 10 points), weighted by point count. */
export function withinComponents(a: Float64Array, b: Float64Array, labels: Int32Array, C: number): number {
  let total = 0;
  let weight = 0;
  for (let c = 0; c < C; c++) {
    const idx = [];
    for (let i = 0; i < labels.length; i++) if (labels[i] === c) idx.push(i);
    if (idx.length < 10) continue;
    const r = pearson(Float64Array.from(idx, (i) => a[i]), Float64Array.from(idx, (i) => b[i]));
    if (!Number.isFinite(r)) continue;
    total += r * idx.length;
    weight += idx.length;
  }
  return weight ? total / weight : NaN;
}

const CSV_COLUMNS: (keyof CellResult)[] = ['dim', 'samples', 'pearson', 'spearman', 'pearson_full', 'spearman_full', 'train_seconds', 'seed', 'data_seed', 'train_seed', 'pearson_within', 'logp_std', 'norm_sd', 'norm_logp_corr', 'pearson_oracle', 'full_slope', 'embed_dim', 'eval_seconds', 'final_loss', 'final_invariance', 'final_regularizer', 'steps', 'converged'];

export function cellsToCsv(cells: CellResult[]): string {
  const fmt = (v: number | boolean | undefined) => (v === undefined ? '' : typeof v === 'boolean' ? String(v) : Number.isInteger(v) ? String(v) : v.toPrecision(6));
  const rows = cells.map((c) => CSV_COLUMNS.map((k) => fmt(c[k])).join(','));
  return [CSV_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

/** Distribution of one metric over the seeds of a (dim, samples) cell. */
export interface SeedSummary {
  dim: number;
  samples: number;
  seeds: number;
  mean: number;
  sd: number;
  min: number;
  max: number;
  /** seeds with a value >= 0.9 */
  at_least_0_9: number;
}

/** Mean, sample standard deviation, min and max of `key` over the seeds of each (dim, samples) cell, in grid order. */
export function summariseSeeds(cells: CellResult[], key: 'pearson' | 'pearson_full' | 'spearman' | 'pearson_within'): SeedSummary[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const k = `${c.dim}x${c.samples}`;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(c);
  }
  return [...groups.values()].map((g) => {
    const v = g.map((c) => c[key]);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1)) : 0;
    return { dim: g[0].dim, samples: g[0].samples, seeds: v.length, mean, sd, min: Math.min(...v), max: Math.max(...v), at_least_0_9: v.filter((x) => x >= 0.9).length };
  });
}

function summaryCsv(rows: SeedSummary[]): string {
  const cols: (keyof SeedSummary)[] = ['dim', 'samples', 'seeds', 'mean', 'sd', 'min', 'max', 'at_least_0_9'];
  return [cols.join(','), ...rows.map((r) => cols.map((k) => (Number.isInteger(r[k]) ? String(r[k]) : r[k].toPrecision(6))).join(','))].join('\n') + '\n';
}

/**
 * Runs every (seed, dim, samples) cell and writes results.json, results.csv (one row per seed and cell),
 * summary.csv (mean, sd, min, max over seeds per cell) and the heatmaps into outDir.
 */
export async function runSynth(cfg: SynthConfig, outDir: string, log: (msg: string) => void = () => {}): Promise<{ cells: CellResult[]; summary: SeedSummary[]; summaryFull: SeedSummary[]; files: string[] }> {
  checkSynthConfig(cfg);
  await mkdir(outDir, { recursive: true });
  const cells: CellResult[] = [];
  const t0 = performance.now();
  const { dims, samples, seeds, dataSeed, trainSeed, threads: _threads, ...rest } = cfg;
  // Each finished cell is appended to cells.jsonl; a rerun with the same settings skips it (cells are seeded).
  const cellsPath = join(outDir, 'cells.jsonl');
  const settings = JSON.stringify(rest);
  const key = (dim: number, n: number, ds: number, ts: number) => `${dim}x${n}@${ds}/${ts}`;
  const earlier = new Map<string, CellResult>();
  for (const r of readJsonl<{ settings: string; cell: CellResult }>(cellsPath).records)
    if (r.settings === settings && r.cell.data_seed !== undefined) earlier.set(key(r.cell.dim, r.cell.samples, r.cell.data_seed, r.cell.train_seed), r.cell);
  const writer = new JsonlWriter(cellsPath);
  const total = seeds.length * dims.length * samples.length;
  for (const seed of seeds)
    for (const dim of dims)
      for (const n of samples) {
        const { dataSeed: ds, trainSeed: ts } = cellSeeds(cfg, seed);
        const tag = `[${cells.length + 1}/${total}] seed ${seed} (data ${ds}, training ${ts}) D=${dim} n=${n}`;
        let c = earlier.get(key(dim, n, ds, ts));
        if (c) log(`${tag}: done in an earlier run (${cellsPath})`);
        else {
          log(`${tag}: training`);
          c = await runCell(dim, n, seed, cfg, log);
          writer.write({ settings, cell: c });
        }
        c = { ...c, seed };
        log(`${tag}: pearson ${c.pearson.toFixed(3)} spearman ${c.spearman.toFixed(3)} | with log N(f(x)): pearson ${c.pearson_full.toFixed(3)} spearman ${c.spearman_full.toFixed(3)} | within components ${c.pearson_within.toFixed(3)} |${c.pearson_oracle === undefined ? '' : ` ||f||^2/2: sd ${c.norm_sd!.toFixed(2)}, Pearson with log p ${c.norm_logp_corr!.toFixed(2)}, JEPA-SCORE's Pearson if the full variant were exact ${c.pearson_oracle.toFixed(3)}, slope of the full variant on log p ${c.full_slope!.toFixed(2)} |`} ${c.steps} steps${c.converged ? ' (converged)' : ' (cap)'}, ${c.train_seconds.toFixed(1)} s training`);
        cells.push(c);
      }
  const summary = summariseSeeds(cells, 'pearson');
  const summaryFull = summariseSeeds(cells, 'pearson_full');
  const json = { cells, summary, summary_full: summaryFull, config: { dims, samples, seeds, dataSeed, trainSeed, ...rest }, total_seconds: (performance.now() - t0) / 1000 };
  const files = [join(outDir, 'results.json'), join(outDir, 'results.csv'), join(outDir, 'summary.csv')];
  await writeFile(files[0], JSON.stringify(json, null, 2) + '\n');
  await writeFile(files[1], cellsToCsv(cells));
  await writeFile(files[2], summaryCsv(summary));
  const many = seeds.length > 1;
  const heat = (rows: SeedSummary[], stat: 'mean' | 'min', title: string) =>
    heatmap(
      rows.map((r) => ({ row: `D = ${r.dim}`, col: `n = ${r.samples}`, value: r[stat] })),
      { title: many ? `${title}, ${stat} over ${seeds.length} seeds` : title, valueTitle: 'Pearson', domain: [Math.min(0, ...rows.map((r) => r[stat])), 1], format: '.2f' },
    );
  files.push(...(await writePlot(await heat(summary, 'mean', 'Pearson(JEPA-SCORE, log p) on held-out points'), outDir, 'heatmap')));
  files.push(...(await writePlot(await heat(summaryFull, 'mean', 'Pearson(JEPA-SCORE + log N(f(x)), log p)'), outDir, 'heatmap_full')));
  if (many) files.push(...(await writePlot(await heat(summary, 'min', 'Pearson(JEPA-SCORE, log p) on held-out points'), outDir, 'heatmap_min')));
  return { cells, summary, summaryFull, files };
}
