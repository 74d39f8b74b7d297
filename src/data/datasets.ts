// The shipped digit data sets (gzip'd IDX in assets/data, built by scripts/make-datasets.ts), sets derived from
// them, and folders of images. Every image is grayscale in [0, 1], stored as a flat 1 x H x W Float32Array.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listImages } from './folders.js';
import { decodeImage, writePng } from './images.js';
import { gaussianBlur } from './blur.js';
import { readIdx } from './idx.js';
import { resizeU8, rgbToGray } from './preprocess.js';
import { Rng } from './random.js';

export interface Dataset {
  name: string;
  images: Float32Array[];
  labels?: number[];
  classNames?: string[];
  height: number;
  width: number;
  channels: number;
  paths?: string[];
}

export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
export const FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
export const LETTERS = Array.from({ length: 26 }, (_, i) => String.fromCharCode(65 + i));

/** A data set stored as `<file>-images-idx3-ubyte.gz` + `<file>-labels-idx1-ubyte.gz` in assets/data. */
export interface StoredSet {
  file: string;
  count: number;
  classNames: string[];
  description: string;
}

export const STORED: Record<string, StoredSet> = {
  'mnist-train': {
    file: 'mnist-train',
    count: 12000,
    classNames: DIGITS,
    description: 'MNIST training digits, 1200 per class (seeded subset of the 60000)',
  },
  mnist: {
    file: 'mnist-test',
    count: 2000,
    classNames: DIGITS,
    description: 'MNIST test digits, 200 per class (seeded subset of the 10000 held-out)',
  },
  'fashion-mnist': {
    file: 'fashion-mnist-test',
    count: 2000,
    classNames: FASHION_CLASSES,
    description: 'Fashion-MNIST test images, 200 per class',
  },
  letters: {
    file: 'letters',
    count: 2080,
    classNames: LETTERS,
    description: 'capital letters A-Z, 80 each, rendered from DejaVu and Liberation fonts, centred like MNIST',
  },
};

/** Sets computed from others at load time (nothing stored). */
const DERIVED: Record<string, string> = {
  'mnist-inverted': 'the mnist test subset with 1 - x (black digits on white)',
  noise: '2000 images of uniform noise in [0, 1] (seed 1, quantised to 1/255)',
  constant: '2000 flat images: all black, all white, then grey levels drawn uniformly from 0..255 (seed 1)',
  'mnist-blurred': '1000 held-out MNIST test digits (from the second half of the mnist subset, seeded order) blurred with a Gaussian of sigma 2 px',
};

/** Derived sets whose images depend on a seed (`loadDataset(name, { seed })`). */
export const SEEDED_SETS = ['noise', 'constant', 'mnist-blurred'];
/** Standard deviation (pixels) of the blur of `mnist-blurred`. */
export const BLUR_SIGMA = 2;
/** `mnist-blurred` draws from mnist test digits BLUR_FIRST..end, so it never repeats the first BLUR_FIRST `mnist` images. */
export const BLUR_FIRST = 1000;

export const NOISE_SEED = 1;
export const NOISE_COUNT = 2000;

/** Names of the built-in data sets. */
export function builtinDatasets(): string[] {
  return [...Object.keys(STORED), ...Object.keys(DERIVED)];
}

/** One line about each built-in set. */
export function describeDataset(name: string): string {
  const d = STORED[name]?.description ?? DERIVED[name];
  if (!d) throw new Error(`unknown data set '${name}' (built-in: ${builtinDatasets().join(', ')})`);
  return d;
}

let assetsDir: string | undefined;

/** The folder holding the shipped IDX files (found from this module's location, in src/ or dist/src/). */
export function datasetsDir(): string {
  if (assetsDir) return assetsDir;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'assets', 'data');
    if (existsSync(join(candidate, 'mnist-test-images-idx3-ubyte.gz'))) return (assetsDir = candidate);
    dir = dirname(dir);
  }
  throw new Error('cannot find the shipped data sets (assets/data) next to the jepa-score package');
}

const cache = new Map<string, { pixels: Uint8Array; labels: Uint8Array; height: number; width: number }>();

