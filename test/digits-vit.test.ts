import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../src/data/datasets.js';
import { Rng } from '../src/data/random.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Tensor } from '../src/graph/tensor.js';
import { builtinModelDir, loadBuiltinModel } from '../src/models/builtin.js';
import { loadEncoder } from '../src/models/encoder.js';
import { runOnce } from '../src/runtime/session.js';
import { knnAccuracy, trainDigits } from '../src/train/digits.js';
import { addVitEncoder, digitsVitConfig, embedVitImages, initVitWeights, vitParamShapes } from '../src/train/vit.js';

const images = (n: number, seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => Float32Array.from({ length: 784 }, () => rng.range(0, 1)));
};

test('the ViT training graph computes the DINOv2 graph of src/models/vit.ts', async () => {
  const vit = digitsVitConfig({ hiddenSize: 32, layers: 2, heads: 2, patchSize: 7 });
  const w = initVitWeights(vit, new Rng(1));
  const rng = new Rng(2);
  // move every weight off its initial value so biases, LayerNorm and layer scales all matter
  for (const t of w.values()) for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i] += 0.1 * rng.normal();
  const n = 3;
  const b = new GraphBuilder('t');
  const x = b.input('x', 'float32', [n, 1, 28, 28]);
  const names = new Map<string, string>();
  for (const [name] of vitParamShapes(vit)) names.set(name, b.init(name, w.get(name)!));
  const z = addVitEncoder(b, vit, x, n, (k) => names.get(k)!);
  b.output(z, 'float32', [n, 32]);
  const xs = images(n, 3);
  const data = new Float32Array(n * 784);
  xs.forEach((im, i) => data.set(im, i * 784));
  const out = (await runOnce(b.build(), { x: new Tensor('float32', [n, 1, 28, 28], data) }, { threads: 1 }))[z].data as Float32Array;
  const ref = await embedVitImages(vit, w, xs, 1);
  for (let i = 0; i < n; i++) for (let k = 0; k < 32; k++) assert.ok(Math.abs(ref[i][k] - out[i * 32 + k]) < 1e-4, `${i},${k}: ${ref[i][k]} vs ${out[i * 32 + k]}`);
});

test('train --arch vit writes a Hugging Face folder that loads and resumes', async () => {
  const out = mkdtempSync(join(tmpdir(), 'digits-vit-'));
  const opts = { out, arch: 'vit' as const, vit: { hiddenSize: 16, layers: 1, heads: 2, patchSize: 14, mlpRatio: 2 }, batch: 16, directions: 8, trainLimit: 64, skipEval: true, threads: 1, checkpointEvery: 2, seed: 1 };
  const first = await trainDigits({ ...opts, steps: 2 });
  assert.ok(first.losses.every(Number.isFinite));
  const more = await trainDigits({ ...opts, steps: 4 });
  assert.equal(more.losses.length, 2);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.model_type, 'dinov2');
  const enc = await loadEncoder(out);
  assert.equal(enc.embeddingDim, 16);
  assert.deepEqual(enc.inputShape, [1, 1, 28, 28]);
  // the folder's graph gives the trainer's weights' embedding
  const x = images(1, 5)[0];
  const z = (await runOnce(enc.graph, { [enc.input]: new Tensor('float32', [1, 1, 28, 28], x) }, { threads: 1 }))[enc.output].data as Float32Array;
  const ref = await embedVitImages(digitsVitConfig(opts.vit), more.weights, [x], 1);
  for (let k = 0; k < 16; k++) assert.ok(Math.abs(z[k] - ref[0][k]) < 1e-4);
});

