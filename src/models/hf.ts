// Vision encoders from Hugging Face model folders (config.json + safetensors): DINOv2, DINOv2 with
// registers, I-JEPA, and the vision tower of CLIP.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadWeights } from '../data/safetensors.js';
import { canonicalWeights } from './names.js';
import { Activation, buildVit, EncoderGraph, Pool, VitConfig, vitWeightShapes } from './vit.js';

export const HF_FAMILIES = ['dinov2', 'dinov2_with_registers', 'ijepa', 'clip_vision_model', 'clip'] as const;

export interface HfEncoderOptions {
  pool?: Pool;
  batch?: number;
  height?: number;
  width?: number;
  /**
   * Resize position embeddings with PyTorch's antialiased bicubic (A = -0.5) instead of the plain one
   * (A = -0.75). Default false. transformers' Dinov2WithRegisters uses antialias=True; our fixture does not.
   */
  antialias?: boolean;
}

const ACTIVATIONS: Record<string, Activation> = {
  gelu: 'gelu',
  gelu_python: 'gelu',
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  quick_gelu: 'quick_gelu',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

// The defaults of each family's transformers config class, for fields a config.json leaves out.
const DEFAULTS: Record<string, Record<string, unknown>> = {
  dinov2: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, mlp_ratio: 4, hidden_act: 'gelu', layer_norm_eps: 1e-6, image_size: 224, patch_size: 14, num_channels: 3, qkv_bias: true, layerscale_value: 1, use_swiglu_ffn: false },
  dinov2_with_registers: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, mlp_ratio: 4, hidden_act: 'gelu', layer_norm_eps: 1e-6, image_size: 224, patch_size: 14, num_channels: 3, qkv_bias: true, layerscale_value: 1, use_swiglu_ffn: false, num_register_tokens: 4 },
  ijepa: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu', layer_norm_eps: 1e-12, image_size: 224, patch_size: 16, num_channels: 3, qkv_bias: true },
  clip_vision_model: { hidden_size: 768, intermediate_size: 3072, projection_dim: 512, num_hidden_layers: 12, num_attention_heads: 12, num_channels: 3, image_size: 224, patch_size: 32, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5 },
};

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads and parses `<dir>/config.json`. */
export function readHfConfig(dir: string): { path: string; config: Record<string, unknown> } {
  const path = join(dir, 'config.json');
  if (!existsSync(path)) throw new Error(`${path}: file not found (a Hugging Face model folder needs config.json)`);
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(config)) throw new Error(`${path}: the config is not a JSON object`);
  return { path, config };
}

