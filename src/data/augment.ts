// Seeded image augmentations on CHW Float32Arrays (pure JS), for the Monte-Carlo views estimator and training.
// Every random draw comes from the Rng passed in, so a seed fixes the output.
import { gaussianBlur } from './blur.js';
import { Rng } from './random.js';

export type AugmentPreset = 'dinov2' | 'digits' | 'none';

export interface AugmentOptions {
  /** Random resized crop: range of the crop's area as a fraction of the image (dinov2 0.32-1, digits 0.6-1). */
  scale?: [number, number];
  /** Random resized crop: range of the crop's aspect ratio (default 3/4-4/3). */
  ratio?: [number, number];
  /** dinov2: probability of a horizontal flip (0.5). */
  flipP?: number;
  /** dinov2: probability of colour jitter (0.8), and its strengths (0.4, 0.4, 0.2). */
  jitterP?: number;
  brightness?: number;
  contrast?: number;
  saturation?: number;
  /** digits: largest shift in pixels (3) and rotation in degrees (15). */
  maxShift?: number;
  maxRotation?: number;
  /** digits: standard deviation of the added Gaussian noise (0.05); the result is clamped to [0, 1]. */
  noise?: number;
  /**
   * digits: elastic distortion (Simard et al. 2003): a per-pixel displacement field of U(-1, 1) draws,
   * smoothed by a Gaussian of `elasticSigma` pixels (4) and scaled by `elastic` (0 = off; 34 in the paper).
   */
  elastic?: number;
  elasticSigma?: number;
  /**
   * digits: stroke width change: with this probability (0 = off) the image is blended, by a U(0, 1) amount,
   * towards its grey-level dilation or erosion (3x3 cross), half the time each.
   */
  stroke?: number;
  /**
   * The input is normalised, (x - mean) / std: it is un-normalised to [0, 1] pixels, augmented, and normalised
   * back. mean/std have one value per channel (or one for all).
   */
  normalized?: { mean: number[]; std: number[] };
}

/**
 * Returns an augmented copy of `chw` (c x h x w, same size out).
 * 'dinov2': random resized crop (bilinear back to h x w), horizontal flip, colour jitter (brightness, contrast,
 * saturation in random order, p = 0.8); pixels in [0, 1]. 'digits': for 28x28 grayscale in [0, 1]: random
 * resized crop, rotation, shift (one bilinear warp, zeros outside), then Gaussian noise, clamped.
 * 'none': a copy.
 */
export function augment(
  chw: Float32Array,
  c: number,
  h: number,
  w: number,
  preset: AugmentPreset,
  rng: Rng,
  opts: AugmentOptions = {},
): Float32Array {
  if (chw.length !== c * h * w) throw new Error(`augment: ${chw.length} values do not make ${c}x${h}x${w}`);
  let x = chw;
  if (opts.normalized) x = unnormalize(chw, c, h * w, opts.normalized.mean, opts.normalized.std);
  let y: Float32Array;
  switch (preset) {
    case 'none':
      y = new Float32Array(x);
      break;
    case 'dinov2':
      y = dinov2(x, c, h, w, rng, opts);
      break;
    case 'digits':
      y = digits(x, c, h, w, rng, opts);
      break;
    default:
      throw new Error(`augment: unknown preset '${preset as string}' (dinov2, digits, none)`);
  }
  if (opts.normalized) normalizeInPlace(y, c, h * w, opts.normalized.mean, opts.normalized.std);
  return y;
}

/** augment() for a normalised input (e.g. a preprocessed DINOv2 image); the output is normalised the same way. */
export function augmentNormalized(
  chw: Float32Array,
  c: number,
  h: number,
  w: number,
  preset: AugmentPreset,
  rng: Rng,
  mean: number[],
  std: number[],
  opts: AugmentOptions = {},
): Float32Array {
  return augment(chw, c, h, w, preset, rng, { ...opts, normalized: { mean, std } });
}

function perChannel(a: number[], c: number, what: string): number[] {
  if (a.length === c) return a;
  if (a.length === 1) return new Array(c).fill(a[0]);
  throw new Error(`augment: ${what} has ${a.length} values for ${c} channel(s)`);
}

function unnormalize(x: Float32Array, c: number, hw: number, mean: number[], std: number[]): Float32Array {
  const m = perChannel(mean, c, 'mean');
  const s = perChannel(std, c, 'std');
  const out = new Float32Array(x.length);
  for (let k = 0; k < c; k++) for (let i = k * hw; i < (k + 1) * hw; i++) out[i] = x[i] * s[k] + m[k];
  return out;
}

function normalizeInPlace(x: Float32Array, c: number, hw: number, mean: number[], std: number[]): void {
  const m = perChannel(mean, c, 'mean');
  const s = perChannel(std, c, 'std');
  for (let k = 0; k < c; k++) for (let i = k * hw; i < (k + 1) * hw; i++) x[i] = (x[i] - m[k]) / s[k];
}

