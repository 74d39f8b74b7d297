// A small CNN encoder for 1x28x28 digits: strided convolutions (by default patchifying: stride = kernel),
// then an MLP to a K-dim embedding. The input normalisation is part of the graph, so it takes pixels in [0, 1].
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Dim, Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Rng } from '../data/random.js';
import { parseSafetensors, readSafetensors } from '../data/safetensors.js';

export interface DigitsConfig {
  model_type: 'digits-cnn';
  image_size: number;
  num_channels: number;
  /** output channels of each convolution */
  conv_channels: number[];
  /** kernel size of each convolution */
  conv_kernels: number[];
  /** stride of each convolution (default: the kernel size) */
  conv_strides?: number[];
  /** zero padding on every side of each convolution (default 0) */
  conv_pads?: number[];
  hidden_size: number;
  embedding_dim: number;
  /** pixels in [0, 1] are mapped to (x - mean) / std inside the graph */
  input_mean: number;
  input_std: number;
}

export function defaultDigitsConfig(): DigitsConfig {
  return {
    model_type: 'digits-cnn',
    image_size: 28,
    num_channels: 1,
    conv_channels: [32, 64],
    conv_kernels: [2, 2],
    conv_strides: [2, 2],
    conv_pads: [0, 0],
    hidden_size: 256,
    embedding_dim: 64,
    input_mean: 0.1307,
    input_std: 0.3081,
  };
}

/** The graph and how to feed it; compatible with the scorer's Encoder. */
export interface DigitsEncoder {
  graph: Graph;
  input: string;
  output: string;
  inputShape: number[];
  embeddingDim: number;
  family: string;
  config: DigitsConfig;
}

function strideOf(cfg: DigitsConfig, i: number): number {
  return cfg.conv_strides?.[i] ?? cfg.conv_kernels[i];
}

function padOf(cfg: DigitsConfig, i: number): number {
  return cfg.conv_pads?.[i] ?? 0;
}

/** Spatial size after the convolutions. */
function gridSize(cfg: DigitsConfig): number {
  let s = cfg.image_size;
  cfg.conv_kernels.forEach((k, i) => {
    const next = Math.floor((s + 2 * padOf(cfg, i) - k) / strideOf(cfg, i)) + 1;
    if (!(next >= 1)) throw new Error(`convolution ${i + 1} (kernel ${k}) does not fit a ${s}x${s} input`);
    s = next;
  });
  return s;
}

/** Names and shapes of every weight, in a fixed order. */
export function digitsWeightShapes(cfg: DigitsConfig): [string, number[]][] {
  const out: [string, number[]][] = [];
  let cin = cfg.num_channels;
  cfg.conv_channels.forEach((c, i) => {
    const k = cfg.conv_kernels[i];
    out.push([`conv${i + 1}.weight`, [c, cin, k, k]], [`conv${i + 1}.bias`, [c]]);
    cin = c;
  });
  const g = gridSize(cfg);
  const flat = cin * g * g;
  out.push(['fc1.weight', [cfg.hidden_size, flat]], ['fc1.bias', [cfg.hidden_size]]);
  out.push(['fc2.weight', [cfg.embedding_dim, cfg.hidden_size]], ['fc2.bias', [cfg.embedding_dim]]);
  return out;
}

/** PyTorch's default initialisation: uniform in +-1/sqrt(fan_in) for weights and biases. */
export function initDigitsWeights(cfg: DigitsConfig, rng: Rng): Map<string, Tensor> {
  const w = new Map<string, Tensor>();
  const shapes = digitsWeightShapes(cfg);
  for (let i = 0; i < shapes.length; i += 2) {
    const [wname, wshape] = shapes[i];
    const [bname, bshape] = shapes[i + 1];
    const fanIn = wshape.slice(1).reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const t = Tensor.f32(wshape);
    for (let j = 0; j < t.size; j++) (t.data as Float32Array)[j] = rng.range(-bound, bound);
    const b = Tensor.f32(bshape);
    for (let j = 0; j < b.size; j++) (b.data as Float32Array)[j] = rng.range(-bound, bound);
    w.set(wname, t);
    w.set(bname, b);
  }
  return w;
}

/** Checks a config object read from JSON; `where` names the file in errors. */
export function checkDigitsConfig(raw: unknown, where: string): DigitsConfig {
  const fail = (msg: string): never => {
    throw new Error(`${where}: ${msg}`);
  };
  if (!raw || typeof raw !== 'object') fail('config is not a JSON object');
  const c = raw as Record<string, unknown>;
  if (c.model_type !== 'digits-cnn') fail(`model_type is ${JSON.stringify(c.model_type)}, expected "digits-cnn"`);
  const posInt = (k: string) => {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) fail(`${k} must be a positive integer, got ${JSON.stringify(v)}`);
  };
  for (const k of ['image_size', 'num_channels', 'hidden_size', 'embedding_dim']) posInt(k);
  const n = Array.isArray(c.conv_channels) ? c.conv_channels.length : 0;
  for (const k of ['conv_channels', 'conv_kernels', 'conv_strides', 'conv_pads']) {
    const v = c[k];
    if (v === undefined && (k === 'conv_strides' || k === 'conv_pads')) continue;
    const min = k === 'conv_pads' ? 0 : 1;
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x) && x >= min)) fail(`${k} must be a list of ${min ? 'positive' : 'non-negative'} integers`);
    if ((v as number[]).length !== n) fail(`${k} has ${(v as number[]).length} entries, conv_channels ${n}`);
  }
  for (const k of ['input_mean', 'input_std']) if (typeof c[k] !== 'number' || !Number.isFinite(c[k])) fail(`${k} must be a number`);
  if ((c.input_std as number) <= 0) fail('input_std must be positive');
  const cfg = c as unknown as DigitsConfig;
  try {
    gridSize(cfg);
  } catch (e) {
    fail((e as Error).message);
  }
  return cfg;
}

