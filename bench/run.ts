// npm run bench: JEPA-SCORE of a DINOv2 ViT-S/14 at 224 px with random weights, jepa-score vs the paper's
// PyTorch listing (when Debian's python3-torch is there), on the same weights and the same input.
// Options: --layers N --size PX --runs N --chunks 16,32,64 --threads N --no-torch --out FILE
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

const { values: args } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    size: { type: 'string', default: '224' },
    runs: { type: 'string', default: '3' },
    chunks: { type: 'string', default: '32' },
    threads: { type: 'string' },
    'no-torch': { type: 'boolean', default: false },
    out: { type: 'string', default: 'out/bench.json' },
  },
});
const layers = Number(args.layers);
const size = Number(args.size);
const runs = Number(args.runs);
const threads = args.threads ? Number(args.threads) : cpus().length;
const chunks = args.chunks!.split(',').map(Number);

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

// Random DINOv2 ViT-S/14 weights, written as a Hugging Face folder that both sides read.
const dir = join('out', `bench-vits14-L${layers}`);
mkdirSync(dir, { recursive: true });
const cfg = vitConfig({ numLayers: layers });
const rng = new Rng(0);
const canon = randomVitWeights(cfg, rng);
const hf = new Map<string, Tensor>();
const C = cfg.hiddenSize;
for (const [name, t] of canon) {
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
  JSON.stringify({ model_type: 'dinov2', hidden_size: C, num_hidden_layers: layers, num_attention_heads: cfg.numHeads, mlp_ratio: 4, patch_size: 14, image_size: 224, layer_norm_eps: 1e-6, hidden_act: 'gelu', qkv_bias: true, layerscale_value: 1, use_swiglu_ffn: false }),
);
const x = (new Rng(1).normals(3 * size * size) as Float32Array);
writeSafetensors(join(dir, 'pixel_values.safetensors'), { pixel_values: new Tensor('float32', [1, 3, size, size], x) });

const enc = loadHfEncoder(dir, { height: size, width: size });
const K = enc.embeddingDim;
console.log(`ViT-S/14, ${layers} blocks, ${size} px: K = ${K}, D = ${3 * size * size}, ${threads} threads, ${runs} timed runs after one warm-up`);

const ours: Record<string, unknown>[] = [];
let ourScore = NaN;
for (const chunk of chunks) {
  const scorer = await JepaScorer.create(enc, { chunk, threads });
  await scorer.score(x); // warm-up
  const jac: number[] = [];
  const total: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const { J } = await scorer.jacobian(x);
    const t1 = performance.now();
    const res = await scorer.score(x);
    const t2 = performance.now();
    jac.push(t1 - t0);
    total.push(t2 - t1);
    ourScore = res.score;
    void J;
  }
  await scorer.release();
  const row = { chunk, ms_per_row: median(jac) / K, s_jacobian: median(jac) / 1000, s_per_image: median(total) / 1000 };
  ours.push(row);
  console.log(`jepa-score  chunk ${String(chunk).padStart(3)}: ${row.ms_per_row.toFixed(1)} ms per Jacobian row, ${row.s_per_image.toFixed(2)} s per image (score ${ourScore.toFixed(4)})`);
}

let torch: Record<string, unknown> | undefined;
const hasTorch = !args['no-torch'] && spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' }).status === 0;
if (hasTorch) {
  const r = spawnSync('/usr/bin/python3', ['bench/torch_listing.py', dir, join(dir, 'pixel_values.safetensors'), String(runs + 1)], {
    encoding: 'utf8',
    env: { ...process.env, JEPA_THREADS: String(threads) },
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) console.log(`PyTorch listing failed: ${r.stderr.slice(-500)}`);
  else {
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    const secs = median(res.seconds.slice(1));
    const best = Math.min(...ours.map((o) => o.s_per_image as number));
    torch = { s_per_image: secs, ms_per_row: (secs * 1000) / K, score: res.score, version: res.torch, threads: res.threads, speedup: secs / best };
    console.log(`PyTorch ${res.torch} listing: ${secs.toFixed(2)} s per image (score ${res.score.toFixed(4)}; |difference| ${Math.abs(res.score - ourScore).toExponential(2)})`);
    console.log(`jepa-score is ${(secs / best).toFixed(2)}x the speed of the listing`);
  }
} else console.log('PyTorch listing skipped (no /usr/bin/python3 with torch; apt-get install python3-torch)');

mkdirSync('out', { recursive: true });
writeFileSync(args.out!, JSON.stringify({ date: new Date().toISOString(), layers, size, K, threads, runs, ours, torch }, null, 2));
console.log(`wrote ${args.out}`);
