// Image decoding (sharp) into RGB bytes the way PIL's convert('RGB') sees them, loading with preprocessing,
// and PNG writing.
import { readFile } from 'node:fs/promises';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { PreprocessConfig, preprocessPixels, rgbToGray } from './preprocess.js';

const FORMATS = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

/**
 * Decodes an image file to interleaved RGB uint8 (HWC). Grayscale is replicated to RGB; an alpha channel is
 * dropped, not composited (as PIL's convert('RGB') does); GIFs and multi-page TIFFs give their first frame.
 * The EXIF orientation is ignored and no colour profile is applied; CMYK converts with Pillow's formula.
 */
export async function decodeImage(path: string): Promise<{ data: Uint8Array; width: number; height: number; channels: 3 }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read image (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message})`);
  }
  if (bytes.length === 0) throw new Error(`${path}: empty file, not an image`);
  let format: string | undefined;
  let space: string | undefined;
  try {
    ({ format, space } = await sharp(bytes).metadata());
  } catch (e) {
    throw new Error(`${path}: not a supported image (JPEG, PNG, WebP, GIF, TIFF): ${shortMessage(e)}`);
  }
  if (!format || !FORMATS.includes(format)) {
    throw new Error(`${path}: not a supported image format (${format ?? 'unknown'}; expected JPEG, PNG, WebP, GIF, TIFF)`);
  }
  try {
    if (space === 'cmyk') return await decodeCmyk(bytes);
    const { data, info } = await sharp(bytes, { failOn: 'error', pages: 1, page: 0 })
      .keepIccProfile() // no colour-profile transform of the pixel values (PIL ignores profiles too)
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (e) {
    throw new Error(`${path}: corrupt or truncated ${format.toUpperCase()} image: ${shortMessage(e)}`);
  }
}

/** CMYK (e.g. some JPEGs): read the raw CMYK values and convert them as Pillow does, not through a profile. */
async function decodeCmyk(bytes: Buffer): Promise<{ data: Uint8Array; width: number; height: number; channels: 3 }> {
  const { data, info } = await sharp(bytes, { failOn: 'error', pages: 1, page: 0 })
    .pipelineColourspace('cmyk')
    .toColourspace('cmyk')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const ch = info.channels;
  if (ch < 4) throw new Error(`CMYK image decoded to ${ch} channels`);
  const out = new Uint8Array(n * 3);
  const mulDiv255 = (a: number, b: number) => {
    const t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  for (let i = 0; i < n; i++) {
    const nk = 255 - data[i * ch + 3];
    for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.max(0, nk - mulDiv255(data[i * ch + c], nk));
  }
  return { data: out, width: info.width, height: info.height, channels: 3 };
}

/**
 * Loads an image as CHW float32: decode to RGB, then `cfg` (resize, centre crop, rescale, normalise).
 * `channels: 1` converts to grayscale first (PIL's convert('L') weights); mean/std then need 1 value.
 */
export async function loadImage(path: string, cfg: PreprocessConfig, opts: { channels?: 1 | 3 } = {}): Promise<Float32Array> {
  const img = await decodeImage(path);
  const channels = opts.channels ?? 3;
  const pixels =
    channels === 1 ? { data: rgbToGray(img.data, img.width * img.height), width: img.width, height: img.height, channels: 1 } : img;
  try {
    return (await preprocessPixels(pixels, cfg)).data;
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

/**
 * Writes CHW float32 (1 or 3 channels, or 4 with alpha) as an 8-bit PNG: values map linearly from `range`
 * (default [0, 1]) to 0..255, clamped and rounded. Creates the folder.
 */
export async function writePng(
  path: string,
  chw: Float32Array,
  channels: number,
  height: number,
  width: number,
  range: [number, number] = [0, 1],
): Promise<void> {
  if (![1, 3, 4].includes(channels)) throw new Error(`${path}: cannot write a PNG with ${channels} channels (1, 3 or 4)`);
  const hw = height * width;
  if (chw.length !== channels * hw) throw new Error(`${path}: ${chw.length} values do not make ${channels}x${height}x${width}`);
  const [lo, hi] = range;
  if (!(hi > lo)) throw new Error(`${path}: bad value range [${lo}, ${hi}]`);
  const scale = 255 / (hi - lo);
  const hwc = Buffer.alloc(channels * hw);
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < hw; i++) {
      const v = Math.round((chw[c * hw + i] - lo) * scale);
      hwc[i * channels + c] = v < 0 ? 0 : v > 255 ? 255 : v || 0;
    }
  }
  mkdirSync(dirname(path), { recursive: true });
  try {
    await sharp(hwc, { raw: { width, height, channels: channels as 1 | 3 | 4 } })
      .png({ compressionLevel: 6 })
      .toFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot write PNG (${shortMessage(e)})`);
  }
}

function shortMessage(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0].trim();
}
