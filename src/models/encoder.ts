// One entry point for image encoders: a Hugging Face model folder or an .onnx file.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Graph, pruneGraph } from '../graph/graph.js';
import { loadOnnx } from '../graph/onnx.js';
import { Tensor } from '../graph/tensor.js';
import { runOnce } from '../runtime/session.js';
import { preprocessConfigFor } from '../data/preprocess.js';
import { loadHfEncoder, readHfConfig } from './hf.js';
import { EncoderGraph, Pool } from './vit.js';

export type { EncoderGraph, Pool } from './vit.js';
export { loadHfEncoder } from './hf.js';
export { buildVit, randomVitWeights, vitConfig } from './vit.js';

export interface EncoderOptions {
  pool?: Pool;
  batch?: number;
  height?: number;
  width?: number;
  /** ONNX only: which graph output is the embedding, when there are several */
  output?: string;
  /** Hugging Face only: antialiased resize of the position embeddings (see HfEncoderOptions) */
  antialias?: boolean;
}

function shapeText(s: (number | string | null)[] | undefined): string {
  return s ? `[${s.map((d) => (d === null ? '?' : d)).join(',')}]` : '[?]';
}

/**
 * Loads an encoder from an ONNX file. It must have one image input [batch, channels, height, width] and
 * produce one [batch, K] output. Symbolic sizes are fixed from `opts` (batch 1 by default); the model is run
 * once on zeros to check the output shape and learn K.
 */
export async function loadOnnxEncoder(path: string, opts: EncoderOptions = {}): Promise<EncoderGraph> {
  if (opts.pool) throw new Error(`${path}: pool applies to Hugging Face folders only; an ONNX encoder's output is the embedding`);
  if (opts.antialias !== undefined) throw new Error(`${path}: antialias applies to Hugging Face folders only`);
  let g: Graph = loadOnnx(path);
  const inputs = g.inputs;
  if (inputs.length !== 1) {
    throw new Error(`${path}: an encoder needs exactly one input (an image batch), found ${inputs.length}: ${inputs.map((v) => `${v.name} ${shapeText(v.shape)}`).join(', ')}`);
  }
  const inp = inputs[0];
  if (inp.dtype !== 'float32') throw new Error(`${path}: input '${inp.name}' is ${inp.dtype}; an encoder takes float32 pixels`);
  if (inp.shape && inp.shape.length !== 4) throw new Error(`${path}: input '${inp.name}' has shape ${shapeText(inp.shape)}; an encoder takes images [batch, channels, height, width]`);
  let outName = opts.output;
  if (outName) {
    if (!g.outputs.some((o) => o.name === outName)) throw new Error(`${path}: no output named '${outName}' (outputs: ${g.outputs.map((o) => o.name).join(', ')})`);
  } else if (g.outputs.length !== 1) {
    throw new Error(`${path}: the graph has ${g.outputs.length} outputs (${g.outputs.map((o) => `${o.name} ${shapeText(o.shape)}`).join(', ')}); say which one is the embedding`);
  } else outName = g.outputs[0].name;
  const outInfo = g.outputs.find((o) => o.name === outName)!;
  if (outInfo.dtype !== 'float32') throw new Error(`${path}: output '${outName}' is ${outInfo.dtype}; the embedding must be float32`);
  if (outInfo.shape && outInfo.shape.length !== 2) {
    throw new Error(`${path}: output '${outName}' has shape ${shapeText(outInfo.shape)}; an encoder must give one embedding per image, [batch, K] (export a pooled output, not the token sequence)`);
  }
  if (g.outputs.length > 1) {
    g = pruneGraph({ ...g, outputs: [outInfo] });
  }

  // fix the input size
  const decl = inp.shape ?? [null, null, null, null];
  const pick = (i: number, asked: number | undefined, what: string, fallback?: number): number => {
    const d = decl[i];
    if (typeof d === 'number') {
      if (asked !== undefined && asked !== d) throw new Error(`${path}: input '${inp.name}' has its ${what} fixed to ${d}, asked for ${asked}`);
      return d;
    }
    const v = asked ?? fallback;
    if (v === undefined) throw new Error(`${path}: input '${inp.name}' has a variable ${what} (${shapeText(decl)}); give the ${what}`);
    if (!Number.isInteger(v) || v <= 0) throw new Error(`${path}: ${what} must be a positive integer, got ${v}`);
    return v;
  };
  const shape = [pick(0, opts.batch, 'batch size', 1), pick(1, undefined, 'number of channels', 3), pick(2, opts.height, 'height'), pick(3, opts.width, 'width')];
  g.inputs = [{ ...inp, shape }];

  let out: Tensor;
  try {
    const res = await runOnce(g, { [inp.name]: Tensor.f32(shape) }, { threads: 1 });
    out = res[outName];
  } catch (e) {
    throw new Error(`${path}: onnxruntime could not run the encoder on input [${shape.join(',')}]: ${(e as Error).message}`);
  }
  if (out.dims.length !== 2 || out.dims[0] !== shape[0]) {
    throw new Error(`${path}: output '${outName}' has shape [${out.dims.join(',')}] for a batch of ${shape[0]}; an encoder must give one embedding per image, [batch, K]`);
  }
  const K = out.dims[1];
  g.outputs = [{ ...outInfo, shape: [shape[0], K] }];
  return { graph: g, input: inp.name, output: outName, embeddingDim: K, inputShape: shape, family: 'onnx', config: { file: path } };
}

