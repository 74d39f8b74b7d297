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
import { complexityBits } from '../src/experiments/variants.js';
import { augment } from '../src/data/augment.js';
import { JepaScorer } from '../src/score/jepa.js';
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
  const opts = { inSet: 'mnist', oodSets: ['fashion-mnist', 'noise', 'constant'], seeds: [1, 2], outDir: out, limit: 12, trainLimit: 200, variantTrain: 50, threads: 1 };
  const res = await runOod(model, opts);
  const m = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
  const variants = ['jepa-score+complexity', 'jepa-score-complexity', 'jepa-score-complexity-fit', 'jepa-score+fitted-log-density', 'jepa-score+class-log-density', 'jepa-score-knn-normalised'];
  for (const method of ['jepa-score', 'jepa-score-rank', 'jepa-score+log-density', ...variants, 'knn-1', 'knn-5', 'knn-50', 'mahalanobis', 'mahalanobis-class', 'norm']) {
    for (const set of ['fashion-mnist', 'noise', 'constant']) {
      const v = m.methods[method]?.[set];
      assert.ok(v, `${method} on ${set}`);
      for (const key of ['auroc', 'fpr95', 'aupr']) assert.ok(v[key] >= 0 && v[key] <= 1, `${method} ${set} ${key}`);
    }
  }
  assert.match(res.table, /\| jepa-score \|/);
  assert.equal(readFileSync(join(out, 'metrics.md'), 'utf8').trim(), res.table);

  const rows = readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 72);
  for (const r of rows) assert.ok(existsSync(join(out, r.path)), r.path);
  assert.deepEqual([...new Set(rows.map((r) => r.dataset))], ['mnist', 'fashion-mnist', 'noise', 'constant']);
  assert.deepEqual([...new Set(rows.filter((r) => r.dataset === 'noise').map((r) => r.ood_seed))], [1, 2]);
  // metrics.json agrees with the scores in the jsonl: random sets give the mean over seeds and the range
  const of = (set: string, seed?: number, key = (r: { score: number }) => r.score) =>
    rows.filter((r) => r.dataset === set && (seed === undefined || r.ood_seed === seed)).map(key);
  const perSeed = [1, 2].map((seed) => oodMetrics(of('mnist'), of('noise', seed)).auroc);
  assert.ok(Math.abs((perSeed[0] + perSeed[1]) / 2 - m.methods['jepa-score'].noise.auroc) < 1e-12);
  assert.deepEqual(m.methods['jepa-score'].noise.auroc_range, [Math.min(...perSeed), Math.max(...perSeed)]);
  assert.match(res.table, / \| \d\.\d{3} \(\d\.\d{3}-\d\.\d{3}\) \|/);
  // every line carries the variants; the complexity one is its formula on the line's own image
  const mnist4 = await loadDataset('mnist', { limit: 12 });
  for (const i of [0, 7]) {
    assert.equal(rows[i].complexity_bits, complexityBits(mnist4.images[i]));
    assert.ok(Math.abs(rows[i].variants['jepa-score+complexity'] - (rows[i].score + rows[i].complexity_bits * Math.LN2)) < 1e-9);
  }
  for (const v of variants) {
    const byLine = oodMetrics(of('mnist', undefined, (r: any) => r.variants[v]), of('fashion-mnist', undefined, (r: any) => r.variants[v]));
    assert.ok(Math.abs(byLine.auroc - m.methods[v]['fashion-mnist'].auroc) < 1e-12, v);
  }
  // the chosen method is the JEPA-based one with the best mean AUROC
  const mean = (meth: string) => ['fashion-mnist', 'noise', 'constant'].reduce((a, set) => a + m.methods[meth][set].auroc, 0) / 3;
  const jepa = Object.keys(m.methods).filter((x) => x.startsWith('jepa-score'));
  assert.equal(m.chosen, jepa.reduce((a, b) => (mean(b) > mean(a) ? b : a)));
  assert.ok(Math.abs(m.mean_auroc[m.chosen] - mean(m.chosen)) < 1e-12);
  // the first digit's score against a finite-difference Jacobian
  const mnist = await loadDataset('mnist', { limit: 1 });
  const fd = await fdScore(dir, mnist.images[0]);
  assert.ok(Math.abs(rows[0].score - fd) < 0.05, `score ${rows[0].score} vs finite differences ${fd}`);

  // a run killed half way resumes from scores.jsonl and ends with the same metrics
  const lines = readFileSync(join(out, 'scores.jsonl'), 'utf8').split('\n');
  writeFileSync(join(out, 'scores.jsonl'), lines.slice(0, 20).join('\n') + '\n' + lines[20].slice(0, 15));
  const trainLines = readFileSync(join(out, 'train-scores.jsonl'), 'utf8').split('\n');
  writeFileSync(join(out, 'train-scores.jsonl'), trainLines.slice(0, 30).join('\n') + '\n');
  const logs: string[] = [];
  await runOod(model, { ...opts, log: (s) => logs.push(s) });
  assert.ok(logs.some((l) => /resuming .*: 30 training and 20 evaluated images already scored/.test(l)), logs.join('\n'));
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')).methods, m.methods);
  assert.equal(readFileSync(join(out, 'scores.jsonl'), 'utf8').trim().split('\n').length, 72);
  // blurred digits come from mnist test images the in-distribution sample can not reach
  await assert.rejects(runOod(model, { ...opts, oodSets: ['mnist-blurred'], limit: 1001, outDir: mkdtempSync(join(tmpdir(), 'ood-out-')) }), /overlap/);
});

test('ood --views: the eq. 4 view average of each image, from the seeded augmented views', async () => {
  const dir = modelDir();
  const out = mkdtempSync(join(tmpdir(), 'ood-views-'));
  const enc = loadDigitsEncoder(dir);
  const res = await runOod(digitsOodModel('small', enc, 1), { inSet: 'mnist', oodSets: ['noise'], outDir: out, limit: 3, trainLimit: 40, variantTrain: 20, views: 2, threads: 1 });
  const rows = readFileSync(res.scoresPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const m = JSON.parse(readFileSync(res.metricsPath, 'utf8'));
  assert.ok(m.methods['jepa-score-views'].noise.auroc >= 0);
  const scorer = await JepaScorer.create(enc, { threads: 1 });
  try {
    const mnist = await loadDataset('mnist', { limit: 3 });
    for (const i of [0, 2]) {
      const rng = new Rng(i); // 1000003 x seed 0 + index
      const s: number[] = [];
      for (let v = 0; v < 2; v++) s.push((await scorer.score(augment(mnist.images[i], 1, 28, 28, 'digits', rng))).score);
      const expected = -Math.log((Math.exp(-s[0]) + Math.exp(-s[1])) / 2);
      assert.ok(Math.abs(rows[i].score_views - expected) < 1e-9, `${rows[i].score_views} vs ${expected}`);
      assert.equal(rows[i].variants['jepa-score-views'], rows[i].score_views);
    }
  } finally {
    await scorer.release();
  }
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
