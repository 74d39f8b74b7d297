// A small DINOv2-style ViT for 1x28x28 digits, trainable with our own gradients. The training graph
// computes the same function as the DINOv2 graph src/models/vit.ts builds (test/digits-vit.test.ts checks
// this), but keeps every weight under its canonical name so the trainer can lift it to an input. The
// trained model is written as a Hugging Face dinov2 folder (config.json, model.safetensors,
// preprocessor_config.json), so it loads both as a built-in model and with --model <folder>.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../data/random.js';
import { writeSafetensors } from '../data/safetensors.js';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Tensor } from '../graph/tensor.js';
import { hfName, vitConfigFromHf } from '../models/hf.js';
import { buildVit, VitConfig, vitWeightShapes } from '../models/vit.js';
import { Session } from '../runtime/session.js';

export interface DigitsVitOptions {
  hiddenSize?: number;
  layers?: number;
  heads?: number;
  mlpRatio?: number;
  patchSize?: number;
}

export const DIGITS_VIT_DEFAULTS: Required<DigitsVitOptions> = { hiddenSize: 64, layers: 4, heads: 4, mlpRatio: 4, patchSize: 7 };

/** The transformers config.json of a DINOv2 ViT for 1x28x28 digits in [0, 1] (no input normalisation). */
export function digitsVitHfConfig(o: DigitsVitOptions = {}): Record<string, unknown> {
  const c = { ...DIGITS_VIT_DEFAULTS, ...o };
  return {
    architectures: ['Dinov2Model'],
    model_type: 'dinov2',
    hidden_size: c.hiddenSize,
    num_hidden_layers: c.layers,
    num_attention_heads: c.heads,
    mlp_ratio: c.mlpRatio,
    hidden_act: 'gelu',
    layer_norm_eps: 1e-6,
    image_size: 28,
    patch_size: c.patchSize,
    num_channels: 1,
    qkv_bias: true,
    layerscale_value: 1.0,
    use_swiglu_ffn: false,
    drop_path_rate: 0.0,
    hidden_dropout_prob: 0.0,
    attention_probs_dropout_prob: 0.0,
    initializer_range: 0.02,
    torch_dtype: 'float32',
  };
}

/** The image processor: 28x28 grayscale, rescaled to [0, 1], no normalisation (mean 0, std 1). */
export function digitsVitPreprocessor(): Record<string, unknown> {
  return {
    image_processor_type: 'BitImageProcessor',
    do_resize: true,
    size: { height: 28, width: 28 },
    resample: 2,
    do_center_crop: false,
    do_rescale: true,
    rescale_factor: 1 / 255,
    // mean 0 and std 1: the model takes pixels in [0, 1]; one value for the one channel
    do_normalize: true,
    image_mean: [0],
    image_std: [1],
    do_convert_rgb: false,
  };
}

export function digitsVitConfig(o: DigitsVitOptions = {}): VitConfig {
  return vitConfigFromHf(digitsVitHfConfig(o), 'digits-vit config').vit;
}

/** Canonical weight names and shapes, in a fixed order (every optional tensor included). */
export function vitParamShapes(vit: VitConfig): [string, number[]][] {
  return [...vitWeightShapes(vit)].map(([n, s]) => [n, s.shape]);
}

/**
 * Initial weights: linear and patch weights N(0, 1/fan_in), biases 0, LayerNorm scale 1, layer scales 1,
 * CLS token N(0, 0.02^2), position embeddings N(0, 0.5^2).
 */
export function initVitWeights(vit: VitConfig, rng: Rng): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, shape] of vitParamShapes(vit)) {
    const t = Tensor.f32(shape);
    const d = t.data as Float32Array;
    if (/norm\d?\.weight$/.test(name) || /\.ls\d$/.test(name)) d.fill(1);
    else if (name.endsWith('.bias')) d.fill(0);
    else if (name === 'cls') for (let i = 0; i < d.length; i++) d[i] = 0.02 * rng.normal();
    // position embeddings start large enough that tokens differ by place (with 0.02 the blocks first see a bag of patches)
    else if (name === 'pos') for (let i = 0; i < d.length; i++) d[i] = 0.5 * rng.normal();
    else {
      const fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
      const sd = 1 / Math.sqrt(fanIn);
      for (let i = 0; i < d.length; i++) d[i] = sd * rng.normal();
    }
    out.set(name, t);
  }
  return out;
}

/**
 * Adds the encoder to a builder with weights read by canonical name: x [N, channels, H, W] at the
 * config's image size -> the final-LayerNorm CLS token [N, C] (DINOv2's f(x)).
 */