/**
 * An encoder from a Hugging Face model folder (config.json + safetensors) or an `.onnx` file (or a folder
 * holding only model.onnx).
 */
export async function loadEncoder(pathOrDir: string, opts: EncoderOptions = {}): Promise<EncoderGraph> {
  let st;
  try {
    st = statSync(pathOrDir);
  } catch {
    throw new Error(`${pathOrDir}: no such file or folder`);
  }
  if (st.isDirectory()) {
    if (existsSync(join(pathOrDir, 'config.json'))) {
      if (opts.output) throw new Error(`${pathOrDir}: 'output' applies to ONNX files only`);
      return loadHfEncoder(pathOrDir, opts);
    }
    if (existsSync(join(pathOrDir, 'model.onnx'))) return loadOnnxEncoder(join(pathOrDir, 'model.onnx'), opts);
    throw new Error(`${pathOrDir}: not a model folder (no config.json, no model.onnx)`);
  }
  if (pathOrDir.endsWith('.onnx')) return loadOnnxEncoder(pathOrDir, opts);
  if (pathOrDir.endsWith('.json') || pathOrDir.endsWith('.safetensors')) {
    throw new Error(`${pathOrDir}: give the model folder (the one holding config.json and the weights), not a file in it`);
  }
  throw new Error(`${pathOrDir}: not a model (expected a Hugging Face model folder or an .onnx file)`);
}

/**
 * The input size a Hugging Face model folder's image processor produces (its crop; preprocessor_config.json
 * or the family's defaults), which is what images should be scored at; undefined for other inputs.
 * Hub configs often give a larger `image_size` (518 for DINOv2) than the processor's 224.
 */
export function processorInputSize(pathOrDir: string): { height: number; width: number } | undefined {
  if (!existsSync(join(pathOrDir, 'config.json'))) return undefined;
  try {
    const family = readHfConfig(pathOrDir).config.model_type;
    if (typeof family !== 'string') return undefined;
    const pre = preprocessConfigFor(pathOrDir, family);
    const height = pre.centerCrop?.height ?? pre.resize?.height;
    const width = pre.centerCrop?.width ?? pre.resize?.width ?? height;
    return height && width ? { height, width } : undefined;
  } catch {
    return undefined; // no usable preprocessing: the encoder's own default size
  }
}
