// Runs graphs with onnxruntime: onnxruntime-node by default (loaded on first use), or a module handed to
// setOrt() (onnxruntime-web in the browser). This file imports nothing Node-only; that lives in ./node.ts.
import type * as OrtCommon from 'onnxruntime-common';
import { Graph } from '../graph/graph.js';
import { serializeModel } from '../graph/onnx.js';
import { DType, Tensor, TensorArray } from '../graph/tensor.js';

/** The parts of an onnxruntime module (onnxruntime-node, onnxruntime-web) that sessions use. */
export interface OrtModule {
  InferenceSession: typeof OrtCommon.InferenceSession;
  Tensor: typeof OrtCommon.Tensor;
}

/** An onnxruntime module and how to use it on this platform. */
export interface OrtBackend {
  ort: OrtModule;
  /** execution providers for new sessions; default ['cpu'] */
  executionProviders?: OrtCommon.InferenceSession.SessionOptions['executionProviders'];
  /** default intra-op threads */
  defaultThreads?: () => number;
  /** writes a model too large for one protobuf to a file with external data (Node only) */
  writeExternal?: (g: Graph) => { path: string; cleanup: () => void };
  /** throws when a device's execution provider is not installed (Node only) */
  checkDevice?: (device: Device) => void;
}

let backend: OrtBackend | undefined;

/** Runs every later session on `ort` (e.g. onnxruntime-web); call before the first Session.create. */
export function setOrt(ort: OrtModule | OrtBackend): void {
  backend = 'ort' in ort ? ort : { ort };
}

// a computed specifier, so that bundlers for the browser leave the Node backend out
const NODE_BACKEND = './node.js';

/** The backend in use; the first call without setOrt() loads onnxruntime-node. */
export async function getOrt(): Promise<OrtBackend> {
  backend ??= ((await import(NODE_BACKEND)) as { nodeBackend: () => OrtBackend }).nodeBackend();
  return backend;
}

function loadedOrt(): OrtModule {
  if (!backend) throw new Error('onnxruntime is not loaded yet (create a Session first, or call setOrt)');
  return backend.ort;
}

export interface SessionOptions {
  /** intra-op threads; default: all cores */
  threads?: number;
  /** ORT graph optimisation level; default 'all' */
  optimization?: 'disabled' | 'basic' | 'extended' | 'all';
  /** weights above this many bytes in total go through an external data file (protobuf caps at 2 GB) */
  externalAbove?: number;
  /** execution provider: 'cpu' (default) or 'cuda' (onnxruntime's CUDA provider, CPU for ops it lacks) */
  device?: Device;
}

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

/**
 * Throws, with one line saying how to enable it, when the device's provider is not installed
 * (the Node backend checks for onnxruntime-node's CUDA library; other backends run on the CPU only).
 */
export async function checkDevice(device: Device): Promise<void> {
  if (device === 'cpu') return;
  const b = await getOrt();
  if (!b.checkDevice) throw new Error(`--device ${device} is not available with this onnxruntime backend`);
  b.checkDevice(device);
}

const EXTERNAL_ABOVE = 1.5e9;

function initializerBytes(g: Graph): number {
  let n = 0;
  for (const t of g.initializers.values()) n += t.data.byteLength;
  return n;
}

const ORT_TYPE: Partial<Record<DType, OrtCommon.Tensor.Type>> = {
  float32: 'float32',
  float64: 'float64',
  float16: 'float16',
  int64: 'int64',
  int32: 'int32',
  int16: 'int16',
  int8: 'int8',
  uint8: 'uint8',
  uint16: 'uint16',
  uint32: 'uint32',
  uint64: 'uint64',
  bool: 'bool',
};

export function toOrt(t: Tensor): OrtCommon.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (!type) throw new Error(`onnxruntime cannot take ${t.dtype} tensors`);
  return new (loadedOrt().Tensor)(type, t.data as never, t.dims);
}

export function fromOrt(t: OrtCommon.Tensor): Tensor {
  const dtype = t.type as DType;
  const dims = t.dims.map(Number);
  let data = t.data as TensorArray;
  if (t.type === 'bool') data = new Uint8Array((t.data as Uint8Array).buffer, (t.data as Uint8Array).byteOffset, (t.data as Uint8Array).length);
  return new Tensor(dtype, dims, data);
}

export class Session {
  private constructor(
    private readonly inner: OrtCommon.InferenceSession,
    readonly graph: Graph,
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<Session> {
    const { ort, executionProviders, writeExternal } = await getOrt();
    const threads = opts.threads ?? defaultThreads();
    const device = opts.device ?? 'cpu';
    await checkDevice(device);
    const options: OrtCommon.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : (executionProviders ?? ['cpu']),
    };
    const large = initializerBytes(graph) > (opts.externalAbove ?? EXTERNAL_ABOVE);
    if (large && !writeExternal) throw new Error(`graph '${graph.name}' has over ${opts.externalAbove ?? EXTERNAL_ABOVE} bytes of weights; only the Node backend can load it`);
    const external = large ? writeExternal!(graph) : undefined;
    let inner: OrtCommon.InferenceSession;
    try {
      inner = external ? await ort.InferenceSession.create(external.path, options) : await ort.InferenceSession.create(serializeModel(graph), options);
    } catch (e) {
      throw new Error(`onnxruntime rejected graph '${graph.name}': ${(e as Error).message}`);
    } finally {
      // onnxruntime has read (or mapped) the weights by now
      external?.cleanup();
    }
    return new Session(inner, graph);
  }

  get inputNames(): readonly string[] {
    return this.inner.inputNames;
  }

  get outputNames(): readonly string[] {
    return this.inner.outputNames;
  }

  async run(feeds: Record<string, Tensor>, outputs?: string[]): Promise<Record<string, Tensor>> {
    const f: Record<string, OrtCommon.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(v);
    const res = outputs ? await this.inner.run(f, outputs) : await this.inner.run(f);
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v as OrtCommon.Tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

export function defaultThreads(): number {
  const env = Number((globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.JEPA_THREADS);
  if (env > 0) return env;
  return Math.max(1, backend?.defaultThreads?.() ?? 1);
}

/** Builds a session, runs it once and releases it. */
export async function runOnce(graph: Graph, feeds: Record<string, Tensor>, opts?: SessionOptions): Promise<Record<string, Tensor>> {
  const s = await Session.create(graph, opts);
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}
