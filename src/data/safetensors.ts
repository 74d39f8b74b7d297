// Reading and writing safetensors files (https://huggingface.co/docs/safetensors).
// Layout: 8-byte little-endian header length N, N bytes of JSON, then the raw tensor data.
// The header is checked in full before any tensor memory is allocated.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { allocArray, DType, floatToBf16, floatToHalf, halfToFloat, isFloat, sizeOf, Tensor } from '../graph/tensor.js';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** byte offsets relative to the start of the data region */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** absolute file offset of the data region */
  dataStart: number;
}

const DTYPES: Record<string, { dtype: DType; bytes: number }> = {
  F64: { dtype: 'float64', bytes: 8 },
  F32: { dtype: 'float32', bytes: 4 },
  F16: { dtype: 'float16', bytes: 2 },
  BF16: { dtype: 'bfloat16', bytes: 2 },
  I64: { dtype: 'int64', bytes: 8 },
  I32: { dtype: 'int32', bytes: 4 },
  I16: { dtype: 'int16', bytes: 2 },
  I8: { dtype: 'int8', bytes: 1 },
  U64: { dtype: 'uint64', bytes: 8 },
  U32: { dtype: 'uint32', bytes: 4 },
  U16: { dtype: 'uint16', bytes: 2 },
  U8: { dtype: 'uint8', bytes: 1 },
  BOOL: { dtype: 'bool', bytes: 1 },
};

const CODE_OF: Partial<Record<DType, string>> = Object.fromEntries(Object.entries(DTYPES).map(([code, d]) => [d.dtype, code]));

/** Largest header we accept (the reference implementation uses the same cap). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export class SafetensorsError extends Error {}

function fail(path: string, msg: string): never {
  throw new SafetensorsError(`${path}: ${msg}`);
}

function openRead(path: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    fail(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    fail(path, 'not a regular file');
  }
  return { fd, size: st.size };
}

function readExact(fd: number, path: string, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.length) {
    const n = readSync(fd, target, done, target.length - done, position + done);
    if (n <= 0) fail(path, `file ended while reading ${what} (got ${done} of ${target.length} bytes)`);
    done += n;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Fills `target` from byte `position` of the file (`what` names the part in errors). */
type ReadAt = (target: Uint8Array, position: number, what: string) => void;

