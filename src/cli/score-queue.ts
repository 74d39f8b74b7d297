// `score --redis`: the coordinator. One job per batch of images (BullMQ on Redis), done by `jepa-score worker`s;
// the lines come back and are written in input order, exactly as a local run writes them.
import { createHash } from 'node:crypto';
import { coordinate, Outcome } from '../queue/coordinator.js';
import { pingRedis, redact } from '../queue/redis.js';
import { resolveModel } from './model.js';
import { Progress } from './progress.js';
import { baseRecord, ItemRef, ScoreSettings } from './scoring.js';

/** What a queue job carries: every scoring setting, the output file (for paths in lines) and its items. */
export interface ScoreJob {
  settings: ScoreSettings;
  outPath: string;
  items: ItemRef[];
}

export interface ScoreJobResult {
  records: Record<string, unknown>[];
}

export const ATTEMPTS = 3;

/**
 * A job's id: a hash of the queue, output file, settings and the job's items. A restarted coordinator
 * (same command) makes the same ids, and BullMQ does not add a job whose id it already holds.
 */
export function jobId(queue: string, job: ScoreJob): string {
  const h = createHash('sha256').update(JSON.stringify([queue, job.outPath, job.settings, job.items.map((it) => [it.index, it.key])]));
  return `${job.items[0].index}-${h.digest('hex').slice(0, 24)}`;
}

export async function coordinateScoring(o: {
  redis: string;
  queue: string;
  settings: ScoreSettings;
  items: ItemRef[];
  outPath: string;
  batch: number;
  write(rec: Record<string, unknown>): void;
}): Promise<void> {
  await pingRedis(o.redis);
  // a bad --model, --pool or --size fails here, once, not in every job
  await resolveModel(o.settings.model, o.settings.modelOptions);
  const jobs: ScoreJob[] = [];
  for (let s = 0; s < o.items.length; s += o.batch) jobs.push({ settings: o.settings, outPath: o.outPath, items: o.items.slice(s, s + o.batch) });
  const progress = new Progress(o.items.length, 'scoring (queue)', 'images', true);
  process.stderr.write(`queue ${o.queue} on ${redact(o.redis)}: ${jobs.length} jobs; start workers with: jepa-score worker --redis ${redact(o.redis)} --queue ${o.queue}\n`);
  try {
    await coordinate({
      redis: o.redis,
      queue: o.queue,
      jobs: jobs.map((j) => ({ id: jobId(o.queue, j), data: j })),
      attempts: ATTEMPTS,
      backoffMs: 1000,
      onSettled: (i, out) => {
        const n = jobs[i].items.length;
        const recs = linesOf(out);
        if (!recs) return progress.fail(n);
        const bad = recs.filter((r) => r.error !== undefined).length;
        if (bad) progress.fail(bad);
        if (n - bad) progress.tick(n - bad);
      },
      onInOrder: (i, out) => {
        const recs = linesOf(out);
        if (recs) for (const rec of recs) o.write(rec);
        else {
          const reason = out.ok ? 'the worker returned no lines' : `job failed after ${ATTEMPTS} attempts: ${out.reason}`;
          for (const it of jobs[i].items) o.write({ ...baseRecord(it), error: `${it.path ?? it.key}: ${reason}` });
        }
      },
    });
  } finally {
    progress.stop();
  }
}

function linesOf(out: Outcome): Record<string, unknown>[] | undefined {
  const recs = out.ok ? (out.value as ScoreJobResult | null)?.records : undefined;
  return Array.isArray(recs) ? recs : undefined;
}