/** The raw bytes of a stored set (cached). Checks the files against each other and the expected count. */
export function readStored(name: string): { pixels: Uint8Array; labels: Uint8Array; height: number; width: number } {
  const hit = cache.get(name);
  if (hit) return hit;
  const spec = STORED[name];
  const imagesFile = join(datasetsDir(), `${spec.file}-images-idx3-ubyte.gz`);
  const labelsFile = join(datasetsDir(), `${spec.file}-labels-idx1-ubyte.gz`);
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  if (images.dims.length !== 3 || !(images.data instanceof Uint8Array)) throw new Error(`${imagesFile}: expected a uint8 N x H x W array`);
  if (labels.dims.length !== 1 || !(labels.data instanceof Uint8Array)) throw new Error(`${labelsFile}: expected a uint8 label vector`);
  if (images.dims[0] !== labels.dims[0]) throw new Error(`${labelsFile}: ${labels.dims[0]} labels for ${images.dims[0]} images`);
  if (images.dims[0] !== spec.count) throw new Error(`${imagesFile}: ${images.dims[0]} images, expected ${spec.count}`);
  const bad = labels.data.findIndex((l) => l >= spec.classNames.length);
  if (bad >= 0) throw new Error(`${labelsFile}: label ${labels.data[bad]} at ${bad} is out of range`);
  const out = { pixels: images.data, labels: labels.data, height: images.dims[1], width: images.dims[2] };
  cache.set(name, out);
  return out;
}

/**
 * Loads a built-in set by name, or a folder of images (labels from a class-per-folder layout, see listImages).
 * `limit` keeps the first images; `size` resizes every image to size x size (bilinear). Folder images are
 * converted to grayscale (PIL's weights; alpha dropped) and must all be one size unless `size` is given.
 */
export async function loadDataset(nameOrFolder: string, opts: { limit?: number; size?: number; seed?: number } = {}): Promise<Dataset> {
  const { limit, size } = opts;
  if (opts.seed !== undefined && !Number.isInteger(opts.seed)) throw new Error(`data set ${nameOrFolder}: seed must be an integer, got ${opts.seed}`);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new Error(`data set ${nameOrFolder}: limit must be a non-negative integer, got ${limit}`);
  if (size !== undefined && (!Number.isInteger(size) || size < 1)) throw new Error(`data set ${nameOrFolder}: size must be a positive integer, got ${size}`);
  if (STORED[nameOrFolder] || DERIVED[nameOrFolder]) return loadBuiltin(nameOrFolder, limit, size, opts.seed ?? NOISE_SEED);
  if (!existsSync(nameOrFolder)) {
    throw new Error(`${nameOrFolder}: neither a built-in data set (${builtinDatasets().join(', ')}) nor a file or folder`);
  }
  return loadFolder(nameOrFolder, limit, size);
}

async function loadBuiltin(name: string, limit: number | undefined, size: number | undefined, seed: number): Promise<Dataset> {
  let pixels: Uint8Array;
  let labels: Uint8Array | undefined;
  let classNames: string[] | undefined;
  let height = 28;
  let width = 28;
  if (name === 'noise') {
    const n = Math.min(limit ?? NOISE_COUNT, NOISE_COUNT);
    pixels = new Uint8Array(n * height * width);
    const rng = new Rng(seed);
    for (let i = 0; i < pixels.length; i++) pixels[i] = rng.int(256);
  } else if (name === 'constant') {
    const n = Math.min(limit ?? NOISE_COUNT, NOISE_COUNT);
    pixels = new Uint8Array(n * height * width);
    const rng = new Rng(seed);
    for (let i = 0; i < n; i++) pixels.fill(constantLevel(i, rng), i * height * width, (i + 1) * height * width);
  } else if (name === 'mnist-blurred') {
    const src = readStored('mnist');
    ({ height, width } = src);
    const hw = height * width;
    const pool = src.labels.length - BLUR_FIRST;
    const order = new Rng(seed).permutation(pool);
    const n = Math.min(limit ?? pool, pool);
    pixels = new Uint8Array(n * hw);
    const lab = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const j = BLUR_FIRST + order[i];
      pixels.set(gaussianBlurU8(src.pixels.subarray(j * hw, (j + 1) * hw), height, width, BLUR_SIGMA), i * hw);
      lab[i] = src.labels[j];
    }
    labels = lab;
    classNames = STORED.mnist.classNames;
  } else {
    const src = readStored(name === 'mnist-inverted' ? 'mnist' : name);
    ({ pixels, labels, height, width } = src);
    classNames = STORED[name === 'mnist-inverted' ? 'mnist' : name].classNames;
  }
  const hw = height * width;
  const total = pixels.length / hw;
  const n = Math.min(limit ?? total, total);
  const invert = name === 'mnist-inverted';
  const images: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    let img = pixels.subarray(i * hw, (i + 1) * hw);
    if (invert) img = img.map((v) => 255 - v);
    if (size !== undefined) img = await resizeU8(img, height, width, 1, size, size, 'bilinear');
    images.push(toUnit(img));
  }
  const out: Dataset = { name, images, height: size ?? height, width: size ?? width, channels: 1 };
  if (labels && classNames) {
    out.labels = Array.from(labels.subarray(0, n));
    out.classNames = [...classNames];
  }
  return out;
}