/** Turns a transformers config into a VitConfig. `file` names the config in errors. */
export function vitConfigFromHf(raw: Record<string, unknown>, file: string): { family: string; vit: VitConfig } {
  const type = raw.model_type;
  if (typeof type !== 'string') throw new Error(`${file}: no model_type (supported: ${HF_FAMILIES.join(', ')})`);
  if (!(HF_FAMILIES as readonly string[]).includes(type)) throw new Error(`${file}: model_type '${type}' is not supported (supported: ${HF_FAMILIES.join(', ')})`);
  let c: Record<string, unknown> = raw;
  let projectionDim: unknown;
  const family = type === 'clip' ? 'clip_vision_model' : type;
  if (type === 'clip') {
    if (!isObject(raw.vision_config)) throw new Error(`${file}: a 'clip' config needs a vision_config object`);
    c = raw.vision_config;
    projectionDim = raw.projection_dim ?? c.projection_dim;
  }
  const defaults = DEFAULTS[family];
  const field = (k: string): unknown => (c[k] !== undefined && c[k] !== null ? c[k] : defaults[k]);
  const int = (k: string, min = 1): number => {
    const v = field(k);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${file}: ${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return v;
  };
  const num = (k: string): number => {
    const v = field(k);
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new Error(`${file}: ${k} must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  const bool = (k: string, fallback: boolean): boolean => {
    const v = field(k) ?? fallback;
    if (typeof v !== 'boolean') throw new Error(`${file}: ${k} must be true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  const square = (k: string): [number, number] => {
    const v = field(k);
    if (Array.isArray(v) && v.length === 2 && v.every((x) => Number.isInteger(x) && x > 0)) return [v[0], v[1]];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return [v, v];
    throw new Error(`${file}: ${k} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  };

  const hidden = int('hidden_size');
  const heads = int('num_attention_heads');
  if (hidden % heads !== 0) throw new Error(`${file}: hidden_size ${hidden} is not a multiple of num_attention_heads ${heads}`);
  const patch = square('patch_size');
  if (patch[0] !== patch[1]) throw new Error(`${file}: patch_size ${JSON.stringify(field('patch_size'))} is not square`);
  const actName = field('hidden_act');
  if (typeof actName !== 'string' || !ACTIVATIONS[actName]) throw new Error(`${file}: hidden_act ${JSON.stringify(actName)} is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  const swiglu = family.startsWith('dinov2') ? bool('use_swiglu_ffn', false) : false;
  // MLP width: intermediate_size when given, else hidden_size * mlp_ratio (transformers: int(hidden * ratio))
  let mlp: number;
  if (c.intermediate_size !== undefined && c.intermediate_size !== null) mlp = int('intermediate_size');
  else if (c.mlp_ratio !== undefined || defaults.mlp_ratio !== undefined) mlp = Math.trunc(hidden * num('mlp_ratio'));
  else mlp = int('intermediate_size');
  if (swiglu) mlp = Math.trunc((Math.trunc(mlp * 2 / 3) + 7) / 8) * 8;
  if (mlp <= 0) throw new Error(`${file}: the MLP width works out to ${mlp}`);
  const isClip = family === 'clip_vision_model';
  let proj = 0;
  if (isClip) {
    const v = projectionDim ?? field('projection_dim');
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${file}: projection_dim must be a positive integer, got ${JSON.stringify(v)}`);
    proj = v;
  }
  const vit: VitConfig = {
    hiddenSize: hidden,
    numLayers: int('num_hidden_layers'),
    numHeads: heads,
    mlpHidden: mlp,
    patchSize: patch[0],
    imageSize: square('image_size'),
    numChannels: int('num_channels'),
    layerNormEps: num('layer_norm_eps'),
    act: ACTIVATIONS[actName],
    qkvBias: isClip ? true : bool('qkv_bias', true),
    layerScale: family.startsWith('dinov2'),
    swiglu,
    clsToken: family !== 'ijepa',
    numRegisterTokens: family === 'dinov2_with_registers' ? int('num_register_tokens', 0) : 0,
    preNorm: isClip,
    projectionDim: proj,
    posAntialias: false,
    defaultPool: family === 'ijepa' ? 'mean' : isClip ? 'projected' : 'cls',
  };
  if (vit.imageSize.some((s) => s < vit.patchSize)) throw new Error(`${file}: image_size ${JSON.stringify(field('image_size'))} is smaller than patch_size ${vit.patchSize}`);
  return { family, vit };
}

// How the transformers checkpoint of each family names a canonical tensor (error messages, and writing
// checkpoints of models trained here).
export function hfName(family: string, canon: string): string {
  const clip = family === 'clip_vision_model';
  const ijepa = family === 'ijepa';
  const glob: Record<string, string> = clip
    ? { cls: 'embeddings.class_embedding', pos: 'embeddings.position_embedding.weight', 'patch.weight': 'embeddings.patch_embedding.weight', 'patch.bias': 'embeddings.patch_embedding.bias', 'pre_norm.weight': 'pre_layrnorm.weight', 'pre_norm.bias': 'pre_layrnorm.bias', 'norm.weight': 'post_layernorm.weight', 'norm.bias': 'post_layernorm.bias', proj: 'visual_projection.weight' }
    : { cls: 'embeddings.cls_token', pos: 'embeddings.position_embeddings', reg: 'embeddings.register_tokens', 'patch.weight': 'embeddings.patch_embeddings.projection.weight', 'patch.bias': 'embeddings.patch_embeddings.projection.bias', 'norm.weight': 'layernorm.weight', 'norm.bias': 'layernorm.bias' };
  if (glob[canon]) return glob[canon];
  const m = /^layers\.(\d+)\.(.+)$/.exec(canon);
  if (!m) return canon;
  const [, i, rest] = m;
  const parts: Record<string, string> = clip
    ? { norm1: 'layer_norm1', norm2: 'layer_norm2', q: 'self_attn.q_proj', k: 'self_attn.k_proj', v: 'self_attn.v_proj', proj: 'self_attn.out_proj', fc1: 'mlp.fc1', fc2: 'mlp.fc2' }
    : ijepa
      ? { norm1: 'layernorm_before', norm2: 'layernorm_after', q: 'attention.attention.query', k: 'attention.attention.key', v: 'attention.attention.value', proj: 'attention.output.dense', fc1: 'intermediate.dense', fc2: 'output.dense' }
      : { norm1: 'norm1', norm2: 'norm2', q: 'attention.attention.query', k: 'attention.attention.key', v: 'attention.attention.value', proj: 'attention.output.dense', fc1: 'mlp.fc1', fc2: 'mlp.fc2', w12: 'mlp.weights_in', w3: 'mlp.weights_out', ls1: 'layer_scale1.lambda1', ls2: 'layer_scale2.lambda1' };
  const [head, ...tail] = rest.split('.');
  const mapped = parts[head] ?? head;
  return `${clip ? 'encoder.layers' : 'encoder.layer'}.${i}.${[mapped, ...tail].join('.')}`;
}

/** Path of the weights file(s) of a folder, for messages. */
function weightsLabel(dir: string): string {
  if (existsSync(join(dir, 'model.safetensors'))) return join(dir, 'model.safetensors');
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return join(dir, 'model.safetensors.index.json');
  return dir;
}

/**
 * Loads a vision encoder from a Hugging Face model folder. f(x) per family: DINOv2 (with registers) the
 * final-LayerNorm CLS token; I-JEPA the mean of the final-LayerNorm patch tokens; CLIP post_layernorm(CLS)
 * times visual_projection. `pool` overrides that. Input 'pixel_values' [batch, 3, H, W] (default batch 1,
 * H = W = image_size), output 'embedding' [batch, K].
 */
export function loadHfEncoder(dir: string, opts: HfEncoderOptions = {}): EncoderGraph {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new Error(`${dir}: no such folder`);
  }
  if (!st.isDirectory()) throw new Error(`${dir}: not a folder (a Hugging Face model folder holds config.json and model.safetensors)`);
  const { path: cfgPath, config } = readHfConfig(dir);
  const { family, vit } = vitConfigFromHf(config, cfgPath);
  const source = weightsLabel(dir);
  const { weights, origin, maxLayer } = canonicalWeights(loadWeights(dir), source);
  if (maxLayer >= vit.numLayers) {
    throw new Error(`${source}: the checkpoint has layer ${maxLayer}, but ${cfgPath} says num_hidden_layers is ${vit.numLayers}`);
  }
  if (opts.antialias !== undefined) vit.posAntialias = opts.antialias;
  if (!weights.has('proj')) vit.defaultPool = vit.defaultPool === 'projected' ? 'cls' : vit.defaultPool;
  // spot config/weight mismatches before the per-tensor checks, with the config named
  const patch = weights.get('patch.weight');
  if (patch && patch.dims.length === 4 && (patch.dims[0] !== vit.hiddenSize || patch.dims[2] !== vit.patchSize)) {
    throw new Error(
      `${source}: ${origin.get('patch.weight')} has shape [${patch.dims.join(',')}], but ${cfgPath} gives hidden_size ${vit.hiddenSize} and patch_size ${vit.patchSize} (expected [${vitWeightShapes(vit).get('patch.weight')!.shape.join(',')}])`,
    );
  }
  return buildVit(vit, weights, {
    pool: opts.pool,
    batch: opts.batch,
    height: opts.height,
    width: opts.width,
    source,
    describe: (canon) => `'${origin.get(canon) ?? hfName(family, canon)}'`,
    family,
    config,
    name: family,
  });
}
