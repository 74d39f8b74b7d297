import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import sharp from 'sharp';
import { augment, augmentNormalized, randomResizedCropBox } from '../src/data/augment.js';
import { listImages } from '../src/data/folders.js';
import { decodeImage, loadImage, writePng } from '../src/data/images.js';
import {
  CLIP_MEAN,
  CLIP_STD,
  centerCropU8,
  IMAGENET_MEAN,
  IMAGENET_STD,
  PreprocessConfig,
  preprocessConfigFor,
  resizeOutputSize,
  resizePil,
} from '../src/data/preprocess.js';
import { Rng } from '../src/data/random.js';

const tmp = mkdtempSync(join(tmpdir(), 'jepa-images-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A 4-colour RGB test pattern (few colours, so GIF's palette keeps it exact). */
function pattern(w: number, h: number): Buffer {
  const colours = [
    [250, 20, 30],
    [10, 200, 40],
    [5, 15, 220],
    [128, 128, 128],
  ];
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) b.set(colours[(Math.floor(x / 3) + y) % 4], (y * w + x) * 3);
  return b;
}

test('each format decodes to the same RGB pixels (JPEG within its loss)', async () => {
  const w = 13, h = 9;
  const raw = pattern(w, h);
  const src = () => sharp(raw, { raw: { width: w, height: h, channels: 3 } });
  const cases: [string, Promise<Buffer>, number][] = [
    ['a.png', src().png().toBuffer(), 0],
    ['a.webp', src().webp({ lossless: true }).toBuffer(), 0],
    ['a.gif', src().gif().toBuffer(), 0],
    ['a.tif', src().tiff({ compression: 'none' }).toBuffer(), 0],
    ['a.TIFF', src().tiff({ compression: 'lzw' }).toBuffer(), 0],
    ['a.jpg', src().jpeg({ quality: 100, chromaSubsampling: '4:4:4' }).toBuffer(), 40],
  ];
  for (const [name, buf, tol] of cases) {
    const p = join(tmp, name);
    writeFileSync(p, await buf);
    const img = await decodeImage(p);
    assert.equal(img.width, w, name);
    assert.equal(img.height, h, name);
    assert.equal(img.channels, 3);
    assert.equal(img.data.length, w * h * 3);
    let max = 0;
    for (let i = 0; i < raw.length; i++) max = Math.max(max, Math.abs(img.data[i] - raw[i]));
    assert.ok(max <= tol, `${name}: max diff ${max}`);
  }
});

test('grayscale becomes RGB; alpha is dropped, not composited (as PIL convert("RGB")); GIF gives frame 0', async () => {
  const gray = Buffer.from([0, 50, 100, 150, 200, 255]);
  const pg = join(tmp, 'gray.png');
  await sharp(gray, { raw: { width: 3, height: 2, channels: 1 } }).png().toFile(pg);
  const g = await decodeImage(pg);
  assert.deepEqual([...g.data], [...gray].flatMap((v) => [v, v, v]));
  // RGBA with transparent and half-transparent pixels: the stored colours come back unchanged
  // (not WebP here: sharp's WebP encoder zeroes the colour of fully transparent pixels)
  const rgba = Buffer.from([200, 10, 30, 0, 40, 180, 90, 128, 7, 8, 9, 255, 255, 255, 255, 1]);
  for (const [name, enc] of [
    ['rgba.png', (s: sharp.Sharp) => s.png()],
    ['rgba.tif', (s: sharp.Sharp) => s.tiff({ compression: 'deflate' })],
  ] as const) {
    const p = join(tmp, name);
    await enc(sharp(rgba, { raw: { width: 2, height: 2, channels: 4 } })).toFile(p);
    const d = await decodeImage(p);
    assert.deepEqual([...d.data], [200, 10, 30, 40, 180, 90, 7, 8, 9, 255, 255, 255], name);
  }
  // gray + alpha
  const pla = join(tmp, 'la.png');
  await sharp(Buffer.from([60, 0, 120, 255]), { raw: { width: 2, height: 1, channels: 2 } }).png().toFile(pla);
  assert.deepEqual([...(await decodeImage(pla)).data], [60, 60, 60, 120, 120, 120]);
  // animated GIF: red frame then blue frame
  const red = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toBuffer();
  const blue = await sharp({ create: { width: 8, height: 6, channels: 3, background: { r: 0, g: 0, b: 255 } } }).png().toBuffer();
  const pgif = join(tmp, 'anim.gif');
  await sharp([red, blue], { join: { animated: true } }).gif().toFile(pgif);
  assert.equal((await sharp(pgif).metadata()).pages, 2);
  const f = await decodeImage(pgif);
  assert.equal(f.height, 6);
  assert.deepEqual([...f.data.subarray(0, 6)], [255, 0, 0, 255, 0, 0]);
});

