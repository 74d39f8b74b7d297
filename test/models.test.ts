import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { GraphBuilder } from '../src/graph/builder.js';
import { serializeModel } from '../src/graph/onnx.js';
import { bf16ToFloat, floatToBf16, Tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/data/random.js';
import { loadWeights, readSafetensors, writeSafetensors } from '../src/data/safetensors.js';
import { runOnce } from '../src/runtime/session.js';
import { loadEncoder, loadHfEncoder } from '../src/models/encoder.js';
import { readHfConfig, vitConfigFromHf } from '../src/models/hf.js';
import { resizeGrid } from '../src/models/interpolate.js';
import { canonicalName, canonicalWeights } from '../src/models/names.js';
import { buildVit, EncoderGraph, Pool, randomVitWeights, VitConfig, vitConfig } from '../src/models/vit.js';

const FIX = 'test/fixtures';
const tmp = mkdtempSync(join(tmpdir(), 'models-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let dirCounter = 0;
const newDir = () => mkdtempSync(join(tmp, `m${dirCounter++}-`));

function expected(name: string) {
  const m = readSafetensors(join(FIX, name, 'expected.safetensors'));
  const px = m.get('pixel_values')!;
  return { px, emb: m.get('embedding')!.data as Float64Array, B: px.dims[0], H: px.dims[2], W: px.dims[3] };
}

async function embed(enc: EncoderGraph, px: Tensor): Promise<Float32Array> {
  const out = await runOnce(enc.graph, { [enc.input]: px }, { threads: 1 });
  const t = out[enc.output];
  assert.deepEqual(t.dims, [enc.inputShape[0], enc.embeddingDim]);
  return t.data as Float32Array;
}

/** Asserts value < limit, with both in the message. */
function below(value: number, limit: number): void {
  assert.ok(value < limit, `${value} is not below ${limit}`);
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** A copy of a fixture folder with its weights replaced. */
function copyWith(name: string, weights: Map<string, Tensor> | Record<string, Tensor>, opts: { dtype?: 'F32' | 'F16' | 'BF16'; config?: (c: Record<string, unknown>) => Record<string, unknown> } = {}): string {
  const d = newDir();
  const { config } = readHfConfig(join(FIX, name));
  writeFileSync(join(d, 'config.json'), JSON.stringify(opts.config ? opts.config(config) : config));
  writeSafetensors(join(d, 'model.safetensors'), weights, { format: 'pt' }, { dtype: opts.dtype });
  return d;
}

const fixtureWeights = (name: string) => loadWeights(join(FIX, name));

describe('Hugging Face fixtures', () => {
  // the float32 reference itself is within 1e-6 of float64; we ask for 2e-6
  for (const name of ['dinov2-tiny', 'dinov2-reg-tiny', 'clip-tiny']) {
    test(`${name}: embedding matches the float64 reference`, async () => {
      const { px, emb, B, H, W } = expected(name);
      const enc = loadHfEncoder(join(FIX, name), { batch: B, height: H, width: W });
      assert.equal(enc.embeddingDim, emb.length / B);
      assert.deepEqual(enc.inputShape, [B, 3, H, W]);
      const err = maxAbs(await embed(enc, px), emb);
      assert.ok(err < 2e-6, `max abs error ${err}`);
    });
  }

  test('ijepa-tiny: embedding matches; the reference used LayerNorm eps 1e-5, not the config 1e-6', async () => {
    const { px, emb, B } = expected('ijepa-tiny');
    const enc = loadHfEncoder(join(FIX, 'ijepa-tiny'), { batch: B });
    assert.equal(enc.pool, 'mean');
    const err = maxAbs(await embed(enc, px), emb);
    assert.ok(err < 1e-4, `max abs error ${err}`);
    // with the eps the reference actually used, the graph is exact to float32 level
    const { config, path } = readHfConfig(join(FIX, 'ijepa-tiny'));
    const cfg = { ...vitConfigFromHf(config, path).vit, layerNormEps: 1e-5 };
    const exact = buildVit(cfg, canonicalWeights(fixtureWeights('ijepa-tiny'), 'w').weights, { batch: B });
    const err5 = maxAbs(await embed(exact, px), emb);
    assert.ok(err5 < 2e-6, `max abs error with eps 1e-5: ${err5}`);
  });

  test('dinov2-tiny model.onnx through loadEncoder', async () => {
    const { px, emb, B } = expected('dinov2-tiny');
    const enc = await loadEncoder(join(FIX, 'dinov2-tiny', 'model.onnx'), { batch: B });
    assert.equal(enc.embeddingDim, 48);
    assert.deepEqual(enc.inputShape, [2, 3, 56, 56]);
    assert.deepEqual(enc.graph.outputs[0].shape, [2, 48]);
    below(maxAbs(await embed(enc, px), emb), 2e-6);
    // a folder goes the Hugging Face way
    const hf = await loadEncoder(join(FIX, 'dinov2-tiny'), { batch: B });
    assert.equal(hf.family, 'dinov2');
    below(maxAbs(await embed(hf, px), emb), 2e-6);
  });

  test('antialias: true switches the position-embedding resize to the antialiased kernel', async () => {
    const { px, emb, B, H, W } = expected('dinov2-reg-tiny');
    const aa = await embed(loadHfEncoder(join(FIX, 'dinov2-reg-tiny'), { batch: B, height: H, width: W, antialias: true }), px);
    const { config, path } = readHfConfig(join(FIX, 'dinov2-reg-tiny'));
    const cfg = { ...vitConfigFromHf(config, path).vit, posAntialias: true };
    const ref = await embed(buildVit(cfg, canonicalWeights(fixtureWeights('dinov2-reg-tiny'), 'w').weights, { batch: B, height: H, width: W }), px);
    below(maxAbs(aa, ref), 1e-7);
    assert.ok(maxAbs(aa, emb) > 1e-3, 'the antialiased resize should differ from the fixture');
  });

  test('the CLS shortcut in the last block changes nothing', async () => {
    const { px, B, H, W } = expected('dinov2-reg-tiny');
    const { config, path } = readHfConfig(join(FIX, 'dinov2-reg-tiny'));
    const cfg = vitConfigFromHf(config, path).vit;
    const w = canonicalWeights(fixtureWeights('dinov2-reg-tiny'), 'w').weights;
    const a = await embed(buildVit(cfg, w, { batch: B, height: H, width: W }), px);
    const b = await embed(buildVit(cfg, w, { batch: B, height: H, width: W, clsShortcut: false }), px);
    below(maxAbs(a, b), 1e-6);
  });
});

describe('checkpoint variants give the same encoder', () => {
  test('BF16 copy: the weights decode exactly and the embedding stays within BF16 precision', async () => {
    const { px, emb, B } = expected('dinov2-tiny');
    const w = fixtureWeights('dinov2-tiny');
    const d = copyWith('dinov2-tiny', w, { dtype: 'BF16' });
    const w16 = loadWeights(d);
    // independent rounding of the float32 weights
    const rounded = new Map<string, Tensor>();
    for (const [k, t] of w) {
      const r = Float32Array.from(t.data as Float32Array, (v) => bf16ToFloat(floatToBf16(v)));
      assert.deepEqual(w16.get(k)!.data, r, k);
      rounded.set(k, new Tensor('float32', t.dims, r));
    }
    const got = await embed(loadHfEncoder(d, { batch: B }), px);
    const ref = await embed(loadHfEncoder(copyWith('dinov2-tiny', rounded), { batch: B }), px);
    below(maxAbs(got, ref), 1e-6);
    const err = maxAbs(got, emb);
    let scale = 0;
    for (const v of emb) scale = Math.max(scale, Math.abs(v));
    assert.ok(err > 1e-5 && err < 0.03 * scale, `BF16 error ${err} vs scale ${scale}`);
  });

  test('sharded copy with prefixed names', async () => {
    const { px, emb, B } = expected('clip-tiny');
    const w = fixtureWeights('clip-tiny');
    const d = newDir();
    copyFileSync(join(FIX, 'clip-tiny', 'config.json'), join(d, 'config.json'));
    const names = [...w.keys()];
    const shards: Record<string, Tensor>[] = [{}, {}, {}];
    const map: Record<string, string> = {};
    names.forEach((n, i) => {
      const prefixed = n.startsWith('vision_model.') ? n : `model.${n}`;
      shards[i % 3][prefixed] = w.get(n)!;
      map[prefixed] = `model-0000${(i % 3) + 1}-of-00003.safetensors`;
    });
    shards.forEach((s, i) => writeSafetensors(join(d, `model-0000${i + 1}-of-00003.safetensors`), s));
    writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: map }));
    const enc = loadHfEncoder(d, { batch: B });
    below(maxAbs(await embed(enc, px), emb), 2e-6);
  });

  test('full CLIP checkpoint (model_type clip, vision_config, text tower present)', async () => {
    const { px, emb, B } = expected('clip-tiny');
    const w = fixtureWeights('clip-tiny');
    const rng = new Rng(5);
    w.set('text_model.embeddings.token_embedding.weight', Tensor.f32([10, 48], rng.normals(480)));
    w.set('text_projection.weight', Tensor.f32([24, 48], rng.normals(24 * 48)));
    w.set('logit_scale', Tensor.f32([], [2.6]));
    w.set('vision_model.embeddings.position_ids', Tensor.i64([1, 17], Array.from({ length: 17 }, (_, i) => i)));
    const d = copyWith('clip-tiny', w, {
      config: (c) => {
        const { projection_dim, model_type, ...vision } = c;
        void model_type;
        return { model_type: 'clip', projection_dim, text_config: { hidden_size: 48 }, vision_config: { ...vision, model_type: 'clip_vision_model' } };
      },
    });
    const enc = loadHfEncoder(d, { batch: B });
    assert.equal(enc.family, 'clip_vision_model');
    below(maxAbs(await embed(enc, px), emb), 2e-6);
  });

  test('original DINOv2 / timm names with a fused qkv', async () => {
    const { px, emb, B, H, W } = expected('dinov2-reg-tiny');
    const w = fixtureWeights('dinov2-reg-tiny');
    const timm = new Map<string, Tensor>();
    const simple: [RegExp, string][] = [
      [/^embeddings\.cls_token$/, 'cls_token'],
      [/^embeddings\.mask_token$/, 'mask_token'],
      [/^embeddings\.position_embeddings$/, 'pos_embed'],
      [/^embeddings\.register_tokens$/, 'register_tokens'],
      [/^embeddings\.patch_embeddings\.projection\./, 'patch_embed.proj.'],
      [/^encoder\.layer\.(\d+)\.norm(\d)\./, 'blocks.$1.norm$2.'],
      [/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, 'blocks.$1.attn.proj.'],
      [/^encoder\.layer\.(\d+)\.layer_scale(\d)\.lambda1$/, 'blocks.$1.ls$2.gamma'],
      [/^encoder\.layer\.(\d+)\.mlp\./, 'blocks.$1.mlp.'],
      [/^layernorm\./, 'norm.'],
    ];
    for (const [n, t] of w) {
      const qkv = /^encoder\.layer\.(\d+)\.attention\.attention\.query\.(weight|bias)$/.exec(n);
      if (qkv) {
        const parts = ['query', 'key', 'value'].map((p) => w.get(n.replace('query', p))!.data as Float32Array);
        const data = new Float32Array(parts[0].length * 3);
        parts.forEach((p, i) => data.set(p, i * p.length));
        timm.set(`blocks.${qkv[1]}.attn.qkv.${qkv[2]}`, new Tensor('float32', [3 * t.dims[0], ...t.dims.slice(1)], data));
        continue;
      }
      if (/attention\.attention\.(key|value)/.test(n)) continue;
      const rule = simple.find(([re]) => re.test(n));
      assert.ok(rule, `no timm name for ${n}`);
      timm.set(n.replace(rule[0], rule[1]), t);
    }
    const enc = loadHfEncoder(copyWith('dinov2-reg-tiny', timm), { batch: B, height: H, width: W });
    below(maxAbs(await embed(enc, px), emb), 2e-6);
  });
});

describe('tensor names', () => {
  test('prefixes, transformers, timm and chunked names map to one canonical set', () => {
    const cases: [string, string | undefined][] = [
      ['dinov2.embeddings.cls_token', 'cls'],
      ['dinov2_with_registers.embeddings.register_tokens', 'reg'],
      ['ijepa.encoder.layer.3.layernorm_before.bias', 'layers.3.norm1.bias'],
      ['vision_model.encoder.layers.11.self_attn.out_proj.weight', 'layers.11.proj.weight'],
      ['vision_model.post_layernorm.weight', 'norm.weight'],
      ['visual_projection.weight', 'proj'],
      ['model.blocks.2.attn.qkv.bias', 'layers.2.qkv.bias'],
      ['blocks.0.3.mlp.w12.weight', 'layers.3.w12.weight'],
      ['module.blocks.7.ls2.gamma', 'layers.7.ls2'],
      ['encoder.layer.0.output.dense.weight', 'layers.0.fc2.weight'],
      ['encoder.layer.0.attention.output.dense.weight', 'layers.0.proj.weight'],
      ['text_model.encoder.layers.0.mlp.fc1.weight', undefined],
      ['classifier.weight', undefined],
      ['embeddings.mask_token', undefined],
    ];
    for (const [from, to] of cases) assert.equal(canonicalName(from), to, from);
  });

  test('two tensors for one weight are refused', () => {
    const t = Tensor.f32([4]);
    assert.throws(() => canonicalWeights(new Map([['norm.weight', t], ['layernorm.weight', t]]), 'f.safetensors'), /f\.safetensors: tensors 'norm\.weight' and 'layernorm\.weight' both hold norm\.weight/);
    assert.throws(() => canonicalWeights(new Map([['blocks.0.attn.qkv.weight', Tensor.f32([4, 2])]]), 'f.safetensors'), /fused qkv needs a first dimension divisible by 3/);
  });
});

describe('pooling', () => {
  test('CLIP: projected = cls pooled times visual_projection', async () => {
    const { px, emb, B } = expected('clip-tiny');
    const cls = await embed(loadHfEncoder(join(FIX, 'clip-tiny'), { batch: B, pool: 'cls' }), px);
    const proj = fixtureWeights('clip-tiny').get('visual_projection.weight')!.data as Float32Array; // [24, 48]
    const out = new Float64Array(B * 24);
    for (let b = 0; b < B; b++) for (let k = 0; k < 24; k++) for (let c = 0; c < 48; c++) out[b * 24 + k] += proj[k * 48 + c] * cls[b * 48 + c];
    below(maxAbs(out, emb), 2e-6);
  });

  test('pools a family lacks are refused', () => {
    assert.throws(() => loadHfEncoder(join(FIX, 'ijepa-tiny'), { pool: 'cls' }), /pool 'cls' needs a CLS token/);
    assert.throws(() => loadHfEncoder(join(FIX, 'dinov2-tiny'), { pool: 'projected' }), /pool 'projected' needs a projection/);
    assert.throws(() => loadHfEncoder(join(FIX, 'dinov2-tiny'), { pool: 'max' as Pool }), /unknown pool 'max'/);
  });
});

describe('bad checkpoints and configs', () => {
  const dinoW = () => fixtureWeights('dinov2-tiny');

  test('missing tensor', () => {
    const w = dinoW();
    w.delete('encoder.layer.1.mlp.fc2.weight');
    const d = copyWith('dinov2-tiny', w);
    assert.throws(() => loadHfEncoder(d), (e: Error) => {
      assert.match(e.message, /model\.safetensors: missing tensor 'encoder\.layer\.1\.mlp\.fc2\.weight' \(expected shape \[48,192\]\)/);
      assert.ok(e.message.startsWith(d), e.message);
      return true;
    });
  });

  test('mis-shaped tensor', () => {
    const w = dinoW();
    w.set('encoder.layer.0.mlp.fc1.weight', Tensor.f32([191, 48]));
    const d = copyWith('dinov2-tiny', w);
    assert.throws(() => loadHfEncoder(d), /model\.safetensors: tensor 'encoder\.layer\.0\.mlp\.fc1\.weight' has shape \[191,48\], expected \[192,48\]/);
    const w2 = dinoW();
    w2.set('embeddings.cls_token', Tensor.f32([1, 2, 48]));
    assert.throws(() => loadHfEncoder(copyWith('dinov2-tiny', w2)), /'embeddings\.cls_token' has shape \[2,48\], expected \[48\]/);
  });

  test('wrong config', () => {
    const w = dinoW();
    const withCfg = (f: (c: Record<string, unknown>) => Record<string, unknown>) => copyWith('dinov2-tiny', w, { config: f });
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, hidden_size: 64, num_attention_heads: 4 }))), /config\.json gives hidden_size 64 and patch_size 14/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, num_attention_heads: 5 }))), /config\.json: hidden_size 48 is not a multiple of num_attention_heads 5/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, model_type: 'bert' }))), /config\.json: model_type 'bert' is not supported \(supported: dinov2, /);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, num_hidden_layers: 1 }))), /has layer 1, but .*config\.json says num_hidden_layers is 1/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, num_hidden_layers: 3 }))), /missing tensor 'encoder\.layer\.2\.norm1\.weight'/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, hidden_act: 'mish' }))), /config\.json: hidden_act "mish" is not supported/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, mlp_ratio: 3 }))), /'encoder\.layer\.0\.mlp\.fc1\.weight' has shape \[192,48\], expected \[144,48\]/);
    assert.throws(() => loadHfEncoder(withCfg((c) => ({ ...c, patch_size: 'big' }))), /config\.json: patch_size must be a positive integer/);
    const clipCfg = copyWith('clip-tiny', fixtureWeights('clip-tiny'), { config: (c) => ({ ...c, model_type: 'clip' }) });
    assert.throws(() => loadHfEncoder(clipCfg), /a 'clip' config needs a vision_config object/);
    const noCfg = newDir();
    assert.throws(() => loadHfEncoder(noCfg), /config\.json: file not found/);
    writeFileSync(join(noCfg, 'config.json'), '{"model_type": ');
    assert.throws(() => loadHfEncoder(noCfg), /config\.json: not valid JSON/);
    assert.throws(() => loadHfEncoder(join(tmp, 'nowhere')), /nowhere: no such folder/);
  });

  test('bad input sizes', () => {
    assert.throws(() => loadHfEncoder(join(FIX, 'dinov2-tiny'), { height: 10 }), /smaller than one 14x14 patch/);
    assert.throws(() => loadHfEncoder(join(FIX, 'dinov2-tiny'), { batch: 0 }), /batch must be a positive integer/);
  });

  test('ONNX files that are not encoders', async () => {
    const d = newDir();
    const tokens = new GraphBuilder('tokens');
    const x = tokens.input('pixel_values', 'float32', ['batch', 3, 8, 8]);
    tokens.output(tokens.reshape(x, [-1, 3, 64]), 'float32', ['batch', 3, 64]);
    writeFileSync(join(d, 'tokens.onnx'), serializeModel(tokens.build()));
    await assert.rejects(loadEncoder(join(d, 'tokens.onnx')), /tokens\.onnx: output '.*' has shape \[batch,3,64\]; an encoder must give one embedding per image/);

    const two = new GraphBuilder('two');
    const a = two.input('a', 'float32', [1, 3, 8, 8]);
    const b = two.input('b', 'float32', [1, 3, 8, 8]);
    two.output(two.add(a, b), 'float32', [1, 3, 8, 8]);
    writeFileSync(join(d, 'two.onnx'), serializeModel(two.build()));
    await assert.rejects(loadEncoder(join(d, 'two.onnx')), /two\.onnx: an encoder needs exactly one input .*found 2: a \[1,3,8,8\], b \[1,3,8,8\]/);

    const dyn = new GraphBuilder('dyn');
    const z = dyn.input('x', 'float32', ['batch', 3, 'h', 'w']);
    dyn.output(dyn.reduceMean(z, [2, 3], false), 'float32', ['batch', 3]);
    writeFileSync(join(d, 'dyn.onnx'), serializeModel(dyn.build()));
    await assert.rejects(loadEncoder(join(d, 'dyn.onnx')), /dyn\.onnx: input 'x' has a variable height/);
    const ok = await loadEncoder(join(d, 'dyn.onnx'), { batch: 3, height: 5, width: 7 });
    assert.deepEqual([ok.inputShape, ok.embeddingDim], [[3, 3, 5, 7], 3]);
    await assert.rejects(loadEncoder(join(FIX, 'dinov2-tiny', 'model.onnx'), { height: 70 }), /height fixed to 56, asked for 70/);
    await assert.rejects(loadEncoder(join(FIX, 'dinov2-tiny', 'config.json')), /give the model folder/);
    await assert.rejects(loadEncoder(d), /not a model folder/);
  });
});

