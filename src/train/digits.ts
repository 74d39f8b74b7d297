// LeJEPA on MNIST: a digits CNN trained with invariance over augmented views + SIGReg, through our own
// gradients. Writes a model folder (config.json, model.safetensors, metrics.json, train-log.jsonl) and
// a resumable checkpoint.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { augment, AugmentOptions } from '../data/augment.js';
import { Dataset, loadDataset } from '../data/datasets.js';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { Rng } from '../data/random.js';
import { writeSafetensors } from '../data/safetensors.js';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { addDigitsEncoder, buildDigitsEncoder, DigitsConfig, defaultDigitsConfig, digitsWeightShapes, initDigitsWeights } from '../models/digits.js';
import { Session } from '../runtime/session.js';
import { lejepaLoss } from './objectives.js';
import { randomDirections, SIGREG_KNOTS, SIGREG_T_MAX } from './sigreg.js';
import { BatchSampler, fit, stepRng, Trainer } from './trainer.js';
import { addVitEncoder, digitsVitConfig, DigitsVitOptions, DIGITS_VIT_DEFAULTS, embedVitImages, initVitWeights, vitParamShapes, writeVitFolder } from './vit.js';

export interface DigitsTrainOptions {
  /** model folder to write */
  out: string;
  /** 'cnn' (the digits CNN, default) or 'vit' (a DINOv2-style ViT written as a Hugging Face folder) */
  arch?: 'cnn' | 'vit';
  config?: DigitsConfig;
  /** the ViT's size when arch is 'vit' */
  vit?: DigitsVitOptions;
  /** total optimisation steps */
  steps?: number;
  /** images per step (each seen in `views` augmented views) */
  batch?: number;
  views?: number;
  lr?: number;
  /** linear warm-up steps before the cosine decay */
  warmup?: number;
  weightDecay?: number;
  /** strength of the `digits` augmentation of the views (defaults: shift 3 px, rotation 15 degrees, crop area 0.6-1) */
  augment?: DigitsAugment;
  /** SIGReg weight: loss = invariance + lambda * SIGReg */
  lambda?: number;
  /** random SIGReg directions per step */
  directions?: number;
  seed?: number;
  /** training images (from the built-in mnist-train, or a folder) */
  trainSet?: string;
  trainLimit?: number;
  /** held-out set for the kNN accuracy */
  evalSet?: string;
  evalLimit?: number;
  /** kNN accuracy every n steps (0: only at the end) */
  evalEvery?: number;
  checkpointEvery?: number;
  /** continue from out/checkpoint.safetensors when it exists (default true); false starts afresh */
  resume?: boolean;
  /** skip the final kNN evaluation */
  skipEval?: boolean;
  threads?: number;
  log?: (line: string) => void;
  onStep?: (step: number, loss: number) => void;
}

export interface DigitsTrainResult {
  steps: number;
  seconds: number;
  losses: number[];
  knnAccuracy?: number;
  linearProbeAccuracy?: number;
  weights: Map<string, Tensor>;
}

/** Strength of the `digits` augmentation: largest shift (pixels), largest rotation (degrees), smallest crop area. */
export interface DigitsAugment {
  maxShift?: number;
  maxRotation?: number;
  minScale?: number;
  /** elastic distortion strength (Simard's alpha, smoothing 4 px); 0 = off */
  elastic?: number;
  /** probability of a stroke-width change; 0 = off */
  stroke?: number;
}

export const DIGITS_AUGMENT_DEFAULTS: Required<DigitsAugment> = { maxShift: 3, maxRotation: 15, minScale: 0.6, elastic: 0, stroke: 0 };

export const TRAIN_DEFAULTS = {
  steps: 6000,
  batch: 128,
  views: 2,
  lr: 2e-3,
  warmup: 100,
  weightDecay: 1e-4,
  lambda: 0.05,
  directions: 64,
  seed: 0,
  trainSet: 'mnist-train',
  evalSet: 'mnist',
  evalEvery: 500,
  checkpointEvery: 100,
};

