// Starts a private redis-server on a free loopback port for a test, and stops it. Without redis-server a
// test skips with a one-line reason, except under CI=true, where a missing redis-server is an error.
import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { findExecutable } from './path.js';

/** The path of redis-server (REDIS_SERVER, then the PATH, then /usr/bin), or undefined. */
export function findRedisServer(): string | undefined {
  return process.env.REDIS_SERVER || findExecutable(['redis-server'], ['/usr/bin', '/usr/sbin']);
}

export const NO_REDIS = 'no redis-server found (set REDIS_SERVER, or install it: apt-get install redis-server)';

/** For node:test's `skip` option: false when redis-server exists; the reason when not; throws under CI=true. */
export function redisSkip(): false | string {
  if (findRedisServer()) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${NO_REDIS}`);
  return NO_REDIS;
}

/** A port that was free a moment ago (bind port 0 on loopback, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts redis-server without persistence on a free loopback port; resolves once it accepts connections. */
export async function startRedis(): Promise<RedisServer> {
  const bin = findRedisServer();
  if (!bin) throw new Error(NO_REDIS);
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    proc.stdout!.on('data', (d) => (log += d));
    proc.stderr!.on('data', (d) => (log += d));
    const ok = await new Promise<boolean>((res) => {
      const t = setInterval(() => {
        if (/Ready to accept connections/.test(log)) done(true);
      }, 50);
      const done = (v: boolean) => {
        clearInterval(t);
        res(v);
      };
      proc.once('exit', () => done(false));
      setTimeout(() => done(false), 10_000);
    });
    if (ok) return { url: `redis://127.0.0.1:${port}`, port, stop: () => stop(proc) };
    proc.kill('SIGKILL');
    if (attempt >= 3) throw new Error(`redis-server did not start on port ${port}: ${log.slice(-300)}`);
  }
}

function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return Promise.resolve();
  return new Promise((res) => {
    proc.once('exit', () => res());
    proc.kill('SIGTERM');
  });
}