test('corrupt, truncated, empty, missing and non-image files: errors naming the file', async () => {
  const good = await sharp(pattern(40, 30), { raw: { width: 40, height: 30, channels: 3 } }).jpeg().toBuffer();
  const png = await sharp(pattern(40, 30), { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer();
  const cases: [string, Buffer, RegExp][] = [
    ['text.png', Buffer.from('hello, not an image'), /text\.png: not a supported image/],
    ['empty.jpg', Buffer.alloc(0), /empty\.jpg: empty file/],
    ['cut.jpg', good.subarray(0, good.length / 2), /cut\.jpg: (corrupt or truncated JPEG image|not a supported image)/],
    ['cut.png', png.subarray(0, png.length - 40), /cut\.png: (corrupt or truncated PNG image|not a supported image)/],
    ['head.png', png.subarray(0, 30), /head\.png: (corrupt or truncated PNG image|not a supported image)/],
    ['fake.gif', Buffer.from('GIF89a\x01\x00\x01\x00garbage'), /fake\.gif: /],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    await assert.rejects(decodeImage(p), re, name);
  }
  await assert.rejects(decodeImage(join(tmp, 'nope.png')), /nope\.png: cannot read image \(no such file\)/);
  const cfg = preprocessConfigFor(undefined, 'dinov2');
  await assert.rejects(loadImage(join(tmp, 'text.png'), cfg), /text\.png: not a supported image/);
});

test('preprocessing a constant colour gives exactly (v/255 - mean)/std in float32, at the HF output size', async () => {
  const p = join(tmp, 'const.png');
  await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 37, g: 128, b: 251 } } }).png().toFile(p);
  for (const [family, mean, std] of [
    ['dinov2', IMAGENET_MEAN, IMAGENET_STD],
    ['clip_vision_model', CLIP_MEAN, CLIP_STD],
  ] as const) {
    const cfg = preprocessConfigFor(undefined, family);
    const x = await loadImage(p, cfg);
    assert.equal(x.length, 3 * 224 * 224);
    const v = [37, 128, 251];
    for (let c = 0; c < 3; c++) {
      const want = Math.fround(Math.fround(Math.fround(v[c] * (1 / 255)) - Math.fround(mean[c])) / Math.fround(std[c]));
      for (let i = c * 224 * 224; i < (c + 1) * 224 * 224; i++) assert.equal(x[i], want);
    }
  }
  // grayscale output: PIL's L = (37*19595 + 128*38470 + 251*7471 + 32768) >> 16 = 115
  const g = await loadImage(p, { resample: 'bilinear', mean: [0.5], std: [0.25], rescale: 1 / 255, convertRgb: true, resize: { height: 10, width: 12 } }, { channels: 1 });
  assert.equal(g.length, 120);
  assert.equal(g[57], Math.fround(Math.fround(Math.fround(115 / 255) - 0.5) / 0.25));
});

