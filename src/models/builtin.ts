// Models that ship with the package, by name.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildOptions, DigitsEncoder, loadDigitsEncoder } from './digits.js';
import { loadHfEncoder } from './hf.js';
import { EncoderGraph } from './vit.js';

/** Built-in model names and their folders under assets/models/. */
const BUILTIN: Record<string, string> = {
  'mnist-jepa': 'mnist-jepa',
  'digits-vit': 'digits-vit',
};

/** Built-in models stored as Hugging Face folders (the rest are digits CNNs). */
const HF_BUILTIN = new Set(['digits-vit']);

/** Whether a built-in model is a Hugging Face (DINOv2) folder rather than a digits CNN. */
export function isBuiltinHf(name: string): boolean {
  return HF_BUILTIN.has(name);
}

export function builtinModels(): string[] {
  return Object.keys(BUILTIN);
}

export function isBuiltinModel(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(BUILTIN, name);
}

/** The package root: the nearest folder above this file that holds assets/ (works from src/ and dist/src/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'assets')) && existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error(`cannot find the package's assets folder above ${fileURLToPath(import.meta.url)}`);
}

/** The folder of a built-in model (config.json + model.safetensors). */
export function builtinModelDir(name: string): string {
  if (!isBuiltinModel(name)) throw new Error(`unknown built-in model '${name}' (built-in: ${builtinModels().join(', ')})`);
  return join(packageRoot(), 'assets', 'models', BUILTIN[name]);
}

/**
 * Loads a built-in model by name. All take 1x28x28 grayscale in [0, 1]: mnist-jepa is a digits CNN,
 * digits-vit a DINOv2 ViT read from its Hugging Face folder (batch must then be a number).
 */
export function loadBuiltinModel(name: 'mnist-jepa', opts?: BuildOptions): DigitsEncoder;
export function loadBuiltinModel(name: 'digits-vit', opts?: BuildOptions): EncoderGraph;
export function loadBuiltinModel(name: string, opts?: BuildOptions): DigitsEncoder | EncoderGraph;
export function loadBuiltinModel(name: string, opts: BuildOptions = {}): DigitsEncoder | EncoderGraph {
  const dir = builtinModelDir(name);
  if (!isBuiltinHf(name)) return loadDigitsEncoder(dir, opts);
  if (opts.input !== undefined) throw new Error(`built-in model ${name}: the input is always named pixel_values`);
  if (opts.batch !== undefined && typeof opts.batch !== 'number') throw new Error(`built-in model ${name}: batch must be a number, got '${opts.batch}'`);
  return loadHfEncoder(dir, { batch: opts.batch });
}