/** torchvision's RandomResizedCrop box: 10 tries at a random area and log-uniform ratio, else a centre crop. */
export function randomResizedCropBox(
  h: number,
  w: number,
  scale: [number, number],
  ratio: [number, number],
  rng: Rng,
): { top: number; left: number; height: number; width: number } {
  const area = h * w;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * rng.range(scale[0], scale[1]);
    const ar = Math.exp(rng.range(logLo, logHi));
    const cw = Math.round(Math.sqrt(target * ar));
    const ch = Math.round(Math.sqrt(target / ar));
    if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
      return { top: rng.int(h - ch + 1), left: rng.int(w - cw + 1), height: ch, width: cw };
    }
  }
  const inRatio = w / h;
  let cw = w;
  let ch = h;
  if (inRatio < ratio[0]) ch = Math.round(w / ratio[0]);
  else if (inRatio > ratio[1]) cw = Math.round(h * ratio[1]);
  return { top: Math.floor((h - ch) / 2), left: Math.floor((w - cw) / 2), height: ch, width: cw };
}

function dinov2(x: Float32Array, c: number, h: number, w: number, rng: Rng, o: AugmentOptions): Float32Array {
  const box = randomResizedCropBox(h, w, o.scale ?? [0.32, 1], o.ratio ?? [3 / 4, 4 / 3], rng);
  const flip = rng.uniform() < (o.flipP ?? 0.5);
  // bilinear resize of the box to h x w (half-pixel centres, edge-clamped), with the flip folded into the x map
  const x0 = new Int32Array(w), x1 = new Int32Array(w), fx = new Float32Array(w);
  const y0 = new Int32Array(h), y1 = new Int32Array(h), fy = new Float32Array(h);
  axisMap(w, box.width, box.left, w, x0, x1, fx);
  axisMap(h, box.height, box.top, h, y0, y1, fy);
  if (flip) {
    x0.reverse();
    x1.reverse();
    fx.reverse();
  }
  const hw = h * w;
  const out = new Float32Array(c * hw);
  for (let k = 0; k < c; k++) {
    const base = k * hw;
    for (let y = 0; y < h; y++) {
      const r0 = base + y0[y] * w, r1 = base + y1[y] * w, ty = fy[y];
      const o0 = base + y * w;
      for (let i = 0; i < w; i++) {
        const a = x[r0 + x0[i]] + (x[r0 + x1[i]] - x[r0 + x0[i]]) * fx[i];
        const b = x[r1 + x0[i]] + (x[r1 + x1[i]] - x[r1 + x0[i]]) * fx[i];
        out[o0 + i] = a + (b - a) * ty;
      }
    }
  }
  if (rng.uniform() < (o.jitterP ?? 0.8)) colorJitter(out, c, hw, rng, o.brightness ?? 0.4, o.contrast ?? 0.4, o.saturation ?? 0.2);
  return out;
}

/** Source indices and weights for resizing `len` source pixels starting at `start` to `outLen` (align_corners=False). */
function axisMap(outLen: number, len: number, start: number, size: number, i0: Int32Array, i1: Int32Array, f: Float32Array): void {
  const step = len / outLen;
  for (let i = 0; i < outLen; i++) {
    let s = (i + 0.5) * step - 0.5;
    if (s < 0) s = 0;
    const fl = Math.floor(s);
    const a = Math.min(start + fl, size - 1);
    i0[i] = a;
    i1[i] = Math.min(a + 1, start + len - 1, size - 1);
    f[i] = s - fl;
  }
}

/** torchvision's ColorJitter (no hue): the three adjustments in random order, each result clamped to [0, 1]. */
function colorJitter(x: Float32Array, c: number, hw: number, rng: Rng, bright: number, contrast: number, sat: number): void {
  const order = rng.permutation(3);
  const fb = rng.range(Math.max(0, 1 - bright), 1 + bright);
  const fc = rng.range(Math.max(0, 1 - contrast), 1 + contrast);
  const fs = rng.range(Math.max(0, 1 - sat), 1 + sat);
  for (const op of order) {
    if (op === 0 && bright > 0) {
      for (let i = 0; i < x.length; i++) x[i] = clamp01(x[i] * fb);
    } else if (op === 1 && contrast > 0) {
      // blend with the mean of the grayscale image
      let m = 0;
      if (c === 3) for (let i = 0; i < hw; i++) m += 0.299 * x[i] + 0.587 * x[hw + i] + 0.114 * x[2 * hw + i];
      else for (let i = 0; i < hw; i++) m += x[i];
      m /= hw;
      const add = (1 - fc) * m;
      for (let i = 0; i < x.length; i++) x[i] = clamp01(fc * x[i] + add);
    } else if (op === 2 && sat > 0 && c === 3) {
      for (let i = 0; i < hw; i++) {
        const g = (1 - fs) * (0.299 * x[i] + 0.587 * x[hw + i] + 0.114 * x[2 * hw + i]);
        x[i] = clamp01(fs * x[i] + g);
        x[hw + i] = clamp01(fs * x[hw + i] + g);
        x[2 * hw + i] = clamp01(fs * x[2 * hw + i] + g);
      }
    }
  }
}

