// `jepa-score demo` (what `npm start` runs): built-in model, built-in data, metrics table and report.
import { Command } from 'commander';
import { resolve } from 'node:path';
import { DEMO_IN, DEMO_MODEL, DEMO_OOD, DEMO_SEEDED_LIMIT, DEMO_SEEDS, runDemo } from '../experiments/demo.js';
import { writeReport } from '../report/html.js';
import { action } from './errors.js';
import { optNum, parseNum, POSITIVE_INT } from './flags.js';
import { formatSeconds } from './progress.js';

interface DemoFlags {
  out: string;
  limit: string;
  threads?: string;
  report: boolean;
}

export function register(program: Command): void {
  program
    .command('demo')
    .description(`score held-out ${DEMO_IN} digits and out-of-distribution sets (${DEMO_OOD.join(', ')}) with the built-in ${DEMO_MODEL}; print the OOD metrics table and write a report`)
    .option('--out <dir>', 'output folder', 'jepa-score-demo')
    .option('--limit <n>', 'images per data set', '500')
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .option('--no-report', 'skip the HTML report')
    .action(action(runDemoCommand));
}

async function runDemoCommand(flags: DemoFlags): Promise<void> {
  const limit = parseNum(flags.limit, 'limit', { int: true, min: 2 });
  const threads = optNum(flags.threads, 'threads', POSITIVE_INT);
  const out = resolve(flags.out);
  const t0 = performance.now();
  console.error(`jepa-score demo: ${DEMO_MODEL} on ${limit} held-out ${DEMO_IN} digits vs ${DEMO_OOD.join(', ')}`);
  const res = await runDemo({ outDir: out, limit, threads, log: (line) => console.error(line) });
  console.log('');
  console.log(`OOD detection, in-distribution = held-out ${DEMO_IN} (AUROC and AUPR: higher is better; FPR95: lower is better)`);
  console.log(res.table);
  console.log(`Sets drawn at random (noise, constant, mnist-blurred: ${Math.min(limit, DEMO_SEEDED_LIMIT)} images per seed) give the mean over seeds ${DEMO_SEEDS.join(', ')} and the range.`);
  console.log(`Best JEPA-based method by mean AUROC over the sets: ${res.chosen} (${res.meanAuroc[res.chosen].toFixed(3)})`);
  console.log('');
  console.log(`metrics: ${res.metricsPath}`);
  console.log(`scores:  ${res.scoresPath}`);
  if (flags.report) {
    const rep = await writeReport(res.scoresPath, out, { metrics: res.metricsPath });
    console.log(`report:  ${rep.html}`);
  }
  console.log(`done in ${formatSeconds((performance.now() - t0) / 1000)}`);
}
