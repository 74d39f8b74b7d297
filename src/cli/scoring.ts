// What `score` does to one image, shared by a local run and a queue worker: the scoring settings (one object
// that travels whole inside every queue job), the list of items, and the JSON line of one item.
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { AugmentPreset } from '../data/augment.js';
import { listImages } from '../data/folders.js';
import { writePng } from '../data/images.js';
import { Rng } from '../data/random.js';
import { readSafetensors } from '../data/safetensors.js';
import { Device, DEVICES } from '../runtime/session.js';
import { ApproxOptions } from '../score/approx.js';
import { JepaScorer, ScoreResult } from '../score/jepa.js';
import { UserError } from './errors.js';
import { loadInput, ModelOptions, resolveModel, ResolvedModel } from './model.js';
import { inShard, Shard } from './shard.js';

/**
 * Everything that decides an item's JSON line. A queue job carries this object whole, so a setting added
 * here reaches the workers without further changes. (Threads and device are per process: RunOptions.)
 */
export interface ScoreSettings {
  model: string;
  /** resolveModel options: pool, and the input size (from --size or from the pixel_values tensor) */
  modelOptions: ModelOptions;
  eps: number;
  rankTol?: number;
  chunk?: number;
  spectrum: boolean;
  embedding: boolean;
  vectors: number;
  views: number;
  augment: string;
  seed: number;
  /** estimate from r sketched Jacobian products (docs/fast.md) */
  approx?: ApproxOptions;
}

/** Per-process settings that do not change the numbers (see docs/scale.md on threads). */
export interface RunOptions {
  threads?: number;
  device?: Device;
}

export function parseDevice(v: string | undefined): Device {
  const d = (v ?? 'cpu') as Device;
  if (!DEVICES.includes(d)) throw new UserError(`--device must be one of ${DEVICES.join(', ')}, got '${v}'`);
  return d;
}

/** One input: an image file, or one row of a pixel_values tensor. `index` is its place in the whole list. */
export interface ItemRef {
  index: number;
  /** `path` as written in the JSON line (relative to the output folder), or `#index` for pixel values */
  key: string;
  path?: string;
  class?: string;
  dataset?: string;
  /** pixel_values row: the safetensors file (absolute) */
  pixels?: string;
}

