// Out-of-distribution evaluation: JEPA-SCORE and its variants against embedding baselines, all computed
// on the same embeddings. Baselines are fitted on a training split; every metric uses held-out data only.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { augment, AugmentPreset } from '../data/augment.js';
import { BLUR_FIRST, Dataset, loadDataset, SEEDED_SETS } from '../data/datasets.js';
import { writePng } from '../data/images.js';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { Rng } from '../data/random.js';
import { Tensor } from '../graph/tensor.js';
import { buildDigitsEncoder, DigitsEncoder } from '../models/digits.js';
import { resolveModel, ResolvedModel } from '../models/resolve.js';
import { Session } from '../runtime/session.js';
import { Encoder, JepaScorer, ScoreResult } from '../score/jepa.js';
import { fitMahalanobis, knnScores, mahalanobisScores, normScores } from './baselines.js';
import { OodMetrics, oodMetrics } from './metrics.js';
import { complexityBits, complexityCorrected, EmbeddingDensity, embeddingLogDensity, fitEmbeddingDensity, knnMean, regressionSlope, viewAverage } from './variants.js';

/** An encoder plus how to turn a data set image into its input. */
export interface OodModel {
  name: string;
  encoder: Encoder;
  /** side length the data sets are loaded at */
  size: number;
  /** a grayscale image (1 x size x size in [0, 1]) to the encoder's input (default: unchanged) */
  prepare?: (img: Float32Array) => Float32Array;
  /** batched forward for many inputs (default: the scorer's one-by-one forward) */
  embed?: (xs: Float32Array[]) => Promise<Float32Array[]>;
}

export interface OodOptions {
  inSet: string;
  oodSets: string[];
  outDir: string;
  /** fitting split for the baselines; default 'mnist-train' when inSet is 'mnist', else half of inSet */
  trainSet?: string;
  /** images scored per evaluated set (default 500) */
  limit?: number;
  /** training embeddings for the baselines (default 12000) */
  trainLimit?: number;
  ks?: number[];
  eps?: number;
  seed?: number;
  threads?: number;
  /** seeds of the OOD sets whose images are random (noise, constant, mnist-blurred); default [1] */
  seeds?: number[];
  /** images per seed of those sets (default: limit) */
  seededLimit?: number;
  /** Monte-Carlo views per image for the eq. 4 view average (default 0: not computed) */
  views?: number;
  /** augmentation of the views (default 'digits') */
  augment?: AugmentPreset;
  /** training images whose JEPA-SCORE the fitted variants use (default 500) */
  variantTrain?: number;
  /** neighbours of the kNN-normalised variant (default 10) */
  variantK?: number;
  /** write PNGs of the evaluated images so scores.jsonl points at files (default true) */
  exportImages?: boolean;
  log?: (line: string) => void;
}

/** Metrics on one OOD set; for a set drawn with several seeds, the mean over seeds and each metric's range. */
export interface SetMetrics extends OodMetrics {
  seeds?: number[];
  auroc_range?: [number, number];
  fpr95_range?: [number, number];
  aupr_range?: [number, number];
}

export type MetricsTable = Record<string, Record<string, SetMetrics>>;

export interface OodResult {
  methods: MetricsTable;
  table: string;
  metricsPath: string;
  tablePath: string;
  scoresPath: string;
  counts: Record<string, number>;
  seconds: { embedTrain: number; score: number; baselines: number };
  /** the JEPA-based method with the highest mean AUROC */
  chosen: string;
  meanAuroc: Record<string, number>;
}

/** A line of scores.jsonl from an earlier run. */
interface DoneLine {
  index: number;
  score: number;
  score_rank: number;
  rank: number;
  log_density_embedding: number;
  embedding: number[];
  score_views?: number;
}

/** One scored image of an evaluated set. */
interface Scored {
  score: number;
  scoreRank: number;
  rank: number;
  embedding: Float32Array;
  logDensityEmbedding: number;
  variants: Record<string, number>;
}

/** The JEPA-based methods (the candidates for `chosen`); `jepa-score-views` only with views > 0. */
export const JEPA_METHODS = [
  'jepa-score', 'jepa-score-rank', 'jepa-score+log-density', 'jepa-score+complexity', 'jepa-score-complexity', 'jepa-score-complexity-fit',
  'jepa-score+fitted-log-density', 'jepa-score+class-log-density', 'jepa-score-knn-normalised', 'jepa-score-views',
];