export function addVitEncoder(b: GraphBuilder, vit: VitConfig, x: Value, n: number, w: (name: string) => Value): Value {
  const C = vit.hiddenSize;
  const p = vit.patchSize;
  const H = vit.numHeads;
  const d = C / H;
  const G = Math.floor(vit.imageSize[0] / p) * Math.floor(vit.imageSize[1] / p);
  const T = G + 1;
  const eps = vit.layerNormEps;
  let h = b.conv(x, w('patch.weight'), w('patch.bias'), { strides: [p, p] });
  h = b.transpose(b.reshape(h, [n, C, G]), [0, 2, 1]);
  const pos = w('pos');
  h = b.add(h, b.slice(pos, [1], [T], [0]));
  const cls = b.reshape(b.add(w('cls'), b.slice(pos, [0], [1], [0])), [1, 1, C]);
  let t = b.concat([b.expand(cls, [n, 1, C]), h], 1);
  const heads = (v: Value) => b.transpose(b.reshape(v, [n, T, H, d]), [0, 2, 1, 3]);
  for (let i = 0; i < vit.numLayers; i++) {
    const l = `layers.${i}`;
    const y = b.layerNorm(t, w(`${l}.norm1.weight`), w(`${l}.norm1.bias`), eps);
    const q = heads(b.mul(b.linear(y, w(`${l}.q.weight`), w(`${l}.q.bias`)), b.scalar(1 / Math.sqrt(d))));
    const k = heads(b.linear(y, w(`${l}.k.weight`), w(`${l}.k.bias`)));
    const v = heads(b.linear(y, w(`${l}.v.weight`), w(`${l}.v.bias`)));
    const att = b.softmax(b.matmul(q, b.transpose(k, [0, 1, 3, 2])), -1);
    const o = b.reshape(b.transpose(b.matmul(att, v), [0, 2, 1, 3]), [n, T, C]);
    t = b.add(t, b.mul(b.linear(o, w(`${l}.proj.weight`), w(`${l}.proj.bias`)), w(`${l}.ls1`)));
    const y2 = b.layerNorm(t, w(`${l}.norm2.weight`), w(`${l}.norm2.bias`), eps);
    const m = b.linear(b.gelu(b.linear(y2, w(`${l}.fc1.weight`), w(`${l}.fc1.bias`))), w(`${l}.fc2.weight`), w(`${l}.fc2.bias`));
    t = b.add(t, b.mul(m, w(`${l}.ls2`)));
  }
  const c0 = b.gather(t, b.constant(Tensor.i64([], [0]), 'cls_index'), 1);
  return b.layerNorm(c0, w('norm.weight'), w('norm.bias'), eps);
}

/** Canonical weights -> the transformers dinov2 checkpoint's names and shapes. */
export function vitToHfWeights(vit: VitConfig, weights: Map<string, Tensor>): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  const C = vit.hiddenSize;
  for (const [name, shape] of vitParamShapes(vit)) {
    const t = weights.get(name);
    if (!t) throw new Error(`vitToHfWeights: missing ${name}`);
    const data = Float32Array.from(t.data as Float32Array);
    const dims = name === 'cls' ? [1, 1, C] : name === 'pos' ? [1, ...shape] : shape;
    out.set(hfName('dinov2', name), new Tensor('float32', dims, data));
  }
  out.set('embeddings.mask_token', Tensor.f32([1, C])); // unused for scoring; transformers expects it
  return out;
}

/** Writes config.json, preprocessor_config.json and model.safetensors. */
export function writeVitFolder(dir: string, o: DigitsVitOptions, weights: Map<string, Tensor>): void {
  const vit = digitsVitConfig(o);
  writeSafetensors(join(dir, 'model.safetensors'), vitToHfWeights(vit, weights), { format: 'pt' });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(digitsVitHfConfig(o), null, 2) + '\n');
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify(digitsVitPreprocessor(), null, 2) + '\n');
}

/** Embeddings of many images through the DINOv2 graph of src/models/vit.ts, in batches of 500. */
export async function embedVitImages(vit: VitConfig, weights: Map<string, Tensor>, images: Float32Array[], threads?: number): Promise<Float32Array[]> {
  const D = vit.numChannels * vit.imageSize[0] * vit.imageSize[1];
  const K = vit.hiddenSize;
  const out: Float32Array[] = [];
  const sessions = new Map<number, { s: Session; input: string; output: string }>();
  try {
    for (let s = 0; s < images.length; s += 500) {
      const part = images.slice(s, s + 500);
      let sess = sessions.get(part.length);
      if (!sess) {
        const enc = buildVit(vit, weights, { batch: part.length, family: 'dinov2' });
        sess = { s: await Session.create(enc.graph, { threads }), input: enc.input, output: enc.output };
        sessions.set(part.length, sess);
      }
      const data = new Float32Array(part.length * D);
      part.forEach((x, i) => data.set(x, i * D));
      const r = await sess.s.run({ [sess.input]: new Tensor('float32', [part.length, vit.numChannels, ...vit.imageSize], data) });
      const z = r[sess.output].data as Float32Array;
      for (let i = 0; i < part.length; i++) out.push(z.slice(i * K, (i + 1) * K));
    }
  } finally {
    for (const { s } of sessions.values()) await s.release();
  }
  return out;
}