test('HF rules: shortest-edge size, centre crop offsets and padding', () => {
  assert.deepEqual(resizeOutputSize(480, 640, { shortestEdge: 256 }), [256, 341]);
  assert.deepEqual(resizeOutputSize(500, 333, { shortestEdge: 256 }), [384, 256]);
  assert.deepEqual(resizeOutputSize(100, 100, { shortestEdge: 224 }), [224, 224]);
  // 1-channel 5x4 image with value 10*y + x; crop 3x2 starts at top floor(2/2)=1, left floor(2/2)=1
  const img = Uint8Array.from({ length: 20 }, (_, i) => 10 * Math.floor(i / 4) + (i % 4));
  assert.deepEqual([...centerCropU8(img, 5, 4, 1, 3, 2)], [11, 12, 21, 22, 31, 32]);
  // crop 2x3 of odd differences: top floor(3/2)=1, left floor(1/2)=0
  assert.deepEqual([...centerCropU8(img, 5, 4, 1, 2, 3)], [10, 11, 12, 20, 21, 22]);
  // larger than the image: centred on zeros, the extra row/column going first (ceil)
  const small = Uint8Array.from([1, 2, 3, 4]);
  assert.deepEqual([...centerCropU8(small, 2, 2, 1, 3, 3)], [0, 0, 0, 0, 1, 2, 0, 3, 4]);
});

test('resizePil matches Pillow 9.4 output (values recorded from PIL Image.resize)', () => {
  // the recorded image: 7x5 RGB with value (53x + 97y + 31c + 13xy) mod 256
  const W = 7, H = 5;
  const src = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) src[(y * W + x) * 3 + c] = (x * 53 + y * 97 + c * 31 + x * y * 13) % 256;
  const pil: Record<string, [number, number, number[]]> = {
    'bilinear 3x2': [3, 2, [105, 113, 121, 135, 127, 136, 136, 112, 126, 129, 122, 110, 136, 140, 147, 157, 98, 129]],
    'bicubic 3x2': [3, 2, [98, 111, 120, 140, 128, 135, 133, 114, 126, 131, 124, 109, 136, 143, 148, 160, 95, 131]],
    'nearest 3x2': [3, 2, [163, 194, 225, 39, 70, 101, 171, 202, 233, 127, 158, 189, 55, 86, 117, 239, 14, 45]],
    'bilinear 4x9': [4, 9, [
      28, 59, 90, 110, 141, 172, 157, 188, 85, 46, 77, 96, 63, 89, 120, 128, 114, 145, 138, 169, 111, 98, 84, 107, 120, 140, 171,
      157, 69, 100, 106, 137, 153, 185, 97, 126, 124, 147, 119, 136, 92, 123, 143, 115, 146, 169, 120, 151, 113, 144, 41, 102, 133,
      164, 196, 94, 125, 127, 146, 177, 96, 127, 92, 131, 162, 120, 165, 108, 139, 139, 104, 135, 93, 112, 132, 154, 179, 92, 136,
      121, 152, 154, 72, 103, 144, 102, 129, 149, 145, 132, 115, 129, 160, 180, 85, 116, 175, 96, 127, 146, 125, 156, 103, 134, 165,
      195, 92, 123]],
    'bicubic 4x9': [4, 9, [
      12, 43, 74, 112, 155, 191, 171, 201, 77, 24, 66, 90, 53, 81, 117, 131, 118, 152, 140, 180, 108, 89, 76, 102, 125, 149, 187,
      163, 56, 87, 90, 141, 160, 201, 96, 126, 133, 159, 122, 136, 78, 121, 137, 111, 151, 183, 126, 158, 111, 142, 32, 99, 134,
      175, 204, 93, 124, 122, 146, 177, 87, 126, 84, 128, 177, 121, 176, 103, 137, 132, 102, 133, 88, 110, 139, 158, 190, 83, 133,
      120, 156, 158, 65, 96, 150, 95, 129, 152, 147, 133, 106, 137, 169, 187, 79, 110, 185, 88, 120, 147, 121, 163, 92, 145, 176,
      202, 90, 121]],
  };
  for (const [key, [w, h, want]] of Object.entries(pil)) {
    const resample = key.split(' ')[0] as 'bilinear' | 'bicubic' | 'nearest';
    assert.deepEqual([...resizePil(src, H, W, 3, h, w, resample)], want, key);
  }
});

