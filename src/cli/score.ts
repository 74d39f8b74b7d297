// `jepa-score score`: JEPA-SCORE for images, folders of images, or a pixel_values tensor.
import { existsSync, mkdirSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { AugmentPreset } from '../data/augment.js';
import { listImages } from '../data/folders.js';
import { writePng } from '../data/images.js';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { Rng } from '../data/random.js';
import { readSafetensors } from '../data/safetensors.js';
import { APPROX_METHODS, ApproxMethod, ApproxOptions } from '../score/approx.js';
import { JepaScorer, ScoreResult } from '../score/jepa.js';
import { action, UserError } from './errors.js';
import { NON_NEGATIVE_INT, optNum, parseNum, POSITIVE_INT } from './flags.js';
import { loadInput, resolveModel, ResolvedModel } from './model.js';
import { formatSeconds, Progress } from './progress.js';

interface ScoreFlags {
  model: string;
  pixelValues?: string;
  out: string;
  spectrum?: boolean;
  embedding?: boolean;
  vectors?: string;
  eps: string;
  rankTol?: string;
  chunk?: string;
  pool?: string;
  size?: string;
  views?: string;
  augment: string;
  seed: string;
  limit?: string;
  threads?: string;
  approx?: string;
  approxMethod: string;
  approxSketches: string;
}

export function register(program: Command): void {
  program
    .command('score')
    .description('JEPA-SCORE for images and folders of images (recursive), or for a pixel_values tensor')
    .argument('[inputs...]', 'image files or folders; a folder of class sub-folders gives each image its class')
    .option('--model <model>', 'built-in model name, Hugging Face model folder, or .onnx image encoder', 'mnist-jepa')
    .option('--pixel-values <file>', 'safetensors file with a float32 tensor pixel_values [B,C,H,W], already preprocessed')
    .requiredOption('--out <file>', 'output JSON lines, one per image; an existing file is resumed')
    .option('--spectrum', 'add all singular values to each line')
    .option('--embedding', 'add the embedding f(x) to each line')
    .option('--vectors <n>', 'write the top n right singular vectors of J as PNGs (the paper\'s figure 7)')
    .option('--eps <eps>', 'clip singular values below eps', '1e-6')
    .option('--rank-tol <t>', 'score_rank counts sigma > t * sigma_max (default max(K, D) * float32 eps)')
    .option('--chunk <k>', 'Jacobian rows per onnxruntime run (memory grows with k)')
    .option('--pool <pool>', 'embedding: cls, mean or projected (default: the family\'s own)')
    .option('--size <px>', 'input resolution (default: the crop size of the model\'s image processor)')
    .option('--views <n>', 'Monte-Carlo estimate over n random views per image (the paper\'s eq. 4)')
    .option('--augment <preset>', 'views: dinov2 or digits', 'dinov2')
    .option('--seed <n>', 'seed for the views and the --approx sketch', '0')
    .option('--limit <n>', 'score at most n images')
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .option('--approx <r>', 'estimate the score from r Jacobian products instead of K (see docs/fast.md)')
    .option('--approx-method <m>', 'approx: sketch (random rotation) or subset (random coordinates)', 'sketch')
    .option('--approx-sketches <n>', 'approx: split the r products into n sketches and average', '1')
    .action(action(runScore));
}

interface Item {
  key: string;
  index: number;
  path?: string;
  class?: string;
  dataset?: string;
  load: () => Promise<Float32Array>;
}

async function runScore(inputs: string[], flags: ScoreFlags): Promise<void> {
  const eps = parseNum(flags.eps, 'eps', { positive: true });
  const rankTol = optNum(flags.rankTol, 'rank-tol', { positive: true });
  const views = optNum(flags.views, 'views', NON_NEGATIVE_INT) ?? 0;
  const nVectors = optNum(flags.vectors, 'vectors', NON_NEGATIVE_INT) ?? 0;
  const limit = optNum(flags.limit, 'limit', NON_NEGATIVE_INT);
  const size = optNum(flags.size, 'size', NON_NEGATIVE_INT);
  if (!flags.pixelValues && inputs.length === 0) throw new UserError('give image files or folders, or --pixel-values <file>');
  if (flags.pixelValues && inputs.length) throw new UserError('give either images/folders or --pixel-values, not both');

  const outPath = resolve(flags.out);
  const outDir = dirname(outPath);
  let items: Item[];
  let model: ResolvedModel;
  if (flags.pixelValues) {
    const file = flags.pixelValues;
    const tensors = readSafetensors(file, { toFloat32: true });
    const pv = tensors.get('pixel_values');
    if (!pv) throw new UserError(`${file}: no tensor named pixel_values (has: ${[...tensors.keys()].join(', ') || 'none'})`);
    if (pv.dims.length !== 4) throw new UserError(`${file}: pixel_values must be [B,C,H,W], got [${pv.dims}]`);
    const [B, C, H, W] = pv.dims;
    model = await resolveModel(flags.model, { pool: flags.pool, height: H, width: W, channels: C });
    const data = pv.data as Float32Array;
    const per = C * H * W;
    items = Array.from({ length: B }, (_, i) => ({ key: `#${i}`, index: i, load: async () => data.slice(i * per, (i + 1) * per) }));
  } else {
    model = await resolveModel(flags.model, { pool: flags.pool, height: size, width: size });
    const files = listImages(inputs);
    items = files.map((f, i) => ({
      key: relOrAbs(f.path, outDir),
      index: i,
      path: f.path,
      class: f.class,
      dataset: datasetOf(f.path, inputs),
      load: () => loadInput(model, f.path),
    }));
  }
  if (limit !== undefined) items = items.slice(0, limit);

  const done = new Set(readJsonl<{ path?: string; index: number }>(outPath).records.map((r) => r.path ?? `#${r.index}`));
  const todo = items.filter((it) => !done.has(it.key));
  if (done.size) process.stderr.write(`resuming ${outPath}: ${done.size} done, ${todo.length} to go\n`);
  const writer = new JsonlWriter(outPath);
  const approx = approxOptions(flags);
  const scorer = await JepaScorer.create(model.encoder, { approx, eps, rankTol, chunk: optNum(flags.chunk, 'chunk', NON_NEGATIVE_INT), spectrum: flags.spectrum, vectors: nVectors, threads: optNum(flags.threads, 'threads', NON_NEGATIVE_INT) });
  const vecDir = outPath.replace(/\.jsonl$/, '') + '.vectors';
  const rng = new Rng(Number(flags.seed) || 0);
  const progress = new Progress(todo.length, 'scoring');
  const started = Date.now();
  let ok = 0;
  let failed = 0;
  const scores: number[] = [];
  try {
    for (const it of todo) {
      const base = {
        index: it.index,
        ...(it.path ? { path: it.key } : {}),
        ...(it.class ? { class: it.class } : {}),
        ...(it.dataset ? { dataset: it.dataset } : {}),
      };
      try {
        const x = await it.load();
        const r = await scorer.score(x);
        const rec: Record<string, unknown> = { ...base, score: r.score, score_rank: r.scoreRank, rank: r.rank, embedding_dim: scorer.K, log_density_embedding: r.logDensityEmbedding };
        if (r.approx) rec.approx = { rows: r.approx.rows, method: r.approx.method, sketches: r.approx.sketches, seed: r.approx.seed };
        if (flags.spectrum) rec.singular_values = Array.from(r.singularValues);
        if (flags.embedding) rec.embedding = Array.from(r.embedding);
        if (nVectors && r.vectors) rec.vectors = await writeVectors(r, model, vecDir, it.index, outDir);
        if (views > 0) Object.assign(rec, await scoreViews(scorer, model, x, views, flags.augment as AugmentPreset, rng.fork()));
        writer.write(rec);
        scores.push(r.score);
        ok++;
      } catch (e) {
        writer.write({ ...base, error: (e as Error).message });
        failed++;
      }
      progress.tick();
    }
  } finally {
    progress.stop();
    await scorer.release();
  }
  const secs = (Date.now() - started) / 1000;
  scores.sort((a, b) => a - b);
  const med = scores.length ? scores[Math.floor(scores.length / 2)] : NaN;
  process.stderr.write(
    `scored ${ok} images, ${failed} failed, ${done.size} already done, in ${formatSeconds(secs)}` +
      (ok ? ` (${(secs / ok).toFixed(2)} s/image); score min ${scores[0].toFixed(2)} median ${med.toFixed(2)} max ${scores[scores.length - 1].toFixed(2)}` : '') +
      `\nwrote ${outPath}\n`,
  );
}

function approxOptions(flags: ScoreFlags): ApproxOptions | undefined {
  if (flags.approx === undefined) return undefined;
  const method = flags.approxMethod;
  if (!APPROX_METHODS.includes(method as ApproxMethod)) throw new UserError(`--approx-method must be one of ${APPROX_METHODS.join(', ')}, got '${method}'`);
  const rows = parseNum(flags.approx, 'approx', POSITIVE_INT);
  const sketches = parseNum(flags.approxSketches, 'approx-sketches', POSITIVE_INT);
  if (sketches > rows) throw new UserError(`--approx-sketches ${sketches} exceeds --approx ${rows}`);
  return { rows, method: method as ApproxMethod, sketches, seed: Number(flags.seed) || 0 };
}

function datasetOf(path: string, inputs: string[]): string | undefined {
  for (const inp of inputs) {
    const r = relative(resolve(inp), resolve(path));
    if (r === '') return basename(dirname(resolve(path)));
    if (!r.startsWith('..')) return basename(resolve(inp));
  }
  return undefined;
}

function relOrAbs(p: string, from: string): string {
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