async function loadFolder(folder: string, limit: number | undefined, size: number | undefined): Promise<Dataset> {
  let entries = listImages([folder]);
  if (entries.length === 0) throw new Error(`${folder}: no images found (looked for .png .jpg .jpeg .webp .gif .tif .tiff .avif)`);
  if (limit !== undefined) entries = entries.slice(0, limit);
  const images: Float32Array[] = [];
  let height = size ?? 0;
  let width = size ?? 0;
  for (const e of entries) {
    const rgb = await decodeImage(e.path);
    let gray = rgbToGray(rgb.data, rgb.width * rgb.height);
    if (size !== undefined) gray = await resizeU8(gray, rgb.height, rgb.width, 1, size, size, 'bilinear');
    else if (images.length === 0) {
      height = rgb.height;
      width = rgb.width;
    } else if (rgb.height !== height || rgb.width !== width) {
      throw new Error(`${e.path}: is ${rgb.width}x${rgb.height} but ${entries[0].path} is ${width}x${height}; pass a size to resize them all`);
    }
    images.push(toUnit(gray));
  }
  const out: Dataset = { name: folder, images, height, width, channels: 1, paths: entries.map((e) => e.path) };
  if (entries.length > 0 && entries.every((e) => e.class !== undefined)) {
    const classNames = [...new Set(entries.map((e) => e.class!))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    out.classNames = classNames;
    out.labels = entries.map((e) => classNames.indexOf(e.class!));
  }
  return out;
}

/**
 * Writes a built-in set as PNGs: `dir/<class>/<index>.png` (class names with '/' become '_'), or `dir/<index>.png`
 * for unlabelled sets. Returns the paths written, in data set order.
 */
export async function exportDatasetAsPngs(name: string, dir: string, limit?: number): Promise<string[]> {
  if (!STORED[name] && !DERIVED[name]) throw new Error(`unknown data set '${name}' (built-in: ${builtinDatasets().join(', ')})`);
  const ds = await loadDataset(name, { limit });
  const digits = Math.max(5, String(ds.images.length).length);
  const paths: string[] = [];
  for (let i = 0; i < ds.images.length; i++) {
    const file = `${String(i).padStart(digits, '0')}.png`;
    const path =
      ds.labels && ds.classNames ? join(dir, safeName(ds.classNames[ds.labels[i]]), file) : join(dir, file);
    await writePng(path, ds.images[i], 1, ds.height, ds.width);
    paths.push(path);
  }
  return paths;
}

function safeName(s: string): string {
  return s.replace(/[/\\:*?"<>|]/g, '_');
}

/** Grey level of image i of the `constant` set: 0 (black), 255 (white), then uniform draws from rng. */
function constantLevel(i: number, rng: Rng): number {
  if (i === 0) return 0;
  if (i === 1) return 255;
  return rng.int(256);
}

/**
 * Separable Gaussian blur of an 8-bit h x w image; pixels outside the image count as 0 (the black MNIST
 * background). Rounded back to 8 bits.
 */
export function gaussianBlurU8(img: Uint8Array, h: number, w: number, sigma: number): Uint8Array {
  return Uint8Array.from(gaussianBlur(img, h, w, sigma, 'zero'), (s) => Math.min(255, Math.max(0, Math.round(s))));
}

function toUnit(u8: Uint8Array): Float32Array {
  const out = new Float32Array(u8.length);
  for (let i = 0; i < u8.length; i++) out[i] = u8[i] / 255;
  return out;
}
