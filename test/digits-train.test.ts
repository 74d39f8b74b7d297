import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { readSafetensors } from '../src/data/safetensors.js';
import { defaultDigitsConfig, DigitsConfig, loadDigitsEncoder } from '../src/models/digits.js';
import { loadDataset } from '../src/data/datasets.js';
import { DIGITS_AUGMENT_DEFAULTS, knnAccuracy, learningRate, linearProbeAccuracy, makeViews, trainDigits } from '../src/train/digits.js';

const small: DigitsConfig = { ...defaultDigitsConfig(), conv_channels: [4, 8], hidden_size: 32, embedding_dim: 8 };
const base = { config: small, batch: 32, views: 2, lr: 1e-2, warmup: 5, directions: 16, trainLimit: 256, skipEval: true, threads: 1, checkpointEvery: 5 };

test('LeJEPA training lowers the loss and writes a loadable model folder', async () => {
  const out = mkdtempSync(join(tmpdir(), 'digits-train-'));
  const res = await trainDigits({ ...base, out, steps: 40, seed: 1 });
  assert.equal(res.losses.length, 40);
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  const first = mean(res.losses.slice(0, 5));
  const last = mean(res.losses.slice(-5));
  assert.ok(last < 0.9 * first, `loss went from ${first} to ${last}`);
  const enc = loadDigitsEncoder(out);
  assert.equal(enc.embeddingDim, 8);
  const log = readFileSync(join(out, 'train-log.jsonl'), 'utf8').trim().split('\n');
  assert.equal(log.length, 40);
  assert.ok(existsSync(join(out, 'checkpoint.safetensors')));
});

test('a resumed run ends with exactly the weights of an uninterrupted one', async () => {
  const a = mkdtempSync(join(tmpdir(), 'digits-a-'));
  const b = mkdtempSync(join(tmpdir(), 'digits-b-'));
  const whole = await trainDigits({ ...base, out: a, steps: 10, seed: 3 });
  // killed during step 7: the last checkpoint is at step 5
  const kill = (step: number) => {
    if (step === 7) throw new Error('killed');
  };
  await assert.rejects(trainDigits({ ...base, out: b, steps: 10, seed: 3, onStep: kill }), /killed/);
  const resumed = await trainDigits({ ...base, out: b, steps: 10, seed: 3 });
  assert.equal(resumed.losses.length, 5);
  assert.deepEqual(resumed.losses, whole.losses.slice(5));
  const wa = readSafetensors(join(a, 'model.safetensors'));
  const wb = readSafetensors(join(b, 'model.safetensors'));
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, name);
  await assert.rejects(trainDigits({ ...base, out: b, steps: 12, seed: 4 }), /checkpoint\.safetensors: was trained with other settings \(seed\)/);
});

test('augmentation strength: the defaults are the digits preset, weaker views stay closer to the image, settings record it', async () => {
  const ds = await loadDataset('mnist-train', { limit: 64 });
  const idx = Array.from({ length: 64 }, (_, i) => i);
  const dflt = makeViews(ds, idx, 1, new Rng(5));
  assert.deepEqual(makeViews(ds, idx, 1, new Rng(5), { ...DIGITS_AUGMENT_DEFAULTS }), dflt);
  const weak = makeViews(ds, idx, 1, new Rng(5), { maxShift: 0.5, maxRotation: 2, minScale: 0.95 });
  const dist = (v: Float32Array) => idx.reduce((a, i) => a + ds.images[i].reduce((s, x, j) => s + (x - v[i * 784 + j]) ** 2, 0), 0);
  assert.ok(dist(weak) < 0.5 * dist(dflt), `weak ${dist(weak)} vs default ${dist(dflt)}`);
  const out = mkdtempSync(join(tmpdir(), 'digits-aug-'));
  await trainDigits({ ...base, out, steps: 2, seed: 1, augment: { maxShift: 1 } });
  const settings = JSON.parse(readFileSync(join(out, 'train-settings.json'), 'utf8'));
  assert.deepEqual(settings.augment, { preset: 'digits', maxShift: 1, maxRotation: 15, minScale: 0.6 });
  await assert.rejects(trainDigits({ ...base, out, steps: 4, seed: 1 }), /was trained with other settings \(augment\)/);
  const plain = mkdtempSync(join(tmpdir(), 'digits-aug0-'));
  await trainDigits({ ...base, out: plain, steps: 1, seed: 1, augment: { ...DIGITS_AUGMENT_DEFAULTS } });
  assert.equal(JSON.parse(readFileSync(join(plain, 'train-settings.json'), 'utf8')).augment, 'digits');
});

test('learning rate: warm-up then cosine to 5% of the peak', () => {
  assert.ok(Math.abs(learningRate(0, 100, 1, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRate(9, 100, 1, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(10, 100, 1, 10) - 1) < 1e-12);
  assert.ok(Math.abs(learningRate(100, 100, 1, 10) - 0.05) < 1e-12);
});

test('kNN accuracy matches a brute-force vote', () => {
  const rng = new Rng(9);
  const mk = (n: number) => Array.from({ length: n }, () => Float32Array.from({ length: 3 }, () => rng.normal()));
  const train = mk(60);
  const test = mk(25);
  const tl = train.map(() => rng.int(3));
  const el = test.map(() => rng.int(3));
  const cos = (a: Float32Array, b: Float32Array) => {
    const d = a.reduce((s, v, i) => s + v * b[i], 0);
    return d / Math.hypot(...a) / Math.hypot(...b);
  };
  let correct = 0;
  test.forEach((q, i) => {
    const nn = train.map((t, j) => [cos(q, t), tl[j]]).sort((x, y) => y[0] - x[0]).slice(0, 5);
    const votes = [0, 1, 2].map((c) => [nn.filter((v) => v[1] === c).length, nn.filter((v) => v[1] === c).reduce((s, v) => s + v[0], 0)]);
    let best = 0;
    for (let c = 1; c < 3; c++) if (votes[c][0] > votes[best][0] || (votes[c][0] === votes[best][0] && votes[c][1] > votes[best][1])) best = c;
    if (best === el[i]) correct++;
  });
  assert.equal(knnAccuracy(train, tl, test, el, 5), correct / test.length);
});

test('linear probe reaches the Bayes accuracy of two unit-variance Gaussians at -1 and +1 (Phi(1))', () => {
  const rng = new Rng(21);
  const draw = (n: number) => {
    const labels = Array.from({ length: n }, () => rng.int(2));
    // the class lives in the first feature; the second is pure noise
    const xs = labels.map((l) => [rng.normal() + (l ? 1 : -1), rng.normal()]);
    return { xs, labels };
  };
  const tr = draw(2000);
  const te = draw(20000);
  const acc = linearProbeAccuracy(tr.xs, tr.labels, te.xs, te.labels, { iterations: 200 });
  const phi1 = 0.8413447460685429;
  assert.ok(Math.abs(acc - phi1) < 0.01, `accuracy ${acc} vs ${phi1}`);
});
