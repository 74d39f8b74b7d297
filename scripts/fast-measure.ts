// Measures the approximate JEPA-SCORE (src/score/approx.ts) against the exact one on built-in models over
// the demo's in-distribution and OOD sets: Spearman / Pearson to the exact score, OOD AUROC exact vs
// approximate, and seconds per image of each mode (onnxruntime, 1 thread, same run).
//   node --import tsx scripts/fast-measure.ts --model digits-vit --limit 200 --out docs/fast-digits-vit.json
// The rank agreement uses the exact Jacobian of each image once and applies every sketch to it in JS (the
// same numbers the scorer's products give, up to float32 rounding; test/score-approx.test.ts checks that).
import { writeFileSync } from 'node:fs';
import { loadDataset } from '../src/data/datasets.js';
import { DEMO_IN, DEMO_OOD } from '../src/experiments/demo.js';
import { oodMetrics } from '../src/experiments/metrics.js';
import { pearson, spearman } from '../src/experiments/stats.js';
import { loadBuiltinModel } from '../src/models/builtin.js';
import { ApproxMethod, approxScoreFromGram, ApproxOptions, calibrationBasis, sketchMatrices } from '../src/score/approx.js';
import { gram } from '../src/score/linalg.js';
import { JepaScorer, scoreFromJacobian } from '../src/score/jepa.js';

const args = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i >= 0 ? args[i + 1] : d;
};
const modelName = arg('model', 'digits-vit');
const limit = Number(arg('limit', '200'));
const timeImages = Number(arg('time-images', '20'));
const out = arg('out', `docs/fast-${modelName}.json`);
const seeds = arg('seeds', '0,1,2').split(',').map(Number);

const enc = loadBuiltinModel(modelName);
const K = enc.embeddingDim;
const D = enc.inputShape.reduce((a, b) => a * b, 1);
const sets = [DEMO_IN, ...DEMO_OOD];
const data = new Map<string, Float32Array[]>();
for (const s of sets) data.set(s, (await loadDataset(s, { limit, size: 28 })).images);
console.error(`${modelName}: K = ${K}, D = ${D}; ${limit} images from each of ${sets.join(', ')}`);

// exact scores and Jacobians
const scorer = await JepaScorer.create(enc, { threads: 1 });
const exact = new Map<string, number[]>();
const jac = new Map<string, Float64Array[]>(); // Gram matrices J J^T
const t0 = performance.now();
for (const s of sets) {
  const sc: number[] = [];
  const js: Float64Array[] = [];
  for (const x of data.get(s)!) {
    const { J } = await scorer.jacobian(x);
    js.push(gram(J, K, D));
    sc.push(scoreFromJacobian(J, K, D).score);
  }
  exact.set(s, sc);
  jac.set(s, js);
  console.error(`  exact ${s}: ${sc.length} images, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}
// calibration for the 'basis' method: Gram matrices of the first training images (not among the scored ones)
const calibrationImages = Number(arg('calibrate', '32'));
const cal: Float64Array[] = [];
for (const x of (await loadDataset('mnist-train', { limit: calibrationImages, size: 28 })).images) cal.push(gram((await scorer.jacobian(x)).J, K, D));
await scorer.release();

const rowsList = [K / 16, K / 8, K / 4, K / 2].map((v) => Math.max(1, Math.round(v)));
const configs: { method: ApproxMethod; sketches: number }[] = [
  { method: 'sketch', sketches: 1 },
  { method: 'sketch', sketches: 4 },
  { method: 'subset', sketches: 1 },
  { method: 'basis', sketches: 1 },
];
const all = (m: Map<string, number[]>) => sets.flatMap((s) => m.get(s)!);
const aurocs = (m: Map<string, number[]>) => Object.fromEntries(DEMO_OOD.map((o) => [o, oodMetrics(m.get(DEMO_IN)!, m.get(o)!).auroc]));
const rows: Record<string, unknown>[] = [];
for (const c of configs) {
  for (const r of rowsList) {
    if (c.sketches > r) continue;
    const perSeed = (c.method === 'basis' ? [0] : seeds).map((seed) => {
      const est = new Map<string, number[]>();
      const o: ApproxOptions = c.method === 'basis' ? { rows: r, basis: calibrationBasis(cal, K, r) } : { rows: r, method: c.method, sketches: c.sketches, seed };
      const mats = sketchMatrices(K, o);
      for (const s of sets) est.set(s, jac.get(s)!.map((G) => approxScoreFromGram(G, K, o, undefined, mats).score));
      const inSet = est.get(DEMO_IN)!;
      return {
        spearman: spearman(all(exact), all(est)),
        pearson: pearson(all(exact), all(est)),
        spearmanIn: spearman(exact.get(DEMO_IN)!, inSet),
        auroc: aurocs(est),
        meanOffset: all(est).reduce((a, v, i) => a + v - all(exact)[i], 0) / all(est).length,
      };
    });
    const mean = (f: (p: (typeof perSeed)[0]) => number) => perSeed.reduce((a, p) => a + f(p), 0) / perSeed.length;
    const min = (f: (p: (typeof perSeed)[0]) => number) => Math.min(...perSeed.map(f));
    rows.push({
      method: c.method,
      sketches: c.sketches,
      rows: r,
      spearman: mean((p) => p.spearman),
      spearmanMin: min((p) => p.spearman),
      pearson: mean((p) => p.pearson),
      spearmanIn: mean((p) => p.spearmanIn),
      meanOffset: mean((p) => p.meanOffset),
      auroc: Object.fromEntries(DEMO_OOD.map((o) => [o, mean((p) => p.auroc[o])])),
    });
    console.error(`  ${c.method} x${c.sketches} r=${r}: spearman ${mean((p) => p.spearman).toFixed(4)} (min ${min((p) => p.spearman).toFixed(4)}), pearson ${mean((p) => p.pearson).toFixed(4)}`);
  }
}

// seconds per image, each mode on the same images, alternating modes to share the machine's load
const timeSet = data.get(DEMO_IN)!.slice(0, timeImages);
const modes: { name: string; rows?: number }[] = [{ name: 'exact' }, ...rowsList.map((r) => ({ name: `approx ${r}`, rows: r }))];
const scorers = await Promise.all(modes.map((m) => JepaScorer.create(enc, { threads: 1, approx: m.rows ? { rows: m.rows } : undefined })));
const secs = modes.map(() => [] as number[]);
for (let rep = 0; rep < 3; rep++) {
  for (let i = 0; i < modes.length; i++) {
    const t = performance.now();
    for (const x of timeSet) await scorers[i].score(x);
    secs[i].push((performance.now() - t) / 1000 / timeSet.length);
  }
}
for (const s of scorers) await s.release();
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const timing = modes.map((m, i) => ({ mode: m.name, secondsPerImage: median(secs[i]), speedup: median(secs[0]) / median(secs[i]) }));
for (const t of timing) console.error(`  ${t.mode}: ${(t.secondsPerImage * 1000).toFixed(1)} ms/image, ${t.speedup.toFixed(2)}x`);

const result = {
  model: modelName,
  K,
  D,
  imagesPerSet: limit,
  calibrationImages,
  sets,
  seeds,
  exactAuroc: aurocs(exact),
  estimators: rows,
  timing: { images: timeSet.length, threads: 1, repeats: 3, modes: timing },
};
writeFileSync(out, JSON.stringify(result, null, 2) + '\n');
console.error(`wrote ${out}`);