test('resizePil bilinear by hand: 4 -> 2 weighs 1,3,3,1 (renormalised at the edges); constants stay constant', () => {
  const row = Uint8Array.from([0, 80, 160, 240]);
  // output 0 centre at 1.0 (pixel units): taps at -0.5.. -> pixels 0,1,2 weights 3,3,1 (/7); output 1: 1,3,3 (/7)
  const out = resizePil(row, 1, 4, 1, 1, 2, 'bilinear');
  assert.deepEqual([...out], [Math.round((3 * 0 + 3 * 80 + 160) / 7), Math.round((80 + 3 * 160 + 3 * 240) / 7)]);
  const c = new Uint8Array(17 * 23).fill(77);
  for (const r of ['bilinear', 'bicubic', 'nearest'] as const) {
    for (const [h, w] of [[5, 7], [40, 31]]) assert.ok(resizePil(c, 17, 23, 1, h, w, r).every((v) => v === 77), r);
  }
});

test('preprocessor_config.json: HF keys, family defaults, size override, bad files', () => {
  const dir = join(tmp, 'model');
  mkdirSync(dir, { recursive: true });
  const dino = preprocessConfigFor(undefined, 'ijepa');
  assert.deepEqual(dino, {
    resize: { shortestEdge: 256 },
    resample: 'bicubic',
    centerCrop: { height: 224, width: 224 },
    rescale: 1 / 255,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    convertRgb: true,
  });
  const small = preprocessConfigFor(undefined, 'dinov2', { size: 56 });
  assert.deepEqual(small.resize, { shortestEdge: 64 });
  assert.deepEqual(small.centerCrop, { height: 56, width: 56 });
  writeFileSync(
    join(dir, 'preprocessor_config.json'),
    JSON.stringify({
      crop_size: 32,
      do_center_crop: true,
      do_normalize: true,
      do_resize: true,
      image_mean: [0.1, 0.2, 0.3],
      image_std: [0.5, 0.6, 0.7],
      resample: 2,
      rescale_factor: 0.5,
      size: 40,
      image_processor_type: 'CLIPImageProcessor',
    }),
  );
  const cfg: PreprocessConfig = preprocessConfigFor(dir, 'clip_vision_model');
  assert.deepEqual(cfg, {
    resize: { shortestEdge: 40 },
    resample: 'bilinear',
    centerCrop: { height: 32, width: 32 },
    rescale: 0.5,
    mean: [0.1, 0.2, 0.3],
    std: [0.5, 0.6, 0.7],
    convertRgb: true,
  });
  writeFileSync(join(dir, 'preprocessor_config.json'), JSON.stringify({ size: { height: 30, width: 20 }, do_center_crop: false, do_rescale: false, do_normalize: false }));
  assert.deepEqual(preprocessConfigFor(dir, 'dinov2'), { resize: { height: 30, width: 20 }, resample: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1], convertRgb: true });
  const bad: [unknown, RegExp][] = [
    ['{not json', /preprocessor_config\.json: cannot read preprocessor config/],
    [{ resample: 1 }, /preprocessor_config\.json: resample 1 \(lanczos\) is not supported/],
    [{ size: { longest_edge: 3 } }, /preprocessor_config\.json: unsupported 'size'/],
    [{ image_mean: [0.5, 0.5] }, /preprocessor_config\.json: 'image_mean' must be 3 numbers/],
    [{ crop_size: -4 }, /preprocessor_config\.json: 'crop_size' must be a positive number/],
  ];
  for (const [content, re] of bad) {
    writeFileSync(join(dir, 'preprocessor_config.json'), typeof content === 'string' ? content : JSON.stringify(content));
    assert.throws(() => preprocessConfigFor(dir, 'dinov2'), re);
  }
  assert.throws(() => preprocessConfigFor(undefined, 'resnet'), /no default preprocessing for model family 'resnet'/);
});

test('writePng: range mapping, clamping, round trip', async () => {
  const p = join(tmp, 'out', 'x.png');
  const chw = Float32Array.from([-1, 0, 1, 2, -0.5, 0.5]); // 1 x 2 x 3, range [-1, 1]
  await writePng(p, chw, 1, 2, 3, [-1, 1]);
  const d = await decodeImage(p);
  assert.deepEqual([...d.data].filter((_, i) => i % 3 === 0), [0, 128, 255, 255, 64, 191]);
  await assert.rejects(writePng(p, chw, 2, 1, 3), /x\.png: cannot write a PNG with 2 channels/);
  await assert.rejects(writePng(p, chw, 3, 2, 3), /x\.png: 6 values do not make 3x2x3/);
});