/** The inputs of a run in order, with the model options their source implies. Shards keep global indices. */
export function listItems(inputs: string[], pixelValues: string | undefined, outDir: string): { items: ItemRef[]; modelOptions: Pick<ModelOptions, 'height' | 'width' | 'channels'> } {
  let items: ItemRef[];
  let modelOptions = {};
  if (pixelValues) {
    const pv = readPixels(pixelValues);
    const [B, C, H, W] = pv.dims;
    modelOptions = { height: H, width: W, channels: C };
    items = Array.from({ length: B }, (_, i) => ({ index: i, key: `#${i}`, pixels: resolve(pixelValues) }));
  } else {
    let files;
    try {
      files = listImages(inputs);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    items = files.map((f, i) => ({
      index: i,
      key: relOrAbs(f.path, outDir),
      path: resolve(f.path),
      ...(f.class ? { class: f.class } : {}),
      ...(datasetOf(f.path, inputs) ? { dataset: datasetOf(f.path, inputs) } : {}),
    }));
  }
  return { items, modelOptions };
}

/** The items of one shard (they keep their index in the whole list). */
export function shardItems(items: ItemRef[], inputs: string[], shard: Shard): ItemRef[] {
  return items.filter((it) => inShard(shardKey(it, inputs), shard));
}

/** What a shard is decided by: the path relative to the input it was found under (stable when the folder is listed again, and on another machine). */
export function shardKey(it: ItemRef, inputs: string[]): string {
  if (!it.path) return it.key;
  for (const inp of inputs) {
    const r = relative(resolve(inp), it.path);
    if (r === '') return basename(it.path);
    if (!r.startsWith('..')) return r;
  }
  return it.path;
}

const pixelCache = new Map<string, { dims: number[]; data: Float32Array }>();

function readPixels(file: string): { dims: number[]; data: Float32Array } {
  const key = resolve(file);
  let pv = pixelCache.get(key);
  if (!pv) {
    const tensors = readSafetensors(file, { toFloat32: true });
    const t = tensors.get('pixel_values');
    if (!t) throw new UserError(`${file}: no tensor named pixel_values (has: ${[...tensors.keys()].join(', ') || 'none'})`);
    if (t.dims.length !== 4) throw new UserError(`${file}: pixel_values must be [B,C,H,W], got [${t.dims}]`);
    pv = { dims: t.dims, data: t.data as Float32Array };
    pixelCache.set(key, pv);
  }
  return pv;
}

/** A model and its scorer, ready to turn items into JSON lines; reuse it for many items. */
export class ItemScorer {
  private constructor(
    readonly settings: ScoreSettings,
    readonly model: ResolvedModel,
    readonly scorer: JepaScorer,
  ) {}

  static async create(settings: ScoreSettings, run: RunOptions = {}): Promise<ItemScorer> {
    const model = await resolveModel(settings.model, settings.modelOptions);
    const scorer = await JepaScorer.create(model.encoder, { approx: settings.approx, eps: settings.eps, rankTol: settings.rankTol, chunk: settings.chunk, spectrum: settings.spectrum, vectors: settings.vectors, threads: run.threads, device: run.device });
    return new ItemScorer(settings, model, scorer);
  }

  get K(): number {
    return this.scorer.K;
  }

  /** The JSON line of one item (an `error` line when it cannot be read or scored). `outPath`: the JSONL file. */
  async score(it: ItemRef, outPath: string): Promise<Record<string, unknown>> {
    const s = this.settings;
    const base = baseRecord(it);
    try {
      const x = await this.load(it);
      const r = await this.scorer.score(x);
      const rec: Record<string, unknown> = { ...base, score: r.score, score_rank: r.scoreRank, rank: r.rank, embedding_dim: this.scorer.K, log_density_embedding: r.logDensityEmbedding };
      if (r.approx) rec.approx = { rows: r.approx.rows, method: r.approx.method, sketches: r.approx.sketches, seed: r.approx.seed };
      if (s.spectrum) rec.singular_values = Array.from(r.singularValues);
      if (s.embedding) rec.embedding = Array.from(r.embedding);
      if (s.vectors && r.vectors) rec.vectors = await writeVectors(r, this.model, outPath.replace(/\.jsonl$/, '') + '.vectors', it.index, dirname(outPath));
      if (s.views > 0) Object.assign(rec, await scoreViews(this.scorer, this.model, x, s.views, s.augment as AugmentPreset, itemRng(s.seed, it.index)));
      return rec;
    } catch (e) {
      return { ...base, error: (e as Error).message };
    }
  }

  private async load(it: ItemRef): Promise<Float32Array> {
    if (it.pixels) {
      const pv = readPixels(it.pixels);
      const per = pv.dims[1] * pv.dims[2] * pv.dims[3];
      return pv.data.slice(it.index * per, (it.index + 1) * per);
    }
    return loadInput(this.model, it.path!);
  }

  release(): Promise<void> {
    return this.scorer.release();
  }
}

/** The fields of an item's line that name it. */
export function baseRecord(it: ItemRef): Record<string, unknown> {
  return {
    index: it.index,
    ...(it.path ? { path: it.key } : {}),
    ...(it.class ? { class: it.class } : {}),
    ...(it.dataset ? { dataset: it.dataset } : {}),
  };
}

/** The views' random stream of one item: depends on the seed and the item's index only, not on the order of scoring. */
function itemRng(seed: number, index: number): Rng {
  return new Rng((Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
}

function datasetOf(path: string, inputs: string[]): string | undefined {
  for (const inp of inputs) {
    const r = relative(resolve(inp), resolve(path));
    if (r === '') return basename(dirname(resolve(path)));
    if (!r.startsWith('..')) return basename(resolve(inp));
  }
  return undefined;
}

/** `p` relative to `from`, unless that climbs more than 3 folders up: then absolute. */
export function relOrAbs(p: string, from: string): string {
  const r = relative(from, resolve(p));
  return r.startsWith('..') && r.split('/').filter((s) => s === '..').length > 3 ? resolve(p) : r;
}

async function writeVectors(r: ScoreResult, model: ResolvedModel, dir: string, index: number, outDir: string): Promise<string[]> {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const [, c, h, w] = model.encoder.inputShape;
  const paths: string[] = [];
  for (const [k, v] of (r.vectors ?? []).entries()) {
    let m = 0;
    for (const x of v) m = Math.max(m, Math.abs(x));
    const p = join(dir, `${index}_${k}.png`);
    await writePng(p, v, c, h, w, [-m || -1, m || 1]);
    paths.push(relative(outDir, p));
  }
  return paths;
}

/** The paper's eq. 4: -log mean_v exp(-score_v) over random views, and the spread of the views' scores. */
async function scoreViews(scorer: JepaScorer, model: ResolvedModel, x: Float32Array, n: number, preset: AugmentPreset, rng: Rng) {
  const s: number[] = [];
  for (let v = 0; v < n; v++) {
    const view = model.augmentView(x, preset, rng);
    s.push((await scorer.score(view)).score);
  }
  // -log(mean(exp(-s))) computed stably
  const m = Math.min(...s);
  const lme = -m + Math.log(s.reduce((acc, v) => acc + Math.exp(-(v - m)), 0) / n);
  const mean = s.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(s.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(n - 1, 1));
  return { score_views: -lme, views: n, views_mean: mean, views_std: sd, views_min: Math.min(...s), views_max: Math.max(...s) };
}
