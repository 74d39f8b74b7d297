import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/data/random.js';
import { writeSafetensors } from '../src/data/safetensors.js';
import { buildDigitsEncoder, DigitsConfig, defaultDigitsConfig, initDigitsWeights, loadDigitsEncoder } from '../src/models/digits.js';
import { runOnce } from '../src/runtime/session.js';

// erf by its Maclaurin series / continued fraction is overkill here: a direct numerical integral in float64.
function erf(x: number): number {
  const n = 2000;
  const h = x / n;
  let s = 0;
  for (let i = 0; i <= n; i++) {
    const t = i * h;
    s += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * Math.exp(-t * t);
  }
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
}
const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));

// The encoder written out in plain loops (float64), from the description in digits.ts.
function reference(cfg: DigitsConfig, w: Map<string, Tensor>, x: Float32Array): number[] {
  let c = cfg.num_channels;
  let s = cfg.image_size;
  let h: number[] = Array.from(x, (v) => (v - cfg.input_mean) / cfg.input_std);
  cfg.conv_kernels.forEach((k, li) => {
    const W = w.get(`conv${li + 1}.weight`)!.data as Float32Array;
    const B = w.get(`conv${li + 1}.bias`)!.data as Float32Array;
    const co = cfg.conv_channels[li];
    const st = cfg.conv_strides?.[li] ?? k;
    const p = cfg.conv_pads?.[li] ?? 0;
    const so = Math.floor((s + 2 * p - k) / st) + 1;
    const at = (ci: number, y: number, x: number) => (y < 0 || x < 0 || y >= s || x >= s ? 0 : h[(ci * s + y) * s + x]);
    const out = new Array(co * so * so).fill(0);
    for (let o = 0; o < co; o++)
      for (let i = 0; i < so; i++)
        for (let j = 0; j < so; j++) {
          let acc = B[o];
          for (let ci = 0; ci < c; ci++)
            for (let a = 0; a < k; a++)
              for (let bb = 0; bb < k; bb++) acc += W[((o * c + ci) * k + a) * k + bb] * at(ci, i * st - p + a, j * st - p + bb);
          out[(o * so + i) * so + j] = gelu(acc);
        }
    h = out;
    c = co;
    s = so;
  });
  const dense = (v: number[], name: string, act: boolean) => {
    const W = w.get(`${name}.weight`)!;
    const B = w.get(`${name}.bias`)!.data as Float32Array;
    const [no, ni] = W.dims;
    return Array.from({ length: no }, (_, o) => {
      let acc = B[o];
      for (let i = 0; i < ni; i++) acc += (W.data as Float32Array)[o * ni + i] * v[i];
      return act ? gelu(acc) : acc;
    });
  };
  return dense(dense(h, 'fc1', true), 'fc2', false);
}

const small: DigitsConfig = { ...defaultDigitsConfig(), conv_channels: [4, 6, 5], conv_kernels: [5, 5, 3], conv_strides: [2, 2, 2], conv_pads: [2, 2, 1], hidden_size: 16, embedding_dim: 8 };
const patchy: DigitsConfig = { ...small, conv_channels: [4, 6], conv_kernels: [2, 2], conv_strides: undefined, conv_pads: undefined };

for (const [name, cfg] of [['strided, padded', small], ['patchifying', patchy]] as const) {
  test(`digits encoder graph (${name} convolutions) matches a plain-loop reference`, async () => {
    const rng = new Rng(2);
    const w = initDigitsWeights(cfg, rng);
    const enc = buildDigitsEncoder(cfg, w, { batch: 2 });
    const x = Float32Array.from({ length: 2 * 784 }, () => rng.uniform());
    const out = await runOnce(enc.graph, { [enc.input]: new Tensor('float32', [2, 1, 28, 28], x) });
    const z = out.embedding;
    assert.deepEqual(z.dims, [2, 8]);
    for (let n = 0; n < 2; n++) {
      const want = reference(cfg, w, x.subarray(n * 784, (n + 1) * 784));
      want.forEach((v, k) => assert.ok(Math.abs((z.data as Float32Array)[n * 8 + k] - v) < 1e-4, `sample ${n} dim ${k}`));
    }
  });
}

test('digits encoder loads from a folder and reports bad files by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'digits-'));
  const rng = new Rng(4);
  const w = initDigitsWeights(small, rng);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(small));
  writeSafetensors(join(dir, 'model.safetensors'), w);
  const enc = loadDigitsEncoder(dir);
  assert.equal(enc.embeddingDim, 8);
  assert.deepEqual(enc.inputShape, [1, 1, 28, 28]);

  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...small, hidden_size: 17 }));
  assert.throws(() => loadDigitsEncoder(dir), /model\.safetensors: tensor fc1\.weight has shape \[16, 80\], expected \[17, 80\]/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...small, conv_kernels: [5, 5, 11] }));
  assert.throws(() => loadDigitsEncoder(dir), /config\.json: convolution 3 \(kernel 11\) does not fit a 7x7 input/);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...small, conv_pads: [1, 1] }));
  assert.throws(() => loadDigitsEncoder(dir), /config\.json: conv_pads has 2 entries, conv_channels 3/);
  writeFileSync(join(dir, 'config.json'), '{oops');
  assert.throws(() => loadDigitsEncoder(dir), /config\.json: not valid JSON/);
  assert.throws(() => loadDigitsEncoder(join(dir, 'nothing')), /nothing[/\\]config\.json: file not found/);
});

test('the built-in mnist-jepa loads and its embeddings classify held-out digits', async () => {
  const { builtinModelDir, loadBuiltinModel } = await import('../src/models/builtin.js');
  const { loadDataset } = await import('../src/data/datasets.js');
  const { embedImages, knnAccuracy } = await import('../src/train/digits.js');
  const { readFileSync } = await import('node:fs');
  const enc = loadBuiltinModel('mnist-jepa');
  assert.equal(enc.embeddingDim, 64);
  const metrics = JSON.parse(readFileSync(join(builtinModelDir('mnist-jepa'), 'metrics.json'), 'utf8'));
  assert.ok(metrics.knn_accuracy >= 0.95, `recorded kNN accuracy ${metrics.knn_accuracy}`);
  // a smaller check than the recorded one (2000 train instead of 12000), on the shipped weights
  const train = await loadDataset('mnist-train', { limit: 2000 });
  const test = await loadDataset('mnist', { limit: 500 });
  const zt = await embedImages(enc.config, enc.graph.initializers, train.images, 1);
  const ze = await embedImages(enc.config, enc.graph.initializers, test.images, 1);
  const acc = knnAccuracy(zt, train.labels!, ze, test.labels!, 10);
  assert.ok(acc >= 0.9, `kNN accuracy ${acc}`);
});