test('listImages: files and folders, sorted, class-per-folder rule, missing paths', () => {
  const root = join(tmp, 'list');
  const byClass = join(root, 'byclass');
  const mixed = join(root, 'mixed');
  for (const f of ['cat/b.PNG', 'cat/a.jpg', 'dog/z.webp', 'dog/.hidden.png', 'dog/notes.txt', 'Ant/x.JPEG']) {
    mkdirSync(join(byClass, f, '..'), { recursive: true });
    writeFileSync(join(byClass, f), 'x');
  }
  for (const f of ['top.png', 'sub/a.gif', 'sub/deeper/b.tif']) {
    mkdirSync(join(mixed, f, '..'), { recursive: true });
    writeFileSync(join(mixed, f), 'x');
  }
  assert.deepEqual(listImages([byClass]), [
    { path: join(byClass, 'Ant/x.JPEG'), class: 'Ant' },
    { path: join(byClass, 'cat/a.jpg'), class: 'cat' },
    { path: join(byClass, 'cat/b.PNG'), class: 'cat' },
    { path: join(byClass, 'dog/z.webp'), class: 'dog' },
  ]);
  // images at the top level or deeper than one sub-folder: no classes
  assert.deepEqual(listImages([mixed]), [{ path: join(mixed, 'sub/a.gif') }, { path: join(mixed, 'sub/deeper/b.tif') }, { path: join(mixed, 'top.png') }]);
  // files as given, in order, duplicates dropped
  const f = join(mixed, 'top.png');
  assert.deepEqual(listImages([f, join(byClass, 'cat/a.jpg'), f]), [{ path: f }, { path: join(byClass, 'cat/a.jpg') }]);
  assert.throws(() => listImages([join(root, 'missing'), f, join(root, 'gone.png')]), /missing, .*gone\.png: no such file or folder/);
  assert.throws(() => listImages([join(byClass, 'dog/notes.txt')]), /notes\.txt: not an image file name/);
});

test('augment: same seed same output, shapes kept, presets differ', () => {
  const img = new Float32Array(784).map((_, i) => ((i * 7919) % 256) / 255);
  const rgb = new Float32Array(3 * 32 * 40).map((_, i) => ((i * 104729) % 256) / 255);
  for (const [x, c, h, w, preset] of [
    [img, 1, 28, 28, 'digits'],
    [rgb, 3, 32, 40, 'dinov2'],
    [img, 1, 28, 28, 'dinov2'],
  ] as const) {
    const a = augment(x, c, h, w, preset, new Rng(11));
    const b = augment(x, c, h, w, preset, new Rng(11));
    const d = augment(x, c, h, w, preset, new Rng(12));
    assert.equal(a.length, x.length);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, d);
    assert.ok(a.every((v) => v >= 0 && v <= 1), preset);
  }
  assert.deepEqual(augment(img, 1, 28, 28, 'none', new Rng(1)), img);
  assert.throws(() => augment(img, 1, 28, 27, 'digits', new Rng(1)), /784 values do not make 1x28x27/);
});

