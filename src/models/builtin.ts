// Models that ship with the package, by name.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BuildOptions, DigitsEncoder, loadDigitsEncoder } from './digits.js';

/** Built-in model names and their folders under assets/models/. */
const BUILTIN: Record<string, string> = {
  'mnist-jepa': 'mnist-jepa',
};

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

/** Loads a built-in model by name. */
export function loadBuiltinModel(name: string, opts: BuildOptions = {}): DigitsEncoder {
  return loadDigitsEncoder(builtinModelDir(name), opts);
}