/** The training graph: views [V*N,1,H,W] and M directions [K,M] in, LeJEPA loss out (weights as initializers). */
export function lejepaGraph(cfg: DigitsConfig, weights: Map<string, Tensor>, views: number, batch: number, lambda: number, directions: number): { graph: Graph; loss: string; invariance: string; sigreg: string } {
  return lejepaGraphOf(cnnArch(cfg), weights, views, batch, lambda, directions);
}

/** What the training loop needs from an architecture. */
interface Arch {
  channels: number;
  size: number;
  K: number;
  params: [string, number[]][];
  init: (rng: Rng) => Map<string, Tensor>;
  addEncoder: (b: GraphBuilder, x: Value, n: number, w: (name: string) => Value) => Value;
  embed: (weights: Map<string, Tensor>, images: Float32Array[], threads?: number) => Promise<Float32Array[]>;
  save: (dir: string, weights: Map<string, Tensor>) => void;
  modelType: string;
}

function cnnArch(cfg: DigitsConfig): Arch {
  return {
    channels: cfg.num_channels,
    size: cfg.image_size,
    K: cfg.embedding_dim,
    params: digitsWeightShapes(cfg),
    init: (rng) => initDigitsWeights(cfg, rng),
    addEncoder: (b, x, _n, w) => addDigitsEncoder(b, cfg, x, w),
    embed: (w, images, threads) => embedImages(cfg, w, images, threads),
    save: (dir, weights) => {
      writeSafetensors(join(dir, 'model.safetensors'), weights, { format: 'pt', model_type: cfg.model_type });
      writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
    },
    modelType: cfg.model_type,
  };
}

function vitArch(o: DigitsVitOptions): Arch {
  const vit = digitsVitConfig(o);
  return {
    channels: vit.numChannels,
    size: vit.imageSize[0],
    K: vit.hiddenSize,
    params: vitParamShapes(vit),
    init: (rng) => initVitWeights(vit, rng),
    addEncoder: (b, x, n, w) => addVitEncoder(b, vit, x, n, w),
    embed: (w, images, threads) => embedVitImages(vit, w, images, threads),
    save: (dir, weights) => writeVitFolder(dir, o, weights),
    modelType: 'dinov2',
  };
}

/** The LeJEPA training graph of any architecture (weights as initializers under their own names). */
function lejepaGraphOf(arch: Arch, weights: Map<string, Tensor>, views: number, batch: number, lambda: number, directions: number) {
  const b = new GraphBuilder('digits_lejepa');
  const x = b.input('views', 'float32', [views * batch, arch.channels, arch.size, arch.size]);
  const dirs = b.input('dirs', 'float32', [arch.K, directions]);
  const names = new Map<string, Value>();
  for (const [name] of arch.params) names.set(name, b.init(name, weights.get(name)!));
  const z = arch.addEncoder(b, x, views * batch, (n) => names.get(n)!);
  const zv = b.reshape(z, [views, batch, arch.K]);
  const l = lejepaLoss(b, zv, dirs, { lambda, n: batch });
  b.output(l.loss, 'float32', []);
  return { graph: b.build(), loss: l.loss, invariance: l.invariance, sigreg: l.regularizer };
}

/** The augmentation as a run records it: the parts that are off (elastic, stroke) are left out, as before they existed. */
function augRecord(aug: Required<DigitsAugment>): Partial<DigitsAugment> {
  const r: Partial<DigitsAugment> = { ...aug };
  if (!aug.elastic) delete r.elastic;
  if (!aug.stroke) delete r.stroke;
  return r;
}

/** Learning rate at a step: linear warm-up, then cosine decay to 5% of the peak. */
export function learningRate(step: number, steps: number, lr: number, warmup: number): number {
  if (step < warmup) return (lr * (step + 1)) / warmup;
  const p = Math.min(1, (step - warmup) / Math.max(1, steps - warmup));
  return lr * (0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * p)));
}

