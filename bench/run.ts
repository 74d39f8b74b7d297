// npm run bench: JEPA-SCORE of a DINOv2 ViT-S/14 with random weights, jepa-score against the paper's
// PyTorch listing (when /usr/bin/python3 has torch: Debian's python3-torch), same weights, same input.
//  1. agreement: 2 blocks at 112 px, the whole listing on both sides: scores and seconds per image.
//  2. speed: 12 blocks at 224 px: ms per Jacobian row and s per image for each --chunks value; the listing
//     is too slow to run whole there, so its parts are timed (forward, --torch-rows rows, svdvals) and
//     one image is projected as forward + K rows + svdvals.
//  3. approx: 12 blocks at 224 px, exact against `--approx r` (r = K/8 and K/16 by default), seconds per
//     image of both measured in this run (runs interleaved), and their ratio.
//  4. queue (bench/queue.ts): queue-mode overhead against a local run, and 2 workers x 1 thread vs 2 threads.
// Options: --runs N --chunks 16,32 --threads N --torch-rows N --no-torch --only agreement|speed|approx|queue
//          --approx 48,24 --queue-images N --out FILE
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Rng } from '../src/data/random.js';
import { writeSafetensors } from '../src/data/safetensors.js';
import { Tensor } from '../src/graph/tensor.js';
import { loadHfEncoder } from '../src/models/hf.js';
import { randomVitWeights, vitConfig } from '../src/models/vit.js';
import { JepaScorer } from '../src/score/jepa.js';
import { benchQueue } from './queue.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    chunks: { type: 'string', default: '16,32' },
    threads: { type: 'string' },
    'torch-rows': { type: 'string', default: '8' },
    'no-torch': { type: 'boolean', default: false },
    only: { type: 'string' },
    approx: { type: 'string', default: '48,24' },
    'queue-images': { type: 'string', default: '400' },
    out: { type: 'string', default: 'out/bench.json' },
  },
});
const runs = Number(args.runs);
const threads = args.threads ? Number(args.threads) : cpus().length;
const chunks = args.chunks!.split(',').map(Number);
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const hasTorch = !args['no-torch'] && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;

/** Random DINOv2 ViT-S/14 weights written as a Hugging Face folder (both sides read it), and an input. */
function writeModel(layers: number, size: number): { dir: string; x: Float32Array } {
  const dir = join('out', `bench-vits14-L${layers}-${size}`);
  mkdirSync(dir, { recursive: true });
  const cfg = vitConfig({ numLayers: layers, imageSize: [size, size] });
  const C = cfg.hiddenSize;
  const hf = new Map<string, Tensor>();
  for (const [name, t] of randomVitWeights(cfg, new Rng(0))) {
    let n = name
      .replace(/^patch\./, 'embeddings.patch_embeddings.projection.')
      .replace(/^norm\./, 'layernorm.')
      .replace(/^layers\.(\d+)\./, 'encoder.layer.$1.')
      .replace(/\.(q|k|v)\./, (_, x: string) => `.attention.attention.${{ q: 'query', k: 'key', v: 'value' }[x]}.`)
      .replace(/\.proj\./, '.attention.output.dense.')
      .replace(/\.ls(\d)$/, '.layer_scale$1.lambda1')
      .replace(/\.(fc\d)\./, '.mlp.$1.');
    let dims = t.dims;
    if (name === 'cls') [n, dims] = ['embeddings.cls_token', [1, 1, C]];
    if (name === 'pos') [n, dims] = ['embeddings.position_embeddings', [1, ...t.dims]];
    hf.set(n, new Tensor('float32', dims, t.data));
  }
  hf.set('embeddings.mask_token', Tensor.f32([1, C]));
  writeSafetensors(join(dir, 'model.safetensors'), hf);
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ model_type: 'dinov2', hidden_size: C, num_hidden_layers: layers, num_attention_heads: cfg.numHeads, mlp_ratio: 4, patch_size: 14, image_size: size, layer_norm_eps: 1e-6, hidden_act: 'gelu', qkv_bias: true, layerscale_value: 1, use_swiglu_ffn: false }),
  );
  const x = new Rng(1).normals(3 * size * size) as Float32Array;
  writeSafetensors(join(dir, 'pixel_values.safetensors'), { pixel_values: new Tensor('float32', [1, 3, size, size], x) });
  return { dir, x };
}

async function ours(dir: string, x: Float32Array, size: number, chunk: number) {
  const enc = loadHfEncoder(dir, { height: size, width: size });
  const K = enc.embeddingDim;
  const scorer = await JepaScorer.create(enc, { chunk, threads });
  await scorer.score(x); // warm-up
  const jac: number[] = [];
  const total: number[] = [];
  let score = NaN;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await scorer.jacobian(x);
    const t1 = performance.now();
    score = (await scorer.score(x)).score;
    jac.push(t1 - t0);
    total.push(performance.now() - t1);
  }
  await scorer.release();
  return { chunk, K, ms_per_row: median(jac) / K, s_per_image: median(total) / 1000, score };
}

