// Resolves --model (a built-in name, a Hugging Face folder or an .onnx file) to an encoder and its preprocessing.
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { augment, AugmentPreset } from '../data/augment.js';
import { loadImage } from '../data/images.js';
import { preprocessConfigFor, PreprocessConfig } from '../data/preprocess.js';
import { Rng } from '../data/random.js';
import { isBuiltinModel, loadBuiltinModel, builtinModels } from '../models/builtin.js';
import { isDigitsFolder, loadDigitsEncoder } from '../models/digits.js';
import { loadEncoder, Pool, processorInputSize } from '../models/encoder.js';
import { Encoder } from '../score/jepa.js';
import { UserError } from './errors.js';

export interface ResolvedModel {
  name: string;
  family: string;
  encoder: Encoder;
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

export async function resolveModel(spec: string, opts: ModelOptions = {}): Promise<ResolvedModel> {
  if (opts.pool !== undefined && !POOLS.includes(opts.pool)) throw new UserError(`--pool must be one of ${POOLS.join(', ')}, got '${opts.pool}'`);
  const digits = isBuiltinModel(spec) || isDigitsFolder(spec);
  if (digits) {
    const enc = isBuiltinModel(spec) ? loadBuiltinModel(spec) : loadDigitsEncoder(spec);
    const [, c, h, w] = enc.inputShape;
    if ((opts.height && opts.height !== h) || (opts.width && opts.width !== w)) throw new UserError(`model ${spec} takes ${h}x${w} inputs, got ${opts.height}x${opts.width}`);
    if (opts.channels && opts.channels !== c) throw new UserError(`model ${spec} takes ${c}-channel inputs, got ${opts.channels}`);
    if (opts.pool) throw new UserError(`--pool does not apply to the built-in model ${spec}`);
    // digit models take [0, 1] grayscale and normalise inside the graph
    const preprocess: PreprocessConfig = { resize: { height: h, width: w }, resample: 'bilinear', rescale: 1 / 255, mean: [0], std: [1], convertRgb: false };
    return {
      name: spec,
      family: enc.family,
      encoder: enc,
      preprocess,
      channels: 1,
      augmentView: (x, preset, rng) => augment(x, c, h, w, preset, rng),
    };
  }
  if (!existsSync(spec)) {
    throw new UserError(`--model ${spec}: no such file or folder, and not a built-in model (built-in: ${builtinModels().join(', ')})`);
  }
  // default resolution: what the model's image processor produces, not config.json's image_size
  const size = opts.height === undefined && opts.width === undefined ? processorInputSize(spec) : undefined;
  const height = opts.height ?? size?.height;
  const width = opts.width ?? size?.width;
  const enc = await loadEncoder(spec, { pool: opts.pool as Pool | undefined, height, width });
  const [, c, h, w] = enc.inputShape;
  if (opts.channels && opts.channels !== c) throw new UserError(`--model ${spec} takes ${c}-channel inputs, the pixel values have ${opts.channels}`);
  const folder = statSync(spec).isDirectory() ? spec : dirname(spec);
  const family = enc.family === 'onnx' ? 'dinov2' : enc.family;
  let preprocess: PreprocessConfig;
  try {
    preprocess = preprocessConfigFor(folder, family, { size: h === w ? h : undefined });
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  if (h !== w) preprocess = { ...preprocess, resize: { height: h, width: w }, centerCrop: undefined };
  return {
    name: spec,
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
