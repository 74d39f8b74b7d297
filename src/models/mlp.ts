// A multilayer perceptron R^D -> R^K as graph ops: `depth` hidden layers of `width` units, then a linear output.
import { Rng } from '../data/random.js';
import { GraphBuilder, Value } from '../graph/builder.js';
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';

export const ACTIVATIONS = ['tanh', 'gelu', 'silu', 'softplus', 'relu'] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export interface MlpConfig {
  inputDim: number;
  outputDim: number;
  width: number;
  /** number of hidden layers */
  depth: number;
  activation: Activation;
}

export function checkMlpConfig(cfg: MlpConfig, where = 'MLP'): void {
  for (const k of ['inputDim', 'outputDim', 'width', 'depth'] as const) {
    const v = cfg[k];
    if (!Number.isInteger(v) || v < (k === 'depth' ? 0 : 1)) throw new Error(`${where}: ${k} must be a ${k === 'depth' ? 'non-negative' : 'positive'} integer, got ${v}`);
  }
  if (!ACTIVATIONS.includes(cfg.activation)) throw new Error(`${where}: unknown activation '${cfg.activation}' (choose ${ACTIVATIONS.join(', ')})`);
}

/** Weight names and shapes: `layers.{i}.weight` [out, in] and `layers.{i}.bias` [out], PyTorch layout. */
export function mlpWeightShapes(cfg: MlpConfig): [string, number[]][] {
  const sizes = [cfg.inputDim, ...Array(cfg.depth).fill(cfg.width), cfg.outputDim];
  const out: [string, number[]][] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    out.push([`layers.${i}.weight`, [sizes[i + 1], sizes[i]]]);
    out.push([`layers.${i}.bias`, [sizes[i + 1]]]);
  }
  return out;
}

/** Xavier-uniform weights, biases uniform in +-1/sqrt(fan_in). */
export function initMlpWeights(cfg: MlpConfig, rng: Rng): Map<string, Tensor> {
  checkMlpConfig(cfg);
  const out = new Map<string, Tensor>();
  for (const [name, shape] of mlpWeightShapes(cfg)) {
    const fanIn = shape.length === 2 ? shape[1] : (out.get(name.replace('bias', 'weight'))!.dims[1]);
    const a = shape.length === 2 ? Math.sqrt(6 / (shape[0] + shape[1])) : 1 / Math.sqrt(fanIn);
    const t = Tensor.f32(shape);
    const d = t.data as Float32Array;
    for (let i = 0; i < d.length; i++) d[i] = rng.range(-a, a);
    out.set(name, t);
  }
  return out;
}

export function checkMlpWeights(cfg: MlpConfig, weights: Map<string, Tensor>, where = 'MLP weights'): void {
  for (const [name, shape] of mlpWeightShapes(cfg)) {
    const t = weights.get(name);
    if (!t) throw new Error(`${where}: missing tensor '${name}'`);
    if (t.dims.join(',') !== shape.join(',')) throw new Error(`${where}: '${name}' has shape [${t.dims}], expected [${shape}]`);
  }
}

function activate(b: GraphBuilder, x: Value, act: Activation): Value {
  switch (act) {
    case 'tanh':
      return b.tanh(x);
    case 'gelu':
      return b.gelu(x);
    case 'silu':
      return b.silu(x);
    case 'relu':
      return b.relu(x);
    case 'softplus':
      // log(1 + e^x), written with Exp and Log so every op has a simple derivative
      return b.log(b.add(b.exp(x), b.scalar(1)));
  }
}

/** Adds the MLP to a graph; `w(name)` gives the value holding each weight. x: [..., D] -> [..., K]. */
export function addMlp(b: GraphBuilder, cfg: MlpConfig, x: Value, w: (name: string) => Value): Value {
  let h = x;
  for (let i = 0; i <= cfg.depth; i++) {
    h = b.linear(h, w(`layers.${i}.weight`), w(`layers.${i}.bias`));
    if (i < cfg.depth) h = activate(b, h, cfg.activation);
  }
  return h;
}

/** A graph `x` [batch, D] -> `z` [batch, K] with the weights as initializers. */
export function buildMlp(cfg: MlpConfig, weights: Map<string, Tensor>, opts: { batch?: number | string } = {}): { graph: Graph; input: string; output: string } {
  checkMlpConfig(cfg);
  checkMlpWeights(cfg, weights);
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', [opts.batch ?? 'batch', cfg.inputDim]);
  const names = new Map<string, Value>();
  for (const [name] of mlpWeightShapes(cfg)) names.set(name, b.init(name, weights.get(name)!));
  const z = addMlp(b, cfg, x, (n) => names.get(n)!);
  b.output(b.identity(z), 'float32', [opts.batch ?? 'batch', cfg.outputDim]);
  const g = b.build();
  const out = g.outputs[0].name;
  return { graph: g, input: x, output: out };
}

function actJs(v: number, act: Activation): number {
  switch (act) {
    case 'tanh':
      return Math.tanh(v);
    case 'relu':
      return Math.max(0, v);
    case 'silu':
      return v / (1 + Math.exp(-v));
    case 'softplus':
      return Math.log1p(Math.exp(v));
    case 'gelu':
      return 0.5 * v * (1 + erf(v / Math.SQRT2));
  }
}

// Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
function erf(x: number): number {
  const s = Math.sign(x);
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  return s * (1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x));
}

/** Float64 forward pass in JS: x is row-major [n, D]; returns [n, K]. */
export function mlpForward(cfg: MlpConfig, weights: Map<string, Tensor>, x: ArrayLike<number>, n: number): Float64Array {
  let h = Float64Array.from(x);
  let width = cfg.inputDim;
  for (let i = 0; i <= cfg.depth; i++) {
    const W = weights.get(`layers.${i}.weight`)!;
    const bias = weights.get(`layers.${i}.bias`)!.toNumbers();
    const wd = W.toNumbers();
    const out = W.dims[0];
    const next = new Float64Array(n * out);
    for (let r = 0; r < n; r++)
      for (let o = 0; o < out; o++) {
        let s = bias[o];
        for (let j = 0; j < width; j++) s += wd[o * width + j] * h[r * width + j];
        next[r * out + o] = i < cfg.depth ? actJs(s, cfg.activation) : s;
      }
    h = next;
    width = out;
  }
  return h;
}