function parseHeader(fd: number | ReadAt, size: number, path: string): SafetensorsHeader {
  const read: ReadAt = typeof fd === 'number' ? (t, p, w) => readExact(fd, path, t, p, w) : fd;
  if (size < 8) fail(path, `file is ${size} bytes, too short for a safetensors header`);
  const lenBuf = new Uint8Array(8);
  read(lenBuf, 0, 'the header length');
  const n = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8)) fail(path, `header length ${n} runs past the end of the file (${size} bytes); truncated or not a safetensors file`);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLen = Number(n);
  if (headerLen < 2) fail(path, `header length ${headerLen} is too small for a JSON object`);
  const raw = new Uint8Array(headerLen);
  read(raw, 8, 'the header');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    fail(path, 'header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(path, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(json)) fail(path, 'header JSON is not an object');

  const dataStart = 8 + headerLen;
  const dataSize = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(value)) fail(path, '__metadata__ is not an object');
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') fail(path, `__metadata__ value for '${k}' is not a string`);
      }
      metadata = { ...(value as Record<string, string>) };
      continue;
    }
    const where = `tensor '${name}'`;
    if (!isPlainObject(value)) fail(path, `${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') fail(path, `${where}: dtype is missing or not a string`);
    const info = DTYPES[dtype];
    if (!info) fail(path, `${where}: unsupported dtype '${dtype}' (known: ${Object.keys(DTYPES).join(', ')})`);
    if (!Array.isArray(shape)) fail(path, `${where}: shape is missing or not a list`);
    if (shape.length > 32) fail(path, `${where}: shape has ${shape.length} dimensions`);
    let count = 1;
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(path, `${where}: shape [${shape.join(',')}] has an entry that is not a non-negative integer`);
      count *= d;
    }
    if (!Array.isArray(offsets) || offsets.length !== 2) fail(path, `${where}: data_offsets is missing or not a pair`);
    const [begin, end] = offsets;
    for (const o of [begin, end]) {
      if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) fail(path, `${where}: data_offsets [${offsets.join(',')}] are not non-negative integers`);
    }
    if (begin > end) fail(path, `${where}: data_offsets [${begin},${end}] are reversed`);
    if (end > dataSize) fail(path, `${where}: data_offsets [${begin},${end}] run past the data region (${dataSize} bytes); file truncated?`);
    const bytes = count * info.bytes;
    if (bytes !== end - begin) fail(path, `${where}: ${dtype} [${shape.join(',')}] needs ${bytes} bytes but data_offsets [${begin},${end}] hold ${end - begin}`);
    entries.set(name, { dtype, shape: shape.slice() as number[], begin: begin as number, end: end as number });
  }
  const spans = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < spans.length; i++) {
    const [prevName, prev] = spans[i - 1];
    const [name, cur] = spans[i];
    if (cur.begin < prev.end) fail(path, `tensors '${prevName}' [${prev.begin},${prev.end}] and '${name}' [${cur.begin},${cur.end}] overlap`);
  }
  return { entries, metadata, dataStart };
}

/** Reads and checks the header of a safetensors file without reading any tensor data. */
export function readSafetensorsHeader(path: string): SafetensorsHeader {
  const { fd, size } = openRead(path);
  try {
    return parseHeader(fd, size, path);
  } finally {
    closeSync(fd);
  }
}

let halfTable: Float32Array | undefined;

/** float16 bit patterns to float32, through a 64K lookup table. */
function decodeF16(src: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
  }
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = halfTable[src[i]];
  return out;
}

function decodeBF16(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
  return out;
}

/**
 * Reads every tensor of a safetensors file. With `toFloat32`, F16, BF16 and F64 tensors come back as float32;
 * otherwise each tensor keeps its stored type (16-bit floats as raw bits in a Uint16Array, see Tensor).
 */
export function readSafetensors(path: string, opts: { toFloat32?: boolean; names?: Iterable<string> } = {}): Map<string, Tensor> {
  const { fd, size } = openRead(path);
  try {
    return readTensors((t, p, w) => readExact(fd, path, t, p, w), size, path, opts);
  } finally {
    closeSync(fd);
  }
}

/** Like readSafetensors, on the bytes of a safetensors file (e.g. a File read in a browser); `where` names it in errors. */
export function parseSafetensors(bytes: Uint8Array, where = '<buffer>', opts: { toFloat32?: boolean; names?: Iterable<string> } = {}): Map<string, Tensor> {
  const readAt: ReadAt = (target, position, what) => {
    if (position + target.length > bytes.length) fail(where, `file ended while reading ${what} (got ${Math.max(0, bytes.length - position)} of ${target.length} bytes)`);
    target.set(bytes.subarray(position, position + target.length));
  };
  return readTensors(readAt, bytes.length, where, opts);
}

function readTensors(read: ReadAt, size: number, path: string, opts: { toFloat32?: boolean; names?: Iterable<string> }): Map<string, Tensor> {
  const header = parseHeader(read, size, path);
  const wanted = opts.names ? new Set(opts.names) : undefined;
  const out = new Map<string, Tensor>();
  for (const [name, e] of header.entries) {
    if (wanted && !wanted.has(name)) continue;
    const info = DTYPES[e.dtype];
    const n = sizeOf(e.shape);
    const arr = allocArray(info.dtype, n);
    read(new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength), header.dataStart + e.begin, `tensor '${name}'`);
    let t = new Tensor(info.dtype, e.shape.slice(), arr);
    if (opts.toFloat32 && isFloat(info.dtype) && info.dtype !== 'float32') {
      const f32 = info.dtype === 'float16' ? decodeF16(arr as Uint16Array) : info.dtype === 'bfloat16' ? decodeBF16(arr as Uint16Array) : Float32Array.from(arr as Float64Array);
      t = new Tensor('float32', t.dims, f32);
    }
    out.set(name, t);
  }
  return out;
}

function encode(t: Tensor, code: string): Uint8Array {
  let arr: ArrayBufferView;
  if (code === 'F32' && t.dtype !== 'float32') arr = t.toFloat32();
  else if (code === 'F16' && t.dtype !== 'float16') {
    const src = t.toFloat32();
    const a = new Uint16Array(src.length);
    for (let i = 0; i < a.length; i++) a[i] = floatToHalf(src[i]);
    arr = a;
  } else if (code === 'BF16' && t.dtype !== 'bfloat16') {
    const src = t.toFloat32();
    const a = new Uint16Array(src.length);
    for (let i = 0; i < a.length; i++) a[i] = floatToBf16(src[i]);
    arr = a;
  } else arr = t.data;
  return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
}

/**
 * Writes tensors to a safetensors file. `opts.dtype` stores every float tensor as F32, F16 or BF16
 * (rounded to nearest even); other tensors keep their type.
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, Tensor> | Map<string, Tensor>,
  metadata?: Record<string, string>,
  opts: { dtype?: 'F32' | 'F16' | 'BF16' } = {},
): void {
  const list = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) if (typeof v !== 'string') throw new Error(`${path}: metadata value for '${k}' is not a string`);
    header.__metadata__ = metadata;
  }
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of list) {
    if (name === '__metadata__') throw new Error(`${path}: '__metadata__' cannot name a tensor`);
    const code = opts.dtype && isFloat(t.dtype) ? opts.dtype : CODE_OF[t.dtype];
    if (!code) throw new Error(`${path}: tensor '${name}' has type ${t.dtype}, which safetensors cannot store`);
    const bytes = encode(t, code);
    header[name] = { dtype: code, shape: t.dims, data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerBytes.length));
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (e) {
    throw new Error(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    writeAll(fd, len);
    writeAll(fd, headerBytes);
    for (const b of blobs) writeAll(fd, b);
  } finally {
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
}

/**
 * Loads the weights of a Hugging Face model folder: `model.safetensors`, or the shards listed in
 * `model.safetensors.index.json`. A path to a single `.safetensors` file also works.
 * Float tensors come back as float32; integer tensors keep their type.
 */
export function loadWeights(dir: string): Map<string, Tensor> {
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new SafetensorsError(`${dir}: no such file or folder`);
  }
  if (st.isFile()) return readSafetensors(dir, { toFloat32: true });
  const single = join(dir, 'model.safetensors');
  if (existsSync(single)) return readSafetensors(single, { toFloat32: true });
  const indexPath = join(dir, 'model.safetensors.index.json');
  if (existsSync(indexPath)) return loadSharded(dir, indexPath);
  const found = readdirSync(dir);
  const st32 = found.filter((f) => f.endsWith('.safetensors'));
  if (st32.length === 1) return readSafetensors(join(dir, st32[0]), { toFloat32: true });
  const other = found.filter((f) => /\.(bin|pt|pth|ckpt|h5|msgpack)$/.test(f));
  const hint = other.length ? ` (found ${other.join(', ')}: convert the weights to safetensors first)` : '';
  const many = st32.length > 1 ? ` (found several .safetensors files but no index: ${st32.join(', ')})` : '';
  throw new SafetensorsError(`${dir}: no model.safetensors or model.safetensors.index.json${many || hint}`);
}

function loadSharded(dir: string, indexPath: string): Map<string, Tensor> {
  let index: unknown;
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (e) {
    fail(indexPath, `cannot read the shard index (${(e as Error).message})`);
  }
  if (!isPlainObject(index) || !isPlainObject(index.weight_map)) fail(indexPath, 'no weight_map object in the shard index');
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(index.weight_map)) {
    if (typeof shard !== 'string' || !shard) fail(indexPath, `weight_map entry for '${name}' is not a file name`);
    if (basename(shard) !== shard || shard === '.' || shard === '..') fail(indexPath, `shard '${shard}' is not a plain file name in the model folder`);
    const list = byShard.get(shard) ?? [];
    list.push(name);
    byShard.set(shard, list);
  }
  if (!byShard.size) fail(indexPath, 'weight_map is empty');
  const out = new Map<string, Tensor>();
  for (const [shard, names] of byShard) {
    const path = join(dir, shard);
    if (!existsSync(path)) fail(indexPath, `shard '${shard}' is missing from ${dir}`);
    const tensors = readSafetensors(path, { toFloat32: true, names });
    for (const name of names) {
      const t = tensors.get(name);
      if (!t) fail(path, `tensor '${name}' is listed in ${basename(indexPath)} but not stored in this shard`);
      out.set(name, t);
    }
  }
  return out;
}