/** The V augmented views of a batch, view-major ([v * N + i]), from a generator that depends only on the step. */
export function makeViews(ds: Dataset, idx: ArrayLike<number>, views: number, rng: Rng, aug: DigitsAugment = {}): Float32Array {
  const hw = ds.height * ds.width * ds.channels;
  const a = { ...DIGITS_AUGMENT_DEFAULTS, ...aug };
  const opts: AugmentOptions = { maxShift: a.maxShift, maxRotation: a.maxRotation, scale: [a.minScale, 1], elastic: a.elastic, stroke: a.stroke };
  const out = new Float32Array(views * idx.length * hw);
  for (let v = 0; v < views; v++) {
    for (let i = 0; i < idx.length; i++) {
      const img = augment(ds.images[idx[i]], ds.channels, ds.height, ds.width, 'digits', rng, opts);
      out.set(img, (v * idx.length + i) * hw);
    }
  }
  return out;
}

/** Embeddings of many images with the encoder in batches. */
export async function embedImages(cfg: DigitsConfig, weights: Map<string, Tensor>, images: Float32Array[], threads?: number): Promise<Float32Array[]> {
  const enc = buildDigitsEncoder(cfg, weights, { batch: 'batch' });
  const session = await Session.create(enc.graph, { threads });
  const D = cfg.num_channels * cfg.image_size * cfg.image_size;
  const K = cfg.embedding_dim;
  const out: Float32Array[] = [];
  try {
    for (let s = 0; s < images.length; s += 500) {
      const part = images.slice(s, s + 500);
      const data = new Float32Array(part.length * D);
      part.forEach((x, i) => data.set(x, i * D));
      const r = await session.run({ [enc.input]: new Tensor('float32', [part.length, cfg.num_channels, cfg.image_size, cfg.image_size], data) });
      const z = r[enc.output].data as Float32Array;
      for (let i = 0; i < part.length; i++) out.push(z.slice(i * K, (i + 1) * K));
    }
  } finally {
    await session.release();
  }
  return out;
}

/**
 * kNN classification accuracy with cosine similarity: each test embedding takes the majority label of its
 * k most similar training embeddings (ties go to the label with the larger summed similarity).
 */
export function knnAccuracy(train: Float32Array[], trainLabels: number[], test: Float32Array[], testLabels: number[], k = 10): number {
  if (train.length !== trainLabels.length || test.length !== testLabels.length) throw new Error('knnAccuracy: embeddings and labels differ in number');
  if (k > train.length) throw new Error(`knnAccuracy: k = ${k} exceeds the ${train.length} training embeddings`);
  const unit = (z: Float32Array) => {
    let s = 0;
    for (const v of z) s += v * v;
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    return Float64Array.from(z, (v) => v * inv);
  };
  const tr = train.map(unit);
  const sims = new Float64Array(k);
  const labs = new Int32Array(k);
  let correct = 0;
  test.forEach((q0, qi) => {
    const q = unit(q0);
    sims.fill(-Infinity);
    for (let i = 0; i < tr.length; i++) {
      let s = 0;
      const t = tr[i];
      for (let d = 0; d < q.length; d++) s += q[d] * t[d];
      if (s <= sims[k - 1]) continue;
      let j = k - 1;
      while (j > 0 && sims[j - 1] < s) {
        sims[j] = sims[j - 1];
        labs[j] = labs[j - 1];
        j--;
      }
      sims[j] = s;
      labs[j] = trainLabels[i];
    }
    const votes = new Map<number, [number, number]>();
    for (let j = 0; j < k; j++) {
      const v = votes.get(labs[j]) ?? [0, 0];
      votes.set(labs[j], [v[0] + 1, v[1] + sims[j]]);
    }
    let best = -1;
    let bestVote: [number, number] = [-1, -Infinity];
    for (const [l, v] of votes) if (v[0] > bestVote[0] || (v[0] === bestVote[0] && v[1] > bestVote[1])) [best, bestVote] = [l, v];
    if (best === testLabels[qi]) correct++;
  });
  return correct / test.length;
}

