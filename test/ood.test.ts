import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { exportDatasetAsPngs, loadDataset } from '../src/data/datasets.js';
import { Rng } from '../src/data/random.js';
import { writeSafetensors } from '../src/data/safetensors.js';
import { Tensor } from '../src/graph/tensor.js';
import { oodMetrics } from '../src/experiments/metrics.js';
import { digitsOodModel, runOod } from '../src/experiments/ood.js';
import { buildDigitsEncoder, defaultDigitsConfig, DigitsConfig, initDigitsWeights, loadDigitsEncoder } from '../src/models/digits.js';
import { runOnce } from '../src/runtime/session.js';
import { gram, symmetricEigen } from '../src/score/linalg.js';

const run = promisify(execFile);
const small: DigitsConfig = { ...defaultDigitsConfig(), conv_channels: [4, 8], hidden_size: 32, embedding_dim: 8 };

function modelDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ood-model-'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(small));
  writeSafetensors(join(dir, 'model.safetensors'), initDigitsWeights(small, new Rng(7)));
  return dir;
}

// JEPA-SCORE from a Jacobian by central finite differences of the forward graph (independent of the autodiff).
async function fdScore(dir: string, x: Float32Array): Promise<number> {
  const enc = loadDigitsEncoder(dir);
  const D = 784;
  const K = small.embedding_dim;
  const h = 1e-2;
  const g = buildDigitsEncoder(small, enc.graph.initializers, { batch: 2 * D });
  const xs = new Float32Array(2 * D * D);
  for (let d = 0; d < D; d++) {
    xs.set(x, 2 * d * D);
    xs.set(x, (2 * d + 1) * D);
    xs[2 * d * D + d] += h;
    xs[(2 * d + 1) * D + d] -= h;
  }
  const z = (await runOnce(g.graph, { [g.input]: new Tensor('float32', [2 * D, 1, 28, 28], xs) }))[g.output].data as Float32Array;
  const J = new Float64Array(K * D);
  for (let d = 0; d < D; d++) for (let k = 0; k < K; k++) J[k * D + d] = (z[2 * d * K + k] - z[(2 * d + 1) * K + k]) / (2 * h);
  const ev = symmetricEigen(gram(J, K, D), K).values;
  return ev.reduce((s, v) => s + Math.log(Math.max(Math.sqrt(Math.max(v, 0)), 1e-6)), 0);
}

test('ood on built-in sets: metrics.json, table, scores.jsonl with real image paths, scores that match finite differences', async () => {
  const dir = modelDir();
  const out = mkdtempSync(join(tmpdir(), 'ood-out-'));
  const model = digitsOodModel('small', loadDigitsEncoder(dir), 1);
  const res = await runOod(model, { inSet: 'mnist', oodSets: ['fashion-mnist', 'noise'], outDir: out, limit: 12, trainLimit: 200, threads: 1 });
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  for (const method of ['jepa-score', 'jepa-score-rank', 'jepa-score+log-density', 'knn-1', 'knn-5', 'knn-50', 'mahalanobis', 'mahalanobis-class', 'norm']) {
    for (const set of ['fashion-mnist', 'noise']) {
      const v = m.methods[method]?.[set];
      assert.ok(v, `${method} on ${set}`);
      for (const key of ['auroc', 'fpr95', 'aupr']) assert.ok(v[key] >= 0 && v[key] <= 1, `${method} ${set} ${key}`);
    }
  }
  assert.match(res.table, /\| jepa-score \|/);
  assert.equal(readFileSync(join(out, 'metrics.md'), 'utf8').trim(), res.table);

  const rows = readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 36);
  for (const r of rows) assert.ok(existsSync(join(out, r.path)), r.path);
  assert.deepEqual([...new Set(rows.map((r) => r.dataset))], ['mnist', 'fashion-mnist', 'noise']);
  // metrics.json agrees with the scores in the jsonl
  const of = (set: string) => rows.filter((r) => r.dataset === set).map((r) => r.score);
  const again = oodMetrics(of('mnist'), of('noise'));
  assert.ok(Math.abs(again.auroc - m.methods['jepa-score'].noise.auroc) < 1e-12);
  // the first digit's score against a finite-difference Jacobian
  const mnist = await loadDataset('mnist', { limit: 1 });
  const fd = await fdScore(dir, mnist.images[0]);
  assert.ok(Math.abs(rows[0].score - fd) < 0.05, `score ${rows[0].score} vs finite differences ${fd}`);

  // a run killed half way resumes from scores.jsonl and ends with the same metrics
  const lines = readFileSync(join(out, 'scores.jsonl'), 'utf8').split('\n');
  writeFileSync(join(out, 'scores.jsonl'), lines.slice(0, 20).join('\n') + '\n' + lines[20].slice(0, 15));
  const logs: string[] = [];
  await runOod(model, { inSet: 'mnist', oodSets: ['fashion-mnist', 'noise'], outDir: out, limit: 12, trainLimit: 200, threads: 1, log: (s) => logs.push(s) });
  assert.ok(logs.some((l) => /resuming .*: 20 images already scored/.test(l)), logs.join('\n'));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).methods, m.methods);
  assert.equal(readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n').length, 36);
});

test('ood on folders: the in-distribution folder is split into fit and held-out halves', async () => {
  const dir = modelDir();
  const root = mkdtempSync(join(tmpdir(), 'ood-folders-'));
  await exportDatasetAsPngs('mnist', join(root, 'digits'), 30);
  await exportDatasetAsPngs('letters', join(root, 'letters'), 10);
  const out = join(root, 'out');
  const res = await runOod(digitsOodModel('small', loadDigitsEncoder(dir), 1), {
    inSet: join(root, 'digits'),
    oodSets: [join(root, 'letters')],
    outDir: out,
    ks: [1, 5],
    threads: 1,
  });
  assert.equal(Object.values(res.counts)[0], 15); // fit half
  assert.equal(Object.values(res.counts)[1], 15); // held-out half
  const rows = readFileSync(res.scoresPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 25);
  for (const r of rows) assert.ok(existsSync(join(out, r.path)), r.path);
  const m = JSON.parse(readFileSync(res.metricsPath, 'utf8'));
  assert.ok(m.methods['knn-5'][join(root, 'letters')]);
  assert.ok(m.methods['mahalanobis-class'], 'class folders give labels');
});

test('jepa-score ood CLI: writes metrics.json; bad sets give one-line errors', async () => {
  const dir = modelDir();
  const out = mkdtempSync(join(tmpdir(), 'ood-cli-'));
  const args = ['bin/jepa-score.js', 'ood', '--model', dir, '--in', 'mnist', '--ood', 'fashion-mnist', '--out', out, '--limit', '8', '--train-limit', '100', '--threads', '1', '--no-report'];
  const r = await run('node', args, { env: { ...process.env, JEPA_THREADS: '1' } });
  assert.match(r.stdout, /\| jepa-score \|/);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  assert.ok(m.methods['jepa-score']['fashion-mnist'].auroc >= 0);
  const bad = await run('node', ['bin/jepa-score.js', 'ood', '--model', dir, '--in', 'mnist', '--ood', '/no/such/set', '--out', out]).catch((e) => e);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^jepa-score: \/no\/such\/set: neither a built-in data set/m);
  assert.doesNotMatch(bad.stderr, /\n\s+at /);
  const badModel = await run('node', ['bin/jepa-score.js', 'ood', '--model', '/no/model', '--in', 'mnist', '--ood', 'noise', '--out', out]).catch((e) => e);
  assert.equal(badModel.code, 1);
  assert.match(badModel.stderr, /\/no\/model/);
});
