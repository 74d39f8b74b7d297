// Out-of-distribution evaluation: JEPA-SCORE and its variants against embedding baselines, all computed
// on the same embeddings. Baselines are fitted on a training split; every metric uses held-out data only.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { preprocessConfigFor } from '../data/preprocess.js';
import { Dataset, loadDataset } from '../data/datasets.js';
import { writePng } from '../data/images.js';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { Rng } from '../data/random.js';
import { Tensor } from '../graph/tensor.js';
import { builtinModelDir, builtinModels, isBuiltinHf, isBuiltinModel, loadBuiltinModel } from '../models/builtin.js';
import { buildDigitsEncoder, DigitsEncoder, isDigitsFolder, loadDigitsEncoder } from '../models/digits.js';
import { EncoderGraph, loadEncoder } from '../models/encoder.js';
import { Session } from '../runtime/session.js';
import { Encoder, JepaScorer } from '../score/jepa.js';
import { fitMahalanobis, knnScores, mahalanobisScores, normScores } from './baselines.js';
import { OodMetrics, oodMetrics } from './metrics.js';

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
  /** write PNGs of the evaluated images so scores.jsonl points at files (default true) */
  exportImages?: boolean;
  log?: (line: string) => void;
}

export type MetricsTable = Record<string, Record<string, OodMetrics>>;

export interface OodResult {
  methods: MetricsTable;
  table: string;
  metricsPath: string;
  tablePath: string;
  scoresPath: string;
  counts: Record<string, number>;
  seconds: { embedTrain: number; score: number; baselines: number };
}

/** A line of scores.jsonl from an earlier run. */
interface DoneLine {
  index: number;
  score: number;
  score_rank: number;
  rank: number;
  log_density_embedding: number;
  embedding: number[];
}

/** One scored image of an evaluated set. */
interface Scored {
  score: number;
  scoreRank: number;
  rank: number;
  embedding: Float32Array;
  logDensityEmbedding: number;
}

export const JEPA_METHODS = ['jepa-score', 'jepa-score-rank', 'jepa-score+log-density', 'embedding-log-density'];

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
  const evalSets: Dataset[] = [inEval];
  for (const name of opts.oodSets) evalSets.push(await loadDataset(name, { limit, size: model.size }));
  for (const ds of [train, ...evalSets]) checkSize(ds, model.size);
  const setNames = [opts.inSet, ...opts.oodSets];
  const counts: Record<string, number> = { [`train:${trainName ?? opts.inSet}`]: train.images.length };
  evalSets.forEach((ds, i) => (counts[setNames[i]] = ds.images.length));
  const prepare = model.prepare ?? ((x: Float32Array) => x);

  const scorer = await JepaScorer.create(model.encoder, { eps: opts.eps, threads: opts.threads });
  const embed = model.embed ?? ((xs: Float32Array[]) => scorer.embed(xs));
  try {
    let t0 = performance.now();
    log(`embedding ${train.images.length} training images (${trainName ?? `half of ${opts.inSet}`}) for the baselines`);
    const trainZ = await embed(train.images.map(prepare));
    const embedTrain = (performance.now() - t0) / 1000;

    // Built-in images as PNGs, so the scores file points at real files.
    const pathsOf: (string | undefined)[][] = [];
    for (let s = 0; s < evalSets.length; s++) {
      const ds = evalSets[s];
      if (ds.paths) pathsOf.push(ds.paths);
      else if (opts.exportImages !== false) pathsOf.push(await writeImages(ds, join(opts.outDir, 'images', safeName(setNames[s]))));
      else pathsOf.push([]);
    }

    // JEPA-SCORE of every evaluated image.
    t0 = performance.now();
    // A killed run resumes: with the same settings, lines already in scores.jsonl (which carry the embedding)
    // are taken as they are; other settings start the file afresh.
    const scoresPath = join(opts.outDir, 'scores.jsonl');
    const runPath = join(opts.outDir, 'ood-run.json');
    const settings = JSON.stringify({ model: model.name, sets: setNames, counts, eps: opts.eps ?? null, seed: opts.seed ?? 0, train: trainName ?? null });
    const done = new Map<number, DoneLine>();
    if (existsSync(runPath) && readFileSync(runPath, 'utf8') === settings) {
      for (const r of readJsonl<DoneLine>(scoresPath).records) if (Array.isArray(r.embedding)) done.set(r.index, r);
      if (done.size) log(`resuming ${scoresPath}: ${done.size} images already scored`);
    } else {
      writeFileSync(scoresPath, '');
      writeFileSync(runPath, settings);
    }
    const out = new JsonlWriter(scoresPath);
    const scored: Scored[][] = [];
    let index = 0;
    const total = evalSets.reduce((a, d) => a + d.images.length, 0);
    for (let s = 0; s < evalSets.length; s++) {
      const ds = evalSets[s];
      const rows: Scored[] = [];
      for (let i = 0; i < ds.images.length; i++, index++) {
        const old = done.get(index);
        if (old) {
          rows.push({ score: old.score, scoreRank: old.score_rank, rank: old.rank, embedding: Float32Array.from(old.embedding), logDensityEmbedding: old.log_density_embedding });
          continue;
        }
        const r = await scorer.score(prepare(ds.images[i]));
        rows.push(r);
        const path = pathsOf[s][i];
        const rec: Record<string, unknown> = { index, dataset: setNames[s] };
        if (path) rec.path = relative(opts.outDir, path);
        const cls = className(ds, i);
        if (cls !== undefined) rec.class = cls;
        Object.assign(rec, { score: r.score, score_rank: r.scoreRank, rank: r.rank, embedding_dim: r.embedding.length, log_density_embedding: r.logDensityEmbedding, embedding: Array.from(r.embedding) });
        out.write(rec);
        if ((index + 1) % 100 === 0 || index + 1 === total) log(`scored ${index + 1}/${total} images`);
      }
      scored.push(rows);
    }
    const scoreSeconds = (performance.now() - t0) / 1000;

    // Every method's in-distribution score for every evaluated set.
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
      for (let s = 1; s < sets.length; s++) methods[m][setNames[s]] = oodMetrics(sets[0], sets[s]);
    }
    const baselineSeconds = (performance.now() - t0) / 1000;

    const table = metricsTable(methods, opts.oodSets);
    const metricsPath = join(opts.outDir, 'metrics.json');
    const tablePath = join(opts.outDir, 'metrics.md');
    const seconds = { embedTrain, score: scoreSeconds, baselines: baselineSeconds };
    const summary = {
      model: model.name,
      in: opts.inSet,
      ood: opts.oodSets,
      train: trainName ?? `${opts.inSet} (seeded half)`,
      counts,
      convention: 'higher score = more in-distribution; in-distribution is the positive class; aupr = AUPR-In',
      methods,
      seconds,
    };
    writeFileSync(metricsPath, JSON.stringify(summary, null, 2) + '\n');
    writeFileSync(tablePath, table + '\n');
    return { methods, table, metricsPath, tablePath, scoresPath, counts, seconds };
  } finally {
    await scorer.release();
  }
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