function className(ds: Dataset, i: number): string | undefined {
  if (!ds.labels) return undefined;
  const l = ds.labels[i];
  return ds.classNames?.[l] ?? String(l);
}

function subset(ds: Dataset, idx: number[], name = ds.name): Dataset {
  const out: Dataset = { ...ds, name, images: idx.map((i) => ds.images[i]) };
  if (ds.labels) out.labels = idx.map((i) => ds.labels![i]);
  if (ds.paths) out.paths = idx.map((i) => ds.paths![i]);
  return out;
}

function checkSize(ds: Dataset, size: number) {
  if (ds.height !== size || ds.width !== size || ds.channels !== 1) {
    throw new Error(`data set ${ds.name}: images are ${ds.channels}x${ds.height}x${ds.width}, the model takes 1x${size}x${size}`);
  }
}

/** Runs the whole evaluation and writes metrics.json, metrics.md and scores.jsonl under outDir. */
export async function runOod(model: OodModel, opts: OodOptions): Promise<OodResult> {
  const log = opts.log ?? (() => {});
  const limit = opts.limit ?? 500;
  const ks = opts.ks ?? [1, 5, 50];
  const rng = new Rng(opts.seed ?? 0);
  if (opts.oodSets.length === 0) throw new Error('give at least one out-of-distribution set');
  const names = [opts.inSet, ...opts.oodSets];
  if (new Set(names).size !== names.length) throw new Error(`data sets must differ: ${names.join(', ')}`);
  mkdirSync(opts.outDir, { recursive: true });

  // Data: a training split for the baselines and held-out evaluation sets.
  const trainName = opts.trainSet ?? (opts.inSet === 'mnist' ? 'mnist-train' : undefined);
  let train: Dataset;
  let inEval: Dataset;
  if (trainName) {
    if (trainName === opts.inSet) throw new Error(`the training split ${trainName} must differ from the in-distribution set`);
    train = await loadDataset(trainName, { limit: opts.trainLimit ?? 12000, size: model.size });
    inEval = await loadDataset(opts.inSet, { limit, size: model.size });
  } else {
    // no separate split: a seeded half of the in-distribution set fits the baselines, the rest is evaluated
    const all = await loadDataset(opts.inSet, { size: model.size });
    if (all.images.length < 4) throw new Error(`data set ${opts.inSet}: ${all.images.length} images are too few to split into fit and held-out halves`);
    const perm = rng.permutation(all.images.length);
    const half = Math.floor(all.images.length / 2);
    train = subset(all, perm.slice(0, half).sort((a, b) => a - b), `${all.name} (fit half)`);
    inEval = subset(all, perm.slice(half).sort((a, b) => a - b).slice(0, limit));
  }
  // Evaluated samples: the in-distribution set, then each OOD set, once per seed when its images are random.
  const seeds = opts.seeds ?? [1];
  if (seeds.length === 0 || !seeds.every(Number.isInteger) || new Set(seeds).size !== seeds.length) throw new Error(`seeds must be distinct integers, got ${seeds.join(',')}`);
  if (opts.inSet === 'mnist' && opts.oodSets.includes('mnist-blurred') && limit > BLUR_FIRST) {
    throw new Error(`mnist-blurred draws from mnist test digits ${BLUR_FIRST}-1999; with --limit ${limit} the in-distribution sample would overlap it (use --limit ${BLUR_FIRST} or less)`);
  }
  const samples: Sample[] = [{ name: opts.inSet, label: opts.inSet, ds: inEval }];
  for (const name of opts.oodSets) {
    if (SEEDED_SETS.includes(name)) {
      for (const seed of seeds) samples.push({ name, seed, label: seeds.length > 1 ? `${name}@${seed}` : name, ds: await loadDataset(name, { limit: opts.seededLimit ?? limit, size: model.size, seed }) });
    } else samples.push({ name, label: name, ds: await loadDataset(name, { limit, size: model.size }) });
  }
  for (const ds of [train, ...samples.map((x) => x.ds)]) checkSize(ds, model.size);
  const counts: Record<string, number> = { [`train:${trainName ?? opts.inSet}`]: train.images.length };
  for (const x of samples) counts[x.label] = x.ds.images.length;
  const prepare = model.prepare ?? ((x: Float32Array) => x);
  const views = opts.views ?? 0;
  const variantTrain = Math.min(opts.variantTrain ?? 500, train.images.length);
  const variantK = Math.min(opts.variantK ?? 10, variantTrain);
  if (variantTrain < 2) throw new Error(`the fitted variants need at least 2 training images, got ${variantTrain}`);

  const scorer = await JepaScorer.create(model.encoder, { eps: opts.eps, threads: opts.threads });
  const embed = model.embed ?? ((xs: Float32Array[]) => scorer.embed(xs));
  try {
    let t0 = performance.now();
    log(`embedding ${train.images.length} training images (${trainName ?? `half of ${opts.inSet}`}) for the baselines`);
    const trainZ = await embed(train.images.map(prepare));
    const embedTrain = (performance.now() - t0) / 1000;

    // Built-in images as PNGs, so the scores file points at real files.
    const pathsOf: (string | undefined)[][] = [];
    for (const x of samples) {
      if (x.ds.paths) pathsOf.push(x.ds.paths);
      else if (opts.exportImages !== false) pathsOf.push(await writeImages(x.ds, join(opts.outDir, 'images', safeName(x.seed !== undefined ? `${x.name}_seed${x.seed}` : x.name))));
      else pathsOf.push([]);
    }

    // A killed run resumes: with the same settings, lines already in scores.jsonl / train-scores.jsonl (which
    // carry what is needed) are taken as they are; other settings start the files afresh.
    t0 = performance.now();
    const scoresPath = join(opts.outDir, 'scores.jsonl');
    const trainScoresPath = join(opts.outDir, 'train-scores.jsonl');
    const runPath = join(opts.outDir, 'ood-run.json');
    const settings = JSON.stringify({
      model: model.name, sets: samples.map((x) => x.label), counts, eps: opts.eps ?? null, seed: opts.seed ?? 0, train: trainName ?? null,
      views, augment: views > 0 ? opts.augment ?? 'digits' : null, variantTrain,
    });
    const done = new Map<number, DoneLine>();
    const doneTrain = new Map<number, number>();
    if (existsSync(runPath) && readFileSync(runPath, 'utf8') === settings) {
      for (const r of readJsonl<DoneLine>(scoresPath).records) if (Array.isArray(r.embedding)) done.set(r.index, r);
      if (existsSync(trainScoresPath)) for (const r of readJsonl<{ index: number; score: number }>(trainScoresPath).records) doneTrain.set(r.index, r.score);
      if (done.size + doneTrain.size) log(`resuming ${opts.outDir}: ${doneTrain.size} training and ${done.size} evaluated images already scored`);
    } else {
      writeFileSync(scoresPath, '');
      writeFileSync(trainScoresPath, '');
      writeFileSync(runPath, settings);
    }

    // Same image, same score: constant images repeat, so each distinct image is scored once.
    const cache = new Map<string, ScoreResult>();
    const scoreOnce = async (img: Float32Array): Promise<ScoreResult> => {
      const key = Buffer.from(img.buffer, img.byteOffset, img.byteLength).toString('base64');
      let r = cache.get(key);
      if (!r) cache.set(key, (r = await scorer.score(prepare(img))));
      return r;
    };

    // JEPA-SCORE of the first `variantTrain` training images, for the fitted variants.
    log(`scoring ${variantTrain} training images for the fitted variants`);
    const trainOut = new JsonlWriter(trainScoresPath);
    const trainScores = new Float64Array(variantTrain);
    const trainBits = new Float64Array(variantTrain);
    for (let i = 0; i < variantTrain; i++) {
      trainBits[i] = complexityBits(train.images[i]);
      const old = doneTrain.get(i);
      if (old !== undefined) trainScores[i] = old;
      else {
        trainScores[i] = (await scorer.score(prepare(train.images[i]))).score;
        trainOut.write({ index: i, score: trainScores[i], complexity_bits: trainBits[i] });
      }
    }
    // training images that all compress to the same size (say, a folder of flat images) give no slope: use 0
    const flat = trainBits.every((b) => b === trainBits[0]);
    const fit: VariantFit = {
      slope: flat ? 0 : regressionSlope(trainBits, trainScores),
      gaussian: fitEmbeddingDensity(trainZ),
      classes: train.labels ? fitEmbeddingDensity(trainZ, train.labels) : undefined,
      trainZ: trainZ.slice(0, variantTrain),
      trainScores,
      k: variantK,
    };
    log(`complexity slope on the training images: ${fit.slope.toFixed(5)} nats per bit`);

    // JEPA-SCORE and the variants of every evaluated image.
    const out = new JsonlWriter(scoresPath);
    const scored: Scored[][] = [];
    let index = 0;
    const total = samples.reduce((a, x) => a + x.ds.images.length, 0);
    for (let s = 0; s < samples.length; s++) {
      const { ds } = samples[s];
      const rows: Scored[] = [];
      for (let i = 0; i < ds.images.length; i++, index++) {
        const img = ds.images[i];
        const bits = complexityBits(img);
        const old = done.get(index);
        if (old) {
          const r = { score: old.score, embedding: Float32Array.from(old.embedding), logDensityEmbedding: old.log_density_embedding };
          rows.push({ ...r, scoreRank: old.score_rank, rank: old.rank, variants: variantValues(fit, r, bits, old.score_views) });
          continue;
        }
        const r = await scoreOnce(img);
        let viewScore: number | undefined;
        if (views > 0) {
          const vr = new Rng(1000003 * (opts.seed ?? 0) + index);
          const vs: number[] = [];
          for (let v = 0; v < views; v++) vs.push((await scoreOnce(augment(img, 1, model.size, model.size, opts.augment ?? 'digits', vr))).score);
          viewScore = viewAverage(vs);
        }
        const variants = variantValues(fit, r, bits, viewScore);
        rows.push({ score: r.score, scoreRank: r.scoreRank, rank: r.rank, embedding: r.embedding, logDensityEmbedding: r.logDensityEmbedding, variants });
        const path = pathsOf[s][i];
        const rec: Record<string, unknown> = { index, dataset: samples[s].name };
        if (samples[s].seed !== undefined) rec.ood_seed = samples[s].seed;
        if (path) rec.path = relative(opts.outDir, path);
        const cls = className(ds, i);
        if (cls !== undefined) rec.class = cls;
        Object.assign(rec, { score: r.score, score_rank: r.scoreRank, rank: r.rank, complexity_bits: bits });
        if (viewScore !== undefined) rec.score_views = viewScore;
        Object.assign(rec, { variants, embedding_dim: r.embedding.length, log_density_embedding: r.logDensityEmbedding, embedding: Array.from(r.embedding) });
        out.write(rec);
        if ((index + 1) % 100 === 0 || index + 1 === total) log(`scored ${index + 1}/${total} images`);
      }
      scored.push(rows);
    }
    const scoreSeconds = (performance.now() - t0) / 1000;

    // Every method's in-distribution score for every evaluated sample.
    t0 = performance.now();
    const perMethod = new Map<string, Float64Array[]>();
    const put = (m: string, v: Float64Array) => {
      if (!perMethod.has(m)) perMethod.set(m, []);
      perMethod.get(m)!.push(v);
    };
    const mahal = fitMahalanobis(trainZ);
    const mahalClass = train.labels ? fitMahalanobis(trainZ, train.labels) : undefined;
    const usableKs = ks.filter((k) => k <= trainZ.length);
    for (const rows of scored) {
      const zs = rows.map((r) => r.embedding);
      put('jepa-score', Float64Array.from(rows, (r) => r.score));
      put('jepa-score-rank', Float64Array.from(rows, (r) => r.scoreRank));
      put('jepa-score+log-density', Float64Array.from(rows, (r) => r.score + r.logDensityEmbedding));
      for (const v of Object.keys(rows[0]?.variants ?? {})) put(v, Float64Array.from(rows, (r) => r.variants[v]));
      put('embedding-log-density', Float64Array.from(rows, (r) => r.logDensityEmbedding));
      const knn = knnScores(trainZ, zs, usableKs);
      for (const k of usableKs) put(`knn-${k}`, knn.get(k)!);
      put('mahalanobis', mahalanobisScores(mahal, zs));
      if (mahalClass) put('mahalanobis-class', mahalanobisScores(mahalClass, zs));
      put('norm', normScores(zs));
    }
    const methods: MetricsTable = {};
    for (const [m, sets] of perMethod) {
      methods[m] = {};
      for (const name of opts.oodSets) {
        const per = samples.flatMap((x, s) => (x.name === name && s > 0 ? [oodMetrics(sets[0], sets[s])] : []));
        methods[m][name] = averageMetrics(per, samples.filter((x, s) => x.name === name && s > 0).map((x) => x.seed));
      }
    }
    const meanAuroc: Record<string, number> = {};
    for (const [m, per] of Object.entries(methods)) meanAuroc[m] = opts.oodSets.reduce((a, n) => a + per[n].auroc, 0) / opts.oodSets.length;
    const jepaBased = Object.keys(methods).filter((m) => JEPA_METHODS.includes(m));
    const chosen = jepaBased.reduce((a, b) => (meanAuroc[b] > meanAuroc[a] ? b : a));
    const baselineSeconds = (performance.now() - t0) / 1000;

    const table = metricsTable(methods, opts.oodSets, meanAuroc);
    const metricsPath = join(opts.outDir, 'metrics.json');
    const tablePath = join(opts.outDir, 'metrics.md');
    const seconds = { embedTrain, score: scoreSeconds, baselines: baselineSeconds };
    const summary = {
      model: model.name,
      in: opts.inSet,
      ood: opts.oodSets,
      train: trainName ?? `${opts.inSet} (seeded half)`,
      counts,
      seeds: opts.oodSets.some((n) => SEEDED_SETS.includes(n)) ? seeds : undefined,
      convention: 'higher score = more in-distribution; in-distribution is the positive class; aupr = AUPR-In; sets drawn with several seeds give the mean over seeds and the range',
      chosen,
      chosen_rule: 'the JEPA-based method (jepa-score and its variants) with the highest mean AUROC over the OOD sets',
      mean_auroc: meanAuroc,
      variant_fit: { complexity_slope: fit.slope, training_images_scored: variantTrain, knn_k: variantK, views, augment: views > 0 ? opts.augment ?? 'digits' : undefined },
      methods,
      seconds,
    };
    writeFileSync(metricsPath, JSON.stringify(summary, null, 2) + '\n');
    writeFileSync(tablePath, table + '\n');
    return { methods, table, metricsPath, tablePath, scoresPath, counts, seconds, chosen, meanAuroc };
  } finally {
    await scorer.release();
  }
}

