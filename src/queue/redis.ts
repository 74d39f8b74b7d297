// Connections to Redis for BullMQ: a quick reachability check that fails with one line, then clients.
import { Redis, RedisOptions } from 'ioredis';

/** Queue name used by both `score --redis` and `worker` when --queue is not given. */
export const DEFAULT_QUEUE = 'jepa-score';

const CONNECT_TIMEOUT_MS = 5000;

function check(url: string): void {
  if (!/^rediss?:\/\//.test(url)) throw new Error(`--redis must be a redis:// or rediss:// URL, got '${url}'`);
}

/** Connects once, without retrying; throws an Error with one clear line when Redis cannot be reached. */
export async function pingRedis(url: string): Promise<void> {
  check(url);
  const r = new Redis(url, { lazyConnect: true, connectTimeout: CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let last: Error | undefined;
  r.on('error', (e: Error) => (last = e));
  try {
    await r.connect();
    await r.ping();
  } catch (e) {
    const err = (last ?? e) as NodeJS.ErrnoException;
    throw new Error(`cannot reach Redis at ${redact(url)}: ${err.code ?? err.message} (start one, e.g. \`redis-server --port 6379\`, see docs/scale.md)`);
  } finally {
    r.disconnect();
  }
}

/**
 * A client for BullMQ. `blocking`: for workers and event listeners, which wait on Redis forever
 * (BullMQ requires maxRetriesPerRequest null there); otherwise commands fail after a few retries.
 */
export function redisClient(url: string, blocking: boolean): Redis {
  check(url);
  const opts: RedisOptions = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: blocking ? null : 5,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
  const r = new Redis(url, opts);
  // errors are reported by the operations that fail; keep ioredis from printing unhandled-error noise
  r.on('error', () => {});
  return r;
}

/** The URL without a password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
