// `jepa-score train`: LeJEPA training of the digits encoder (how the built-in mnist-jepa was made).
import { Command } from 'commander';
import { resolve } from 'node:path';
import { DIGITS_AUGMENT_DEFAULTS, TRAIN_DEFAULTS, trainDigits } from '../train/digits.js';
import { DIGITS_VIT_DEFAULTS } from '../train/vit.js';
import { action, UserError } from './errors.js';
import { optNum, parseNum, POSITIVE_INT } from './flags.js';
import { formatSeconds } from './progress.js';

interface TrainFlags {
  out: string;
  arch: string;
  hidden: string;
  layers: string;
  heads: string;
  patch: string;
  mlpRatio: string;
  steps: string;
  batch: string;
  views: string;
  lr: string;
  lambda: string;
  maxShift: string;
  maxRotation: string;
  minScale: string;
  elastic: string;
  stroke: string;
  weightDecay: string;
  directions: string;
  seed: string;
  data: string;
  limit?: string;
  evalEvery: string;
  checkpointEvery: string;
  threads?: string;
  resume: boolean;
  eval: boolean;
}

export function register(program: Command): void {
  const d = TRAIN_DEFAULTS;
  program
    .command('train')
    .description('train a digits JEPA encoder (--arch cnn as mnist-jepa, --arch vit as digits-vit) with LeJEPA (invariance over augmented views + SIGReg); resumes from <out>/checkpoint.safetensors')
    .requiredOption('--out <dir>', 'model folder: config.json, model.safetensors, checkpoint, train-log.jsonl, metrics.json')
    .option('--arch <arch>', 'cnn (the digits CNN, as mnist-jepa) or vit (a DINOv2 ViT written as a Hugging Face folder, as digits-vit)', 'cnn')
    .option('--hidden <n>', 'vit: hidden size = embedding size', String(DIGITS_VIT_DEFAULTS.hiddenSize))
    .option('--layers <n>', 'vit: transformer blocks', String(DIGITS_VIT_DEFAULTS.layers))
    .option('--heads <n>', 'vit: attention heads', String(DIGITS_VIT_DEFAULTS.heads))
    .option('--patch <n>', 'vit: patch size (divides 28)', String(DIGITS_VIT_DEFAULTS.patchSize))
    .option('--mlp-ratio <r>', 'vit: MLP width / hidden size', String(DIGITS_VIT_DEFAULTS.mlpRatio))
    .option('--steps <n>', 'optimisation steps', String(d.steps))
    .option('--batch <n>', 'images per step', String(d.batch))
    .option('--views <n>', 'augmented views per image', String(d.views))
    .option('--lr <lr>', 'peak learning rate (Adam, warm-up then cosine decay)', String(d.lr))
    .option('--lambda <w>', 'SIGReg weight', String(d.lambda))
    .option('--max-shift <px>', 'augmentation: largest shift of a view in pixels', String(DIGITS_AUGMENT_DEFAULTS.maxShift))
    .option('--max-rotation <deg>', 'augmentation: largest rotation of a view in degrees', String(DIGITS_AUGMENT_DEFAULTS.maxRotation))
    .option('--min-scale <s>', 'augmentation: smallest area of the random crop, as a fraction of the image (0-1]', String(DIGITS_AUGMENT_DEFAULTS.minScale))
    .option('--elastic <alpha>', 'augmentation: elastic distortion strength (Simard et al. 2003, 4 px smoothing; 0 = off)', String(DIGITS_AUGMENT_DEFAULTS.elastic))
    .option('--stroke <p>', 'augmentation: probability of a stroke-width change (0 = off)', String(DIGITS_AUGMENT_DEFAULTS.stroke))
    .option('--weight-decay <w>', 'decoupled weight decay (AdamW)', String(d.weightDecay))
    .option('--directions <m>', 'random SIGReg directions per step', String(d.directions))
    .option('--seed <n>', 'seed (weights, batches, views, directions)', String(d.seed))
    .option('--data <set>', 'training images: built-in set or folder', d.trainSet)
    .option('--limit <n>', 'use at most n training images')
    .option('--eval-every <n>', 'kNN accuracy on the mnist test subset every n steps', String(d.evalEvery))
    .option('--checkpoint-every <n>', 'save a checkpoint every n steps', String(d.checkpointEvery))
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .option('--no-resume', 'start afresh even if a checkpoint exists')
    .option('--no-eval', 'skip the kNN evaluation')
    .action(action(runTrain));
}

