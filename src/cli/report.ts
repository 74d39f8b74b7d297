// `jepa-score report`: an HTML page (plus SVG/PNG plots) for any scores .jsonl.
import { basename, dirname, join } from 'node:path';
import { Command } from 'commander';
import { writeReport } from '../report/html.js';
import { action, UserError } from './errors.js';
import { NON_NEGATIVE_INT, parseNum } from './flags.js';

interface ReportFlags {
  out?: string;
  metrics?: string;
  title?: string;
  perClass: string;
  outliers: string;
  maxClasses: string;
  vectorImages: string;
  field: string;
  variant?: string;
}

export function register(program: Command): void {
  program
    .command('report')
    .description('HTML report for a scores .jsonl (from `score` or `ood`): histograms, least/most likely images per class, outliers, metrics, singular vectors')
    .argument('<scores>', 'scores .jsonl file')
    .option('--out <dir>', 'output folder (default: <scores without .jsonl>.report)')
    .option('--metrics <file>', 'metrics.json from `jepa-score ood` (default: metrics.json next to the scores, when there)')
    .option('--title <text>', 'page title')
    .option('--per-class <n>', 'least and most likely images shown per class', '6')
    .option('--outliers <n>', 'lowest-scoring images shown overall', '12')
    .option('--max-classes <n>', 'classes shown', '40')
    .option('--vector-images <n>', 'images whose singular vectors are shown', '6')
    .option('--field <name>', 'score to show: score or score_rank', 'score')
    .option('--variant <name>', 'a variant (key of the lines\' "variants") shown next to the score, or none (default: the one metrics.json chose)')
    .action(action(runReport));
}

async function runReport(scores: string, flags: ReportFlags): Promise<void> {
  if (flags.field !== 'score' && flags.field !== 'score_rank') throw new UserError(`--field must be score or score_rank, got '${flags.field}'`);
  const out = flags.out ?? join(dirname(scores), basename(scores).replace(/\.jsonl$/, '') + '.report');
  const t0 = Date.now();
  const res = await writeReport(scores, out, {
    metrics: flags.metrics,
    title: flags.title,
    perClass: parseNum(flags.perClass, 'per-class', NON_NEGATIVE_INT),
    outliers: parseNum(flags.outliers, 'outliers', NON_NEGATIVE_INT),
    maxClasses: parseNum(flags.maxClasses, 'max-classes', NON_NEGATIVE_INT),
    vectorImages: parseNum(flags.vectorImages, 'vector-images', NON_NEGATIVE_INT),
    field: flags.field,
    variant: flags.variant === 'none' ? false : flags.variant,
  });
  console.error(`report: ${res.html} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  for (const p of res.plots) console.error(`plot:   ${p}`);
}
