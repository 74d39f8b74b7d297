// npm run bench -- --only queue: queue mode (BullMQ on a private redis-server) against a local run, same images
// (the first --queue-images MNIST test digits as PNGs), the built-in model mnist-jepa, whole commands timed.
//  1. overhead: `score --threads 1` vs `score --redis` with one warm `worker --threads 1`, 1, 8 and 32 images per job
//  2. 2 workers x 1 thread vs 1 process x 2 threads
// Medians of --runs runs. Needs redis-server (REDIS_SERVER or the PATH); skipped with a line without it.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportDatasetAsPngs } from '../src/data/datasets.js';
import { findRedisServer, startRedis } from '../test/support/redis.js';

const BIN = resolve('bin/jepa-score.js');
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

function run(args: string[]): { proc: ReturnType<typeof spawn>; log: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => (log += d));
  proc.stderr!.on('data', (d) => (log += d));
  return { proc, log: () => log, exited: new Promise((res) => proc.once('exit', res)) };
}

async function timed(args: string[]): Promise<number> {
  const t = performance.now();
  const p = run(args);
  const code = await p.exited;
  if (code !== 0) throw new Error(`jepa-score ${args.join(' ')} failed: ${p.log().slice(-500)}`);
  return (performance.now() - t) / 1000;
}

export async function benchQueue(opts: { runs: number; images: number }): Promise<Record<string, unknown> | undefined> {
  if (!findRedisServer()) {
    console.log('[queue] skipped: no redis-server (apt-get install redis-server)');
    return undefined;
  }
  const dir = resolve('out/bench-queue');
  const imgs = join(dir, 'imgs');
  if (!existsSync(imgs)) await exportDatasetAsPngs('mnist', imgs, opts.images);
  const redis = await startRedis();
  const out = (name: string) => {
    const p = join(dir, `${name}.jsonl`);
    rmSync(p, { force: true });
    return p;
  };
  const workers = async (n: number) => {
    const ws = Array.from({ length: n }, () => run(['worker', '--redis', redis.url, '--queue', 'bench', '--threads', '1']));
    const end = Date.now() + 60_000;
    while (!ws.every((w) => /worker ready/.test(w.log()))) {
      if (Date.now() > end) throw new Error('workers did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
    return async () => {
      for (const w of ws) w.proc.kill('SIGTERM');
      await Promise.all(ws.map((w) => w.exited));
    };
  };
  const common = [imgs, '--model', 'mnist-jepa'];
  const res: Record<string, number[]> = { local0: [], queue0: [], local1: [], queue1: [], queue8: [], queue32: [], local2: [], queue2x1: [] };
  try {
    for (let r = 0; r < opts.runs; r++) {
      // fixed costs (node start-up, listing, model load, Redis set-up): the same commands on 0 images
      res.local0.push(await timed(['score', ...common, '--threads', '1', '--limit', '0', '--out', out('local0')]));
      res.queue0.push(await timed(['score', ...common, '--limit', '0', '--redis', redis.url, '--queue', 'bench', '--out', out('queue0')]));
      res.local1.push(await timed(['score', ...common, '--threads', '1', '--out', out('local1')]));
      let stop = await workers(1);
      res.queue1.push(await timed(['score', ...common, '--redis', redis.url, '--queue', 'bench', '--out', out('queue1')]));
      res.queue8.push(await timed(['score', ...common, '--redis', redis.url, '--queue', 'bench', '--batch', '8', '--out', out('queue8')]));
      res.queue32.push(await timed(['score', ...common, '--redis', redis.url, '--queue', 'bench', '--batch', '32', '--out', out('queue32')]));
      await stop();
      res.local2.push(await timed(['score', ...common, '--threads', '2', '--out', out('local2')]));
      stop = await workers(2);
      res.queue2x1.push(await timed(['score', ...common, '--redis', redis.url, '--queue', 'bench', '--batch', '8', '--out', out('queue2x1')]));
      await stop();
    }
    // the queue runs wrote what the local run wrote
    const ref = readFileSync(join(dir, 'local1.jsonl'), 'utf8');
    for (const n of ['queue1', 'queue8', 'queue32', 'queue2x1']) if (readFileSync(join(dir, `${n}.jsonl`), 'utf8') !== ref) throw new Error(`${n}.jsonl differs from the local run`);
  } finally {
    await redis.stop();
  }
  const m = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, median(v)]));
  const pct = (a: number, b: number) => `${(((a - b) / b) * 100).toFixed(1)}%`;
  const n = opts.images;
  console.log(`[queue] ${n} MNIST digits, mnist-jepa, whole commands (start-up, listing, model load included), medians of ${opts.runs}`);
  // scoring time: the whole command less its fixed cost on 0 images
  const sLocal = m.local1 - m.local0;
  console.log(`[queue] fixed cost on 0 images: local ${m.local0.toFixed(2)} s, coordinator ${m.queue0.toFixed(2)} s`);
  console.log(`[queue] local score --threads 1: ${m.local1.toFixed(2)} s, scoring ${sLocal.toFixed(2)} s (${(n / sLocal).toFixed(1)} images/s)`);
  for (const [b, total] of [[1, m.queue1], [8, m.queue8], [32, m.queue32]]) {
    const sq = total - m.queue0;
    const perJob = ((sq - sLocal) / Math.ceil(n / b)) * 1000;
    console.log(`[queue] coordinator + 1 worker x 1 thread, ${b} image(s)/job: ${total.toFixed(2)} s, scoring ${sq.toFixed(2)} s, overhead ${pct(sq, sLocal)} of the local scoring time (${perJob.toFixed(1)} ms per job)`);
  }
  console.log(`[queue] local score --threads 2: ${m.local2.toFixed(2)} s; coordinator + 2 workers x 1 thread (8 images/job): ${m.queue2x1.toFixed(2)} s (${(m.local2 / m.queue2x1).toFixed(2)}x)`);
  const lo = Object.fromEntries(Object.entries(res).map(([k, v]) => [k, Math.min(...v)]));
  console.log(`[queue] minima of the runs (least disturbed by other load): ${Object.entries(lo).map(([k, v]) => `${k} ${v.toFixed(2)} s`).join(', ')}`);
  console.log('[queue] every queue run wrote the same bytes as the local run');
  return { images: n, runs: opts.runs, seconds: res, medians: m, minima: lo };
}
