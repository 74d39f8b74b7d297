// Tensors and data types shared by the graph, the runtime and the numeric code.

export type DType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'bool';

export type TensorArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array
  | Uint16Array
  | Uint32Array;

/** ONNX TensorProto.DataType codes. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  uint16: 4,
  int16: 5,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
  uint32: 12,
  uint64: 13,
  bfloat16: 16,
};

export const DTYPE_FROM_ONNX: Record<number, DType> = Object.fromEntries(
  Object.entries(ONNX_DTYPE).map(([k, v]) => [v, k as DType]),
);

export const DTYPE_BYTES: Record<DType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  bool: 1,
};

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16' || dtype === 'bfloat16';
}

export function sizeOf(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Allocates the typed array that holds `n` elements of `dtype` (16-bit floats are kept as raw Uint16). */
export function allocArray(dtype: DType, n: number): TensorArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'float16':
    case 'bfloat16':
    case 'uint16':
      return new Uint16Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'uint64':
      return new BigUint64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'uint32':
      return new Uint32Array(n);
    case 'int16':
      return new Int16Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
  }
}

/** A dense, row-major tensor. */
export class Tensor {
  constructor(
    readonly dtype: DType,
    readonly dims: number[],
    readonly data: TensorArray,
  ) {
    const n = sizeOf(dims);
    if (data.length !== n) {
      throw new Error(`tensor of shape [${dims.join(',')}] needs ${n} elements, got ${data.length}`);
    }
  }

  get size(): number {
    return this.data.length;
  }

  static zeros(dtype: DType, dims: number[]): Tensor {
    return new Tensor(dtype, dims, allocArray(dtype, sizeOf(dims)));
  }

  static f32(dims: number[], values?: ArrayLike<number>): Tensor {
    const data = new Float32Array(sizeOf(dims));
    if (values) data.set(values);
    return new Tensor('float32', dims, data);
  }

  static f64(dims: number[], values?: ArrayLike<number>): Tensor {
    const data = new Float64Array(sizeOf(dims));
    if (values) data.set(values);
    return new Tensor('float64', dims, data);
  }

  static i64(dims: number[], values: ArrayLike<number | bigint>): Tensor {
    const data = new BigInt64Array(sizeOf(dims));
    for (let i = 0; i < data.length; i++) data[i] = BigInt(values[i]);
    return new Tensor('int64', dims, data);
  }

  static scalar(value: number, dtype: DType = 'float32'): Tensor {
    const t = Tensor.zeros(dtype, []);
    setNumber(t, 0, value);
    return t;
  }

  /** The elements as plain numbers (int64 converted, 16-bit floats decoded). */
  toNumbers(): number[] {
    const out = new Array<number>(this.size);
    for (let i = 0; i < out.length; i++) out[i] = getNumber(this, i);
    return out;
  }

  /** A float32 copy of a float tensor of any precision. */
  toFloat32(): Float32Array {
    if (this.dtype === 'float32') return this.data as Float32Array;
    const out = new Float32Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = getNumber(this, i);
    return out;
  }
}

export function getNumber(t: Tensor, i: number): number {
  const v = t.data[i];
  if (typeof v === 'bigint') return Number(v);
  if (t.dtype === 'float16') return halfToFloat(v);
  if (t.dtype === 'bfloat16') return bf16ToFloat(v);
  return v;
}

export function setNumber(t: Tensor, i: number, value: number): void {
  if (t.data instanceof BigInt64Array || t.data instanceof BigUint64Array) t.data[i] = BigInt(Math.trunc(value));
  else if (t.dtype === 'float16') (t.data as Uint16Array)[i] = floatToHalf(value);
  else if (t.dtype === 'bfloat16') (t.data as Uint16Array)[i] = floatToBf16(value);
  else (t.data as Float32Array)[i] = value;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function bf16ToFloat(h: number): number {
  u32buf[0] = h << 16;
  return f32buf[0];
}

export function floatToBf16(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  if (Number.isNaN(x)) return 0x7fc0;
  // round to nearest even
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function floatToHalf(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}
