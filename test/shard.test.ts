// --shard i/n and merge: the shards of a run, merged, are the whole run; a missing or doubled shard is reported.
// Also: --device cuda without onnxruntime's CUDA provider is one clear line.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportDatasetAsPngs } from '../src/data/datasets.js';
import { cudaProviderPath } from '../src/runtime/node.js';
import { shardOf } from '../src/cli/shard.js';
import { cli } from './support/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'shard-'));
const imgs = join(dir, 'imgs');
let whole: string;

before(async () => {
  await exportDatasetAsPngs('mnist', imgs, 40);
  const r = cli(['score', imgs, '--out', join(dir, 'whole.jsonl'), '--threads', '1', '--spectrum'], {}, dir);
  assert.equal(r.code, 0, r.stderr);
  whole = readFileSync(join(dir, 'whole.jsonl'), 'utf8');
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('a shard depends on the path only: listing more files does not move the others', () => {
  const names = Array.from({ length: 200 }, (_, i) => `c${i % 7}/${i}.png`);
  const counts = [0, 0, 0];
  for (const n of names) counts[shardOf(n, 3)]++;
  // near 1/3 each (binomial sd ~6.7)
  for (const c of counts) assert.ok(Math.abs(c - 200 / 3) < 30, String(counts));
  const before = names.map((n) => shardOf(n, 3));
  const after = [...names, 'new/1.png', 'a.png'].map((n) => shardOf(n, 3));
  assert.deepEqual(after.slice(0, names.length), before);
});

test('--shard 0/2 and 1/2 merged equal the whole run; a missing or doubled shard is reported', () => {
  const parts = [0, 1].map((i) => {
    // each shard writes in its own folder (paths in lines are relative to it)
    const out = join(dir, 'parts', `task${i}`, `s${i}.jsonl`);
    const r = cli(['score', imgs, '--out', out, '--threads', '1', '--spectrum', '--shard', `${i}/2`], {}, dir);
    assert.equal(r.code, 0, r.stderr);
    return out;
  });
  const lines = parts.map((p) => readFileSync(p, 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
  assert.equal(lines[0].length + lines[1].length, 40);
  assert.ok(lines[0].length > 5 && lines[1].length > 5);
  assert.deepEqual(lines[0][0].shard, '0/2');
  assert.equal(lines[0][0].total, 40);

  // shard outputs sit in other folders: merge rebases their paths to the merged file's folder
  const merged = join(dir, 'all.jsonl');
  const m = cli(['merge', ...parts, '--out', merged], {}, dir);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(readFileSync(merged, 'utf8'), whole);

  const missing = cli(['merge', parts[0], '--out', join(dir, 'x.jsonl')], {}, dir);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, new RegExp(`^jepa-score: merge: ${lines[1].length} of 40 item\\(s\\) missing: shard\\(s\\) 1/2 in none of the files; indices ${lines[1][0].index},`));
  assert.ok(!existsSync(join(dir, 'x.jsonl')));
  const partial = cli(['merge', parts[0], '--out', join(dir, 'p.jsonl'), '--partial'], {}, dir);
  assert.equal(partial.code, 0, partial.stderr);
  assert.equal(readFileSync(join(dir, 'p.jsonl'), 'utf8').trim().split('\n').length, lines[0].length);

  const twice = cli(['merge', parts[0], parts[1], parts[1], '--out', join(dir, 'y.jsonl')], {}, dir);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, new RegExp(`${lines[1].length} item\\(s\\) duplicated: index ${lines[1][0].index} in `));

  // a shard of another listing is refused
  writeFileSync(join(dir, 'other.jsonl'), JSON.stringify({ ...lines[1][0], total: 41 }) + '\n');
  const other = cli(['merge', parts[0], join(dir, 'other.jsonl'), '--out', join(dir, 'z.jsonl')], {}, dir);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /other\.jsonl: line 1 is from another list/);
});

test('--device cuda without the CUDA provider fails with one line saying how to install it', { skip: existsSync(cudaProviderPath()) && 'the CUDA provider is installed here' }, () => {
  for (const args of [['score', imgs, '--out', join(dir, 'cuda.jsonl'), '--device', 'cuda'], ['worker', '--redis', 'redis://127.0.0.1:1', '--device', 'cuda']]) {
    const r = cli(args, {}, dir);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^jepa-score: --device cuda: onnxruntime-node's CUDA provider is not installed .*--onnxruntime-node-install=cuda12/);
  }
  const bad = cli(['score', imgs, '--out', join(dir, 'cuda.jsonl'), '--device', 'tpu'], {}, dir);
  assert.match(bad.stderr, /--device must be one of cpu, cuda, got 'tpu'/);
});
