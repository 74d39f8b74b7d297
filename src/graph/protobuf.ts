// Minimal protobuf wire-format writer and bounds-checked reader.

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;
  private total = 0;

  private ensure(n: number) {
    if (this.pos + n <= this.buf.length) return;
    this.flush();
    if (n > this.buf.length) this.buf = new Uint8Array(Math.max(n, 256));
  }

  private flush() {
    if (this.pos > 0) {
      this.chunks.push(this.buf.slice(0, this.pos));
      this.total += this.pos;
      this.pos = 0;
    }
  }

  varint(v: number | bigint) {
    this.ensure(10);
    let x = BigInt.asUintN(64, BigInt(v));
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let n = v;
      while (n >= 0x80) {
        this.buf[this.pos++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
      this.buf[this.pos++] = n;
      return;
    }
    while (x >= 0x80n) {
      this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
      x >>= 7n;
    }
    this.buf[this.pos++] = Number(x);
  }

  tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint) {
    this.tag(field, 0);
    this.varint(v);
  }

  float(field: number, v: number) {
    this.tag(field, 5);
    this.ensure(4);
    new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).setFloat32(0, v, true);
    this.pos += 4;
  }

  bytes(field: number, data: Uint8Array) {
    this.tag(field, 2);
    this.varint(data.length);
    if (data.length > 4096) {
      this.flush();
      this.chunks.push(data);
      this.total += data.length;
    } else {
      this.ensure(data.length);
      this.buf.set(data, this.pos);
      this.pos += data.length;
    }
  }

  string(field: number, s: string) {
    this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, write: (w: ProtoWriter) => void) {
    const w = new ProtoWriter();
    write(w);
    this.bytes(field, w.finish());
  }

  packedInts(field: number, values: readonly (number | bigint)[]) {
    const w = new ProtoWriter();
    for (const v of values) w.varint(v);
    this.bytes(field, w.finish());
  }

  packedFloats(field: number, values: readonly number[]) {
    const a = new Float32Array(values);
    this.bytes(field, new Uint8Array(a.buffer));
  }

  finish(): Uint8Array {
    this.flush();
    if (this.chunks.length === 1) return this.chunks[0];
    const out = new Uint8Array(this.total);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

export class ProtoError extends Error {}

export interface Field {
  field: number;
  wire: number;
  /** varint value (wire 0) */
  int?: bigint;
  /** fixed32 / fixed64 raw bytes or length-delimited payload */
  bytes?: Uint8Array;
}

/** Reads one message's fields. Every length is checked against the buffer. */
export function readFields(buf: Uint8Array, what: string): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new ProtoError(`${what}: truncated varint`);
      const b = buf[pos++];
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
    throw new ProtoError(`${what}: varint longer than 10 bytes`);
  };
  while (pos < buf.length) {
    const key = varint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field === 0) throw new ProtoError(`${what}: field number 0`);
    switch (wire) {
      case 0:
        out.push({ field, wire, int: varint() });
        break;
      case 1:
      case 5: {
        const n = wire === 1 ? 8 : 4;
        if (pos + n > buf.length) throw new ProtoError(`${what}: truncated fixed field ${field}`);
        out.push({ field, wire, bytes: buf.subarray(pos, pos + n) });
        pos += n;
        break;
      }
      case 2: {
        const len = varint();
        if (len > BigInt(buf.length - pos)) throw new ProtoError(`${what}: field ${field} claims ${len} bytes, only ${buf.length - pos} remain`);
        const n = Number(len);
        out.push({ field, wire, bytes: buf.subarray(pos, pos + n) });
        pos += n;
        break;
      }
      default:
        throw new ProtoError(`${what}: unsupported wire type ${wire} for field ${field}`);
    }
  }
  return out;
}

/** Decodes a packed (or single) repeated varint field into numbers/bigints. */
export function unpackVarints(f: Field, what: string): bigint[] {
  if (f.wire === 0) return [f.int!];
  const vals: bigint[] = [];
  const b = f.bytes!;
  let pos = 0;
  while (pos < b.length) {
    let result = 0n;
    let shift = 0n;
    let done = false;
    for (let i = 0; i < 10 && pos < b.length; i++) {
      const c = b[pos++];
      result |= BigInt(c & 0x7f) << shift;
      shift += 7n;
      if (!(c & 0x80)) {
        done = true;
        break;
      }
    }
    if (!done) throw new ProtoError(`${what}: truncated packed varint`);
    vals.push(result);
  }
  return vals;
}

export function toSigned64(v: bigint): bigint {
  return BigInt.asIntN(64, v);
}

export function fieldString(f: Field): string {
  return new TextDecoder().decode(f.bytes);
}