async function runTrain(flags: TrainFlags): Promise<void> {
  const seed = Number(flags.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UserError(`--seed must be a non-negative integer, got '${flags.seed}'`);
  const out = resolve(flags.out);
  if (flags.arch !== 'cnn' && flags.arch !== 'vit') throw new UserError(`--arch must be cnn or vit, got '${flags.arch}'`);
  const vit =
    flags.arch === 'vit'
      ? {
          hiddenSize: parseNum(flags.hidden, 'hidden', POSITIVE_INT),
          layers: parseNum(flags.layers, 'layers', POSITIVE_INT),
          heads: parseNum(flags.heads, 'heads', POSITIVE_INT),
          patchSize: parseNum(flags.patch, 'patch', POSITIVE_INT),
          mlpRatio: parseNum(flags.mlpRatio, 'mlp-ratio', { positive: true }),
        }
      : undefined;
  if (vit && vit.hiddenSize % vit.heads !== 0) throw new UserError(`--hidden ${vit.hiddenSize} is not a multiple of --heads ${vit.heads}`);
  if (vit && 28 % vit.patchSize !== 0) throw new UserError(`--patch ${vit.patchSize} does not divide the 28-pixel digits`);
  if (Number(flags.stroke) > 1) throw new UserError(`--stroke is a probability (0-1), got '${flags.stroke}'`);
  if (Number(flags.minScale) > 1) throw new UserError(`--min-scale must be at most 1, got '${flags.minScale}'`);
  const res = await trainDigits({
    out,
    arch: flags.arch,
    vit,
    steps: parseNum(flags.steps, 'steps', POSITIVE_INT),
    batch: parseNum(flags.batch, 'batch', POSITIVE_INT),
    views: parseNum(flags.views, 'views', POSITIVE_INT),
    lr: parseNum(flags.lr, 'lr', { positive: true }),
    lambda: parseNum(flags.lambda, 'lambda', { positive: true }),
    augment: {
      maxShift: parseNum(flags.maxShift, 'max-shift', { min: 0 }),
      maxRotation: parseNum(flags.maxRotation, 'max-rotation', { min: 0 }),
      minScale: parseNum(flags.minScale, 'min-scale', { positive: true }),
      elastic: parseNum(flags.elastic, 'elastic', { min: 0 }),
      stroke: parseNum(flags.stroke, 'stroke', { min: 0 }),
    },
    weightDecay: parseNum(flags.weightDecay, 'weight-decay', { min: 0 }),
    directions: parseNum(flags.directions, 'directions', POSITIVE_INT),
    seed,
    trainSet: flags.data,
    trainLimit: flags.limit === undefined ? undefined : parseNum(flags.limit, 'limit', POSITIVE_INT),
    evalEvery: flags.eval ? parseNum(flags.evalEvery, 'eval-every', POSITIVE_INT) : 0,
    checkpointEvery: parseNum(flags.checkpointEvery, 'checkpoint-every', POSITIVE_INT),
    threads: optNum(flags.threads, 'threads', POSITIVE_INT),
    resume: flags.resume,
    skipEval: !flags.eval,
    log: (line) => console.error(line),
  });
  const acc =
    res.knnAccuracy === undefined ? '' : `, kNN accuracy ${(res.knnAccuracy * 100).toFixed(2)}%, linear probe ${((res.linearProbeAccuracy ?? 0) * 100).toFixed(2)}%`;
  console.log(`trained to step ${res.steps} in ${formatSeconds(res.seconds)}${acc}; model in ${out}`);
}