/** One evaluated sample: a data set, drawn with `seed` when its images are random. */
interface Sample {
  name: string;
  seed?: number;
  /** name, or name@seed when several seeds are drawn */
  label: string;
  ds: Dataset;
}

/** What the fitted variants need, all from the training split. */
export interface VariantFit {
  /** least-squares slope of JEPA-SCORE on complexity (bits) over the scored training images */
  slope: number;
  gaussian: EmbeddingDensity;
  classes?: EmbeddingDensity;
  /** embeddings and JEPA-SCOREs of the scored training images */
  trainZ: Float32Array[];
  trainScores: Float64Array;
  k: number;
}

/** Every variant's value for one image (higher = more in-distribution). */
export function variantValues(
  fit: VariantFit,
  r: { score: number; embedding: Float32Array },
  bits: number,
  viewScore?: number,
): Record<string, number> {
  const v: Record<string, number> = {
    'jepa-score+complexity': complexityCorrected(r.score, bits),
    'jepa-score-complexity': r.score - bits * Math.LN2,
    'jepa-score-complexity-fit': r.score - fit.slope * bits,
    'jepa-score+fitted-log-density': r.score + embeddingLogDensity(fit.gaussian, [r.embedding])[0],
  };
  if (fit.classes) v['jepa-score+class-log-density'] = r.score + embeddingLogDensity(fit.classes, [r.embedding])[0];
  v['jepa-score-knn-normalised'] = r.score - knnMean(fit.trainZ, fit.trainScores, [r.embedding], fit.k)[0];
  if (viewScore !== undefined) v['jepa-score-views'] = viewScore;
  return v;
}

