// Queue mode: `score --redis` as coordinator with real `jepa-score worker` processes on a private redis-server.
// Truth: the JSONL of a local `score` run with the same settings, compared byte for byte.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportDatasetAsPngs } from '../src/data/datasets.js';
import { cli, ROOT, spawnCli, until } from './support/cli.js';
import { freePort, redisSkip, RedisServer, startRedis } from './support/redis.js';

const skip = redisSkip();
const dir = mkdtempSync(join(tmpdir(), 'queue-'));
const imgs = join(dir, 'imgs');
// --views makes each image slow enough (5 Jacobians) for a worker to be killed mid-job
const SETTINGS = ['--model', 'mnist-jepa', '--views', '4', '--augment', 'digits', '--seed', '3'];
const WORKER_ENV = { JEPA_QUEUE_LOCK_MS: '2000' };
let redis: RedisServer;
let local: string;

before(async () => {
  if (skip) return;
  redis = await startRedis();
  await exportDatasetAsPngs('mnist', imgs, 40);
  writeFileSync(join(imgs, '3', 'broken.png'), 'not a png');
  const r = cli(['score', imgs, '--out', join(dir, 'local.jsonl'), '--threads', '1', ...SETTINGS], {}, dir);
  assert.equal(r.code, 0, r.stderr);
  local = readFileSync(join(dir, 'local.jsonl'), 'utf8');
  assert.equal(local.trim().split('\n').length, 41);
});

after(async () => {
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function worker(queue: string, extra: string[] = []) {
  return spawnCli(['worker', '--redis', redis.url, '--queue', queue, '--threads', '1', ...extra], WORKER_ENV, dir);
}

async function stop(w: ReturnType<typeof worker>) {
  w.proc.kill('SIGTERM');
  await w.exited;
}

const jobLines = (log: string) => log.split('\n').filter((l) => /: job \S+: \d+ images/.test(l));

test('two workers write the same file as a local run, byte for byte (images and pixel_values); a bad image fails its line only', { skip }, async () => {
  const ws = [worker('same'), worker('same')];
  const r = cli(['score', imgs, '--out', join(dir, 'q.jsonl'), '--redis', redis.url, '--queue', 'same', ...SETTINGS], {}, dir);
  // pixel_values rows travel as (file, index) too; another model and settings on the same workers
  const fix = join(ROOT, 'test/fixtures/clip-tiny');
  const pv = ['--model', fix, '--pixel-values', join(fix, 'expected.safetensors'), '--spectrum'];
  const pl = cli(['score', ...pv, '--out', join(dir, 'pv-local.jsonl'), '--threads', '1'], {}, dir);
  const pq = cli(['score', ...pv, '--out', join(dir, 'pv-queue.jsonl'), '--redis', redis.url, '--queue', 'same'], {}, dir);
  await Promise.all(ws.map(stop));
  assert.equal(pl.code, 0, pl.stderr);
  assert.equal(pq.code, 0, pq.stderr);
  assert.equal(readFileSync(join(dir, 'pv-queue.jsonl'), 'utf8'), readFileSync(join(dir, 'pv-local.jsonl'), 'utf8'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /scored 40 images, 1 failed/);
  assert.equal(readFileSync(join(dir, 'q.jsonl'), 'utf8'), local);
  // both workers took part
  for (const w of ws) assert.ok(jobLines(w.log()).length > 0, w.log());
});

test('kill -9 of a worker mid-run loses and duplicates nothing', { skip }, async () => {
  const out = join(dir, 'k.jsonl');
  const a = worker('kill', ['--concurrency', '2']);
  const coord = spawnCli(['score', imgs, '--out', out, '--redis', redis.url, '--queue', 'kill', ...SETTINGS], {}, dir);
  const ids = (lines: string[]) => new Set(lines.map((l) => l.split(' ')[3]));
  const started = (log: string) => ids(log.split('\n').filter((l) => /: job \S+: started/.test(l)));
  // kill A while it holds a job it has not finished
  const inFlight = () => [...started(a.log())].filter((id) => !ids(jobLines(a.log())).has(id));
  await until(() => jobLines(a.log()).length >= 8 && inFlight().length > 0, 60_000, 'worker A to finish 8 jobs and hold another');
  a.proc.kill('SIGKILL');
  await a.exited;
  const lost = inFlight();
  const b = worker('kill');
  assert.equal(await coord.exited, 0, coord.log());
  await stop(b);
  assert.equal(readFileSync(out, 'utf8'), local);
  // the jobs A held went to B, and every job finished
  for (const id of lost) assert.ok(ids(jobLines(b.log())).has(id), `job ${id} lost`);
  const done = ids([...jobLines(a.log()), ...jobLines(b.log())]);
  assert.equal(done.size, 41);
});

test('a restarted coordinator resumes and does not enqueue twice', { skip }, async () => {
  const out = join(dir, 'r.jsonl');
  const args = ['score', imgs, '--out', out, '--redis', redis.url, '--queue', 'restart', ...SETTINGS];
  const w = worker('restart');
  const first = spawnCli(args, {}, dir);
  await until(() => existsSync(out) && readFileSync(out, 'utf8').split('\n').length > 10, 60_000, '10 lines');
  first.proc.kill('SIGKILL');
  await first.exited;
  const second = cli(args, {}, dir);
  await stop(w);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stderr, /resuming .*: \d+ done/);
  assert.equal(readFileSync(out, 'utf8'), local);
  // each job ran once: the second coordinator found the first one's jobs instead of adding new ones
  const ids = jobLines(w.log()).map((l) => l.split(' ')[3]);
  assert.equal(ids.length, 41);
  assert.equal(new Set(ids).size, 41);
});

test('a job that keeps failing is retried, then written as error lines naming each image', { skip }, async () => {
  // the model folder exists when the coordinator checks it and is gone when the worker loads it
  const model = join(dir, 'model-gone');
  cpSync(join(ROOT, 'assets/models/mnist-jepa'), model, { recursive: true });
  const out = join(dir, 'f.jsonl');
  const coord = spawnCli(['score', join(imgs, '0'), '--out', out, '--redis', redis.url, '--queue', 'fail', '--model', model, '--batch', '10'], {}, dir);
  await until(() => /jobs; start workers/.test(coord.log()), 30_000, 'jobs enqueued');
  rmSync(model, { recursive: true });
  const w = worker('fail');
  assert.equal(await coord.exited, 0, coord.log());
  await stop(w);
  const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length > 0);
  for (const l of lines) {
    assert.match(l.error, new RegExp(`${l.path.replace(/[.]/g, '\\.')}: job failed after 3 attempts: .*model-gone`));
  }
  assert.match(w.log(), /failed \(attempt 3\)/);
});

test('unreachable Redis is one clear line for the coordinator and the worker', { skip }, async () => {
  const url = `redis://127.0.0.1:${await freePort()}`;
  for (const args of [['score', imgs, '--out', join(dir, 'u.jsonl'), '--redis', url], ['worker', '--redis', url]]) {
    const r = cli(args, {}, dir);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^jepa-score: cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
  }
});