/**
 * Linear-probe accuracy: multinomial logistic regression (softmax, L2 weight `l2`) on standardised features,
 * fitted by full-batch gradient descent with Adam in float64, then scored on the test set.
 */
export function linearProbeAccuracy(
  train: ArrayLike<number>[],
  trainLabels: number[],
  test: ArrayLike<number>[],
  testLabels: number[],
  opts: { iterations?: number; lr?: number; l2?: number } = {},
): number {
  const iters = opts.iterations ?? 300;
  const lr = opts.lr ?? 0.05;
  const l2 = opts.l2 ?? 1e-4;
  const n = train.length;
  const d = train[0].length;
  const C = Math.max(...trainLabels, ...testLabels) + 1;
  // standardise with the training mean and sd
  const mean = new Float64Array(d);
  const sd = new Float64Array(d);
  for (const x of train) for (let j = 0; j < d; j++) mean[j] += x[j] / n;
  for (const x of train) for (let j = 0; j < d; j++) sd[j] += (x[j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) sd[j] = Math.sqrt(sd[j]) || 1;
  const std = (x: ArrayLike<number>) => Float64Array.from({ length: d + 1 }, (_, j) => (j === d ? 1 : (x[j] - mean[j]) / sd[j]));
  const X = train.map(std);
  const W = new Float64Array(C * (d + 1));
  const m = new Float64Array(W.length);
  const v = new Float64Array(W.length);
  const g = new Float64Array(W.length);
  const p = new Float64Array(C);
  const logits = (x: Float64Array, out: Float64Array) => {
    let max = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let j = 0; j <= d; j++) s += W[c * (d + 1) + j] * x[j];
      out[c] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let c = 0; c < C; c++) z += out[c] = Math.exp(out[c] - max);
    for (let c = 0; c < C; c++) out[c] /= z;
  };
  for (let t = 1; t <= iters; t++) {
    g.fill(0);
    for (let i = 0; i < n; i++) {
      logits(X[i], p);
      p[trainLabels[i]] -= 1;
      for (let c = 0; c < C; c++) {
        const pc = p[c] / n;
        const row = c * (d + 1);
        for (let j = 0; j <= d; j++) g[row + j] += pc * X[i][j];
      }
    }
    for (let k = 0; k < W.length; k++) {
      const gk = g[k] + l2 * W[k];
      m[k] = 0.9 * m[k] + 0.1 * gk;
      v[k] = 0.999 * v[k] + 0.001 * gk * gk;
      W[k] -= (lr * m[k]) / (1 - 0.9 ** t) / (Math.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8);
    }
  }
  let correct = 0;
  test.forEach((x, i) => {
    logits(std(x), p);
    let best = 0;
    for (let c = 1; c < C; c++) if (p[c] > p[best]) best = c;
    if (best === testLabels[i]) correct++;
  });
  return correct / test.length;
}

/** The loss of the last step in a training log. */
function lastLoss(logPath: string): number | null {
  const rows = readJsonl<{ loss?: number }>(logPath).records.filter((r) => typeof r.loss === 'number');
  return rows.length ? rows[rows.length - 1].loss! : null;
}