/** Mean of the metrics over seeds, with the range of each when there are several. */
function averageMetrics(per: OodMetrics[], seeds: (number | undefined)[]): SetMetrics {
  if (per.length === 1) return { ...per[0] };
  const out: SetMetrics = { auroc: 0, fpr95: 0, aupr: 0, seeds: seeds.filter((x): x is number => x !== undefined) };
  for (const key of ['auroc', 'fpr95', 'aupr'] as const) {
    const vals = per.map((m) => m[key]);
    out[key] = vals.reduce((a, b) => a + b, 0) / vals.length;
    out[`${key}_range`] = [Math.min(...vals), Math.max(...vals)];
  }
  return out;
}

function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

/** Writes each image as `<dir>/<class>/<index>.png` (or `<dir>/<index>.png`) and returns the paths. */
async function writeImages(ds: Dataset, dir: string): Promise<string[]> {
  const paths: string[] = [];
  for (let i = 0; i < ds.images.length; i++) {
    const cls = className(ds, i);
    const file = `${String(i).padStart(5, '0')}.png`;
    const path = cls !== undefined ? join(dir, safeName(cls), file) : join(dir, file);
    await writePng(path, ds.images[i], ds.channels, ds.height, ds.width);
    paths.push(path);
  }
  return paths;
}

