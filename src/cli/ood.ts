// `jepa-score ood`: JEPA-SCORE and its variants against kNN / Mahalanobis / norm baselines on OOD sets.
import { Command } from 'commander';
import { resolve } from 'node:path';
import { AugmentPreset } from '../data/augment.js';
import { loadOodModel, runOod } from '../experiments/ood.js';
import { writeReport } from '../report/html.js';
import { action, UserError } from './errors.js';
import { optNum, parseNum, POSITIVE_INT } from './flags.js';

import { formatSeconds } from './progress.js';

interface OodFlags {
  model: string;
  in: string;
  ood: string[];
  out: string;
  train?: string;
  limit: string;
  trainLimit: string;
  k: string;
  eps: string;
  seed: string;
  seeds: string;
  views: string;
  seededLimit?: string;
  augment: string;
  variantTrain: string;
  threads?: string;
  report: boolean;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

export function register(program: Command): void {
  program
    .command('ood')
    .description('out-of-distribution detection: JEPA-SCORE (and variants) vs kNN, Mahalanobis and norm baselines; writes metrics.json, metrics.md, scores.jsonl and a report')
    .option('--model <model>', 'built-in model name (mnist-jepa), a model folder, or an .onnx image encoder', 'mnist-jepa')
    .requiredOption('--in <set>', 'in-distribution set: a built-in name (mnist, ...) or a folder of images')
    .option('--ood <set>', 'out-of-distribution set (built-in name or folder); repeat for several', collect, [])
    .requiredOption('--out <dir>', 'output folder')
    .option('--train <set>', 'fitting split for the baselines (default: mnist-train for --in mnist, else a seeded half of --in)')
    .option('--limit <n>', 'images scored per evaluated set', '500')
    .option('--train-limit <n>', 'training images used to fit the baselines', '12000')
    .option('--k <list>', 'kNN neighbours, comma separated', '1,5,50')
    .option('--eps <eps>', 'JEPA-SCORE clips singular values below eps', '1e-6')
    .option('--seed <n>', 'seed for the fit/held-out split of a folder', '0')
    .option('--seeds <list>', 'seeds of the random OOD sets (noise, constant, mnist-blurred), comma separated; metrics are the mean over seeds', '1')
    .option('--seeded-limit <n>', 'images per seed of the random OOD sets (default: --limit)')
    .option('--views <n>', "also the paper's eq. 4: JEPA-SCORE averaged over n augmented views per image (n times the scoring time)", '0')
    .option('--augment <preset>', 'augmentation of the views: digits, dinov2 or none', 'digits')
    .option('--variant-train <n>', 'training images scored for the fitted variants (complexity slope, kNN-normalised)', '500')
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .option('--no-report', 'skip the HTML report')
    .action(action(runOodCommand));
}

async function runOodCommand(flags: OodFlags): Promise<void> {
  if (flags.ood.length === 0) throw new UserError('give at least one --ood <set>');
  const eps = parseNum(flags.eps, 'eps', { positive: true });
  const ks = flags.k.split(',').map((s) => parseNum(s.trim(), 'k', POSITIVE_INT));
  const threads = optNum(flags.threads, 'threads', POSITIVE_INT);
  const out = resolve(flags.out);
  const t0 = performance.now();
  const model = await loadOodModel(flags.model, threads);
  const res = await runOod(model, {
    inSet: flags.in,
    oodSets: flags.ood,
    outDir: out,
    trainSet: flags.train,
    limit: parseNum(flags.limit, 'limit', POSITIVE_INT),
    trainLimit: parseNum(flags.trainLimit, 'train-limit', POSITIVE_INT),
    ks,
    eps,
    seed: Number(flags.seed) || 0,
    seeds: flags.seeds.split(',').map((x) => parseNum(x.trim(), 'seeds', { int: true })),
    seededLimit: optNum(flags.seededLimit, 'seeded-limit', POSITIVE_INT),
    views: parseNum(flags.views, 'views', { int: true, min: 0 }),
    augment: parseAugment(flags.augment),
    variantTrain: parseNum(flags.variantTrain, 'variant-train', { int: true, min: 2 }),
    threads,
    log: (line) => console.error(line),
  });
  console.log(res.table);
  console.error(`best JEPA-based method by mean AUROC: ${res.chosen} (${res.meanAuroc[res.chosen].toFixed(3)})`);
  console.error(`metrics: ${res.metricsPath}`);
  console.error(`scores:  ${res.scoresPath}`);
  if (flags.report) {
    const rep = await writeReport(res.scoresPath, out, { metrics: res.metricsPath });
    console.error(`report:  ${rep.html}`);
  }
  console.error(`done in ${formatSeconds((performance.now() - t0) / 1000)}`);
}

function parseAugment(v: string): AugmentPreset {
  if (v === 'digits' || v === 'dinov2' || v === 'none') return v;
  throw new UserError(`--augment must be digits, dinov2 or none, got '${v}'`);
}