/** Trains (or resumes) and writes the model folder. */
export async function trainDigits(opts: DigitsTrainOptions): Promise<DigitsTrainResult> {
  const o = { ...TRAIN_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Required<DigitsTrainOptions>;
  const log = opts.log ?? (() => {});
  const isVit = opts.arch === 'vit';
  const vitOpts = { ...DIGITS_VIT_DEFAULTS, ...(opts.vit ?? {}) };
  const arch = isVit ? vitArch(vitOpts) : cnnArch(opts.config ?? defaultDigitsConfig());
  const aug = { ...DIGITS_AUGMENT_DEFAULTS, ...Object.fromEntries(Object.entries(opts.augment ?? {}).filter(([, v]) => v !== undefined)) };
  const augIsDefault = JSON.stringify(aug) === JSON.stringify(DIGITS_AUGMENT_DEFAULTS);
  log(`loading ${o.trainSet}`);
  const train = await loadDataset(o.trainSet, { limit: o.trainLimit, size: arch.size });
  if (train.channels !== arch.channels) throw new Error(`data set ${o.trainSet}: ${train.channels} channels, the model takes ${arch.channels}`);
  mkdirSync(o.out, { recursive: true });
  const ckPath = join(o.out, 'checkpoint.safetensors');
  const logPath = join(o.out, 'train-log.jsonl');
  const settings = {
    steps: o.steps, batch: o.batch, views: o.views, lr: o.lr, warmup: o.warmup, weightDecay: o.weightDecay, lambda: o.lambda,
    directions: o.directions, seed: o.seed, trainSet: o.trainSet, trainLimit: o.trainLimit ?? null,
    sigreg: { tMax: SIGREG_T_MAX, knots: SIGREG_KNOTS },
    // 'digits' at its default strength (as earlier runs recorded it), else the preset and its strength
    augment: augIsDefault ? 'digits' : { preset: 'digits', ...augRecord(aug) },
    ...(isVit ? { arch: 'vit', vit: vitOpts } : {}),
  };
  const settingsPath = join(o.out, 'train-settings.json');
  if (opts.resume === false) {
    for (const p of [ckPath, logPath, settingsPath]) rmSync(p, { force: true });
  } else if (existsSync(ckPath) && existsSync(settingsPath)) {
    // a resumed run must use the settings of the run it continues (the step count may grow)
    let old: Record<string, unknown>;
    try {
      old = JSON.parse(readFileSync(settingsPath, 'utf8'));
    } catch (e) {
      throw new Error(`${settingsPath}: not valid JSON (${(e as Error).message})`);
    }
    const differ = Object.keys(settings).filter((k) => k !== 'steps' && JSON.stringify(old[k]) !== JSON.stringify((settings as Record<string, unknown>)[k]));
    if (differ.length) throw new Error(`${ckPath}: was trained with other settings (${differ.join(', ')}); pass the same ones or start afresh`);
  }
  writeFileSync(settingsPath, JSON.stringify(settings, null, 2) + '\n');

  const init = arch.init(new Rng(o.seed));
  const batch = Math.min(o.batch, train.images.length);
  const lg = lejepaGraphOf(arch, init, o.views, batch, o.lambda, o.directions);
  const params = arch.params.map(([n]) => n);
  const trainer = await Trainer.create(lg.graph, {
    loss: lg.loss,
    params,
    adam: { lr: o.lr, weightDecay: o.weightDecay },
    metrics: [lg.invariance, lg.sigreg],
    session: { threads: o.threads },
  });
  const sampler = new BatchSampler(train.images.length, batch, o.seed);
  const s = arch.size;
  const feeds = (step: number): Record<string, Tensor> => {
    const views = makeViews(train, sampler.indices(step), o.views, stepRng(o.seed, step, 2), aug);
    const dirs = randomDirections(stepRng(o.seed, step, 3), arch.K, o.directions);
    return {
      views: new Tensor('float32', [o.views * batch, arch.channels, s, s], views),
      dirs: new Tensor('float32', [arch.K, o.directions], dirs),
    };
  };

  let evalData: { train: Dataset; test: Dataset } | undefined;
  const evaluate = async (linear = false): Promise<{ knn: number; linear?: number }> => {
    evalData ??= { train, test: await loadDataset(o.evalSet, { limit: opts.evalLimit, size: arch.size }) };
    const { test } = evalData;
    if (!train.labels || !test.labels) throw new Error(`kNN accuracy needs labels in ${o.trainSet} and ${o.evalSet}`);
    const w = trainer.weights();
    const zt = await arch.embed(w, train.images, o.threads);
    const ze = await arch.embed(w, test.images, o.threads);
    const knn = knnAccuracy(zt, train.labels, ze, test.labels, 10);
    return linear ? { knn, linear: linearProbeAccuracy(zt, train.labels, ze, test.labels) } : { knn };
  };

  const t0 = performance.now();
  const losses: number[] = [];
  let knn: number | undefined;
  try {
    if (existsSync(ckPath)) trainer.load(ckPath);
    // drop log lines of steps the checkpoint does not hold (a run killed after its last checkpoint)
    const kept = readJsonl<{ step: number }>(logPath).records.filter((r) => r.step <= trainer.step);
    writeFileSync(logPath, kept.map((r) => JSON.stringify(r) + '\n').join(''));
    const logFile = new JsonlWriter(logPath);
    const resumed = trainer.step > 0 ? ` (resuming at step ${trainer.step})` : '';
    log(`training ${o.steps} steps, ${batch} images x ${o.views} views per step${resumed}`);
    let window: number[] = [];
    const every = o.evalEvery > 0 ? o.evalEvery : o.steps;
    while (trainer.step < o.steps) {
      const target = Math.min(o.steps, (Math.floor(trainer.step / every) + 1) * every);
      const part = await fit(trainer, {
        steps: target,
        batch: feeds,
        lr: (step) => learningRate(step, o.steps, o.lr, o.warmup),
        checkpoint: { path: ckPath, every: o.checkpointEvery, metadata: { format: 'jepa-score digits checkpoint' } },
        onStep: (step, r) => {
          window.push(r.loss);
          logFile.write({ step: step + 1, time: new Date().toISOString(), loss: r.loss, invariance: r.metrics[lg.invariance], sigreg: r.metrics[lg.sigreg], lr: learningRate(step, o.steps, o.lr, o.warmup) });
          opts.onStep?.(step + 1, r.loss);
          if ((step + 1) % 50 === 0) {
            const mean = window.reduce((a, b) => a + b, 0) / window.length;
            log(`step ${step + 1}/${o.steps} loss ${mean.toFixed(4)} (inv ${r.metrics[lg.invariance].toFixed(4)}, sigreg ${r.metrics[lg.sigreg].toFixed(3)}) ${((performance.now() - t0) / 1000).toFixed(0)}s`);
            window = [];
          }
        },
      });
      losses.push(...part);
      if (trainer.step >= o.steps) break;
      if (!opts.skipEval && o.evalEvery > 0) {
        const acc = (await evaluate()).knn;
        logFile.write({ step: trainer.step, knn_accuracy: acc, time: new Date().toISOString() });
        log(`step ${trainer.step}: kNN accuracy (k=10, cosine) on ${o.evalSet}: ${(acc * 100).toFixed(2)}%`);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    const weights = trainer.weights();
    let linear: number | undefined;
    if (!opts.skipEval) {
      ({ knn, linear } = await evaluate(true));
      logFile.write({ step: trainer.step, knn_accuracy: knn, linear_probe_accuracy: linear, time: new Date().toISOString() });
      log(`final accuracy on ${o.evalSet}: kNN (k=10, cosine) ${(knn * 100).toFixed(2)}%, linear probe ${(linear! * 100).toFixed(2)}%`);
    }
    arch.save(o.out, weights);
    const metrics = {
      steps: trainer.step,
      seconds_this_run: Math.round(seconds),
      final_loss: lastLoss(logPath),
      knn_accuracy: knn ?? null,
      linear_probe_accuracy: linear ?? null,
      knn: { k: 10, metric: 'cosine', train: o.trainSet, train_images: train.images.length, test: o.evalSet, test_images: evalData?.test.images.length ?? null },
      settings,
    };
    writeFileSync(join(o.out, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
    return { steps: trainer.step, seconds, losses, knnAccuracy: knn, linearProbeAccuracy: linear, weights };
  } finally {
    await trainer.release();
  }
}