/** Embeddings of many inputs through a copy of a digits encoder with a symbolic batch, `batch` at a time. */
export async function embedDigits(enc: DigitsEncoder, xs: Float32Array[], batch = 256, threads?: number): Promise<Float32Array[]> {
  const g = buildDigitsEncoder(enc.config, enc.graph.initializers, { batch: 'batch' });
  const session = await Session.create(g.graph, { threads });
  const D = enc.inputShape.slice(1).reduce((a, b) => a * b, 1);
  const K = enc.embeddingDim;
  const out: Float32Array[] = [];
  try {
    for (let s = 0; s < xs.length; s += batch) {
      const part = xs.slice(s, s + batch);
      const data = new Float32Array(part.length * D);
      part.forEach((x, i) => {
        if (x.length !== D) throw new Error(`input ${s + i} has ${x.length} values, the encoder takes ${D}`);
        data.set(x, i * D);
      });
      const r = await session.run({ [g.input]: new Tensor('float32', [part.length, ...enc.inputShape.slice(1)], data) });
      const z = r[g.output].data as Float32Array;
      for (let i = 0; i < part.length; i++) out.push(z.slice(i * K, (i + 1) * K));
    }
  } finally {
    await session.release();
  }
  return out;
}

/** An OodModel for a digits encoder (inputs are the data set images as they are). */
export function digitsOodModel(name: string, enc: DigitsEncoder, threads?: number): OodModel {
  return { name, encoder: enc, size: enc.config.image_size, embed: (xs) => embedDigits(enc, xs, 256, threads) };
}

