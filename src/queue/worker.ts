// The worker side of queue mode: a BullMQ worker that runs a processor on each job until stopped.
import { Job, Worker } from 'bullmq';
import { pingRedis, redisClient } from './redis.js';

export interface ServeOptions {
  redis: string;
  queue: string;
  /** jobs run at once in this process */
  concurrency?: number;
  process(data: unknown, job: Job): Promise<unknown>;
  log?(line: string): void;
}

/**
 * Lock timing. A worker renews its job's lock every lockDuration/2; a job whose lock ran out (its worker was
 * killed) is put back in the queue by the stalled-job check of any other worker, at most `maxStalledCount`
 * times. JEPA_QUEUE_LOCK_MS shortens it (the tests use 2000).
 */
export function lockOptions() {
  const lockDuration = Number(process.env.JEPA_QUEUE_LOCK_MS) > 0 ? Number(process.env.JEPA_QUEUE_LOCK_MS) : 30_000;
  return { lockDuration, stalledInterval: Math.max(500, Math.round(lockDuration / 2)), maxStalledCount: 3 };
}

/** Serves the queue until SIGINT/SIGTERM (then finishes the jobs in hand) or `signal` aborts. */
export async function serve(o: ServeOptions, signal?: AbortSignal): Promise<void> {
  await pingRedis(o.redis);
  const client = redisClient(o.redis, true);
  const worker = new Worker(o.queue, (job) => o.process(job.data, job), {
    connection: client,
    concurrency: o.concurrency ?? 1,
    ...lockOptions(),
  });
  worker.on('failed', (job, err) => o.log?.(`job ${job?.id} failed (attempt ${job?.attemptsMade}): ${err.message}`));
  worker.on('error', (err) => o.log?.(`worker error: ${err.message}`));
  await worker.waitUntilReady();
  o.log?.(`worker ready on queue ${o.queue}`);
  await new Promise<void>((res) => {
    const stop = () => res();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop);
  });
  o.log?.('worker stopping: finishing the jobs in hand');
  await worker.close();
  // BullMQ leaves a connection it was given open
  client.disconnect();
}
