// IDX files (the MNIST format): a 4-byte magic (0, 0, type, ndim), ndim big-endian uint32 sizes, then the data
// in big-endian order. Gzip'd files (.gz, or starting with the gzip magic) are unpacked on read.
import { readFileSync, writeFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Parses IDX bytes (gzip'd or not). `name` is used in error messages (usually the file path). */
export function parseIdx(bytes: Uint8Array, name = 'IDX data'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${name}: corrupt gzip stream (${(e as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new Error(`${name}: not an IDX file (only ${bytes.length} bytes)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${name}: not an IDX file (bad magic ${hex(bytes, 4)})`);
  const type = TYPES[bytes[2]];
  if (!type) throw new Error(`${name}: not an IDX file (unknown data type 0x${bytes[2].toString(16)})`);
  const ndim = bytes[3];
  if (ndim === 0) throw new Error(`${name}: IDX file with 0 dimensions`);
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new Error(`${name}: truncated IDX header (${bytes.length} bytes, need ${header})`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = header + count * type.bytes;
  if (bytes.length < expected) {
    throw new Error(`${name}: truncated IDX data (dims [${dims.join(', ')}] need ${expected} bytes, file has ${bytes.length})`);
  }
  if (bytes.length > expected) {
    throw new Error(`${name}: IDX file has ${bytes.length - expected} trailing bytes after dims [${dims.join(', ')}]`);
  }
  let data: IdxData;
  switch (type.name) {
    case 'uint8':
      data = new Uint8Array(bytes.subarray(header, expected));
      break;
    case 'int8':
      data = new Int8Array(bytes.buffer.slice(bytes.byteOffset + header, bytes.byteOffset + expected));
      break;
    case 'int16':
      data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(header + 2 * i, false);
      break;
    case 'int32':
      data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(header + 4 * i, false);
      break;
    case 'float32':
      data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(header + 4 * i, false);
      break;
    default:
      data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(header + 8 * i, false);
  }
  return { dims, data };
}

/** Encodes an unsigned-byte IDX array (the only type MNIST-style data needs). */
export function encodeIdx(dims: number[], data: Uint8Array): Buffer {
  if (dims.length === 0 || dims.length > 255) throw new Error(`IDX: bad number of dimensions ${dims.length}`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`IDX: dims [${dims.join(', ')}] hold ${count} values, data has ${data.length}`);
  const out = Buffer.alloc(4 + 4 * dims.length + count);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => out.writeUInt32BE(d, 4 + 4 * i));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

/** Reads an IDX file (plain or gzip'd). */
export function readIdx(path: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${path}: cannot read IDX file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseIdx(bytes, path);
}

/** Writes an unsigned-byte IDX file; gzip'd when the path ends in .gz. */
export function writeIdx(path: string, dims: number[], data: Uint8Array): void {
  const raw = encodeIdx(dims, data);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(raw, { level: 9 }) : raw);
}

function hex(b: Uint8Array, n: number): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, '0')).join(' ');
}
