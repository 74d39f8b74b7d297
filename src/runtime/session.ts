// Runs graphs with onnxruntime-node.
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../graph/graph.js';
import { serializeModel } from '../graph/onnx.js';
import { DType, Tensor, TensorArray } from '../graph/tensor.js';

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

/** Where onnxruntime-node looks for its CUDA provider library (installed only on request, see docs/scale.md). */
export function cudaProviderPath(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', platform(), arch(), 'libonnxruntime_providers_cuda.so');
}

/** Throws, with one line saying how to enable it, when the device's provider is not installed. */
export function checkDevice(device: Device): void {
  if (device !== 'cuda') return;
  if (!existsSync(cudaProviderPath())) {
    throw new Error(
      `--device cuda: onnxruntime-node's CUDA provider is not installed (${cudaProviderPath()} is missing); ` +
        'install it with `node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12` (downloads from NuGet; needs CUDA 12 and cuDNN 9), see docs/scale.md',
    );
  }
}

const EXTERNAL_ABOVE = 1.5e9;

function initializerBytes(g: Graph): number {
  let n = 0;
  for (const t of g.initializers.values()) n += t.data.byteLength;
  return n;
}

/** Writes the model to a temporary folder with its large weights in an external data file. */
function writeWithExternalData(g: Graph): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'jepa-score-model-'));
  const fd = openSync(join(dir, 'weights.bin'), 'w');
  try {
    const bytes = serializeModel(g, {
      location: 'weights.bin',
      minBytes: 1024,
      size: 0,
      write: (b, offset) => void writeSync(fd, b, 0, b.length, offset),
    });
    writeFileSync(join(dir, 'model.onnx'), bytes);
  } finally {
    closeSync(fd);
  }
  return { dir, path: join(dir, 'model.onnx') };
}

const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
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

export function toOrt(t: Tensor): ort.Tensor {
  const type = ORT_TYPE[t.dtype];
  if (!type) throw new Error(`onnxruntime cannot take ${t.dtype} tensors`);
  return new ort.Tensor(type, t.data as never, t.dims);
}

export function fromOrt(t: ort.Tensor): Tensor {
  const dtype = t.type as DType;
  const dims = t.dims.map(Number);
  let data = t.data as TensorArray;
  if (t.type === 'bool') data = new Uint8Array((t.data as Uint8Array).buffer, (t.data as Uint8Array).byteOffset, (t.data as Uint8Array).length);
  return new Tensor(dtype, dims, data);
}

export class Session {
  private constructor(
    private readonly inner: ort.InferenceSession,
    readonly graph: Graph,
  ) {}

  static async create(graph: Graph, opts: SessionOptions = {}): Promise<Session> {
    const threads = opts.threads ?? defaultThreads();
    const device = opts.device ?? 'cpu';
    checkDevice(device);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: opts.optimization ?? 'all',
      executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    };
    const external = initializerBytes(graph) > (opts.externalAbove ?? EXTERNAL_ABOVE) ? writeWithExternalData(graph) : undefined;
    let inner: ort.InferenceSession;
    try {
      inner = external ? await ort.InferenceSession.create(external.path, options) : await ort.InferenceSession.create(serializeModel(graph), options);
    } catch (e) {
      throw new Error(`onnxruntime rejected graph '${graph.name}': ${(e as Error).message}`);
    } finally {
      // onnxruntime has read (or mapped) the weights by now
      if (external) rmSync(external.dir, { recursive: true, force: true });
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
    const f: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) f[k] = toOrt(v);
    const res = outputs ? await this.inner.run(f, outputs) : await this.inner.run(f);
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(res)) out[k] = fromOrt(v as ort.Tensor);
    return out;
  }

  async release(): Promise<void> {
    await this.inner.release();
  }
}

export function defaultThreads(): number {
  const env = Number(process.env.JEPA_THREADS);
  if (env > 0) return env;
  return Math.max(1, cpus().length);
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
