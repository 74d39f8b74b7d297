// A pre-norm Vision Transformer as an ONNX graph: DINOv2 (with or without registers), I-JEPA and CLIP's
// vision tower are all this one builder with different switches. Weights use the canonical names of names.ts.
import { GraphBuilder, Value } from '../graph/builder.js';
import { attr, Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Rng } from '../data/random.js';
import { resizeGrid } from './interpolate.js';

export type Pool = 'cls' | 'mean' | 'projected';
export type Activation = 'gelu' | 'gelu_tanh' | 'quick_gelu' | 'relu' | 'silu';

export interface VitConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  /** width of the MLP's hidden layer (for SwiGLU: of each of its two halves) */
  mlpHidden: number;
  patchSize: number;
  /** the training resolution [height, width]; the position embeddings fit this grid */
  imageSize: [number, number];
  numChannels: number;
  layerNormEps: number;
  act: Activation;
  /** biases on the q, k, v projections */
  qkvBias: boolean;
  /** per-channel scales after attention and MLP (DINOv2) */
  layerScale: boolean;
  /** SwiGLU MLP (DINOv2 ViT-g): w12 [2M, C], w3 [C, M] */
  swiglu: boolean;
  clsToken: boolean;
  /** tokens after CLS without position embedding (DINOv2 with registers) */
  numRegisterTokens: number;
  /** a LayerNorm before the first block (CLIP) */
  preNorm: boolean;
  /** size of the output projection (CLIP), 0 when none */
  projectionDim: number;
  /** resize position embeddings with PyTorch's antialiased bicubic instead of the plain one */
  posAntialias: boolean;
  /** f(x) when no pool is asked for */
  defaultPool: Pool;
}

/** The graph of an image encoder: input [batch, 3, H, W] float32, output [batch, K]. */
export interface EncoderGraph {
  graph: Graph;
  input: string;
  output: string;
  embeddingDim: number;
  inputShape: number[];
  family: string;
  config: Record<string, unknown>;
  /** how f(x) is read off the tokens */
  pool?: Pool;
}

export interface VitBuildOptions {
  pool?: Pool;
  batch?: number;
  height?: number;
  width?: number;
  /** names the weights' origin in error messages (a file) */
  source?: string;
  /** how to show a canonical weight name in errors (e.g. as the checkpoint's own name) */
  describe?: (canonical: string) => string;
  /** compute only the CLS token in the last block when f(x) needs nothing else (default true) */
  clsShortcut?: boolean;
  family?: string;
  config?: Record<string, unknown>;
  /** graph name */
  name?: string;
}

/** A ViT-S/14 as in DINOv2, at 224 px; `overrides` change any field. */
export function vitConfig(overrides: Partial<VitConfig> = {}): VitConfig {
  return {
    hiddenSize: 384,
    numLayers: 12,
    numHeads: 6,
    mlpHidden: 1536,
    patchSize: 14,
    imageSize: [224, 224],
    numChannels: 3,
    layerNormEps: 1e-6,
    act: 'gelu',
    qkvBias: true,
    layerScale: true,
    swiglu: false,
    clsToken: true,
    numRegisterTokens: 0,
    preNorm: false,
    projectionDim: 0,
    posAntialias: false,
    defaultPool: 'cls',
    ...overrides,
  };
}