/** A built-in model name, a digits model folder, a Hugging Face folder or an .onnx encoder, ready for runOod. */
export async function loadOodModel(spec: string, threads?: number): Promise<OodModel> {
  const model = await resolveModel(spec);
  if (model.digits) return digitsOodModel(spec, model.digits, threads);
  return imageModel(model);
}

/**
 * A Hugging Face or ONNX encoder, at the input size score uses (its image processor's crop): data set images
 * are loaded at that size, the gray channel is repeated to its channels and normalised with the model's mean/std.
 */
function imageModel(model: ResolvedModel): OodModel {
  const enc = model.encoder;
  const [, c, h, w] = enc.inputShape;
  if (h !== w) throw new Error(`${model.name}: the encoder takes ${h}x${w} inputs; ood evaluation needs a square input`);
  const pre = model.preprocess;
  const hw = h * w;
  const prepare = (gray: Float32Array): Float32Array => {
    const x = new Float32Array(c * hw);
    for (let ch = 0; ch < c; ch++) {
      const m = pre.mean[ch % pre.mean.length];
      const s = pre.std[ch % pre.std.length];
      for (let i = 0; i < hw; i++) x[ch * hw + i] = (gray[i] - m) / s;
    }
    return x;
  };
  return { name: model.name, encoder: enc, size: h, prepare };
}

const fmt = (v: number) => v.toFixed(3);

/** A metric with its range over seeds when there is one: `0.950 (0.940-0.960)`. */
function cell(m: SetMetrics, key: 'auroc' | 'fpr95' | 'aupr'): string {
  const r = m[`${key}_range`];
  return r ? `${fmt(m[key])} (${fmt(r[0])}-${fmt(r[1])})` : fmt(m[key]);
}

/** A markdown table: one row per method, AUROC / FPR95 / AUPR per OOD set (and the mean AUROC when given). */
export function metricsTable(methods: MetricsTable, oodSets: string[], meanAuroc?: Record<string, number>): string {
  const head = ['method', ...(meanAuroc ? ['mean AUROC'] : []), ...oodSets.flatMap((s) => [`${s} AUROC`, `${s} FPR95`, `${s} AUPR`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [m, per] of Object.entries(methods)) {
    const cells = oodSets.flatMap((s) => (per[s] ? [cell(per[s], 'auroc'), cell(per[s], 'fpr95'), cell(per[s], 'aupr')] : ['-', '-', '-']));
    lines.push(`| ${m} | ${meanAuroc ? `${fmt(meanAuroc[m])} | ` : ''}${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
