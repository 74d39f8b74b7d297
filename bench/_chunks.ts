import { Rng } from '../src/data/random.js';
import { randomVitWeights, vitConfig, buildVit } from '../src/models/vit.js';
import { JepaScorer } from '../src/score/jepa.js';
const layers = Number(process.argv[2] ?? 2);
const cfg = vitConfig({ numLayers: layers });
const enc = buildVit(cfg, randomVitWeights(cfg, new Rng(0)));
const x = new Rng(1).normals(3 * 224 * 224) as Float32Array;
const chunks = (process.argv[3] ?? '8,16,32,64').split(',').map(Number);
const scorers = new Map<number, JepaScorer>();
for (const c of chunks) scorers.set(c, await JepaScorer.create(enc, { chunk: c }));
const res = new Map<number, number[]>();
for (let rep = 0; rep < 2; rep++) for (const c of chunks) {
  const s = scorers.get(c)!;
  // time 64 rows' worth: run the jacobian for the first 64 rows only
  const t = performance.now();
  const input = { x };
  const rows = 64;
  for (let start = 0; start < rows; start += c) {
    const cot = new Float32Array(c * 384); for (let r = 0; r < c; r++) cot[r * 384 + start + r] = 1;
    await (s as any).jac.run({ [enc.input]: new (await import('../src/graph/tensor.js')).Tensor('float32', enc.inputShape, x), [(s as any).cotangent]: new (await import('../src/graph/tensor.js')).Tensor('float32', [c, 1, 384], cot) });
  }
  const ms = (performance.now() - t) / rows;
  res.set(c, [...(res.get(c) ?? []), ms]);
  void input;
}
for (const [c, v] of res) console.log(`chunk ${c}: ${v.map((m) => m.toFixed(1)).join(' ')} ms/row`);
