// Preprocessing as Hugging Face image processors do it (the "slow", PIL-based path):
// convert to RGB -> resize (uint8, rounded) -> centre crop -> rescale -> normalise, giving CHW float32.
// Resizing re-implements Pillow's resampling (or uses sharp on request); docs/preprocessing.md measures both.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type Resample = 'bilinear' | 'bicubic' | 'nearest';

export interface PreprocessConfig {
  resize?: { shortestEdge?: number; height?: number; width?: number };
  resample: Resample;
  centerCrop?: { height: number; width: number };
  rescale?: number;
  mean: number[];
  std: number[];
  /** Always true in effect: images are decoded to RGB (kept for fidelity with the HF config). */
  convertRgb: boolean;
  /** Resizer: 'pil' (default, matches Pillow as HF's image processors use it) or 'sharp' (libvips). */
  engine?: ResizeEngine;
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];
export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

const PIL_RESAMPLE: Record<number, Resample | string> = {
  0: 'nearest',
  1: 'lanczos',
  2: 'bilinear',
  3: 'bicubic',
  4: 'box',
  5: 'hamming',
};

/** The default preprocessing of a model family (before any preprocessor_config.json). */
export function familyDefaults(family: string): PreprocessConfig {
  switch (family) {
    case 'dinov2':
    case 'dinov2_with_registers':
    case 'ijepa':
      return {
        resize: { shortestEdge: 256 },
        resample: 'bicubic',
        centerCrop: { height: 224, width: 224 },
        rescale: 1 / 255,
        mean: [...IMAGENET_MEAN],
        std: [...IMAGENET_STD],
        convertRgb: true,
      };
    case 'clip':
    case 'clip_vision_model':
      return {
        resize: { shortestEdge: 224 },
        resample: 'bicubic',
        centerCrop: { height: 224, width: 224 },
        rescale: 1 / 255,
        mean: [...CLIP_MEAN],
        std: [...CLIP_STD],
        convertRgb: true,
      };
    default:
      throw new Error(`no default preprocessing for model family '${family}' (known: dinov2, dinov2_with_registers, ijepa, clip, clip_vision_model)`);
  }
}

/**
 * The preprocessing for a model: `modelDir/preprocessor_config.json` when present (HF keys), else the family
 * defaults. `opts.size` sets the final (crop) side for small models; the resize keeps the config's
 * resize-to-crop ratio (256/224 for DINOv2) unless `opts.shortestEdge` is given.
 */
export function preprocessConfigFor(
  modelDir: string | undefined,
  family: string,
  opts: { size?: number; shortestEdge?: number } = {},
): PreprocessConfig {
  const file = modelDir ? join(modelDir, 'preprocessor_config.json') : undefined;
  const cfg = file && existsSync(file) ? parseHfConfig(file, family) : familyDefaults(family);
  return withSize(cfg, opts);
}

function withSize(cfg: PreprocessConfig, opts: { size?: number; shortestEdge?: number }): PreprocessConfig {
  const out: PreprocessConfig = { ...cfg, mean: [...cfg.mean], std: [...cfg.std] };
  if (opts.size !== undefined) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new Error(`preprocessing: size must be a positive integer, got ${opts.size}`);
    const s = opts.size;
    if (cfg.resize?.shortestEdge !== undefined) {
      const ratio = cfg.centerCrop ? cfg.resize.shortestEdge / cfg.centerCrop.height : 1;
      out.resize = { shortestEdge: Math.round(s * ratio) };
    } else if (cfg.resize) {
      out.resize = { height: s, width: s };
    }
    if (cfg.centerCrop || !cfg.resize) out.centerCrop = { height: s, width: s };
  }
  if (opts.shortestEdge !== undefined) {
    if (!Number.isInteger(opts.shortestEdge) || opts.shortestEdge < 1) {
      throw new Error(`preprocessing: shortestEdge must be a positive integer, got ${opts.shortestEdge}`);
    }
    out.resize = { shortestEdge: opts.shortestEdge };
  }
  return out;
}

