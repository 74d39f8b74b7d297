// The coordinator side of queue mode: enqueue jobs with stable ids, collect their results through BullMQ,
// hand them back in job order. Restarting it with the same jobs picks up what Redis still holds.
import { Job, Queue, QueueEvents } from 'bullmq';
import { pingRedis, redisClient } from './redis.js';

export interface JobSpec {
  /** stable id: the same work gets the same id in every run, so it is never enqueued twice */
  id: string;
  data: unknown;
}

export type Outcome = { ok: true; value: unknown } | { ok: false; reason: string };

export interface CoordinateOptions {
  redis: string;
  queue: string;
  jobs: JobSpec[];
  /** tries per job before it counts as failed (a worker killed mid-job is a stall, handled apart) */
  attempts?: number;
  /** first retry delay in ms, doubled each retry */
  backoffMs?: number;
  /** each job's outcome as soon as it is known (any order) */
  onSettled?(i: number, outcome: Outcome): void;
  /** each job's outcome in the order of `jobs`; the job is removed from Redis when this returns */
  onInOrder(i: number, outcome: Outcome): void;
}

const SWEEP_MS = 5000;

export async function coordinate(o: CoordinateOptions): Promise<void> {
  await pingRedis(o.redis);
  const clients = [redisClient(o.redis, false), redisClient(o.redis, true)];
  const queue = new Queue(o.queue, { connection: clients[0] });
  const events = new QueueEvents(o.queue, { connection: clients[1] });
  const index = new Map(o.jobs.map((j, i) => [j.id, i]));
  const outcomes: (Outcome | undefined)[] = new Array(o.jobs.length);
  let next = 0;
  let settled = 0;
  let finish!: () => void;
  let fail!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => ((finish = res), (fail = rej)));
  const removals: Promise<unknown>[] = [];

  const settle = (i: number, out: Outcome) => {
    if (outcomes[i]) return;
    outcomes[i] = out;
    settled++;
    o.onSettled?.(i, out);
    while (next < o.jobs.length && outcomes[next]) {
      o.onInOrder(next, outcomes[next]!);
      removals.push(queue.remove(o.jobs[next].id).catch(() => 0));
      next++;
    }
    if (settled === o.jobs.length) finish();
  };

  const look = async (id: string) => {
    const i = index.get(id);
    if (i === undefined || outcomes[i]) return;
    // the state first: a job read before it finished would have no return value yet
    const state = await queue.getJobState(id);
    if (state !== 'completed' && state !== 'failed') return;
    const job = await Job.fromId(queue, id);
    if (!job) return;
    if (state === 'completed') settle(i, { ok: true, value: job.returnvalue });
    else settle(i, { ok: false, reason: job.failedReason || 'failed' });
  };
  const lookSafe = (id: string) => look(id).catch(fail);
  const sweep = async () => {
    const ids = o.jobs.filter((_, i) => !outcomes[i]).map((j) => j.id);
    for (let s = 0; s < ids.length; s += 200) await Promise.all(ids.slice(s, s + 200).map(look));
  };

  let timer: NodeJS.Timeout | undefined;
  try {
    events.on('completed', ({ jobId }) => void lookSafe(jobId));
    events.on('failed', ({ jobId }) => void lookSafe(jobId));
    await events.waitUntilReady();
    const opts = { attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: o.backoffMs ?? 1000 }, removeOnComplete: false, removeOnFail: false };
    for (let s = 0; s < o.jobs.length; s += 500) {
      // a job id that Redis already holds (a restarted coordinator) is left as it is
      await queue.addBulk(o.jobs.slice(s, s + 500).map((j) => ({ name: 'score', data: j.data, opts: { ...opts, jobId: j.id } })));
    }
    if (!o.jobs.length) finish();
    // results that came in before we listened (a restart), and any event lost on a reconnect
    await sweep();
    const loop = () => {
      timer = setTimeout(() => sweep().then(loop, fail), SWEEP_MS);
    };
    loop();
    await done;
    await Promise.all(removals);
  } finally {
    clearTimeout(timer);
    await events.close().catch(() => 0);
    await queue.close().catch(() => 0);
    // BullMQ leaves connections it was given open
    for (const c of clients) c.disconnect();
  }
}
