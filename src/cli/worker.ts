// `jepa-score worker`: scores the jobs of a `score --redis` coordinator. Models are loaded once per set of
// scoring settings and kept; the worker needs the same paths as the coordinator (a shared file system).
import { Command } from 'commander';
import { serve } from '../queue/worker.js';
import { DEFAULT_QUEUE } from '../queue/redis.js';
import { checkDevice } from '../runtime/session.js';
import { action } from './errors.js';
import { optNum, POSITIVE_INT } from './flags.js';
import { ScoreJob, ScoreJobResult } from './score-queue.js';
import { ItemScorer, parseDevice, RunOptions } from './scoring.js';

interface WorkerFlags {
  redis: string;
  queue?: string;
  concurrency?: string;
  threads?: string;
  device?: string;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('score the images that `score --redis` puts on a queue, until stopped (Ctrl-C / SIGTERM finish the jobs in hand)')
    .requiredOption('--redis <url>', 'the Redis the coordinator uses, e.g. redis://host:6379')
    .option('--queue <name>', `queue name (default ${DEFAULT_QUEUE})`)
    .option('--concurrency <n>', 'jobs at once in this process (default 1)')
    .option('--threads <n>', 'onnxruntime threads per job (default: all cores)')
    .option('--device <device>', 'cpu or cuda', 'cpu')
    .action(action(runWorker));
}

async function runWorker(flags: WorkerFlags): Promise<void> {
  const concurrency = optNum(flags.concurrency, 'concurrency', POSITIVE_INT) ?? 1;
  const run: RunOptions = { threads: optNum(flags.threads, 'threads', POSITIVE_INT), device: parseDevice(flags.device) };
  // a missing CUDA provider fails the worker now, not each of its jobs
  await checkDevice(run.device ?? 'cpu');
  // idle scorers per settings; one job uses one scorer at a time
  const idle = new Map<string, ItemScorer[]>();
  const log = (line: string) => process.stderr.write(`worker ${process.pid}: ${line}\n`);
  await serve({
    redis: flags.redis,
    queue: flags.queue ?? DEFAULT_QUEUE,
    concurrency,
    log,
    process: async (data, job): Promise<ScoreJobResult> => {
      const { settings, outPath, items } = data as ScoreJob;
      const key = JSON.stringify(settings);
      const pool = idle.get(key) ?? [];
      idle.set(key, pool);
      log(`job ${job.id}: started (attempt ${job.attemptsMade + 1})`);
      const scorer = pool.pop() ?? (await ItemScorer.create(settings, run));
      try {
        const t0 = Date.now();
        const records = [];
        for (const it of items) records.push(await scorer.score(it, outPath));
        log(`job ${job.id}: ${items.length} images in ${((Date.now() - t0) / 1000).toFixed(2)} s`);
        return { records };
      } finally {
        pool.push(scorer);
      }
    },
  });
  for (const pool of idle.values()) for (const s of pool) await s.release();
}
