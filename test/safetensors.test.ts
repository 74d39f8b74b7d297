import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, ftruncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Tensor } from '../src/graph/tensor.js';
import { Rng } from '../src/data/random.js';
import { loadWeights, readSafetensors, readSafetensorsHeader, SafetensorsError, writeSafetensors } from '../src/data/safetensors.js';

const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const tmp = (name = 'f.safetensors') => join(dir, `${fileCounter++}-${name}`);

/** A file assembled by hand: header JSON text plus raw data bytes. */
function rawFile(headerText: string, data: Uint8Array = new Uint8Array(0), lengthOverride?: bigint): string {
  const path = tmp();
  const h = Buffer.from(headerText, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  writeFileSync(path, Buffer.concat([len, h, Buffer.from(data)]));
  return path;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Asserts that reading `path` fails with an Error that names the file and matches `re`. */
function rejects(path: string, re: RegExp): void {
  assert.throws(
    () => readSafetensors(path),
    (e: unknown) => {
      assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
      assert.ok(e.message.startsWith(path + ':'), `message does not name the file: ${e.message}`);
      assert.match(e.message, re);
      return true;
    },
  );
  assert.throws(() => readSafetensorsHeader(path), SafetensorsError);
}

describe('safetensors round trip', () => {
  test('every dtype, shapes with zero sizes and scalars, metadata', () => {
    const rng = new Rng(1);
    const f32 = Tensor.f32([3, 4], rng.normals(12));
    const f64 = Tensor.f64([2, 2, 2], rng.normals(8, true));
    const i64 = Tensor.i64([5], [0, -1, 2 ** 40, -(2 ** 50), 7]);
    const i32 = new Tensor('int32', [2], Int32Array.from([-5, 2 ** 31 - 1]));
    const u8 = new Tensor('uint8', [3], Uint8Array.from([0, 128, 255]));
    const bool = new Tensor('bool', [4], Uint8Array.from([1, 0, 0, 1]));
    const f16 = new Tensor('float16', [2], Uint16Array.from([0x3c00, 0xc000]));
    const bf16 = new Tensor('bfloat16', [2], Uint16Array.from([0x3f80, 0xc049]));
    const empty = Tensor.f32([0, 7]);
    const scalar = Tensor.f32([], [2.5]);
    const all = { f32, f64, i64, i32, u8, bool, f16, bf16, empty, scalar };
    const path = tmp();
    writeSafetensors(path, all, { format: 'pt', note: 'héllo' });
    const h = readSafetensorsHeader(path);
    assert.deepEqual(h.metadata, { format: 'pt', note: 'héllo' });
    assert.equal(h.dataStart % 8, 0);
    assert.deepEqual(h.entries.get('i64'), { dtype: 'I64', shape: [5], begin: h.entries.get('i64')!.begin, end: h.entries.get('i64')!.begin + 40 });
    const back = readSafetensors(path);
    for (const [name, t] of Object.entries(all)) {
      const r = back.get(name)!;
      assert.equal(r.dtype, t.dtype, name);
      assert.deepEqual(r.dims, t.dims, name);
      assert.deepEqual([...bytesOf(r.data)], [...bytesOf(t.data)], name);
    }
    // a Map works too and keeps order
    const path2 = tmp();
    writeSafetensors(path2, new Map([['b', f32], ['a', i64]]));
    assert.deepEqual([...readSafetensors(path2).keys()], ['b', 'a']);
  });

  test('reads the fixture files', () => {
    const m = readSafetensors('test/fixtures/dinov2-tiny/expected.safetensors');
    assert.deepEqual(m.get('pixel_values')!.dims, [2, 3, 56, 56]);
    assert.equal(m.get('embedding')!.dtype, 'float64');
    assert.equal(readSafetensorsHeader('test/fixtures/dinov2-tiny/expected.safetensors').metadata.eps, '1e-06');
  });
});

describe('16-bit floats', () => {
  // bit patterns and their exact values (IEEE half and bfloat16 definitions)
  const halfCases: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x0400, 2 ** -14], [0x3555, 0.333251953125], [0x8000, -0], [0x7c00, Infinity], [0xfc00, -Infinity],
  ];
  const bfCases: [number, number][] = [
    [0x3f80, 1], [0xc049, -3.140625], [0x7f7f, 3.3895313892515355e38], [0x0001, 2 ** -133], [0x3dcd, 0.10009765625],
    [0x8000, -0], [0x7f80, Infinity],
  ];

  test('stored F16 and BF16 decode to the exact float32 values', () => {
    const header = JSON.stringify({
      h: { dtype: 'F16', shape: [halfCases.length], data_offsets: [0, 2 * halfCases.length] },
      b: { dtype: 'BF16', shape: [bfCases.length], data_offsets: [2 * halfCases.length, 2 * (halfCases.length + bfCases.length)] },
    });
    const data = Uint16Array.from([...halfCases.map((c) => c[0]), ...bfCases.map((c) => c[0])]);
    const path = rawFile(header, bytesOf(data));
    const raw = readSafetensors(path);
    assert.equal(raw.get('h')!.dtype, 'float16');
    assert.equal(raw.get('b')!.dtype, 'bfloat16');
    const f = readSafetensors(path, { toFloat32: true });
    assert.equal(f.get('h')!.dtype, 'float32');
    assert.deepEqual([...f.get('h')!.data], halfCases.map((c) => c[1]));
    assert.deepEqual([...f.get('b')!.data], bfCases.map((c) => c[1]));
    // NaN patterns stay NaN
    const nanPath = rawFile(JSON.stringify({ n: { dtype: 'F16', shape: [1], data_offsets: [0, 2] }, m: { dtype: 'BF16', shape: [1], data_offsets: [2, 4] } }), bytesOf(Uint16Array.from([0x7e00, 0x7fc0])));
    const n = readSafetensors(nanPath, { toFloat32: true });
    assert.ok(Number.isNaN(n.get('n')!.data[0] as number) && Number.isNaN(n.get('m')!.data[0] as number));
  });

  test('writing as F16 / BF16 rounds to nearest even', () => {
    const values = [1, -2, 0.1, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 70000, 1e-8];
    const t = Tensor.f32([values.length], values);
    const p16 = tmp();
    writeSafetensors(p16, { t }, undefined, { dtype: 'F16' });
    assert.equal(readSafetensorsHeader(p16).entries.get('t')!.dtype, 'F16');
    const h = [...readSafetensors(p16, { toFloat32: true }).get('t')!.data];
    // ties go to the even mantissa; 70000 overflows to Infinity; 1e-8 underflows to 0
    assert.deepEqual(h, [1, -2, 0.0999755859375, 1, 1 + 4 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, Infinity, 0]);
    const pbf = tmp();
    writeSafetensors(pbf, { t }, undefined, { dtype: 'BF16' });
    const b = [...readSafetensors(pbf, { toFloat32: true }).get('t')!.data];
    assert.deepEqual(b, [1, -2, 0.10009765625, 1, 1, 1, 1 + 4 * 2 ** -8, 70144, Math.fround(1.0011717677116394e-8)]);
    // random values: within half an ulp
    const rng = new Rng(2);
    const r = Tensor.f32([1000], rng.normals(1000));
    const p = tmp();
    writeSafetensors(p, { r }, undefined, { dtype: 'BF16' });
    const rb = readSafetensors(p, { toFloat32: true }).get('r')!.data as Float32Array;
    for (let i = 0; i < 1000; i++) {
      const x = r.data[i] as number;
      assert.ok(Math.abs(rb[i] - x) <= Math.abs(x) * 2 ** -8, `${x} -> ${rb[i]}`);
    }
  });
});

