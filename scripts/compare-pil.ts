// One-off comparison of our decoding and resizing with Pillow (the library HF image processors use).
// Needs Debian's python3-pil (`apt-get install -y python3-pil`, run with /usr/bin/python3); not a test dependency.
//   node --import tsx scripts/compare-pil.ts > /tmp/compare.md
// 1. decoding: decodeImage vs PIL's Image.open(..).convert('RGB'), per format (incl. alpha, palette, grayscale);
// 2. resize + centre crop (HF's rule) with our Pillow re-implementation and with sharp, vs Pillow.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeImage } from '../src/data/images.js';
import { centerCropU8, Resample, resizeOutputSize, resizeU8, ResizeEngine } from '../src/data/preprocess.js';
import { loadDataset } from '../src/data/datasets.js';
import { Rng } from '../src/data/random.js';

const dir = mkdtempSync(join(tmpdir(), 'compare-pil-'));
const python = process.env.PYTHON ?? '/usr/bin/python3';

/** A synthetic "photo": gradients, shapes and text, blurred a little, plus pixel noise. */
async function scene(w: number, h: number, seed: number): Promise<Buffer> {
  const rng = new Rng(seed);
  const col = () => `rgb(${rng.int(256)},${rng.int(256)},${rng.int(256)})`;
  let shapes = '';
  for (let i = 0; i < 25; i++) {
    shapes += `<circle cx="${rng.int(w)}" cy="${rng.int(h)}" r="${5 + rng.int(w / 6)}" fill="${col()}" fill-opacity="0.7"/>`;
    shapes += `<rect x="${rng.int(w)}" y="${rng.int(h)}" width="${5 + rng.int(w / 4)}" height="${3 + rng.int(h / 8)}" fill="${col()}"/>`;
  }
  shapes += `<text x="${w / 10}" y="${h / 2}" font-family="DejaVu Sans" font-size="${h / 6}" fill="${col()}">Jepa 123</text>`;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><defs><linearGradient id="g"><stop offset="0" stop-color="${col()}"/><stop offset="1" stop-color="${col()}"/></linearGradient></defs><rect width="${w}" height="${h}" fill="url(#g)"/>${shapes}</svg>`;
  const raw = await sharp(Buffer.from(svg)).removeAlpha().blur(0.6).raw().toBuffer();
  for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, raw[i] + Math.round(rng.normal() * 6)));
  return sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
}

interface Job {
  id: string;
  file: string;
  resample?: number;
  shortest?: number;
  crop?: number;
  out: string;
}

function runPil(jobs: Job[]): void {
  const spec = join(dir, 'jobs.json');
  writeFileSync(spec, JSON.stringify(jobs));
  const code = `
import json, sys
from PIL import Image
for j in json.load(open(sys.argv[1])):
    im = Image.open(j['file']).convert('RGB')
    if j.get('shortest'):
        w, h = im.size
        s = j['shortest']
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(s * long / short)
        size = (s, new_long) if w <= h else (new_long, s)
        im = im.resize(size, resample=j['resample'], reducing_gap=None)
        c = j['crop']
        w, h = im.size
        top, left = (h - c) // 2, (w - c) // 2
        im = im.crop((left, top, left + c, top + c))
    open(j['out'], 'wb').write(im.tobytes())
`;
  execFileSync(python, ['-c', code, spec], { stdio: ['ignore', 'inherit', 'inherit'] });
}

function stats(a: Uint8Array, b: Uint8Array): { max: number; mean: number; differ: number } {
  if (a.length !== b.length) throw new Error(`sizes differ: ${a.length} vs ${b.length}`);
  let max = 0, sum = 0, differ = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > max) max = d;
    sum += d;
    if (d) differ++;
  }
  return { max, mean: sum / a.length, differ: differ / a.length };
}

const fmt = (s: { max: number; mean: number; differ: number }) => `${s.max} | ${s.mean.toFixed(4)} | ${(100 * s.differ).toFixed(2)}%`;

// --- 1. decoding ---------------------------------------------------------------------------------------
const base = await scene(120, 90, 1);
const rgba = await sharp(base)
  .ensureAlpha()
  .raw()
  .toBuffer({ resolveWithObject: true })
  .then(({ data, info }) => {
    for (let i = 3; i < data.length; i += 4) data[i] = (i * 37) % 256; // varied alpha, incl. 0
    return sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } });
  });
const decodeCases: [string, Promise<Buffer>][] = [
  ['png-rgb.png', sharp(base).png().toBuffer()],
  ['png-rgba.png', rgba.clone().png().toBuffer()],
  ['png-gray.png', sharp(base).greyscale().png().toBuffer()],
  ['png-gray-alpha.png', sharp(base).greyscale().ensureAlpha(0.5).png().toBuffer()],
  ['png-palette.png', sharp(base).png({ palette: true, colours: 64 }).toBuffer()],
  ['png-16bit.png', sharp(base).toColourspace('rgb16').png().toBuffer()],
  ['png-gray-16bit.png', sharp(base).toColourspace('grey16').png().toBuffer()],
  ['jpeg-q90.jpg', sharp(base).jpeg({ quality: 90 }).toBuffer()],
  ['jpeg-q75-420.jpg', sharp(base).jpeg({ quality: 75, chromaSubsampling: '4:2:0' }).toBuffer()],
  ['jpeg-gray.jpg', sharp(base).greyscale().jpeg().toBuffer()],
  ['webp-lossless.webp', sharp(base).webp({ lossless: true }).toBuffer()],
  ['webp-lossy.webp', sharp(base).webp({ quality: 80 }).toBuffer()],
  ['webp-alpha.webp', rgba.clone().webp({ lossless: true }).toBuffer()],
  ['gif.gif', sharp(base).gif().toBuffer()],
  ['tiff.tif', sharp(base).tiff().toBuffer()],
  ['tiff-rgba.tif', rgba.clone().tiff().toBuffer()],
  ['png-p3-profile.png', sharp(base).withIccProfile('p3').png().toBuffer()],
  ['jpeg-exif-orientation-6.jpg', sharp(base).withMetadata({ orientation: 6 }).jpeg().toBuffer()],
  ['jpeg-cmyk.jpg', sharp(base).toColourspace('cmyk').jpeg().toBuffer()],
];
const decodeJobs: Job[] = [];
for (const [name, buf] of decodeCases) {
  const file = join(dir, name);
  writeFileSync(file, await buf);
  decodeJobs.push({ id: name, file, out: `${file}.pil` });
}
runPil(decodeJobs);
console.log('## Decoding: decodeImage vs PIL convert(\'RGB\')\n');
console.log('| file | max abs diff | mean abs diff | pixels differing |\n|---|---|---|---|');
for (const j of decodeJobs) {
  const ours = await decodeImage(j.file);
  console.log(`| ${j.id} | ${fmt(stats(ours.data, readFileSync(j.out)))} |`);
}

// --- 2. resize + centre crop -----------------------------------------------------------------------------
const sources: [string, number, number][] = [
  ['photo 640x480', 640, 480],
  ['photo 500x375', 500, 375],
  ['photo 333x500', 333, 500],
  ['photo 1024x768', 1024, 768],
  ['photo 97x61', 97, 61],
];
const files: [string, string][] = [];
for (const [label, w, h] of sources) {
  const f = join(dir, `${w}x${h}.png`);
  writeFileSync(f, await scene(w, h, w * 7 + h));
  files.push([label, f]);
}
// MNIST digits as RGB, upscaled (the digits encoder's inputs fed to a 224 model)
const digits = await loadDataset('mnist', { limit: 3 });
for (let i = 0; i < 3; i++) {
  const f = join(dir, `digit${i}.png`);
  const u8 = Buffer.from(digits.images[i].map((v) => Math.round(v * 255)));
  await sharp(u8, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(f);
  files.push([`MNIST digit ${i} 28x28`, f]);
}
const configs: [string, Resample, number, number, number][] = [
  ['bicubic 256 -> crop 224', 'bicubic', 3, 256, 224],
  ['bilinear 256 -> crop 224', 'bilinear', 2, 256, 224],
  ['bicubic 64 -> crop 56', 'bicubic', 3, 64, 56],
  ['bilinear 64 -> crop 56', 'bilinear', 2, 64, 56],
  ['nearest 256 -> crop 224', 'nearest', 0, 256, 224],
];
const jobs: Job[] = [];
for (const [label, file] of files) {
  for (const [cl, , code, s, c] of configs) jobs.push({ id: `${label}|${cl}`, file, resample: code, shortest: s, crop: c, out: join(dir, `${jobs.length}.pil`) });
}
runPil(jobs);
const summary = new Map<string, { pil: number[]; sharp: number[]; pilMean: number[]; sharpMean: number[] }>();
console.log('\n## Resize + centre crop vs PIL (values 0-255; max | mean | share of values differing)\n');
console.log('| image | setting | ours (Pillow re-implementation) | sharp (libvips) |\n|---|---|---|---|');
for (const j of jobs) {
  const [label, cl] = j.id.split('|');
  const [, resample, , s, c] = configs.find((x) => x[0] === cl)!;
  const img = await decodeImage(j.file);
  const [h, w] = resizeOutputSize(img.height, img.width, { shortestEdge: s });
  const pil = readFileSync(j.out);
  const row: string[] = [];
  const entry = summary.get(cl) ?? { pil: [], sharp: [], pilMean: [], sharpMean: [] };
  for (const engine of ['pil', 'sharp'] as ResizeEngine[]) {
    const r = await resizeU8(img.data, img.height, img.width, 3, h, w, resample, engine);
    const st = stats(centerCropU8(r, h, w, 3, c, c), pil);
    row.push(fmt(st));
    (engine === 'pil' ? entry.pil : entry.sharp).push(st.max);
    (engine === 'pil' ? entry.pilMean : entry.sharpMean).push(st.mean);
  }
  summary.set(cl, entry);
  console.log(`| ${label} | ${cl} | ${row.join(' | ')} |`);
}
console.log('\n## Summary over all images (worst max, average mean)\n');
console.log('| setting | ours max | ours mean | sharp max | sharp mean |\n|---|---|---|---|---|');
for (const [cl, e] of summary) {
  const avg = (a: number[]) => (a.reduce((x, y) => x + y, 0) / a.length).toFixed(4);
  console.log(`| ${cl} | ${Math.max(...e.pil)} | ${avg(e.pilMean)} | ${Math.max(...e.sharp)} | ${avg(e.sharpMean)} |`);
}
rmSync(dir, { recursive: true, force: true });
