// ONNX ModelProto serialisation and import.
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative } from 'node:path';
import { Attr, Dim, Graph, Node, ValueInfo } from './graph.js';
import { fieldString, Field, ProtoError, ProtoWriter, readFields, toSigned64, unpackVarints } from './protobuf.js';
import { allocArray, DType, DTYPE_BYTES, DTYPE_FROM_ONNX, ONNX_DTYPE, sizeOf, Tensor } from './tensor.js';

export const IR_VERSION = 8;

// ---------- writing ----------

/** Where large initializers go instead of the protobuf (which cannot exceed 2 GB). */
export interface ExternalData {
  /** file name, relative to the model file's folder */
  location: string;
  /** tensors of at least this many bytes go to the file */
  minBytes: number;
  /** appends bytes to the file at `offset` */
  write(bytes: Uint8Array, offset: number): void;
  /** bytes written so far (the next offset) */
  size: number;
}

function writeTensor(w: ProtoWriter, t: Tensor, name: string, ext?: ExternalData) {
  for (const d of t.dims) w.int(1, d);
  w.int(2, ONNX_DTYPE[t.dtype]);
  if (name) w.string(8, name);
  const d = t.data;
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  if (ext && name && bytes.length >= ext.minBytes) {
    const offset = Math.ceil(ext.size / 4096) * 4096; // page-aligned, so onnxruntime can map it
    ext.write(bytes, offset);
    ext.size = offset + bytes.length;
    const entry = (k: string, v: string) => w.message(13, (e) => { e.string(1, k); e.string(2, v); });
    entry('location', ext.location);
    entry('offset', String(offset));
    entry('length', String(bytes.length));
    w.int(14, 1);
    return;
  }
  w.bytes(9, bytes);
}

function writeValueInfo(w: ProtoWriter, v: ValueInfo) {
  w.string(1, v.name);
  w.message(2, (tp) =>
    tp.message(1, (tt) => {
      tt.int(1, ONNX_DTYPE[v.dtype]);
      if (v.shape)
        tt.message(2, (sh) => {
          for (const d of v.shape!)
            sh.message(1, (dim) => {
              if (typeof d === 'number') dim.int(1, d);
              else if (typeof d === 'string') dim.string(2, d);
            });
        });
    }),
  );
}

function writeAttr(w: ProtoWriter, name: string, a: Attr) {
  w.string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      w.int(20, 1);
      break;
    case 'int':
      w.int(3, a.value);
      w.int(20, 2);
      break;
    case 'string':
      w.string(4, a.value);
      w.int(20, 3);
      break;
    case 'tensor':
      w.message(5, (tw) => writeTensor(tw, a.value, ''));
      w.int(20, 4);
      break;
    case 'floats':
      w.packedFloats(7, a.value);
      w.int(20, 6);
      break;
    case 'ints':
      w.packedInts(8, a.value);
      w.int(20, 7);
      break;
    case 'strings':
      for (const s of a.value) w.string(9, s);
      w.int(20, 8);
      break;
  }
}

function writeNode(w: ProtoWriter, n: Node) {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.op);
  for (const [k, a] of Object.entries(n.attrs)) w.message(5, (aw) => writeAttr(aw, k, a));
  if (n.domain) w.string(7, n.domain);
}

/** Serialises a graph as an ONNX ModelProto; with `ext`, large initializers go to an external data file. */
export function serializeModel(g: Graph, ext?: ExternalData): Uint8Array {
  const w = new ProtoWriter();
  w.int(1, IR_VERSION);
  w.string(2, 'jepa-score');
  w.message(7, (gw) => {
    for (const n of g.nodes) gw.message(1, (nw) => writeNode(nw, n));
    gw.string(2, g.name);
    for (const [name, t] of g.initializers) gw.message(5, (tw) => writeTensor(tw, t, name, ext));
    for (const v of g.inputs) gw.message(11, (vw) => writeValueInfo(vw, v));
    for (const v of g.outputs) gw.message(12, (vw) => writeValueInfo(vw, v));
  });
  w.message(8, (ow) => {
    ow.string(1, '');
    ow.int(2, g.opset);
  });
  const domains = new Set(g.nodes.map((n) => n.domain).filter((d): d is string => !!d));
  for (const d of domains)
    w.message(8, (ow) => {
      ow.string(1, d);
      ow.int(2, 1);
    });
  return w.finish();
}