describe('hostile and broken files', () => {
  const good = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
  const goodData = new Uint8Array(8);

  test('length field', () => {
    const short = tmp();
    writeFileSync(short, Buffer.from([1, 2, 3]));
    rejects(short, /too short/);
    rejects(rawFile('{}', new Uint8Array(0), 2n ** 63n), /runs past the end/);
    rejects(rawFile(JSON.stringify({ a: good }), goodData, 100000n), /runs past the end/);
    rejects(rawFile('{}', new Uint8Array(0), 0n), /too small/);
  });

  test('header over the size cap (sparse file)', () => {
    const path = tmp();
    const fd = openSync(path, 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(100 * 1024 * 1024 + 1));
    writeSync(fd, len);
    ftruncateSync(fd, 8 + 100 * 1024 * 1024 + 16);
    closeSync(fd);
    rejects(path, /exceeds the 104857600-byte limit/);
  });

  test('JSON', () => {
    rejects(rawFile('{"a": '), /not valid JSON/);
    rejects(rawFile('[1,2,3]'), /not an object/);
    rejects(rawFile('null'), /not an object/);
    rejects(rawFile('42'), /not an object/);
    const bad = tmp();
    const h = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(bad, Buffer.concat([len, h]));
    rejects(bad, /UTF-8/);
  });

  test('entries', () => {
    const one = (entry: unknown, data = goodData) => rawFile(JSON.stringify({ w: entry }), data);
    rejects(one(5), /'w': entry is not an object/);
    rejects(one({ ...good, dtype: 'F8_E4M3' }), /unsupported dtype 'F8_E4M3'/);
    rejects(one({ ...good, dtype: undefined }), /dtype is missing/);
    rejects(one({ ...good, shape: [-2] }), /not a non-negative integer/);
    rejects(one({ ...good, shape: [1.5] }), /not a non-negative integer/);
    rejects(one({ ...good, shape: ['2'] }), /not a non-negative integer/);
    rejects(one({ ...good, shape: 2 }), /shape is missing/);
    rejects(one({ ...good, data_offsets: [8, 0] }), /reversed/);
    rejects(one({ ...good, data_offsets: [0, 16] }), /run past the data region/);
    rejects(one({ ...good, data_offsets: [0, 2 ** 60] }), /not non-negative integers|run past/);
    rejects(one({ ...good, data_offsets: [0] }), /not a pair/);
    rejects(one({ ...good, data_offsets: [-8, 0] }), /not non-negative integers/);
    rejects(one({ ...good, shape: [3] }), /needs 12 bytes but data_offsets \[0,8\] hold 8/);
    // a huge claimed shape is refused before anything is allocated
    rejects(one({ ...good, shape: [2 ** 20, 2 ** 20, 2 ** 10] }), /needs \d+ bytes/);
    rejects(rawFile(JSON.stringify({ __metadata__: [1] })), /__metadata__ is not an object/);
    rejects(rawFile(JSON.stringify({ __metadata__: { a: 1 } })), /__metadata__ value for 'a' is not a string/);
  });

  test('overlaps and truncation', () => {
    rejects(
      rawFile(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }), new Uint8Array(12)),
      /'a' \[0,8\] and 'b' \[4,12\] overlap/,
    );
    rejects(
      rawFile(JSON.stringify({ a: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, b: { dtype: 'U8', shape: [2], data_offsets: [1, 3] } }), new Uint8Array(4)),
      /overlap/,
    );
    // zero-sized tensors may sit anywhere
    const ok = rawFile(JSON.stringify({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, z: { dtype: 'F32', shape: [0], data_offsets: [4, 4] } }), new Uint8Array(8));
    assert.deepEqual(readSafetensors(ok).get('z')!.dims, [0]);
    // a valid file cut short
    const full = tmp();
    writeSafetensors(full, { w: Tensor.f32([64], new Float32Array(64).fill(1)) });
    const bytes = readFileSync(full);
    const cut = tmp();
    writeFileSync(cut, bytes.subarray(0, bytes.length - 10));
    rejects(cut, /run past the data region/);
    const cutHeader = tmp();
    writeFileSync(cutHeader, bytes.subarray(0, 20));
    rejects(cutHeader, /runs past the end/);
  });

  test('random byte flips and truncations of a valid file never crash', () => {
    const rng = new Rng(7);
    const path = tmp();
    writeSafetensors(path, { alpha: Tensor.f32([2, 3], rng.normals(6)), beta: Tensor.i64([4], [1, 2, 3, 4]), gamma: new Tensor('float16', [3], new Uint16Array(3)) }, { k: 'v' });
    const bytes = readFileSync(path);
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    let failures = 0;
    for (let trial = 0; trial < 400; trial++) {
      const b = Buffer.from(bytes);
      const flips = 1 + rng.int(3);
      for (let f = 0; f < flips; f++) {
        const pos = rng.int(headerEnd);
        b[pos] = trial % 2 ? rng.int(256) : b[pos] ^ (1 << rng.int(8));
      }
      const cutTo = trial % 5 === 0 ? rng.int(b.length + 1) : b.length;
      const p = join(dir, 'fuzz.safetensors');
      writeFileSync(p, b.subarray(0, cutTo));
      try {
        const m = readSafetensors(p, { toFloat32: true });
        for (const t of m.values()) assert.ok(t.data.byteLength <= cutTo);
      } catch (e) {
        failures++;
        assert.ok(e instanceof SafetensorsError, `trial ${trial}: ${(e as Error).stack}`);
        assert.ok((e as Error).message.startsWith(p + ':'));
      }
    }
    assert.ok(failures > 200, `only ${failures} of 400 corrupted files were rejected`);
  });

  test('missing file', () => {
    rejects(join(dir, 'nope.safetensors'), /cannot open \(ENOENT\)/);
  });
});