function torch(dir: string, rows = 0): Record<string, any> | undefined {
  const r = spawnSync('/usr/bin/python3', ['bench/torch_listing.py', dir, join(dir, 'pixel_values.safetensors'), String(rows ? 1 : runs), String(rows)], {
    encoding: 'utf8',
    env: { ...process.env, JEPA_THREADS: String(threads) },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) {
    console.log(`PyTorch listing failed: ${r.stderr.slice(-500)}`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const result: Record<string, unknown> = { date: new Date().toISOString(), threads, runs };
console.log(`${threads} threads, medians of ${runs} runs after a warm-up`);

// 1. agreement on a small ViT
if (!args.only || args.only === 'agreement') {
  const { dir, x } = writeModel(2, 112);
  const o = await ours(dir, x, 112, 32);
  console.log(`[agreement] ViT-S/14, 2 blocks, 112 px (K ${o.K}, D ${3 * 112 * 112}): jepa-score ${o.s_per_image.toFixed(2)} s/image, score ${o.score.toFixed(5)}`);
  const t = hasTorch ? torch(dir) : undefined;
  if (t) {
    const secs = median(t.seconds);
    console.log(`[agreement] PyTorch ${t.torch} listing: ${secs.toFixed(2)} s/image, score ${t.score.toFixed(5)}; |difference| ${Math.abs(t.score - o.score).toExponential(2)}; jepa-score ${(secs / o.s_per_image).toFixed(1)}x faster`);
  }
  result.agreement = { layers: 2, size: 112, ours: o, torch: t && { s_per_image: median(t.seconds), score: t.score, version: t.torch } };
}

// 2. speed on ViT-S/14 at 224 px
if (!args.only || args.only === 'speed') {
  const { dir, x } = writeModel(12, 224);
  const rows: Record<string, unknown>[] = [];
  for (const chunk of chunks) {
    const o = await ours(dir, x, 224, chunk);
    rows.push(o);
    console.log(`[speed] ViT-S/14, 12 blocks, 224 px: jepa-score chunk ${String(chunk).padStart(3)}: ${o.ms_per_row.toFixed(1)} ms per Jacobian row, ${o.s_per_image.toFixed(1)} s per image`);
  }
  const best = Math.min(...rows.map((r) => r.s_per_image as number));
  let t: Record<string, any> | undefined;
  if (hasTorch) {
    t = torch(dir, Number(args['torch-rows']));
    if (t) {
      const row = median(t.row_seconds);
      console.log(`[speed] PyTorch ${t.torch} listing: ${(row * 1000).toFixed(0)} ms per Jacobian row (median of ${t.row_seconds.length}), forward ${t.forward_seconds.toFixed(2)} s, svdvals ${t.svd_seconds.toFixed(1)} s: ${t.projected_seconds.toFixed(0)} s per image (projected)`);
      console.log(`[speed] jepa-score is ${(t.projected_seconds / best).toFixed(1)}x faster per image`);
    }
  } else console.log('PyTorch listing skipped (needs /usr/bin/python3 with torch: apt-get install python3-torch)');
  result.speed = { layers: 12, size: 224, ours: rows, torch: t && { ...t, speedup: t.projected_seconds / best } };
}

// 3. approximate scoring against exact, ViT-S/14 at 224 px, same run
if (!args.only || args.only === 'approx') {
  const { dir, x } = writeModel(12, 224);
  const enc = loadHfEncoder(dir, { height: 224, width: 224 });
  const rowsList = args.approx!.split(',').map(Number);
  const modes = [{ name: 'exact', rows: 0 }, ...rowsList.map((r) => ({ name: `approx ${r}`, rows: r }))];
  const scorers = [];
  for (const m of modes) scorers.push(await JepaScorer.create(enc, { chunk: 16, threads, approx: m.rows ? { rows: m.rows } : undefined }));
  const secs = modes.map(() => [] as number[]);
  const scores = modes.map(() => NaN);
  for (let i = 0; i < modes.length; i++) await scorers[i].score(x); // warm-up
  for (let r = 0; r < runs; r++) {
    for (let i = 0; i < modes.length; i++) {
      const t0 = performance.now();
      scores[i] = (await scorers[i].score(x)).score;
      secs[i].push((performance.now() - t0) / 1000);
    }
  }
  for (const s of scorers) await s.release();
  const exact = median(secs[0]);
  const out = modes.map((m, i) => ({ mode: m.name, rows: m.rows || enc.embeddingDim, s_per_image: median(secs[i]), speedup: exact / median(secs[i]), score: scores[i] }));
  for (const o of out) console.log(`[approx] ViT-S/14, 12 blocks, 224 px: ${o.mode.padEnd(10)} (${String(o.rows).padStart(3)} Jacobian products): ${o.s_per_image.toFixed(1)} s per image, ${o.speedup.toFixed(1)}x, score ${o.score.toFixed(1)}`);
  result.approx = { layers: 12, size: 224, chunk: 16, modes: out };
}

// 4. queue mode
if (!args.only || args.only === 'queue') result.queue = await benchQueue({ runs, images: Number(args['queue-images']) });

mkdirSync('out', { recursive: true });
writeFileSync(args.out!, JSON.stringify(result, null, 2));
console.log(`wrote ${args.out}`);