function digits(x: Float32Array, c: number, h: number, w: number, rng: Rng, o: AugmentOptions): Float32Array {
  // the optional parts draw from rng only when on, so the default stream is unchanged
  if ((o.stroke ?? 0) > 0 && rng.uniform() < o.stroke!) {
    const thicken = rng.uniform() < 0.5;
    x = blend(x, crossFilter(x, c, h, w, thicken), rng.uniform());
  }
  const field = (o.elastic ?? 0) > 0 ? elasticField(h, w, o.elastic!, o.elasticSigma ?? 4, rng) : null;
  const box = randomResizedCropBox(h, w, o.scale ?? [0.6, 1], o.ratio ?? [3 / 4, 4 / 3], rng);
  const maxRot = ((o.maxRotation ?? 15) * Math.PI) / 180;
  const theta = rng.range(-maxRot, maxRot);
  const maxShift = o.maxShift ?? 3;
  const dx = rng.range(-maxShift, maxShift);
  const dy = rng.range(-maxShift, maxShift);
  const sigma = o.noise ?? 0.05;
  // output pixel centre v (relative to the image centre) -> undo shift -> undo rotation -> scale into the crop box
  const cos = Math.cos(theta), sin = Math.sin(theta);
  const sx = box.width / w, sy = box.height / h;
  const cx = box.left + box.width / 2, cy = box.top + box.height / 2;
  // source (pixel-index coordinates) = A * (x, y) + t
  const a11 = cos * sx, a12 = sin * sx, a21 = -sin * sy, a22 = cos * sy;
  const ux0 = 0.5 - w / 2 - dx, uy0 = 0.5 - h / 2 - dy;
  const t1 = cx - 0.5 + a11 * ux0 + a12 * uy0;
  const t2 = cy - 0.5 + a21 * ux0 + a22 * uy0;
  const hw = h * w;
  const out = new Float32Array(c * hw);
  for (let y = 0; y < h; y++) {
    for (let i = 0; i < w; i++) {
      let px = a11 * i + a12 * y + t1;
      let py = a21 * i + a22 * y + t2;
      if (field) {
        px += field.dx[y * w + i];
        py += field.dy[y * w + i];
      }
      if (px <= -1 || py <= -1 || px >= w || py >= h) continue;
      const xf = Math.floor(px), yf = Math.floor(py);
      const tx = px - xf, ty = py - yf;
      const w00 = (1 - tx) * (1 - ty), w01 = tx * (1 - ty), w10 = (1 - tx) * ty, w11 = tx * ty;
      const in0 = yf >= 0, in1 = yf + 1 < h, jn0 = xf >= 0, jn1 = xf + 1 < w;
      for (let k = 0; k < c; k++) {
        const base = k * hw;
        let v = 0;
        if (in0) {
          const r = base + yf * w;
          if (jn0) v += w00 * x[r + xf];
          if (jn1) v += w01 * x[r + xf + 1];
        }
        if (in1) {
          const r = base + (yf + 1) * w;
          if (jn0) v += w10 * x[r + xf];
          if (jn1) v += w11 * x[r + xf + 1];
        }
        out[base + y * w + i] = v;
      }
    }
  }
  if (sigma > 0) {
    for (let i = 0; i < out.length; i++) out[i] = clamp01(out[i] + sigma * rng.normal());
  } else {
    for (let i = 0; i < out.length; i++) out[i] = clamp01(out[i]);
  }
  return out;
}

/** Grey-level dilation (max) or erosion (min) over the 3x3 cross, per channel, edges clamped. */
function crossFilter(x: Float32Array, c: number, h: number, w: number, dilate: boolean): Float32Array {
  const out = new Float32Array(x.length);
  const pick = dilate ? Math.max : Math.min;
  for (let k = 0; k < c; k++) {
    const b = k * h * w;
    const at = (yy: number, ii: number) => x[b + Math.min(h - 1, Math.max(0, yy)) * w + Math.min(w - 1, Math.max(0, ii))];
    for (let y = 0; y < h; y++) {
      for (let i = 0; i < w; i++) {
        out[b + y * w + i] = pick(at(y, i), at(y - 1, i), at(y + 1, i), at(y, i - 1), at(y, i + 1));
      }
    }
  }
  return out;
}

function blend(a: Float32Array, b: Float32Array, t: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] + t * (b[i] - a[i]);
  return out;
}

/** Elastic displacement field (source pixels per output pixel): alpha * (Gaussian blur of U(-1, 1) draws), edges clamped. */
function elasticField(h: number, w: number, alpha: number, sigma: number, rng: Rng): { dx: Float32Array; dy: Float32Array } {
  const smooth = (): Float32Array => {
    const raw = new Float64Array(h * w);
    for (let i = 0; i < raw.length; i++) raw[i] = rng.range(-1, 1);
    return Float32Array.from(gaussianBlur(raw, h, w, sigma, 'clamp'), (v) => alpha * v);
  };
  const dx = smooth();
  return { dx, dy: smooth() };
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}
