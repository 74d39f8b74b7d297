// Adds to a trained digits ViT folder's metrics.json what its model card and test/digits-vit.test.ts use:
// the kNN accuracy on a small subset (2,000 training / 500 test images, the test reproduces it), SIGReg and
// invariance averaged over the last 100 logged steps, and the first and last step times.
// Usage: node --import tsx scripts/digits-vit-metrics.ts assets/models/digits-vit
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../src/data/datasets.js';
import { readJsonl } from '../src/data/jsonl.js';
import { loadWeights } from '../src/data/safetensors.js';
import { canonicalWeights } from '../src/models/names.js';
import { knnAccuracy } from '../src/train/digits.js';
import { digitsVitConfig, embedVitImages } from '../src/train/vit.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: digits-vit-metrics.ts <model folder>');
const path = join(dir, 'metrics.json');
const metrics = JSON.parse(readFileSync(path, 'utf8'));
const vit = digitsVitConfig(metrics.settings.vit);
const w = canonicalWeights(loadWeights(dir), dir).weights;
const train = await loadDataset('mnist-train', { limit: 2000 });
const test = await loadDataset('mnist', { limit: 500 });
const zt = await embedVitImages(vit, w, train.images, 1);
const ze = await embedVitImages(vit, w, test.images, 1);
metrics.knn_small_subset = {
  k: 10, metric: 'cosine', train: 'mnist-train', train_images: 2000, test: 'mnist', test_images: 500,
  knn_accuracy: knnAccuracy(zt, train.labels!, ze, test.labels!, 10),
};
const rows = readJsonl<{ step: number; time: string; sigreg?: number; invariance?: number }>(join(dir, 'train-log.jsonl')).records.filter((r) => typeof r.sigreg === 'number');
const last = rows.slice(-100);
const mean = (f: (r: (typeof rows)[number]) => number) => last.reduce((a, r) => a + f(r), 0) / last.length;
metrics.sigreg_last_100_steps = mean((r) => r.sigreg!);
metrics.invariance_last_100_steps = mean((r) => r.invariance!);
metrics.started = rows[0].time;
metrics.finished = rows[rows.length - 1].time;
writeFileSync(path, JSON.stringify(metrics, null, 2) + '\n');
console.log(JSON.stringify({ knn_small_subset: metrics.knn_small_subset.knn_accuracy, sigreg: metrics.sigreg_last_100_steps, invariance: metrics.invariance_last_100_steps }));