// ---------- reading ----------

export class OnnxImportError extends Error {}

interface ReadCtx {
  file: string;
  baseDir?: string;
}

const MAX_ELEMENTS = 2 ** 31;

function fail(ctx: ReadCtx, msg: string): never {
  throw new OnnxImportError(`${ctx.file}: ${msg}`);
}

function readTensor(buf: Uint8Array, ctx: ReadCtx, where: string): { name: string; tensor: Tensor } {
  const fields = readFields(buf, `${where}`);
  const dims: number[] = [];
  let dtypeCode = 0;
  let name = '';
  let raw: Uint8Array | undefined;
  const floatData: Field[] = [];
  const int32Data: Field[] = [];
  const int64Data: Field[] = [];
  const doubleData: Field[] = [];
  const uint64Data: Field[] = [];
  const external: Record<string, string> = {};
  let location = 0;
  for (const f of fields) {
    switch (f.field) {
      case 1:
        for (const v of unpackVarints(f, where)) dims.push(Number(toSigned64(v)));
        break;
      case 2:
        dtypeCode = Number(f.int);
        break;
      case 8:
        name = fieldString(f);
        break;
      case 9:
        raw = f.bytes;
        break;
      case 4:
        floatData.push(f);
        break;
      case 5:
        int32Data.push(f);
        break;
      case 7:
        int64Data.push(f);
        break;
      case 10:
        doubleData.push(f);
        break;
      case 11:
        uint64Data.push(f);
        break;
      case 13: {
        let k = '';
        let v = '';
        for (const e of readFields(f.bytes!, `${where} external_data`)) {
          if (e.field === 1) k = fieldString(e);
          if (e.field === 2) v = fieldString(e);
        }
        external[k] = v;
        break;
      }
      case 14:
        location = Number(f.int);
        break;
      case 6:
        fail(ctx, `${where}${name ? ` '${name}'` : ''}: string tensors are not supported`);
    }
  }
  const label = `${where}${name ? ` '${name}'` : ''}`;
  const dtype = DTYPE_FROM_ONNX[dtypeCode];
  if (!dtype) fail(ctx, `${label} has unsupported data type ${dtypeCode}`);
  for (const d of dims) if (!Number.isInteger(d) || d < 0) fail(ctx, `${label} has invalid dimension ${d}`);
  const n = sizeOf(dims);
  if (n > MAX_ELEMENTS) fail(ctx, `${label} claims ${n} elements`);
  const nbytes = n * DTYPE_BYTES[dtype];
  if (location === 1) {
    if (!ctx.baseDir) fail(ctx, `${label} uses external data, which needs the model's folder`);
    const loc = external.location;
    if (!loc || isAbsolute(loc) || normalize(loc).startsWith('..')) fail(ctx, `${label}: external data location '${loc}' must be a relative path inside the model's folder`);
    const path = join(ctx.baseDir, loc);
    if (relative(ctx.baseDir, path).startsWith('..')) fail(ctx, `${label}: external data escapes the model folder`);
    const offset = Number(external.offset ?? 0);
    const length = external.length !== undefined ? Number(external.length) : nbytes;
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      fail(ctx, `${label}: external data file '${loc}' is missing`);
    }
    if (!(offset >= 0) || length !== nbytes || offset + length > size) fail(ctx, `${label}: external data range ${offset}+${length} does not fit '${loc}' (${size} bytes) or the tensor (${nbytes} bytes)`);
    const fd = readFileSync(path);
    raw = new Uint8Array(fd.buffer, fd.byteOffset + offset, length);
  }
  const data = allocArray(dtype, n);
  if (raw) {
    if (raw.length !== nbytes) fail(ctx, `${label} has ${raw.length} bytes of data, its shape [${dims}] of ${dtype} needs ${nbytes}`);
    new Uint8Array(data.buffer).set(raw);
  } else {
    let vals: number[] | bigint[] = [];
    if (dtype === 'float32') vals = floatData.flatMap((f) => packedFixed(f, 4, ctx, label));
    else if (dtype === 'float64') vals = doubleData.flatMap((f) => packedFixed(f, 8, ctx, label));
    else if (dtype === 'int64') vals = int64Data.flatMap((f) => unpackVarints(f, label).map(toSigned64));
    else if (dtype === 'uint64' || dtype === 'uint32') vals = uint64Data.flatMap((f) => unpackVarints(f, label));
    else vals = int32Data.flatMap((f) => unpackVarints(f, label).map((v) => Number(BigInt.asIntN(32, v))));
    if (vals.length !== n) fail(ctx, `${label} has ${vals.length} values, its shape [${dims}] needs ${n}`);
    for (let i = 0; i < n; i++) {
      const v = vals[i];
      if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(v);
      else (data as Float32Array)[i] = Number(v);
    }
  }
  return { name, tensor: new Tensor(dtype, dims, data) };
}