describe('loadWeights', () => {
  const rng = new Rng(3);
  const a = Tensor.f32([4, 3], rng.normals(12));
  const b = Tensor.f32([5], rng.normals(5));
  const c = Tensor.i64([2], [3, 4]);

  function folder(): string {
    return mkdtempSync(join(dir, 'model-'));
  }

  test('single file, float conversion, sharded index', () => {
    const d1 = folder();
    writeSafetensors(join(d1, 'model.safetensors'), { a, b, c }, undefined, { dtype: 'F16' });
    const w1 = loadWeights(d1);
    assert.equal(w1.get('a')!.dtype, 'float32');
    assert.equal(w1.get('c')!.dtype, 'int64');
    for (let i = 0; i < 12; i++) assert.ok(Math.abs((w1.get('a')!.data[i] as number) - (a.data[i] as number)) <= 2 ** -11 * Math.abs(a.data[i] as number));
    // a path to the file itself
    assert.equal(loadWeights(join(d1, 'model.safetensors')).size, 3);

    const d2 = folder();
    writeSafetensors(join(d2, 'model-00001-of-00002.safetensors'), { a });
    writeSafetensors(join(d2, 'model-00002-of-00002.safetensors'), { b, c });
    writeFileSync(join(d2, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 76 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00002-of-00002.safetensors' } }));
    const w2 = loadWeights(d2);
    assert.deepEqual([...w2.keys()].sort(), ['a', 'b', 'c']);
    assert.deepEqual([...w2.get('a')!.data], [...a.data]);
    assert.deepEqual(w2.get('c')!.toNumbers(), [3, 4]);
  });

  test('broken folders', () => {
    const index = (d: string, map: unknown) => writeFileSync(join(d, 'model.safetensors.index.json'), JSON.stringify(map));
    const d1 = folder();
    index(d1, { weight_map: { a: 'model-1.safetensors', b: 'model-2.safetensors' } });
    writeSafetensors(join(d1, 'model-1.safetensors'), { a });
    assert.throws(() => loadWeights(d1), /model.safetensors.index.json: shard 'model-2.safetensors' is missing/);

    const d2 = folder();
    index(d2, { weight_map: { a: 'model-1.safetensors', b: 'model-1.safetensors' } });
    writeSafetensors(join(d2, 'model-1.safetensors'), { a });
    assert.throws(() => loadWeights(d2), /model-1.safetensors: tensor 'b' is listed in model.safetensors.index.json but not stored/);

    const d3 = folder();
    index(d3, { weight_map: { a: '../evil.safetensors' } });
    assert.throws(() => loadWeights(d3), /not a plain file name/);

    const d4 = folder();
    writeFileSync(join(d4, 'model.safetensors.index.json'), '{oops');
    assert.throws(() => loadWeights(d4), /index.json: cannot read the shard index/);

    const d5 = folder();
    index(d5, { metadata: {} });
    assert.throws(() => loadWeights(d5), /no weight_map/);

    const d6 = folder();
    writeFileSync(join(d6, 'pytorch_model.bin'), 'x');
    assert.throws(() => loadWeights(d6), /no model.safetensors .*pytorch_model.bin: convert/);

    assert.throws(() => loadWeights(join(dir, 'does-not-exist')), /does-not-exist: no such file or folder/);
  });
});