test('augment dinov2 pieces: a full crop with flip is an exact mirror; brightness alone scales every pixel', () => {
  const c = 3, h = 6, w = 5, hw = h * w;
  const x = new Float32Array(c * hw).map((_, i) => 0.1 + ((i * 37) % 50) / 100);
  const flipped = augment(x, c, h, w, 'dinov2', new Rng(3), { scale: [1, 1], ratio: [5 / 6, 5 / 6], flipP: 1, jitterP: 0 });
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let i = 0; i < w; i++) assert.ok(Math.abs(flipped[k * hw + y * w + i] - x[k * hw + y * w + (w - 1 - i)]) < 1e-6);
  const bright = augment(x, c, h, w, 'dinov2', new Rng(4), { scale: [1, 1], ratio: [5 / 6, 5 / 6], flipP: 0, jitterP: 1, contrast: 0, saturation: 0 });
  const f = bright[0] / x[0];
  assert.ok(f >= 0.6 && f <= 1.4 && Math.abs(f - 1) > 1e-3, `factor ${f}`);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(bright[i] - Math.min(1, x[i] * f)) < 1e-6);
  // saturation 0 strength on gray pixels and contrast on a constant image change nothing
  const grayConst = new Float32Array(c * hw).fill(0.3);
  const same = augment(grayConst, c, h, w, 'dinov2', new Rng(5), { scale: [1, 1], ratio: [5 / 6, 5 / 6], jitterP: 1, brightness: 0 });
  assert.ok(same.every((v) => Math.abs(v - 0.3) < 1e-6));
  // rates over many draws: flip p=0.5, jitter p=0.8
  const rng = new Rng(9);
  let flips = 0, jitters = 0;
  const n = 2000;
  const asym = new Float32Array(c * hw).map((_, i) => ((i % w) + 1) / 10);
  for (let t = 0; t < n; t++) {
    const y = augment(asym, c, h, w, 'dinov2', rng, { scale: [1, 1], ratio: [5 / 6, 5 / 6], jitterP: 0 });
    if (y[0] > y[w - 1]) flips++;
    const z = augment(asym, c, h, w, 'dinov2', rng, { scale: [1, 1], ratio: [5 / 6, 5 / 6], flipP: 0 });
    if (Math.abs(z[0] - asym[0]) > 1e-6) jitters++;
  }
  // binomial standard errors: 0.011 and 0.009
  assert.ok(Math.abs(flips / n - 0.5) < 0.04, `flip rate ${flips / n}`);
  assert.ok(Math.abs(jitters / n - 0.8) < 0.04, `jitter rate ${jitters / n}`);
});

test('augment digits pieces: no-op settings are the identity; noise has sigma 0.05; crops stay in bounds', () => {
  const img = new Float32Array(784).map((_, i) => ((i * 31) % 200) / 255);
  const id = augment(img, 1, 28, 28, 'digits', new Rng(1), { scale: [1, 1], ratio: [1, 1], maxShift: 0, maxRotation: 0, noise: 0 });
  for (let i = 0; i < 784; i++) assert.ok(Math.abs(id[i] - img[i]) < 1e-5);
  const half = new Float32Array(784).fill(0.5);
  const rng = new Rng(2);
  let s = 0, s2 = 0, n = 0;
  for (let t = 0; t < 20; t++) {
    const y = augment(half, 1, 28, 28, 'digits', rng, { scale: [1, 1], ratio: [1, 1], maxShift: 0, maxRotation: 0 });
    for (const v of y) {
      s += v - 0.5;
      s2 += (v - 0.5) ** 2;
      n++;
    }
  }
  const sd = Math.sqrt(s2 / n - (s / n) ** 2);
  assert.ok(Math.abs(sd - 0.05) < 0.002, `noise sd ${sd}`);
  // a shift of a centred blob moves its centre of mass by at most 3 px (rotation about the centre keeps it)
  const blob = new Float32Array(784);
  for (let y = 10; y < 18; y++) for (let x = 10; x < 18; x++) blob[y * 28 + x] = 1;
  for (let t = 0; t < 50; t++) {
    const y = augment(blob, 1, 28, 28, 'digits', rng, { scale: [1, 1], ratio: [1, 1], noise: 0 });
    let m = 0, mx = 0, my = 0;
    for (let i = 0; i < 784; i++) {
      m += y[i];
      mx += y[i] * (i % 28);
      my += y[i] * Math.floor(i / 28);
    }
    assert.ok(Math.hypot(mx / m - 13.5, my / m - 13.5) <= 3 * Math.SQRT2 + 1e-3);
    assert.ok(Math.abs(m - 64) < 1.5, `mass ${m}`); // rotation and sub-pixel shifts keep the mass
  }
  for (let t = 0; t < 200; t++) {
    const b = randomResizedCropBox(28, 28, [0.6, 1], [3 / 4, 4 / 3], rng);
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 28 && b.left + b.width <= 28);
    assert.ok(b.height * b.width >= 0.6 * 784 * 0.9 && b.height * b.width <= 784);
  }
});