function packedFixed(f: Field, size: 4 | 8, ctx: ReadCtx, label: string): number[] {
  const b = f.bytes!;
  if (b.length % size) fail(ctx, `${label}: packed data of ${b.length} bytes is not a multiple of ${size}`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let i = 0; i < b.length; i += size) out.push(size === 4 ? dv.getFloat32(i, true) : dv.getFloat64(i, true));
  return out;
}

function readValueInfo(buf: Uint8Array, ctx: ReadCtx): ValueInfo {
  let name = '';
  let dtype: DType | undefined;
  let shape: Dim[] | undefined;
  for (const f of readFields(buf, 'value_info')) {
    if (f.field === 1) name = fieldString(f);
    if (f.field === 2)
      for (const tf of readFields(f.bytes!, 'type')) {
        if (tf.field !== 1) fail(ctx, `input/output '${name}' is not a tensor (sequence, map or optional types are not supported)`);
        for (const tt of readFields(tf.bytes!, 'tensor_type')) {
          if (tt.field === 1) dtype = DTYPE_FROM_ONNX[Number(tt.int)];
          if (tt.field === 2) {
            shape = [];
            for (const df of readFields(tt.bytes!, 'shape')) {
              if (df.field !== 1) continue;
              let d: Dim = null;
              for (const x of readFields(df.bytes!, 'dim')) {
                if (x.field === 1) d = Number(toSigned64(x.int!));
                if (x.field === 2) d = fieldString(x);
              }
              shape.push(d);
            }
          }
        }
      }
  }
  if (!name) fail(ctx, 'a graph input or output has no name');
  if (!dtype) fail(ctx, `input/output '${name}' has no or an unsupported element type`);
  return { name, dtype, shape };
}

function readAttr(buf: Uint8Array, ctx: ReadCtx, nodeLabel: string): [string, Attr] {
  let name = '';
  let type = 0;
  let f32: number | undefined;
  let i64: bigint | undefined;
  let s: string | undefined;
  let t: Tensor | undefined;
  const floats: number[] = [];
  const ints: number[] = [];
  const strings: string[] = [];
  let hasGraph = false;
  for (const f of readFields(buf, `${nodeLabel} attribute`)) {
    switch (f.field) {
      case 1: name = fieldString(f); break;
      case 2: f32 = new DataView(f.bytes!.buffer, f.bytes!.byteOffset, 4).getFloat32(0, true); break;
      case 3: i64 = toSigned64(f.int!); break;
      case 4: s = fieldString(f); break;
      case 5: t = readTensor(f.bytes!, ctx, `${nodeLabel} attribute tensor`).tensor; break;
      case 6: case 11: hasGraph = true; break;
      case 7:
        if (f.wire === 5) floats.push(new DataView(f.bytes!.buffer, f.bytes!.byteOffset, 4).getFloat32(0, true));
        else floats.push(...packedFixed(f, 4, ctx, nodeLabel));
        break;
      case 8: for (const v of unpackVarints(f, nodeLabel)) ints.push(Number(toSigned64(v))); break;
      case 9: strings.push(fieldString(f)); break;
      case 20: type = Number(f.int); break;
    }
  }
  if (hasGraph || type === 5 || type === 10) fail(ctx, `${nodeLabel}: attribute '${name}' holds a subgraph (If/Loop/Scan), which is not supported`);
  switch (type) {
    case 1: return [name, { type: 'float', value: f32 ?? 0 }];
    case 2: return [name, { type: 'int', value: Number(i64 ?? 0n) }];
    case 3: return [name, { type: 'string', value: s ?? '' }];
    case 4: if (!t) fail(ctx, `${nodeLabel}: tensor attribute '${name}' is empty`); return [name, { type: 'tensor', value: t }];
    case 6: return [name, { type: 'floats', value: floats }];
    case 7: return [name, { type: 'ints', value: ints }];
    case 8: return [name, { type: 'strings', value: strings }];
  }
  // Old files may omit the type: infer it from what is set.
  if (f32 !== undefined) return [name, { type: 'float', value: f32 }];
  if (i64 !== undefined) return [name, { type: 'int', value: Number(i64) }];
  if (s !== undefined) return [name, { type: 'string', value: s }];
  if (t) return [name, { type: 'tensor', value: t }];
  if (ints.length) return [name, { type: 'ints', value: ints }];
  if (floats.length) return [name, { type: 'floats', value: floats }];
  fail(ctx, `${nodeLabel}: attribute '${name}' has unknown type ${type}`);
}

