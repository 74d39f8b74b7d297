import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../src/data/datasets.js';
import { loadOodModel, runOod } from '../src/experiments/ood.js';
import { resolveModel } from '../src/models/resolve.js';

test('ood with a Hugging Face folder: the input size is the image processor crop, as score uses', async () => {
  // no preprocessor_config.json: DINOv2's default processor (resize 256, crop 224), not config.json's image_size 56
  const model = await loadOodModel('test/fixtures/dinov2-tiny', 1);
  assert.equal(model.size, 224);
  const scored = await resolveModel('test/fixtures/dinov2-tiny');
  assert.deepEqual(model.encoder.inputShape, scored.encoder.inputShape);
  assert.deepEqual(model.encoder.inputShape, [1, 3, 224, 224]);
});

test('ood with a Hugging Face folder: gray digits repeated to RGB at the processor crop, normalised with its mean/std', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ood-hf-model-'));
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join('test/fixtures/dinov2-tiny', f), join(dir, f));
  const processor = { do_resize: true, size: { shortest_edge: 32 }, do_center_crop: true, crop_size: { height: 28, width: 28 }, image_mean: [0.5, 0.4, 0.3], image_std: [0.2, 0.25, 0.5] };
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(processor));
  const model = await loadOodModel(dir, 1);
  assert.equal(model.size, 28);
  assert.deepEqual(model.encoder.inputShape, [1, 3, 28, 28]);
  const ds = await loadDataset('mnist', { limit: 1, size: 28 });
  const x = model.prepare!(ds.images[0]);
  assert.equal(x.length, 3 * 28 * 28);
  for (const [ch, m, s] of [[0, 0.5, 0.2], [2, 0.3, 0.5]]) {
    for (const i of [100, 400]) assert.ok(Math.abs(x[ch * 784 + i] - (ds.images[0][i] - m) / s) < 1e-6);
  }
  const out = mkdtempSync(join(tmpdir(), 'ood-hf-'));
  const res = await runOod(model, { inSet: 'mnist', oodSets: ['noise'], outDir: out, limit: 4, trainLimit: 12, ks: [1, 5], threads: 1 });
  const rows = readFileSync(res.scoresPath, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 8);
  assert.equal(rows[0].embedding_dim, 48);
  assert.ok(res.methods['knn-1'].noise.auroc >= 0);
});

test('ood model errors name the model', async () => {
  await assert.rejects(loadOodModel('/no/such/model'), /\/no\/such\/model: no such file or folder, and not a built-in model \(built-in: mnist-jepa, digits-vit\)/);
});
