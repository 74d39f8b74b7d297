// `jepa-score score`: JEPA-SCORE for images, folders of images, or a pixel_values tensor, here or through a queue.
import { createHash } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { JsonlWriter, readJsonl } from '../data/jsonl.js';
import { APPROX_METHODS, ApproxMethod, ApproxOptions } from '../score/approx.js';
import { DEFAULT_QUEUE } from '../queue/redis.js';
import { action, UserError } from './errors.js';
import { NON_NEGATIVE_INT, optNum, parseNum, POSITIVE_INT } from './flags.js';
import { ModelOptions } from './model.js';
import { formatSeconds, Progress } from './progress.js';
import { coordinateScoring } from './score-queue.js';
import { ItemRef, ItemScorer, listItems, parseDevice, RunOptions, ScoreSettings, shardItems, shardKey } from './scoring.js';
import { formatShard, parseShard } from './shard.js';

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
  approx?: string | true;
  approxMethod: string;
  approxSketches: string;
  limit?: string;
  threads?: string;
  device?: string;
  shard?: string;
  redis?: string;
  queue?: string;
  batch?: string;
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
    .option('--approx [r]', 'estimate the score from r Jacobian products instead of K; without r, K/8 rounded up (see docs/fast.md)')
    .option('--approx-method <m>', 'approx: sketch (random rotation) or subset (random coordinates)', 'sketch')
    .option('--approx-sketches <n>', 'approx: split the r products into n sketches and average', '1')
    .option('--device <device>', 'cpu, or cuda (onnxruntime\'s CUDA provider, installed on request: docs/scale.md)', 'cpu')
    .option('--shard <i/n>', 'score only shard i of n (by a hash of each path; join the outputs with `merge`)')
    .option('--redis <url>', 'queue mode: enqueue the images on this Redis (BullMQ) for `jepa-score worker`s and collect their lines')
    .option('--queue <name>', `queue mode: queue name (default ${DEFAULT_QUEUE}, the workers' default too)`)
    .option('--batch <n>', 'queue mode: images per job (default 1)')
    .action(action(runScore));
}

async function runScore(inputs: string[], flags: ScoreFlags): Promise<void> {
  if (!flags.pixelValues && inputs.length === 0) throw new UserError('give image files or folders, or --pixel-values <file>');
  if (flags.pixelValues && inputs.length) throw new UserError('give either images/folders or --pixel-values, not both');
  const limit = optNum(flags.limit, 'limit', NON_NEGATIVE_INT);
  const shard = flags.shard === undefined ? undefined : parseShard(flags.shard);
  const run: RunOptions = { threads: optNum(flags.threads, 'threads', NON_NEGATIVE_INT), device: parseDevice(flags.device) };
  const outPath = resolve(flags.out);
  const listed = listItems(inputs, flags.pixelValues, dirname(outPath));
  const settings = scoreSettings(flags, listed.modelOptions);
  let items = listed.items;
  if (limit !== undefined) items = items.slice(0, limit);
  // shard lines say which shard of which list they belong to, for `merge`
  const shardFields = shard && { shard: formatShard(shard), total: items.length, list: listHash(items, inputs) };
  if (shard) items = shardItems(items, inputs, shard);

  const done = new Set(readJsonl<{ path?: string; index: number }>(outPath).records.map((r) => r.path ?? `#${r.index}`));
  const todo = items.filter((it) => !done.has(it.key));
  if (done.size) process.stderr.write(`resuming ${outPath}: ${done.size} done, ${todo.length} to go\n`);
  const writer = new JsonlWriter(outPath);
  const started = Date.now();
  let ok = 0;
  let failed = 0;
  const scores: number[] = [];
  const write = (rec: Record<string, unknown>) => {
    writer.write(shardFields ? { ...rec, ...shardFields } : rec);
    if (rec.error === undefined) {
      scores.push(rec.score as number);
      ok++;
    } else failed++;
  };

  if (flags.redis) {
    const batch = optNum(flags.batch, 'batch', POSITIVE_INT) ?? 1;
    if (flags.threads !== undefined || run.device !== 'cpu') process.stderr.write('note: --threads and --device are the workers\' own flags; the coordinator does not score\n');
    await coordinateScoring({ redis: flags.redis, queue: flags.queue ?? DEFAULT_QUEUE, settings, items: todo, outPath, batch, write });
  } else {
    // load the model after the listing, so a bad input fails first
    const scorer = await ItemScorer.create(settings, run);
    const progress = new Progress(todo.length, 'scoring');
    try {
      for (const it of todo) {
        write(await scorer.score(it, outPath));
        progress.tick();
      }
    } finally {
      progress.stop();
      await scorer.release();
    }
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

/** The scoring flags as one settings object (the whole of it travels to queue workers). */
function scoreSettings(flags: ScoreFlags, inputSize: ModelOptions): ScoreSettings {
  const size = optNum(flags.size, 'size', NON_NEGATIVE_INT);
  return {
    model: flags.model,
    modelOptions: { pool: flags.pool, height: size, width: size, ...inputSize },
    eps: parseNum(flags.eps, 'eps', { positive: true }),
    rankTol: optNum(flags.rankTol, 'rank-tol', { positive: true }),
    chunk: optNum(flags.chunk, 'chunk', NON_NEGATIVE_INT),
    spectrum: !!flags.spectrum,
    embedding: !!flags.embedding,
    vectors: optNum(flags.vectors, 'vectors', NON_NEGATIVE_INT) ?? 0,
    views: optNum(flags.views, 'views', NON_NEGATIVE_INT) ?? 0,
    augment: flags.augment,
    seed: Number(flags.seed) || 0,
    approx: approxOptions(flags),
  };
}

function approxOptions(flags: ScoreFlags): ApproxOptions | undefined {
  if (flags.approx === undefined) return undefined;
  const method = flags.approxMethod;
  if (!APPROX_METHODS.includes(method as ApproxMethod)) throw new UserError(`--approx-method must be one of ${APPROX_METHODS.join(', ')}, got '${method}'`);
  // --approx alone: the library's default, K/8 (K is known once the model is loaded)
  const rows = flags.approx === true ? undefined : parseNum(flags.approx, 'approx', POSITIVE_INT);
  const sketches = parseNum(flags.approxSketches, 'approx-sketches', POSITIVE_INT);
  if (rows !== undefined && sketches > rows) throw new UserError(`--approx-sketches ${sketches} exceeds --approx ${rows}`);
  return { rows, method: method as ApproxMethod, sketches, seed: Number(flags.seed) || 0 };
}

/** A short hash of the whole list of items, independent of the output's folder (what `merge` checks shards against). */
function listHash(items: ItemRef[], inputs: string[]): string {
  const h = createHash('sha256');
  for (const it of items) h.update(`${it.index}\t${shardKey(it, inputs)}\n`);
  return h.digest('hex').slice(0, 16);
}