function readNode(buf: Uint8Array, ctx: ReadCtx, index: number): Node {
  const node: Node = { name: '', op: '', inputs: [], outputs: [], attrs: {} };
  const attrBufs: Uint8Array[] = [];
  for (const f of readFields(buf, `node ${index}`)) {
    if (f.field === 1) node.inputs.push(fieldString(f));
    if (f.field === 2) node.outputs.push(fieldString(f));
    if (f.field === 3) node.name = fieldString(f);
    if (f.field === 4) node.op = fieldString(f);
    if (f.field === 5) attrBufs.push(f.bytes!);
    if (f.field === 7) node.domain = fieldString(f);
  }
  if (!node.name) node.name = `node_${index}`;
  if (!node.op) fail(ctx, `node ${node.name} has no op_type`);
  const label = `node ${node.name} (${node.op})`;
  for (const b of attrBufs) {
    const [k, a] = readAttr(b, ctx, label);
    node.attrs[k] = a;
  }
  if (node.domain === 'ai.onnx') node.domain = '';
  return node;
}

/** Parses an ONNX ModelProto. `file` names it in errors; external data is read relative to `baseDir`. */
export function parseModel(buf: Uint8Array, file = '<buffer>', baseDir?: string): Graph {
  const ctx: ReadCtx = { file, baseDir };
  try {
    let graphBuf: Uint8Array | undefined;
    let opset = 0;
    for (const f of readFields(buf, 'model')) {
      if (f.field === 7) graphBuf = f.bytes;
      if (f.field === 8) {
        let domain = '';
        let version = 0;
        for (const o of readFields(f.bytes!, 'opset_import')) {
          if (o.field === 1) domain = fieldString(o);
          if (o.field === 2) version = Number(o.int);
        }
        if (domain === '' || domain === 'ai.onnx') opset = version;
      }
    }
    if (!graphBuf) fail(ctx, 'not an ONNX model (no graph found)');
    const g: Graph = { name: 'graph', opset: opset || 17, inputs: [], outputs: [], initializers: new Map(), nodes: [] };
    let nodeIndex = 0;
    const inputs: ValueInfo[] = [];
    for (const f of readFields(graphBuf, 'graph')) {
      if (f.field === 1) g.nodes.push(readNode(f.bytes!, ctx, nodeIndex++));
      if (f.field === 2) g.name = fieldString(f);
      if (f.field === 5) {
        const { name, tensor } = readTensor(f.bytes!, ctx, 'initializer');
        if (!name) fail(ctx, 'an initializer has no name');
        g.initializers.set(name, tensor);
      }
      if (f.field === 15) fail(ctx, 'sparse initializers are not supported');
      if (f.field === 11) inputs.push(readValueInfo(f.bytes!, ctx));
      if (f.field === 12) g.outputs.push(readValueInfo(f.bytes!, ctx));
    }
    // Old exports list initializers among the inputs too; those are weights, not inputs.
    g.inputs = inputs.filter((v) => !g.initializers.has(v.name));
    if (!g.outputs.length) fail(ctx, 'the graph has no outputs');
    if (opset && opset < 13) fail(ctx, `opset ${opset} is older than 13, the oldest supported`);
    return g;
  } catch (e) {
    if (e instanceof OnnxImportError) throw e;
    if (e instanceof ProtoError) throw new OnnxImportError(`${file}: malformed ONNX file (${e.message})`);
    throw e;
  }
}

/** Reads an `.onnx` file. */
export function loadOnnx(path: string): Graph {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new OnnxImportError(`${path}: cannot read (${(e as Error).message})`);
  }
  return parseModel(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path, dirname(path));
}