test('augment digits elastic: displacements have the closed-form size; stroke: each pixel between erosion and dilation', () => {
  const still = { scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number], maxShift: 0, maxRotation: 0, noise: 0 };
  // on a horizontal ramp x / 27 the output minus the input is the horizontal displacement / 27 (inside the image)
  const ramp = new Float32Array(784).map((_, i) => (i % 28) / 27);
  const alpha = 20;
  const rng = new Rng(7);
  let s2 = 0, n = 0;
  for (let t = 0; t < 200; t++) {
    const y = augment(ramp, 1, 28, 28, 'digits', rng, { ...still, elastic: alpha });
    for (let r = 4; r < 24; r++) for (let c = 4; c < 24; c++) {
      const d = 27 * y[r * 28 + c] - c;
      s2 += d * d;
      n++;
    }
  }
  // U(-1, 1) has variance 1/3; a normalised Gaussian of sigma 4 keeps sum k^2 = 1 / (2 sqrt(pi) 4) per axis
  let k2 = 0, k1 = 0;
  for (let j = -12; j <= 12; j++) k1 += Math.exp(-(j * j) / 32);
  for (let j = -12; j <= 12; j++) k2 += (Math.exp(-(j * j) / 32) / k1) ** 2;
  const expected = alpha * Math.sqrt(1 / 3) * k2;
  const rms = Math.sqrt(s2 / n);
  assert.ok(Math.abs(rms / expected - 1) < 0.15, `rms displacement ${rms}, expected ${expected}`);
  // off by default: the random stream is untouched, so the output equals the one without the option
  const img = new Float32Array(784).map((_, i) => ((i * 31) % 200) / 255);
  assert.deepEqual(augment(img, 1, 28, 28, 'digits', new Rng(3), { elastic: 0, stroke: 0 }), augment(img, 1, 28, 28, 'digits', new Rng(3)));
  // stroke: a blend towards the 3x3-cross max or min
  const at = (x: Float32Array, r: number, c: number) => x[Math.min(27, Math.max(0, r)) * 28 + Math.min(27, Math.max(0, c))];
  const cross = (x: Float32Array, r: number, c: number) => [at(x, r, c), at(x, r - 1, c), at(x, r + 1, c), at(x, r, c - 1), at(x, r, c + 1)];
  let thicker = 0, thinner = 0;
  for (let t = 0; t < 40; t++) {
    const y = augment(img, 1, 28, 28, 'digits', rng, { ...still, stroke: 1 });
    let dm = 0;
    for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) {
      const v = cross(img, r, c);
      const i = r * 28 + c;
      assert.ok(y[i] >= Math.min(...v) - 1e-5 && y[i] <= Math.max(...v) + 1e-5);
      dm += y[i] - img[i];
    }
    if (dm > 0) thicker++;
    else if (dm < 0) thinner++;
  }
  assert.ok(thicker > 5 && thinner > 5, `thicker ${thicker}, thinner ${thinner}`);
});

test('augmentNormalized: un-normalises, augments, normalises back', () => {
  const mean = [0.485, 0.456, 0.406], std = [0.229, 0.224, 0.225];
  const hw = 16;
  const pixels = new Float32Array(3 * hw).map((_, i) => (i % 11) / 10);
  const norm = pixels.map((v, i) => (v - mean[Math.floor(i / hw)]) / std[Math.floor(i / hw)]);
  const opts = { scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number], flipP: 1, jitterP: 0 };
  const a = augmentNormalized(norm, 3, 4, 4, 'dinov2', new Rng(1), mean, std, opts);
  const b = augment(pixels, 3, 4, 4, 'dinov2', new Rng(1), opts);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - (b[i] - mean[Math.floor(i / hw)]) / std[Math.floor(i / hw)]) < 1e-5);
});