/** Whether a folder holds a digits model (config.json with model_type "digits-cnn"). */
/** A built-in model name, a digits model folder, a Hugging Face folder or an .onnx encoder, ready for runOod. */
export async function loadOodModel(spec: string, threads?: number): Promise<OodModel> {
  if (isBuiltinModel(spec)) {
    const enc = loadBuiltinModel(spec);
    return isBuiltinHf(spec) ? imageModel(builtinModelDir(spec), enc as EncoderGraph) : digitsOodModel(spec, enc as DigitsEncoder, threads);
  }
  if (isDigitsFolder(spec)) return digitsOodModel(spec, loadDigitsEncoder(spec), threads);
  if (!existsSync(spec)) throw new Error(`${spec}: no such file or folder, and not a built-in model (built-in: ${builtinModels().join(', ')})`);
  return imageModel(spec, await loadEncoder(spec));
}

/**
 * A Hugging Face or ONNX encoder: data set images are loaded at its input size, the gray channel is repeated
 * to its channels and normalised with its preprocessing's mean and std (DINOv2's for a bare .onnx).
 */
function imageModel(spec: string, enc: EncoderGraph): OodModel {
  const [, c, h, w] = enc.inputShape;
  if (h !== w) throw new Error(`${spec}: the encoder takes ${h}x${w} inputs; ood evaluation needs a square input`);
  const folder = statSync(spec).isDirectory() ? spec : dirname(spec);
  const pre = preprocessConfigFor(folder, enc.family === 'onnx' ? 'dinov2' : enc.family);
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
  return { name: spec, encoder: enc, size: h, prepare };
}

const fmt = (v: number) => v.toFixed(3);

/** A markdown table: one row per method, AUROC / FPR95 / AUPR per OOD set. */
export function metricsTable(methods: MetricsTable, oodSets: string[]): string {
  const head = ['method', ...oodSets.flatMap((s) => [`${s} AUROC`, `${s} FPR95`, `${s} AUPR`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const [m, per] of Object.entries(methods)) {
    const cells = oodSets.flatMap((s) => (per[s] ? [fmt(per[s].auroc), fmt(per[s].fpr95), fmt(per[s].aupr)] : ['-', '-', '-']));
    lines.push(`| ${m} | ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}