/** Checks the numbers of a config; `where` names its origin in errors. */
export function checkVitConfig(cfg: VitConfig, where = 'vit config'): void {
  const positive: (keyof VitConfig)[] = ['hiddenSize', 'numLayers', 'numHeads', 'mlpHidden', 'patchSize', 'numChannels'];
  for (const k of positive) {
    const v = cfg[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`${where}: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  if (cfg.hiddenSize % cfg.numHeads !== 0) throw new Error(`${where}: hidden size ${cfg.hiddenSize} is not a multiple of the ${cfg.numHeads} attention heads`);
  if (!Number.isInteger(cfg.numRegisterTokens) || cfg.numRegisterTokens < 0) throw new Error(`${where}: number of register tokens must be a non-negative integer, got ${cfg.numRegisterTokens}`);
  if (!Number.isInteger(cfg.projectionDim) || cfg.projectionDim < 0) throw new Error(`${where}: projection size must be a non-negative integer, got ${cfg.projectionDim}`);
  if (!(cfg.layerNormEps > 0)) throw new Error(`${where}: layer norm epsilon must be positive, got ${cfg.layerNormEps}`);
  for (const s of cfg.imageSize) if (!Number.isInteger(s) || s < cfg.patchSize) throw new Error(`${where}: image size [${cfg.imageSize}] must be integers of at least the patch size ${cfg.patchSize}`);
}

/** The canonical weight names and shapes the config needs (optional ones flagged). */
export function vitWeightShapes(cfg: VitConfig): Map<string, { shape: number[]; optional?: boolean }> {
  const C = cfg.hiddenSize;
  const M = cfg.mlpHidden;
  const p = cfg.patchSize;
  const grid = Math.floor(cfg.imageSize[0] / p) * Math.floor(cfg.imageSize[1] / p);
  const m = new Map<string, { shape: number[]; optional?: boolean }>();
  const ln = (n: string) => {
    m.set(`${n}.weight`, { shape: [C] });
    m.set(`${n}.bias`, { shape: [C] });
  };
  m.set('patch.weight', { shape: [C, cfg.numChannels, p, p] });
  m.set('patch.bias', { shape: [C], optional: true });
  if (cfg.clsToken) m.set('cls', { shape: [C] });
  if (cfg.numRegisterTokens) m.set('reg', { shape: [cfg.numRegisterTokens, C] });
  m.set('pos', { shape: [grid + (cfg.clsToken ? 1 : 0), C] });
  if (cfg.preNorm) ln('pre_norm');
  for (let i = 0; i < cfg.numLayers; i++) {
    const l = `layers.${i}`;
    ln(`${l}.norm1`);
    for (const x of ['q', 'k', 'v']) {
      m.set(`${l}.${x}.weight`, { shape: [C, C] });
      m.set(`${l}.${x}.bias`, { shape: [C], optional: !cfg.qkvBias });
    }
    m.set(`${l}.proj.weight`, { shape: [C, C] });
    m.set(`${l}.proj.bias`, { shape: [C] });
    if (cfg.layerScale) {
      m.set(`${l}.ls1`, { shape: [C] });
      m.set(`${l}.ls2`, { shape: [C] });
    }
    ln(`${l}.norm2`);
    if (cfg.swiglu) {
      m.set(`${l}.w12.weight`, { shape: [2 * M, C] });
      m.set(`${l}.w12.bias`, { shape: [2 * M] });
      m.set(`${l}.w3.weight`, { shape: [C, M] });
      m.set(`${l}.w3.bias`, { shape: [C] });
    } else {
      m.set(`${l}.fc1.weight`, { shape: [M, C] });
      m.set(`${l}.fc1.bias`, { shape: [M] });
      m.set(`${l}.fc2.weight`, { shape: [C, M] });
      m.set(`${l}.fc2.bias`, { shape: [C] });
    }
  }
  ln('norm');
  if (cfg.projectionDim) m.set('proj', { shape: [cfg.projectionDim, C], optional: true });
  return m;
}

/** Random weights of the right shapes (for benchmarks and tests): a ViT that behaves like a trained one in scale. */
export function randomVitWeights(cfg: VitConfig, rng: Rng): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, { shape }] of vitWeightShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 1;
    const data = new Float32Array(n);
    let scale = 1 / Math.sqrt(fanIn);
    let offset = 0;
    if (/norm\d?\.weight$|norm\.weight$/.test(name)) [scale, offset] = [0.1, 1];
    else if (name.endsWith('.bias')) scale = 0.02;
    else if (/\.ls\d$/.test(name)) [scale, offset] = [0.02, 0.1];
    else if (name === 'cls' || name === 'reg' || name === 'pos') scale = 0.5;
    for (let i = 0; i < n; i++) data[i] = offset + scale * rng.normal();
    out.set(name, new Tensor('float32', shape, data));
  }
  return out;
}

/** The grid [rows, cols] that `count` position embeddings cover: the config's, else a square. */
function gridOf(cfg: VitConfig, count: number): [number, number] | undefined {
  const p = cfg.patchSize;
  const fromConfig: [number, number] = [Math.floor(cfg.imageSize[0] / p), Math.floor(cfg.imageSize[1] / p)];
  if (count <= 0) return undefined;
  if (fromConfig[0] * fromConfig[1] === count) return fromConfig;
  const side = Math.round(Math.sqrt(count));
  return side * side === count ? [side, side] : undefined;
}

/**
 * Builds the encoder graph. Input 'pixel_values' [batch, channels, height, width] (defaults: batch 1,
 * the config's image size), output 'embedding' [batch, K].
 */
export function buildVit(cfg: VitConfig, weights: Map<string, Tensor>, opts: VitBuildOptions = {}): EncoderGraph {
  const source = opts.source ?? 'vit weights';
  checkVitConfig(cfg, source);
  const show = opts.describe ?? ((n: string) => n);
  const C = cfg.hiddenSize;
  const heads = cfg.numHeads;
  const d = C / heads;
  const M = cfg.mlpHidden;
  const p = cfg.patchSize;
  const batch = opts.batch ?? 1;
  const H = opts.height ?? cfg.imageSize[0];
  const W = opts.width ?? cfg.imageSize[1];
  for (const [k, v] of [['batch', batch], ['height', H], ['width', W]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${source}: ${k} must be a positive integer, got ${v}`);
  }
  if (H < p || W < p) throw new Error(`${source}: input ${H}x${W} is smaller than one ${p}x${p} patch`);
  const pool = opts.pool ?? cfg.defaultPool;
  if (pool === 'cls' && !cfg.clsToken) throw new Error(`${source}: pool 'cls' needs a CLS token, and this model has none (use 'mean')`);
  if (pool === 'projected' && !(cfg.projectionDim && weights.has('proj'))) throw new Error(`${source}: pool 'projected' needs a projection (visual_projection), and this model has none`);
  if (!['cls', 'mean', 'projected'].includes(pool)) throw new Error(`${source}: unknown pool '${pool}' (use cls, mean or projected)`);

  // weight access with shape checks
  const shapes = vitWeightShapes(cfg);
  const get = (name: string): Float32Array | undefined => {
    const spec = shapes.get(name)!;
    let t = weights.get(name);
    if (!t) {
      if (spec.optional) return undefined;
      throw new Error(`${source}: missing tensor ${show(name)} (expected shape [${spec.shape.join(',')}])`);
    }
    let shape = spec.shape;
    if (name === 'pos' && t.dims.length === 2 && t.dims[1] === C && t.dims[0] !== shape[0]) {
      // a different training grid is fine: it gets resized below
      shape = t.dims;
    }
    const same = t.dims.length === shape.length && t.dims.every((v, i) => v === shape[i]);
    if (!same) throw new Error(`${source}: tensor ${show(name)} has shape [${t.dims.join(',')}], expected [${shape.join(',')}]`);
    if (t.dtype !== 'float32') {
      if (t.dtype === 'float64' || t.dtype === 'float16' || t.dtype === 'bfloat16') t = new Tensor('float32', t.dims, t.toFloat32());
      else throw new Error(`${source}: tensor ${show(name)} has type ${t.dtype}, expected a float type`);
    }
    return t.data as Float32Array;
  };
  const need = (name: string) => get(name)!;
  // read everything once up front, so a bad checkpoint fails before any graph is built
  for (const [name] of shapes) get(name);

  const b = new GraphBuilder(opts.name ?? `vit_${opts.family ?? 'encoder'}`);
  const input = b.input('pixel_values', 'float32', [batch, cfg.numChannels, H, W]);
  const gh = Math.floor(H / p);
  const gw = Math.floor(W / p);
  const G = gh * gw;
  const prefix = (cfg.clsToken ? 1 : 0) + cfg.numRegisterTokens;
  const T = prefix + G;

  // position embeddings for the patch grid, resized when the grid differs; the conv bias is folded in
  const pos = need('pos');
  const posRows = pos.length / C;
  // with a CLS token, the first row is usually its position embedding (timm's no_embed_class has none)
  const usesClsRow = cfg.clsToken && gridOf(cfg, posRows - 1) !== undefined;
  const srcGrid = gridOf(cfg, usesClsRow ? posRows - 1 : posRows);
  if (!srcGrid) throw new Error(`${source}: ${show('pos')} has ${posRows} rows, which do not form a square grid of patches${cfg.clsToken ? ' (plus one for CLS)' : ''}`);
  const patchPos = pos.subarray(usesClsRow ? C : 0);
  let gridPos: ArrayLike<number> = patchPos;
  if (srcGrid[0] !== gh || srcGrid[1] !== gw) gridPos = resizeGrid(patchPos, C, srcGrid[0], srcGrid[1], gh, gw, cfg.posAntialias);
  const patchBias = get('patch.bias');
  const posInit = new Float32Array(G * C);
  for (let t = 0; t < G; t++) for (let c = 0; c < C; c++) posInit[t * C + c] = gridPos[t * C + c] + (patchBias ? patchBias[c] : 0);

  const patchW = b.init('patch_embed.weight', new Tensor('float32', [C, cfg.numChannels, p, p], need('patch.weight')));
  let x: Value = b.op('Conv', [input, patchW], { kernel_shape: attr.ints([p, p]), strides: attr.ints([p, p]) });
  x = b.transpose(b.reshape(x, [batch, C, G]), [0, 2, 1]);
  x = b.add(x, b.init('pos_embed', new Tensor('float32', [G, C], posInit)));
  if (prefix) {
    // CLS (+ its position embedding) and registers do not depend on the input: one constant
    const pre = new Float32Array(batch * prefix * C);
    const cls = cfg.clsToken ? need('cls') : undefined;
    const reg = cfg.numRegisterTokens ? need('reg') : undefined;
    for (let n = 0; n < batch; n++) {
      let row = n * prefix * C;
      if (cls) {
        for (let c = 0; c < C; c++) pre[row + c] = cls[c] + (usesClsRow ? pos[c] : 0);
        row += C;
      }
      if (reg) pre.set(reg, row);
    }
    x = b.concat([b.init('prefix_tokens', new Tensor('float32', [batch, prefix, C], pre)), x], 1);
  }
  const eps = cfg.layerNormEps;
  const lnInit = (name: string, prefixName: string): [Value, Value] => [
    b.init(`${prefixName}.weight`, new Tensor('float32', [C], need(`${name}.weight`))),
    b.init(`${prefixName}.bias`, new Tensor('float32', [C], need(`${name}.bias`))),
  ];
  const layerNorm = (v: Value, name: string, graphName: string) => {
    const [g, beta] = lnInit(name, graphName);
    return b.layerNorm(v, g, beta, eps);
  };
  if (cfg.preNorm) x = layerNorm(x, 'pre_norm', 'pre_norm');

  const act = (v: Value): Value => {
    switch (cfg.act) {
      case 'gelu':
        return b.gelu(v);
      case 'gelu_tanh':
        return b.geluTanh(v);
      case 'quick_gelu':
        return b.quickGelu(v);
      case 'relu':
        return b.relu(v);
      case 'silu':
        return b.silu(v);
    }
  };

  // [in, out] weight from PyTorch's [out, in], rows scaled by `scale` (length out) when given
  const transposed = (w: Float32Array, out: number, inn: number, scale?: ArrayLike<number> | number): Float32Array => {
    const t = new Float32Array(out * inn);
    for (let o = 0; o < out; o++) {
      const s = scale === undefined ? 1 : typeof scale === 'number' ? scale : scale[o];
      for (let i = 0; i < inn; i++) t[i * out + o] = w[o * inn + i] * s;
    }
    return t;
  };
  const scaled = (v: Float32Array, scale?: ArrayLike<number> | number): Float32Array => {
    if (scale === undefined) return v;
    const out = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = v[i] * (typeof scale === 'number' ? scale : scale[i]);
    return out;
  };
  const qScale = 1 / Math.sqrt(d);
  // fused projection of several of q, k, v: weight [C, n*C], bias [n*C]
  const fusedProj = (l: string, parts: ('q' | 'k' | 'v')[], graphName: string): [Value, Value] => {
    const n = parts.length;
    const w = new Float32Array(C * n * C);
    const bias = new Float32Array(n * C);
    parts.forEach((part, j) => {
      const s = part === 'q' ? qScale : 1;
      const wt = transposed(need(`${l}.${part}.weight`), C, C, s);
      for (let i = 0; i < C; i++) w.set(wt.subarray(i * C, (i + 1) * C), i * n * C + j * C);
      const pb = get(`${l}.${part}.bias`);
      if (pb) bias.set(scaled(pb, s), j * C);
    });
    return [b.init(`${graphName}.weight`, new Tensor('float32', [C, n * C], w)), b.init(`${graphName}.bias`, new Tensor('float32', [n * C], bias))];
  };
  const dense = (v: Value, name: string, out: number, inn: number, graphName: string, scale?: Float32Array): Value => {
    const w = b.init(`${graphName}.weight`, new Tensor('float32', [inn, out], transposed(need(`${name}.weight`), out, inn, scale)));
    const bias = b.init(`${graphName}.bias`, new Tensor('float32', [out], scaled(need(`${name}.bias`), scale)));
    return b.add(b.matmul(v, w), bias);
  };
  const mlp = (v: Value, l: string, g: string): Value => {
    const ls2 = cfg.layerScale ? need(`${l}.ls2`) : undefined;
    if (cfg.swiglu) {
      const h = dense(v, `${l}.w12`, 2 * M, C, `${g}.mlp.w12`);
      const [x1, x2] = b.split(h, [M, M], -1);
      return dense(b.mul(b.silu(x1), x2), `${l}.w3`, C, M, `${g}.mlp.w3`, ls2);
    }
    return dense(act(dense(v, `${l}.fc1`, M, C, `${g}.mlp.fc1`)), `${l}.fc2`, C, M, `${g}.mlp.fc2`, ls2);
  };

  const clsOnly = (pool === 'cls' || pool === 'projected') && opts.clsShortcut !== false;
  let x0: Value | undefined; // [batch, C]: the CLS token alone, after a shortcut last block
  for (let i = 0; i < cfg.numLayers; i++) {
    const l = `layers.${i}`;
    const g = `block${i}`;
    const ls1 = cfg.layerScale ? need(`${l}.ls1`) : undefined;
    const y = layerNorm(x, `${l}.norm1`, `${g}.norm1`);
    if (clsOnly && i === cfg.numLayers - 1) {
      // last block: keys and values from every token, the query and everything after it for CLS only
      const [wkv, bkv] = fusedProj(l, ['k', 'v'], `${g}.attn.kv`);
      const kv = b.add(b.matmul(y, wkv), bkv);
      const [k, v] = b.split(b.transpose(b.reshape(kv, [batch, T, 2 * heads, d]), [0, 2, 1, 3]), [heads, heads], 1);
      const y0 = b.gather(y, b.constant(Tensor.i64([], [0]), 'cls_index'), 1);
      const [wq, bq] = fusedProj(l, ['q'], `${g}.attn.q`);
      const q = b.reshape(b.add(b.matmul(y0, wq), bq), [batch, heads, 1, d]);
      const att = b.softmax(b.matmul(q, b.transpose(k, [0, 1, 3, 2])), -1);
      const o = b.reshape(b.matmul(att, v), [batch, C]);
      x0 = b.gather(x, b.constant(Tensor.i64([], [0]), 'cls_index'), 1);
      x0 = b.add(x0, dense(o, `${l}.proj`, C, C, `${g}.attn.proj`, ls1));
      x0 = b.add(x0, mlp(layerNorm(x0, `${l}.norm2`, `${g}.norm2`), l, g));
      break;
    }
    const [wqkv, bqkv] = fusedProj(l, ['q', 'k', 'v'], `${g}.attn.qkv`);
    const qkv = b.add(b.matmul(y, wqkv), bqkv);
    const [q, k, v] = b.split(b.transpose(b.reshape(qkv, [batch, T, 3 * heads, d]), [0, 2, 1, 3]), [heads, heads, heads], 1);
    const att = b.softmax(b.matmul(q, b.transpose(k, [0, 1, 3, 2])), -1);
    const o = b.reshape(b.transpose(b.matmul(att, v), [0, 2, 1, 3]), [batch, T, C]);
    x = b.add(x, dense(o, `${l}.proj`, C, C, `${g}.attn.proj`, ls1));
    x = b.add(x, mlp(layerNorm(x, `${l}.norm2`, `${g}.norm2`), l, g));
  }

  let out: Value;
  let K = C;
  if (pool === 'mean') {
    const patches = prefix ? b.slice(x, [prefix], [T], [1]) : x;
    out = b.reduceMean(layerNorm(patches, 'norm', 'norm'), [1], false);
  } else {
    const cls = x0 ?? b.gather(x, b.constant(Tensor.i64([], [0]), 'cls_index'), 1);
    out = layerNorm(cls, 'norm', 'norm');
    if (pool === 'projected') {
      K = cfg.projectionDim;
      const proj = b.init('projection', new Tensor('float32', [C, K], transposed(need('proj'), K, C)));
      out = b.matmul(out, proj);
    }
  }
  // name the last value 'embedding'
  const last = b.graph.nodes[b.graph.nodes.length - 1];
  if (last.outputs[0] !== out) throw new Error('buildVit: internal error, the embedding is not the last node');
  last.outputs[0] = 'embedding';
  b.output('embedding', 'float32', [batch, K]);
  return {
    graph: b.build(),
    input,
    output: 'embedding',
    embeddingDim: K,
    inputShape: [batch, cfg.numChannels, H, W],
    family: opts.family ?? 'vit',
    config: opts.config ?? { ...cfg },
    pool,
  };
}