// ---------- an independent float64 reference for buildVit ----------

function layerNormRef(x: Float64Array, g: ArrayLike<number>, b: ArrayLike<number>, eps: number): Float64Array {
  const n = x.length;
  let mean = 0;
  for (const v of x) mean += v / n;
  let v2 = 0;
  for (const v of x) v2 += (v - mean) ** 2 / n;
  return x.map((v, i) => ((v - mean) / Math.sqrt(v2 + eps)) * g[i] + b[i]);
}

function linearRef(x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number> | undefined, out: number): Float64Array {
  const inn = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o] : 0;
    for (let i = 0; i < inn; i++) s += w[o * inn + i] * x[i];
    y[o] = s;
  }
  return y;
}

function erfRef(x: number): number {
  // Abramowitz-Stegun 7.1.26 is too coarse; use the series / continued fraction through the complementary error function
  const t = Math.abs(x);
  let r: number;
  if (t < 3) {
    let term = t;
    let sum = t;
    for (let n = 1; n < 80; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else r = 1;
  return x < 0 ? -r : r;
}

function actRef(name: VitConfig['act'], x: number): number {
  switch (name) {
    case 'gelu':
      return 0.5 * x * (1 + erfRef(x / Math.SQRT2));
    case 'gelu_tanh':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'quick_gelu':
      return x / (1 + Math.exp(-1.702 * x));
    case 'relu':
      return Math.max(0, x);
    case 'silu':
      return x / (1 + Math.exp(-x));
  }
}

function vitRef(cfg: VitConfig, w: Map<string, Tensor>, px: Float32Array, B: number, H: number, W: number, pool: Pool): Float64Array[] {
  const C = cfg.hiddenSize;
  const p = cfg.patchSize;
  const ch = cfg.numChannels;
  const g = (n: string) => w.get(n)?.data as Float32Array;
  const gh = Math.floor(H / p);
  const gw = Math.floor(W / p);
  const pos = g('pos');
  const posRows = pos.length / C;
  const patchRows = cfg.clsToken ? posRows - 1 : posRows;
  const side = Math.round(Math.sqrt(patchRows));
  const patchPos = resizeGrid(pos.subarray(cfg.clsToken ? C : 0), C, side, side, gh, gw);
  const heads = cfg.numHeads;
  const d = C / heads;
  const results: Float64Array[] = [];
  for (let b = 0; b < B; b++) {
    let tokens: Float64Array[] = [];
    if (cfg.clsToken) tokens.push(Float64Array.from(g('cls'), (v, c) => v + pos[c]));
    for (let r = 0; r < cfg.numRegisterTokens; r++) tokens.push(Float64Array.from(g('reg').subarray(r * C, (r + 1) * C)));
    const pw = g('patch.weight');
    const pb = g('patch.bias');
    for (let yy = 0; yy < gh; yy++) {
      for (let xx = 0; xx < gw; xx++) {
        const t = new Float64Array(C);
        for (let o = 0; o < C; o++) {
          let s = pb ? pb[o] : 0;
          for (let c = 0; c < ch; c++) for (let ky = 0; ky < p; ky++) for (let kx = 0; kx < p; kx++) s += pw[((o * ch + c) * p + ky) * p + kx] * px[((b * ch + c) * H + yy * p + ky) * W + xx * p + kx];
          t[o] = s + patchPos[(yy * gw + xx) * C + o];
        }
        tokens.push(t);
      }
    }
    if (cfg.preNorm) tokens = tokens.map((t) => layerNormRef(t, g('pre_norm.weight'), g('pre_norm.bias'), cfg.layerNormEps));
    const T = tokens.length;
    for (let i = 0; i < cfg.numLayers; i++) {
      const l = `layers.${i}`;
      const y = tokens.map((t) => layerNormRef(t, g(`${l}.norm1.weight`), g(`${l}.norm1.bias`), cfg.layerNormEps));
      const q = y.map((t) => linearRef(t, g(`${l}.q.weight`), g(`${l}.q.bias`), C));
      const k = y.map((t) => linearRef(t, g(`${l}.k.weight`), g(`${l}.k.bias`), C));
      const v = y.map((t) => linearRef(t, g(`${l}.v.weight`), g(`${l}.v.bias`), C));
      const att = tokens.map(() => new Float64Array(C));
      for (let h = 0; h < heads; h++) {
        for (let a = 0; a < T; a++) {
          const s = new Float64Array(T);
          for (let c = 0; c < T; c++) {
            let dot = 0;
            for (let j = 0; j < d; j++) dot += q[a][h * d + j] * k[c][h * d + j];
            s[c] = dot / Math.sqrt(d);
          }
          const mx = Math.max(...s);
          const e = s.map((z) => Math.exp(z - mx));
          const sum = e.reduce((u, z) => u + z, 0);
          for (let c = 0; c < T; c++) for (let j = 0; j < d; j++) att[a][h * d + j] += (e[c] / sum) * v[c][h * d + j];
        }
      }
      tokens = tokens.map((t, a) => {
        const o = linearRef(att[a], g(`${l}.proj.weight`), g(`${l}.proj.bias`), C);
        return t.map((z, c) => z + o[c] * (cfg.layerScale ? g(`${l}.ls1`)[c] : 1));
      });
      tokens = tokens.map((t) => {
        const y2 = layerNormRef(t, g(`${l}.norm2.weight`), g(`${l}.norm2.bias`), cfg.layerNormEps);
        let m: Float64Array;
        if (cfg.swiglu) {
          const M = cfg.mlpHidden;
          const h12 = linearRef(y2, g(`${l}.w12.weight`), g(`${l}.w12.bias`), 2 * M);
          const hid = new Float64Array(M).map((_, j) => actRef('silu', h12[j]) * h12[M + j]);
          m = linearRef(hid, g(`${l}.w3.weight`), g(`${l}.w3.bias`), C);
        } else {
          const hid = linearRef(y2, g(`${l}.fc1.weight`), g(`${l}.fc1.bias`), cfg.mlpHidden).map((z) => actRef(cfg.act, z));
          m = linearRef(hid, g(`${l}.fc2.weight`), g(`${l}.fc2.bias`), C);
        }
        return t.map((z, c) => z + m[c] * (cfg.layerScale ? g(`${l}.ls2`)[c] : 1));
      });
    }
    const norm = (t: Float64Array) => layerNormRef(t, g('norm.weight'), g('norm.bias'), cfg.layerNormEps);
    const prefix = (cfg.clsToken ? 1 : 0) + cfg.numRegisterTokens;
    if (pool === 'mean') {
      const patches = tokens.slice(prefix).map(norm);
      results.push(new Float64Array(C).map((_, c) => patches.reduce((s, t) => s + t[c], 0) / patches.length));
    } else {
      const cls = norm(tokens[0]);
      results.push(pool === 'projected' ? linearRef(cls, g('proj'), undefined, cfg.projectionDim) : cls);
    }
  }
  return results;
}

describe('buildVit against a float64 reference', () => {
  const cases: [string, Partial<VitConfig>, Pool, number, number][] = [
    // SwiGLU, tanh GELU, registers, no layer scale, a 4x4 position grid resized to 3x5 (non-square input)
    ['swiglu+registers+resize', { hiddenSize: 32, numHeads: 4, numLayers: 2, mlpHidden: 40, patchSize: 4, imageSize: [16, 16], act: 'gelu_tanh', swiglu: true, numRegisterTokens: 2, layerScale: false }, 'mean', 13, 22],
    // CLIP-like: pre-norm, quick_gelu, no qkv bias, projection
    ['clip-like', { hiddenSize: 24, numHeads: 3, numLayers: 2, mlpHidden: 48, patchSize: 4, imageSize: [12, 12], act: 'quick_gelu', qkvBias: false, preNorm: true, projectionDim: 10, layerScale: true, layerNormEps: 1e-5 }, 'projected', 12, 12],
    // no CLS token (I-JEPA-like), exact GELU, cls-pool refused so mean
    ['no-cls', { hiddenSize: 16, numHeads: 2, numLayers: 1, mlpHidden: 32, patchSize: 4, imageSize: [8, 8], clsToken: false, layerScale: false }, 'mean', 8, 8],
    ['cls', { hiddenSize: 16, numHeads: 2, numLayers: 3, mlpHidden: 24, patchSize: 2, imageSize: [6, 6], act: 'relu' }, 'cls', 8, 8],
  ];
  for (const [name, over, pool, H, W] of cases) {
    test(name, async () => {
      const cfg = vitConfig(over);
      const rng = new Rng(11);
      const w = randomVitWeights(cfg, rng);
      if (!cfg.qkvBias) for (const k of [...w.keys()]) if (/\.(q|k|v)\.bias$/.test(k)) w.delete(k);
      const B = 2;
      const px = Tensor.f32([B, 3, H, W], rng.normals(B * 3 * H * W));
      const enc = buildVit(cfg, w, { batch: B, height: H, width: W, pool });
      const got = await embed(enc, px);
      const ref = vitRef(cfg, w, px.data as Float32Array, B, H, W, pool);
      const K = enc.embeddingDim;
      let scale = 0;
      for (const r of ref) for (const v of r) scale = Math.max(scale, Math.abs(v));
      const err = maxAbs(got, Float64Array.from(ref.flatMap((r) => [...r])));
      assert.equal(K, ref[0].length);
      assert.ok(err < 1e-5 * Math.max(1, scale), `max abs error ${err} (scale ${scale})`);
    });
  }

  test('SwiGLU width follows the transformers rule', () => {
    const raw = { ...JSON.parse(readFileSync(join(FIX, 'dinov2-tiny', 'config.json'), 'utf8')), use_swiglu_ffn: true, hidden_size: 1536, num_attention_heads: 24 };
    // ViT-g: int(1536 * 4 * 2/3) = 4096, rounded up to a multiple of 8
    assert.equal(vitConfigFromHf(raw, 'c').vit.mlpHidden, 4096);
    assert.equal(vitConfigFromHf({ ...raw, hidden_size: 100, num_attention_heads: 4 }, 'c').vit.mlpHidden, 272);
  });
});

describe('bicubic resize (PyTorch, align_corners=False)', () => {
  test('matches torch.nn.functional.interpolate (values from PyTorch 1.13, float64)', () => {
    // inputs: arange(16) ** 1.5 on 4x4 (resized to 5x5) and arange(36) ** 1.5 on 6x6 (resized to 3x4)
    const up = Array.from({ length: 16 }, (_, i) => i ** 1.5);
    const down = Array.from({ length: 36 }, (_, i) => i ** 1.5);
    const torch = {
      up: [-0.538703319373943, -0.0507777680492606, 1.11212781368931, 2.93361641446314, 4.52518028332441, 4.00706202545166, 5.59265404265151, 7.97688588014351, 10.7633922636963, 13.0231067383089, 14.0513754905722, 16.6382828829047, 20.2065851679822, 24.0103301476012, 26.9917870071532, 29.235463922493, 32.4089783201851, 36.742697304974, 41.2855743179856, 44.8095909419652, 42.3943462668815, 45.9705683564507, 50.8240432488676, 55.865893445794, 59.7577905499407],
      upAA: [-0.385340987174386, 0.180242653336572, 1.34975236947686, 3.0868136053678, 4.71935302097892, 4.60498577494774, 6.28769278645483, 8.62429310261276, 11.3087320075293, 13.6453503877202, 14.4630609253478, 17.1090561117442, 20.5114666355641, 24.1268006033477, 27.1730764520024, 28.7817195277294, 32.0274324551561, 36.1515992717841, 40.4600519509662, 44.0522089605229, 42.1576203017028, 45.8369705013975, 50.4814314623483, 55.2902594811585, 59.2786078519733],
      down: [5.24444766736981, 9.03344687826456, 14.2019343630115, 19.9223474305279, 58.7519324964711, 67.8196248239138, 77.8435482050701, 87.7733560359992, 146.325256681621, 158.420601729391, 171.526816745676, 184.285930765498],
      downAA: [8.21849071704819, 12.21757317973, 17.69833316907, 23.3253779259875, 60.651621531963, 69.1671749171017, 79.0702071104577, 88.3405055902629, 140.683470199063, 151.910126584021, 164.741874621895, 176.561226429803],
    };
    below(maxAbs(resizeGrid(up, 1, 4, 4, 5, 5), torch.up), 1e-12);
    below(maxAbs(resizeGrid(up, 1, 4, 4, 5, 5, true), torch.upAA), 1e-12);
    below(maxAbs(resizeGrid(down, 1, 6, 6, 3, 4), torch.down), 1e-12);
    below(maxAbs(resizeGrid(down, 1, 6, 6, 3, 4, true), torch.downAA), 1e-12);
  });

  test('same size is the identity', () => {
    const rng = new Rng(1);
    const src = rng.normals(4 * 4 * 3, true);
    below(maxAbs(resizeGrid(src, 3, 4, 4, 4, 4), src), 1e-15);
  });

  test('4 -> 5: the middle output reads taps with weights -3/32, 19/32, 19/32, -3/32', () => {
    // one row of 4 values resized to 5 along x (height 1 stays 1)
    const src = [1, 10, 100, 1000];
    const out = resizeGrid(src, 1, 1, 4, 1, 5);
    below(Math.abs(out[2] - (-3 / 32 * 1 + 19 / 32 * 10 + 19 / 32 * 100 - 3 / 32 * 1000)), 1e-12);
    // the first output: source position -0.1, taps clamped at the border
    const t = 0.9;
    const A = -0.75;
    const c1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
    const c2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
    // taps at -2, -1, 0, 1 clamp to 0, 0, 0, 1
    const want = c2(t + 1) * 1 + c1(t) * 1 + c1(1 - t) * 1 + c2(2 - t) * 10;
    below(Math.abs(out[0] - want), 1e-12);
  });

  test('constants stay constant; a 2-D resize is the 16-tap sum with clamped indices', () => {
    for (const aa of [false, true]) below(maxAbs(resizeGrid(new Array(16).fill(2.5), 1, 4, 4, 7, 3, aa), new Array(21).fill(2.5)), 1e-12);
    const A = -0.75;
    const kernel = (x: number) => {
      x = Math.abs(x);
      return x <= 1 ? ((A + 2) * x - (A + 3)) * x * x + 1 : x < 2 ? ((A * x - 5 * A) * x + 8 * A) * x - 4 * A : 0;
    };
    const rng = new Rng(4);
    const src = rng.normals(3 * 3 * 2, true);
    const out = resizeGrid(src, 2, 3, 3, 5, 4);
    const clamp = (i: number) => Math.min(Math.max(i, 0), 2);
    for (let y = 0; y < 5; y++) for (let x = 0; x < 4; x++) for (let c = 0; c < 2; c++) {
      const sy = (3 / 5) * (y + 0.5) - 0.5;
      const sx = (3 / 4) * (x + 0.5) - 0.5;
      let want = 0;
      for (let i = Math.floor(sy) - 1; i <= Math.floor(sy) + 2; i++) for (let j = Math.floor(sx) - 1; j <= Math.floor(sx) + 2; j++) {
        want += kernel(sy - i) * kernel(sx - j) * src[(clamp(i) * 3 + clamp(j)) * 2 + c];
      }
      below(Math.abs(out[(y * 4 + x) * 2 + c] - want), 1e-12);
    }
  });
});