test('built-in digits-vit: the same embeddings as built-in and as a Hugging Face folder; its recorded small-subset kNN accuracy reproduces', async () => {
  const dir = builtinModelDir('digits-vit');
  const builtin = loadBuiltinModel('digits-vit');
  const folder = await loadEncoder(dir);
  assert.equal(builtin.embeddingDim, 128);
  assert.deepEqual(folder.inputShape, [1, 1, 28, 28]);
  // its image processor: 28x28, pixels in [0, 1], one channel
  const { preprocessConfigFor } = await import('../src/data/preprocess.js');
  const pre = preprocessConfigFor(dir, 'dinov2');
  assert.deepEqual([pre.resize, pre.centerCrop, pre.rescale, pre.mean, pre.std], [{ height: 28, width: 28 }, undefined, 1 / 255, [0], [1]]);
  const x = (await loadDataset('mnist', { limit: 1 })).images[0];
  const feed = (e: typeof builtin) => runOnce(e.graph, { [e.input]: new Tensor('float32', [1, 1, 28, 28], x) }, { threads: 1 }).then((r) => r[e.output].data as Float32Array);
  const [a, b] = [await feed(builtin), await feed(folder)];
  for (let k = 0; k < 128; k++) assert.equal(a[k], b[k]);
  const metrics = JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'));
  const small = metrics.knn_small_subset;
  const train = await loadDataset('mnist-train', { limit: small.train_images });
  const test = await loadDataset('mnist', { limit: small.test_images });
  const vit = digitsVitConfig(metrics.settings.vit);
  const { loadWeights } = await import('../src/data/safetensors.js');
  const { canonicalWeights } = await import('../src/models/names.js');
  const w = canonicalWeights(loadWeights(dir), dir).weights;
  const zt = await embedVitImages(vit, w, train.images, 1);
  const ze = await embedVitImages(vit, w, test.images, 1);
  const acc = knnAccuracy(zt, train.labels!, ze, test.labels!, 10);
  assert.ok(Math.abs(acc - small.knn_accuracy) < 1e-9, `kNN on ${small.train_images}/${small.test_images}: ${acc} vs recorded ${small.knn_accuracy}`);
});

test('score --model digits-vit, exact, --approx 8 and --approx (K/8): the lines match the library on the exact Jacobian', async () => {
  const { spawnSync } = await import('node:child_process');
  const { writeSafetensors } = await import('../src/data/safetensors.js');
  const { JepaScorer } = await import('../src/score/jepa.js');
  const { approxScoreFromJacobian } = await import('../src/score/approx.js');
  const root = new URL('..', import.meta.url).pathname;
  const dir = mkdtempSync(join(tmpdir(), 'digits-vit-cli-'));
  const xs = (await loadDataset('mnist', { limit: 2 })).images;
  const pv = new Float32Array(2 * 784);
  xs.forEach((x, i) => pv.set(x, i * 784));
  writeSafetensors(join(dir, 'pv.safetensors'), { pixel_values: new Tensor('float32', [2, 1, 28, 28], pv) });
  const cli = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin/jepa-score.js'), 'score', '--model', 'digits-vit', '--pixel-values', join(dir, 'pv.safetensors'), '--threads', '1', ...args], { encoding: 'utf8' });
  assert.equal(cli('--out', join(dir, 'exact.jsonl')).status, 0);
  assert.equal(cli('--out', join(dir, 'approx.jsonl'), '--approx', '8').status, 0);
  const read = (f: string) => readFileSync(join(dir, f), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const [exact, approx] = [read('exact.jsonl'), read('approx.jsonl')];
  const scorer = await JepaScorer.create(loadBuiltinModel('digits-vit'), { threads: 1 });
  for (let i = 0; i < 2; i++) {
    const { J } = await scorer.jacobian(xs[i]);
    const e = (await scorer.score(xs[i])).score;
    const a = approxScoreFromJacobian(J, 128, 784, { rows: 8 }).score;
    assert.ok(Math.abs(exact[i].score - e) < 1e-6 * Math.abs(e) + 1e-6, `exact ${exact[i].score} vs ${e}`);
    assert.ok(Math.abs(approx[i].score - a) < 1e-3 * Math.abs(a) + 1e-3, `approx ${approx[i].score} vs ${a}`);
    assert.deepEqual(approx[i].approx, { rows: 8, method: 'sketch', sketches: 1, seed: 0 });
    assert.equal(exact[i].approx, undefined);
  }
  await scorer.release();
  // --approx without r: K/8 = 16 products, the same lines as --approx 16
  assert.equal(cli('--out', join(dir, 'dflt.jsonl'), '--approx').status, 0);
  assert.equal(cli('--out', join(dir, 'r16.jsonl'), '--approx', '16').status, 0);
  assert.deepEqual(read('dflt.jsonl'), read('r16.jsonl'));
  assert.equal(read('dflt.jsonl')[0].approx.rows, 16);
  const bad = cli('--out', join(dir, 'bad.jsonl'), '--approx', '129');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr.trim(), /^jepa-score: approx: 129 rows asked for, the embedding has only K = 128$/);
});