/** Checks that `weights` holds every tensor at the right shape; `where` names the file in errors. */
export function checkDigitsWeights(cfg: DigitsConfig, weights: Map<string, Tensor>, where: string): void {
  for (const [name, shape] of digitsWeightShapes(cfg)) {
    const t = weights.get(name);
    if (!t) throw new Error(`${where}: missing tensor ${name} (expected shape [${shape.join(', ')}])`);
    if (t.dtype !== 'float32') throw new Error(`${where}: tensor ${name} is ${t.dtype}, expected float32`);
    if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
      throw new Error(`${where}: tensor ${name} has shape [${t.dims.join(', ')}], expected [${shape.join(', ')}]`);
    }
  }
}

export interface BuildOptions {
  /** batch size of the input; a string makes it symbolic (default 1) */
  batch?: Dim;
  /** graph input name (default 'pixel_values') */
  input?: string;
}

/**
 * Adds the encoder to a builder, reading weights by name (initializers or inputs already in `b`).
 * Returns the embedding value [B, K].
 */
export function addDigitsEncoder(b: GraphBuilder, cfg: DigitsConfig, x: Value, w: (name: string) => Value): Value {
  let h = b.mul(b.sub(x, b.scalar(cfg.input_mean)), b.scalar(1 / cfg.input_std));
  cfg.conv_kernels.forEach((_, i) => {
    const st = strideOf(cfg, i);
    const p = padOf(cfg, i);
    h = b.gelu(b.conv(h, w(`conv${i + 1}.weight`), w(`conv${i + 1}.bias`), { strides: [st, st], pads: [p, p, p, p] }));
  });
  h = b.flatten(h, 1);
  h = b.gelu(b.linear(h, w('fc1.weight'), w('fc1.bias')));
  return b.linear(h, w('fc2.weight'), w('fc2.bias'));
}

/** The encoder as a graph with its weights as initializers: input [B,1,28,28] in [0,1], output [B,K]. */
export function buildDigitsEncoder(cfg: DigitsConfig, weights: Map<string, Tensor>, opts: BuildOptions = {}): DigitsEncoder {
  checkDigitsWeights(cfg, weights, 'digits encoder');
  const b = new GraphBuilder('digits_cnn');
  const batch = opts.batch ?? 1;
  const inputShape = [cfg.num_channels, cfg.image_size, cfg.image_size];
  const input = b.input(opts.input ?? 'pixel_values', 'float32', [batch, ...inputShape]);
  const names = new Map<string, Value>();
  for (const [name] of digitsWeightShapes(cfg)) names.set(name, b.init(name, weights.get(name)!));
  const z = addDigitsEncoder(b, cfg, input, (n) => names.get(n)!);
  b.op('Identity', [z], {}, 'embedding');
  b.output('embedding', 'float32', [batch, cfg.embedding_dim]);
  return {
    graph: b.build(),
    input,
    output: 'embedding',
    inputShape: typeof batch === 'number' ? [batch, ...inputShape] : [1, ...inputShape],
    embeddingDim: cfg.embedding_dim,
    family: 'digits-cnn',
    config: cfg,
  };
}

/** Reads config.json and model.safetensors from a folder. */
export function loadDigitsWeights(dir: string): { config: DigitsConfig; weights: Map<string, Tensor> } {
  const cfgPath = join(dir, 'config.json');
  const wPath = join(dir, 'model.safetensors');
  if (!existsSync(cfgPath)) throw new Error(`${cfgPath}: file not found`);
  if (!existsSync(wPath)) throw new Error(`${wPath}: file not found`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (e) {
    throw new Error(`${cfgPath}: not valid JSON (${(e as Error).message})`);
  }
  const config = checkDigitsConfig(raw, cfgPath);
  const weights = readSafetensors(wPath);
  checkDigitsWeights(config, weights, wPath);
  return { config, weights };
}

/** A digits encoder from the text of its config.json and the bytes of its model.safetensors (no file access). */
export function digitsEncoderFromBytes(configText: string, weights: Uint8Array, opts: BuildOptions & { where?: string } = {}): DigitsEncoder {
  const where = opts.where ?? 'model';
  let raw: unknown;
  try {
    raw = JSON.parse(configText);
  } catch (e) {
    throw new Error(`${where}/config.json: not valid JSON (${(e as Error).message})`);
  }
  const config = checkDigitsConfig(raw, `${where}/config.json`);
  const w = parseSafetensors(weights, `${where}/model.safetensors`);
  checkDigitsWeights(config, w, `${where}/model.safetensors`);
  return buildDigitsEncoder(config, w, opts);
}

/** Loads a trained digits encoder from a folder holding config.json and model.safetensors. */
export function loadDigitsEncoder(dir: string, opts: BuildOptions = {}): DigitsEncoder {
  const { config, weights } = loadDigitsWeights(dir);
  return buildDigitsEncoder(config, weights, opts);
}

/** Whether `dir` is a digits model folder (its config.json says model_type digits-cnn). */
export function isDigitsFolder(dir: string): boolean {
  const cfg = join(dir, 'config.json');
  if (!existsSync(dir) || !statSync(dir).isDirectory() || !existsSync(cfg)) return false;
  try {
    return JSON.parse(readFileSync(cfg, 'utf8'))?.model_type === 'digits-cnn';
  } catch {
    return false;
  }
}
