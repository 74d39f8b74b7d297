// One model resolver for every command (score, ood, the demo, the queue worker): a built-in name, a digits
// model folder, a Hugging Face folder or an .onnx file becomes an encoder plus its preprocessing.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { augment, AugmentPreset } from '../data/augment.js';
import { loadImage } from '../data/images.js';
import { preprocessConfigFor, PreprocessConfig } from '../data/preprocess.js';
import { Rng } from '../data/random.js';
import { builtinModelDir, builtinModels, isBuiltinHf, isBuiltinModel, loadBuiltinModel } from './builtin.js';
import { DigitsEncoder, isDigitsFolder, loadDigitsEncoder } from './digits.js';
import { EncoderGraph, loadEncoder, Pool, processorInputSize } from './encoder.js';

export interface ResolvedModel {
  name: string;
  family: string;
  encoder: EncoderGraph | DigitsEncoder;
  /** set for the digit models (built-in or a digits folder): their config allows batched copies */
  digits?: DigitsEncoder;
  preprocess: PreprocessConfig;
  /** image channels the encoder takes (1 for the digit models, 3 otherwise) */
  channels: 1 | 3;
  /** a random view of a preprocessed input, in the same normalisation */
  augmentView(x: Float32Array, preset: AugmentPreset, rng: Rng): Float32Array;
}

export interface ModelOptions {
  pool?: string;
  height?: number;
  width?: number;
  channels?: number;
}

const POOLS = ['cls', 'mean', 'projected'];

/**
 * Resolves a model spec. Hugging Face folders default to the input size their image processor produces
 * (the centre crop, e.g. 224 for DINOv2), not config.json's image_size; opts.height/width override it.
 * Errors are one line naming the model and the problem.
 */
export async function resolveModel(spec: string, opts: ModelOptions = {}): Promise<ResolvedModel> {
  if (opts.pool !== undefined && !POOLS.includes(opts.pool)) throw new Error(`--pool must be one of ${POOLS.join(', ')}, got '${opts.pool}'`);
  if ((isBuiltinModel(spec) && !isBuiltinHf(spec)) || isDigitsFolder(spec)) {
    const enc = isBuiltinModel(spec) ? (loadBuiltinModel(spec) as DigitsEncoder) : loadDigitsEncoder(spec);
    const [, c, h, w] = enc.inputShape;
    if ((opts.height && opts.height !== h) || (opts.width && opts.width !== w)) throw new Error(`model ${spec} takes ${h}x${w} inputs, got ${opts.height}x${opts.width}`);
    if (opts.channels && opts.channels !== c) throw new Error(`model ${spec} takes ${c}-channel inputs, got ${opts.channels}`);
    if (opts.pool) throw new Error(`--pool does not apply to the built-in model ${spec}`);
    // digit models take [0, 1] grayscale and normalise inside the graph
    const preprocess: PreprocessConfig = { resize: { height: h, width: w }, resample: 'bilinear', rescale: 1 / 255, mean: [0], std: [1], convertRgb: false };
    return {
      name: spec,
      family: enc.family,
      encoder: enc,
      digits: enc,
      preprocess,
      channels: 1,
      augmentView: (x, preset, rng) => augment(x, c, h, w, preset, rng),
    };
  }
  // a built-in Hugging Face model (digits-vit) loads like any Hugging Face folder, under its own name
  const name = spec;
  if (isBuiltinModel(spec)) spec = builtinModelDir(spec);
  if (!existsSync(spec)) {
    throw new Error(`--model ${spec}: no such file or folder, and not a built-in model (built-in: ${builtinModels().join(', ')})`);
  }
  // default resolution: what the model's image processor produces, not config.json's image_size
  const size = opts.height === undefined && opts.width === undefined ? processorInputSize(spec) : undefined;
  const height = opts.height ?? size?.height;
  const width = opts.width ?? size?.width;
  const enc = await loadEncoder(spec, { pool: opts.pool as Pool | undefined, height, width });
  const [, c, h, w] = enc.inputShape;
  if (opts.channels && opts.channels !== c) throw new Error(`--model ${spec} takes ${c}-channel inputs, the pixel values have ${opts.channels}`);
  const folder = statSync(spec).isDirectory() ? spec : dirname(spec);
  const family = enc.family === 'onnx' ? 'dinov2' : enc.family;
  let preprocess = preprocessConfigFor(folder, family, { size: h === w ? h : undefined });
  if (h !== w) preprocess = { ...preprocess, resize: { height: h, width: w }, centerCrop: undefined };
  return {
    name,
    family: enc.family,
    encoder: enc,
    preprocess,
    channels: c === 1 ? 1 : 3,
    augmentView: (x, preset, rng) => augment(x, c, h, w, preset, rng, { normalized: { mean: preprocess.mean, std: preprocess.std } }),
  };
}

/** Decodes and preprocesses one image file for the model. */
export function loadInput(model: ResolvedModel, path: string): Promise<Float32Array> {
  return loadImage(path, model.preprocess, { channels: model.channels });
}
