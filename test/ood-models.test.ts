import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataset } from '../src/data/datasets.js';
import { loadOodModel, runOod } from '../src/experiments/ood.js';

test('ood with a Hugging Face folder: gray digits repeated to RGB and normalised with the model mean/std', async () => {
  const dir = 'test/fixtures/dinov2-tiny';
  const model = await loadOodModel(dir, 1);
  assert.equal(model.size, 56);
  const ds = await loadDataset('mnist', { limit: 1, size: 56 });
  const x = model.prepare!(ds.images[0]);
  assert.equal(x.length, 3 * 56 * 56);
  // ImageNet mean/std of DINOv2: channel 2 of pixel 100 is (g - 0.406) / 0.225
  assert.ok(Math.abs(x[2 * 3136 + 100] - (ds.images[0][100] - 0.406) / 0.225) < 1e-6);
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
