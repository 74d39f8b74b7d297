// The scoring engine of the page: the library's core (graph, autodiff, score, preprocessing) on onnxruntime-web.
// No DOM here except image decoding (createImageBitmap + a canvas).
import * as ort from 'onnxruntime-web';
import { PreprocessConfig, preprocessConfigFor, preprocessPixels, rgbToGray } from '../../src/data/preprocess.js';
import { attr, Graph } from '../../src/graph/graph.js';
import { parseModel } from '../../src/graph/onnx.js';
import { Tensor } from '../../src/graph/tensor.js';
import { digitsEncoderFromBytes } from '../../src/models/digits.js';
import { runOnce, setOrt } from '../../src/runtime/session.js';
import { Encoder, JepaScorer } from '../../src/score/jepa.js';

/** What the build writes for each built-in model (models/<name>/meta.json). */
export interface ModelMeta {
  name: string;
  family: string;
  input: string;
  output: string;
  inputShape: number[];
  embeddingDim: number;
  channels: 1 | 3;
  preprocess: PreprocessConfig;
}

/** models/<name>/reference.json: JEPA-SCOREs of held-out training-domain images, computed by the Node engine. */
export interface Reference {
  dataset: string;
  description: string;
  count: number;
  scores: number[];
}

export interface LoadedModel {
  meta: ModelMeta;
  encoder: Encoder;
  reference?: Reference;
}

export type BackendChoice = 'auto' | 'wasm' | 'webgpu';

interface GpuAdapterLike {
  info?: { vendor?: string; architecture?: string; description?: string; isFallbackAdapter?: boolean };
  isFallbackAdapter?: boolean;
}

/** The browser's WebGPU adapter, if any: its description, and whether it is a software one (e.g. SwiftShader). */
async function gpuAdapter(): Promise<{ name: string; software: boolean } | undefined> {
  const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<GpuAdapterLike | null> } }).gpu;
  const a = gpu ? await gpu.requestAdapter().catch(() => null) : null;
  if (!a) return undefined;
  const info = a.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unknown adapter';
  return { name, software: !!(info.isFallbackAdapter ?? a.isFallbackAdapter) || /swiftshader|llvmpipe|software/i.test(name) };
}

export interface OrtSetup {
  backend: 'wasm' | 'webgpu';
  threads: number;
  /** the WebGPU adapter seen, also when not used */
  adapter?: { name: string; software: boolean };
}

/**
 * Sets onnxruntime-web up (wasm files from `ortBase`) and hands it to the library. 'auto' takes WebGPU when the
 * browser has a hardware adapter (a software one, such as SwiftShader, is far slower than WASM), else WASM.
 */
export async function initOrt(choice: BackendChoice, ortBase: string): Promise<OrtSetup> {
  ort.env.wasm.wasmPaths = ortBase;
  // threads need SharedArrayBuffer, which browsers give only to cross-origin isolated pages
  const threads = globalThis.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const adapter = choice === 'wasm' ? undefined : await gpuAdapter();
  if (choice === 'webgpu' && !adapter) throw new Error('this browser has no WebGPU adapter');
  const backend = adapter && (choice === 'webgpu' || !adapter.software) ? 'webgpu' : 'wasm';
  useBackend(backend, threads);
  return { backend, threads, adapter };
}