/** Reads a Hugging Face preprocessor_config.json. */
export function parseHfConfig(file: string, family = ''): PreprocessConfig {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read preprocessor config (${(e as Error).message})`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new Error(`${file}: preprocessor config is not a JSON object`);
  const bad = (what: string) => new Error(`${file}: ${what}`);
  const num = (v: unknown, key: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw bad(`'${key}' must be a positive number, got ${JSON.stringify(v)}`);
    return v;
  };
  let defaults: PreprocessConfig | undefined;
  try {
    defaults = familyDefaults(family);
  } catch {
    defaults = undefined;
  }
  const squareSize = j.image_processor_type === 'ViTImageProcessor';
  // ViTImageProcessor's own defaults: bilinear, mean = std = 0.5
  const cfg: PreprocessConfig = {
    resample: squareSize ? 'bilinear' : 'bicubic',
    mean: squareSize ? [0.5, 0.5, 0.5] : defaults ? defaults.mean : [...IMAGENET_MEAN],
    std: squareSize ? [0.5, 0.5, 0.5] : defaults ? defaults.std : [...IMAGENET_STD],
    convertRgb: j.do_convert_rgb !== false,
  };
  if (j.do_resize !== false) {
    const size = j.size ?? (defaults?.resize ? undefined : null);
    if (size === null) throw bad(`do_resize without 'size'`);
    if (size === undefined) cfg.resize = { ...defaults!.resize! };
    else if (typeof size === 'number') cfg.resize = squareSize ? { height: num(size, 'size'), width: size } : { shortestEdge: num(size, 'size') };
    else if (typeof size === 'object' && size !== null) {
      const s = size as Record<string, unknown>;
      if (s.shortest_edge !== undefined) cfg.resize = { shortestEdge: num(s.shortest_edge, 'size.shortest_edge') };
      else if (s.height !== undefined && s.width !== undefined) {
        cfg.resize = { height: num(s.height, 'size.height'), width: num(s.width, 'size.width') };
      } else throw bad(`unsupported 'size' ${JSON.stringify(size)} (expected shortest_edge, or height and width)`);
    } else throw bad(`unsupported 'size' ${JSON.stringify(size)}`);
    if (j.resample !== undefined) {
      const r = PIL_RESAMPLE[j.resample as number];
      if (r !== 'bilinear' && r !== 'bicubic' && r !== 'nearest') {
        throw bad(`resample ${JSON.stringify(j.resample)}${r ? ` (${r})` : ''} is not supported (0 nearest, 2 bilinear, 3 bicubic)`);
      }
      cfg.resample = r;
    }
  }
  if (j.do_center_crop !== false && (j.crop_size !== undefined || j.do_center_crop === true)) {
    const c = j.crop_size ?? defaults?.centerCrop;
    if (c === undefined) throw bad(`do_center_crop without 'crop_size'`);
    if (typeof c === 'number') cfg.centerCrop = { height: num(c, 'crop_size'), width: c };
    else if (typeof c === 'object' && c !== null) {
      const s = c as Record<string, unknown>;
      cfg.centerCrop = { height: num(s.height, 'crop_size.height'), width: num(s.width, 'crop_size.width') };
    } else throw bad(`unsupported 'crop_size' ${JSON.stringify(c)}`);
  }
  if (j.do_rescale !== false) cfg.rescale = j.rescale_factor === undefined ? 1 / 255 : num(j.rescale_factor, 'rescale_factor');
  if (j.do_normalize === false) {
    cfg.mean = [0, 0, 0];
    cfg.std = [1, 1, 1];
  } else {
    for (const key of ['image_mean', 'image_std'] as const) {
      const v = j[key];
      if (v === undefined) continue;
      const arr = typeof v === 'number' ? [v, v, v] : v;
      if (!Array.isArray(arr) || (arr.length !== 3 && arr.length !== 1) || !arr.every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw bad(`'${key}' must be 3 numbers (or 1 for every channel), got ${JSON.stringify(v)}`);
      }
      if (key === 'image_std' && arr.some((x) => x === 0)) throw bad(`'image_std' has a zero`);
      if (key === 'image_mean') cfg.mean = arr;
      else cfg.std = arr;
    }
  }
  return cfg;
}

/** HF's shortest-edge rule: the short side becomes `size`, the long one int(size * long / short). */
export function resizeOutputSize(height: number, width: number, resize: NonNullable<PreprocessConfig['resize']>): [number, number] {
  if (resize.shortestEdge !== undefined) {
    const s = resize.shortestEdge;
    if (width <= height) return [Math.floor((s * height) / width), s];
    return [s, Math.floor((s * width) / height)];
  }
  if (resize.height === undefined || resize.width === undefined) throw new Error('preprocessing: resize needs shortestEdge, or height and width');
  return [resize.height, resize.width];
}

/** How images are resized: 'pil' (default) re-implements Pillow's resampling; 'sharp' uses libvips. */
export type ResizeEngine = 'pil' | 'sharp';

const KERNEL: Record<Resample, 'cubic' | 'linear' | 'nearest'> = { bicubic: 'cubic', bilinear: 'linear', nearest: 'nearest' };

/** Resizes interleaved uint8 pixels (HWC) to outHeight x outWidth; output rounded to uint8. */
export async function resizeU8(
  data: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
  resample: Resample,
  engine: ResizeEngine = 'pil',
): Promise<Uint8Array> {
  if (outHeight === height && outWidth === width) return data;
  if (engine === 'pil') return resizePil(data, height, width, channels, outHeight, outWidth, resample);
  if (channels !== 1 && channels !== 3) throw new Error(`resize: ${channels} channels (1 or 3)`);
  const sharp = (await import('sharp')).default; // loaded only here, so the browser build needs no sharp
  let img = sharp(data, { raw: { width, height, channels } }).resize(outWidth, outHeight, { fit: 'fill', kernel: KERNEL[resample] });
  if (channels === 1) img = img.toColourspace('b-w'); // else sharp hands back 3 channels
  const buf = await img.raw().toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

// Pillow's resampling (Resample.c), re-implemented: separable, horizontal pass first, each output pixel a
// weighted sum over a window whose support grows with the downscale factor (antialiasing), weights normalised,
// then turned into 22-bit fixed point; the intermediate image is rounded to uint8 as in Pillow.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function triangle(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs {
  start: Int32Array;
  count: Int32Array;
  k: Int32Array;
  ksize: number;
}

function coefficients(inSize: number, outSize: number, resample: 'bilinear' | 'bicubic'): Coeffs {
  const [filter, fsupport] = resample === 'bicubic' ? [bicubic, 2] : [triangle, 1];
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = fsupport * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const k = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const v = filter((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0 ? w[x] / ww : w[x];
      k[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { start, count, k, ksize };
}

function clip8(v: number): number {
  if (v <= 0) return 0;
  const r = Math.floor(v / ONE);
  return r > 255 ? 255 : r;
}

/** Pillow's Image.resize for 8-bit images (NEAREST, BILINEAR, BICUBIC), on HWC uint8. */
export function resizePil(
  data: Uint8Array,
  height: number,
  width: number,
  channels: number,
  outHeight: number,
  outWidth: number,
  resample: Resample,
): Uint8Array {
  if (resample === 'nearest') {
    // Pillow scales with an affine map: pixel centres stepped by repeated addition in float64, then truncated
    const positions = (outSize: number, inSize: number): Int32Array => {
      const idx = new Int32Array(outSize);
      const step = inSize / outSize;
      let pos = step * 0.5;
      for (let i = 0; i < outSize; i++) {
        idx[i] = Math.min(inSize - 1, Math.max(0, Math.trunc(pos)));
        pos += step;
      }
      return idx;
    };
    const xs = positions(outWidth, width);
    const ys = positions(outHeight, height);
    const out = new Uint8Array(outHeight * outWidth * channels);
    for (let y = 0; y < outHeight; y++) {
      for (let x = 0; x < outWidth; x++) {
        const si = (ys[y] * width + xs[x]) * channels;
        const di = (y * outWidth + x) * channels;
        for (let c = 0; c < channels; c++) out[di + c] = data[si + c];
      }
    }
    return out;
  }
  let cur = data;
  let curW = width;
  if (outWidth !== width) {
    const co = coefficients(width, outWidth, resample);
    const tmp = new Uint8Array(height * outWidth * channels);
    for (let y = 0; y < height; y++) {
      const row = y * width * channels;
      for (let xx = 0; xx < outWidth; xx++) {
        const x0 = co.start[xx], n = co.count[xx], kb = xx * co.ksize;
        const o = (y * outWidth + xx) * channels;
        if (channels === 3) {
          let s0 = ONE / 2, s1 = ONE / 2, s2 = ONE / 2;
          let p = row + x0 * 3;
          for (let x = 0; x < n; x++, p += 3) {
            const k = co.k[kb + x];
            s0 += cur[p] * k;
            s1 += cur[p + 1] * k;
            s2 += cur[p + 2] * k;
          }
          tmp[o] = clip8(s0);
          tmp[o + 1] = clip8(s1);
          tmp[o + 2] = clip8(s2);
        } else {
          for (let c = 0; c < channels; c++) {
            let ss = ONE / 2;
            for (let x = 0; x < n; x++) ss += cur[row + (x0 + x) * channels + c] * co.k[kb + x];
            tmp[o + c] = clip8(ss);
          }
        }
      }
    }
    cur = tmp;
    curW = outWidth;
  }
  if (outHeight !== height) {
    const co = coefficients(height, outHeight, resample);
    const tmp = new Uint8Array(outHeight * curW * channels);
    const stride = curW * channels;
    const acc = new Float64Array(stride);
    for (let yy = 0; yy < outHeight; yy++) {
      const y0 = co.start[yy], n = co.count[yy], kb = yy * co.ksize;
      acc.fill(ONE / 2);
      for (let y = 0; y < n; y++) {
        const k = co.k[kb + y];
        const r = (y0 + y) * stride;
        for (let i = 0; i < stride; i++) acc[i] += cur[r + i] * k;
      }
      const o = yy * stride;
      for (let i = 0; i < stride; i++) tmp[o + i] = clip8(acc[i]);
    }
    cur = tmp;
  }
  return cur;
}

/**
 * HF's centre crop of HWC uint8 pixels: top = floor((H - h) / 2), left = floor((W - w) / 2); where the crop is
 * larger than the image, the image is centred on a zero canvas (as HF pads).
 */
export function centerCropU8(
  data: Uint8Array,
  height: number,
  width: number,
  channels: number,
  cropHeight: number,
  cropWidth: number,
): Uint8Array {
  if (cropHeight === height && cropWidth === width) return data;
  const out = new Uint8Array(cropHeight * cropWidth * channels);
  // offset of the crop in the (possibly padded) image
  const padTop = cropHeight > height ? Math.ceil((cropHeight - height) / 2) : 0;
  const padLeft = cropWidth > width ? Math.ceil((cropWidth - width) / 2) : 0;
  const top = cropHeight > height ? -padTop : Math.floor((height - cropHeight) / 2);
  const left = cropWidth > width ? -padLeft : Math.floor((width - cropWidth) / 2);
  for (let y = 0; y < cropHeight; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= height) continue;
    for (let x = 0; x < cropWidth; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= width) continue;
      const si = (sy * width + sx) * channels;
      const di = (y * cropWidth + x) * channels;
      for (let c = 0; c < channels; c++) out[di + c] = data[si + c];
    }
  }
  return out;
}

/**
 * HWC uint8 -> CHW float32: x * rescale, then (x - mean) / std, each step rounded to float32 as numpy does.
 * mean/std of length 1 apply to every channel.
 */
export function normalizeToChw(data: Uint8Array, height: number, width: number, channels: number, cfg: Pick<PreprocessConfig, 'rescale' | 'mean' | 'std'>): Float32Array {
  const pick = (a: number[], what: string): Float32Array => {
    if (a.length === channels) return Float32Array.from(a);
    if (a.length === 1) return new Float32Array(channels).fill(a[0]);
    throw new Error(`preprocessing: ${what} has ${a.length} values for ${channels} channel(s)`);
  };
  const mean = pick(cfg.mean, 'mean');
  const std = pick(cfg.std, 'std');
  const hw = height * width;
  const out = new Float32Array(channels * hw);
  const lut = new Float32Array(256 * channels);
  for (let c = 0; c < channels; c++) {
    for (let v = 0; v < 256; v++) {
      const x = cfg.rescale === undefined ? v : Math.fround(v * cfg.rescale);
      lut[c * 256 + v] = Math.fround(Math.fround(x - mean[c]) / std[c]);
    }
  }
  for (let i = 0; i < hw; i++) {
    for (let c = 0; c < channels; c++) out[c * hw + i] = lut[c * 256 + data[i * channels + c]];
  }
  return out;
}

/** The full pipeline on decoded pixels (HWC uint8). */
export async function preprocessPixels(
  img: { data: Uint8Array; width: number; height: number; channels: number },
  cfg: PreprocessConfig,
): Promise<{ data: Float32Array; channels: number; height: number; width: number }> {
  let { data, width, height } = img;
  const channels = img.channels;
  if (cfg.resize) {
    const [h, w] = resizeOutputSize(height, width, cfg.resize);
    data = await resizeU8(data, height, width, channels, h, w, cfg.resample, cfg.engine);
    height = h;
    width = w;
  }
  if (cfg.centerCrop) {
    data = centerCropU8(data, height, width, channels, cfg.centerCrop.height, cfg.centerCrop.width);
    height = cfg.centerCrop.height;
    width = cfg.centerCrop.width;
  }
  return { data: normalizeToChw(data, height, width, channels, cfg), channels, height, width };
}

/** PIL's convert('L') on interleaved RGB: (R*19595 + G*38470 + B*7471 + 0x8000) >> 16. */
export function rgbToGray(rgb: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels);
  for (let i = 0; i < pixels; i++) {
    out[i] = (rgb[3 * i] * 19595 + rgb[3 * i + 1] * 38470 + rgb[3 * i + 2] * 7471 + 0x8000) >>> 16;
  }
  return out;
}