/** Points the library at onnxruntime-web with this backend (sessions made later use it). */
export function useBackend(backend: 'wasm' | 'webgpu', threads: number): void {
  setOrt({ ort, executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'], defaultThreads: () => threads });
}

async function fetchOk(url: string): Promise<Response> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r;
}

/** The built-in models listed in models/index.json (the first is the default). */
export async function listBuiltins(base: string): Promise<string[]> {
  return (await (await fetchOk(`${base}models/index.json`)).json()).models;
}

/** A built-in model as the build wrote it: the encoder graph as ONNX bytes, its meta and its reference scores. */
export async function loadBuiltin(base: string, name: string): Promise<LoadedModel> {
  const dir = `${base}models/${encodeURIComponent(name)}/`;
  const [meta, bytes, reference] = await Promise.all([
    fetchOk(dir + 'meta.json').then((r) => r.json() as Promise<ModelMeta>),
    fetchOk(dir + 'model.onnx').then((r) => r.arrayBuffer()),
    fetch(dir + 'reference.json').then((r) => (r.ok ? (r.json() as Promise<Reference>) : undefined)),
  ]);
  const graph = explicitConvAttributes(parseModel(new Uint8Array(bytes), `${name}/model.onnx`));
  return { meta, encoder: { graph, input: meta.input, output: meta.output, inputShape: meta.inputShape, embeddingDim: meta.embeddingDim }, reference };
}

/**
 * A model from files the user chose: an .onnx encoder (one image input [B,C,H,W], one [B,K] output), or a
 * digits folder (config.json + model.safetensors). Preprocessing as the CLI does for the same model.
 */
export async function loadUserModel(files: File[]): Promise<LoadedModel> {
  const byName = (n: string) => files.find((f) => f.name === n);
  const onnx = files.find((f) => f.name.endsWith('.onnx'));
  const cfg = byName('config.json');
  const st = byName('model.safetensors');
  const cfgText = cfg ? await cfg.text() : undefined;
  let modelType: unknown;
  try {
    modelType = cfgText ? JSON.parse(cfgText)?.model_type : undefined;
  } catch {
    modelType = undefined;
  }
  if (cfgText && st && (modelType === 'digits-cnn' || !onnx)) {
    if (modelType !== 'digits-cnn') {
      throw new Error(`${folderOf(cfg!)}: model_type ${JSON.stringify(modelType)}: the page loads digits folders (digits-cnn) and .onnx encoders; export other models to ONNX, or use the CLI`);
    }
    const enc = digitsEncoderFromBytes(cfgText, new Uint8Array(await st.arrayBuffer()), { where: folderOf(cfg!) });
    const [, c, h, w] = enc.inputShape;
    const preprocess: PreprocessConfig = { resize: { height: h, width: w }, resample: 'bilinear', rescale: 1 / 255, mean: [0], std: [1], convertRgb: false };
    const encoder = { ...enc, graph: explicitConvAttributes(enc.graph) };
    return { meta: { name: folderOf(cfg!), family: enc.family, input: enc.input, output: enc.output, inputShape: enc.inputShape, embeddingDim: enc.embeddingDim, channels: c === 1 ? 1 : 3, preprocess }, encoder };
  }
  const what = files.length === 1 ? files[0].name : files.length ? folderOf(files[0]) : 'nothing chosen';
  if (!onnx) throw new Error(`${what}: not a model (give an .onnx file, or a folder with config.json and model.safetensors)`);
  return loadOnnxBytes(new Uint8Array(await onnx.arrayBuffer()), onnx.name);
}

function folderOf(f: File): string {
  const rel = (f as File & { webkitRelativePath?: string }).webkitRelativePath;
  return rel && rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : 'model';
}

/** As loadOnnxEncoder in the CLI: batch 1, symbolic sizes 224, K from the output (run once when symbolic). */
async function loadOnnxBytes(bytes: Uint8Array, name: string): Promise<LoadedModel> {
  const g: Graph = explicitConvAttributes(parseModel(bytes, name));
  if (g.inputs.length !== 1) throw new Error(`${name}: an encoder needs exactly one input (an image batch), found ${g.inputs.length}`);
  if (g.outputs.length !== 1) throw new Error(`${name}: an encoder needs exactly one output (the embedding), found ${g.outputs.length}`);
  const inp = g.inputs[0];
  const decl = inp.shape ?? [null, null, null, null];
  if (decl.length !== 4) throw new Error(`${name}: input '${inp.name}' must be an image batch [batch, channels, height, width]`);
  const fixed = (i: number, fallback: number) => (typeof decl[i] === 'number' ? (decl[i] as number) : fallback);
  const shape = [1, fixed(1, 3), fixed(2, 224), fixed(3, 224)];
  g.inputs = [{ ...inp, shape }];
  const out = g.outputs[0];
  let K = out.shape && typeof out.shape[1] === 'number' ? out.shape[1] : undefined;
  if (K === undefined) {
    const res = await runOnce(g, { [inp.name]: Tensor.f32(shape) }, { threads: 1 });
    K = res[out.name].dims[1];
  }
  g.outputs = [{ ...out, shape: [1, K] }];
  const [, c, h, w] = shape;
  let preprocess = preprocessConfigFor(undefined, 'dinov2', { size: h === w ? h : undefined });
  if (h !== w) preprocess = { ...preprocess, resize: { height: h, width: w }, centerCrop: undefined };
  return {
    meta: { name, family: 'onnx', input: inp.name, output: out.name, inputShape: shape, embeddingDim: K, channels: c === 1 ? 1 : 3, preprocess },
    encoder: { graph: g, input: inp.name, output: out.name, inputShape: shape, embeddingDim: K },
  };
}

/**
 * Spells out Conv's default attributes (dilations, strides, pads), which onnxruntime-web's WebGPU kernel needs
 * explicitly ("dilations should be 2D" otherwise). Same meaning, so the same scores on every backend.
 */
export function explicitConvAttributes(g: Graph): Graph {
  const nodes = g.nodes.map((n) => {
    if ((n.op !== 'Conv' && n.op !== 'ConvTranspose') || n.attrs.auto_pad) return n;
    const w = g.initializers.get(n.inputs[1]);
    const rank = w ? w.dims.length - 2 : 2;
    const attrs = { ...n.attrs };
    attrs.dilations ??= attr.ints(new Array(rank).fill(1));
    attrs.strides ??= attr.ints(new Array(rank).fill(1));
    attrs.pads ??= attr.ints(new Array(2 * rank).fill(0));
    return { ...n, attrs };
  });
  return { ...g, nodes };
}

/**
 * Decodes an image file to interleaved RGB (HWC uint8) as the CLI sees it: alpha dropped (not composited), no
 * colour-space conversion. Exact for opaque images; pixels with alpha < 255 go through the canvas's
 * premultiplied storage and can be off by rounding.
 */
export async function decodeImage(file: Blob, name: string): Promise<{ data: Uint8Array; width: number; height: number }> {
  let bmp: ImageBitmap;
  try {
    bmp = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch {
    throw new Error(`${name}: not an image this browser can decode`);
  }
  const { width, height } = bmp;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error(`${name}: no 2D canvas`);
  ctx.drawImage(bmp, 0, 0);
  bmp.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const n = width * height;
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    data[3 * i] = rgba[4 * i];
    data[3 * i + 1] = rgba[4 * i + 1];
    data[3 * i + 2] = rgba[4 * i + 2];
  }
  return { data, width, height };
}

/** Decoded RGB pixels to the model's input, exactly as the CLI's loadImage does after decoding. */
export async function toInput(model: ModelMeta, img: { data: Uint8Array; width: number; height: number }): Promise<Float32Array> {
  const pixels = model.channels === 1 ? { data: rgbToGray(img.data, img.width * img.height), width: img.width, height: img.height, channels: 1 } : { ...img, channels: 3 };
  return (await preprocessPixels(pixels, model.preprocess)).data;
}

export { JepaScorer };
