// JEPA-SCORE: sum_k log max(sigma_k(J_f(x)), eps), from the exact Jacobian of the encoder.
import { vjp } from '../autodiff/index.js';
import { GraphBuilder } from '../graph/builder.js';
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Session, SessionOptions } from '../runtime/session.js';
import { gram, symmetricEigen } from './linalg.js';

/** An image encoder: one float input (batch 1 at `inputShape`), one [1, K] embedding output. */
export interface Encoder {
  graph: Graph;
  input: string;
  output: string;
  inputShape: number[];
  embeddingDim: number;
}

export const DEFAULT_EPS = 1e-6;
const F32_EPS = 2 ** -23;

export interface SpectrumOptions {
  /** clip singular values below this (the paper's eps) */
  eps?: number;
  /** how many top right singular vectors (each of length D) to return */
  vectors?: number;
}

export interface Spectrum {
  /** sum_k log max(sigma_k, eps) over the min(K, D) singular values: the paper's JEPA-SCORE */
  score: number;
  /** sum of log sigma_k over the numerical rank only (sigma_k > sigma_max * max(K, D) * float32 eps) */
  scoreRank: number;
  /** the numerical rank used by scoreRank */
  rank: number;
  /** singular values, descending, min(K, D) of them */
  singularValues: Float64Array;
  /** top right singular vectors (input space), when asked for */
  vectors?: Float32Array[];
}

/** Rank threshold on singular values: sigma_max * max(K, D) * float32 epsilon (J is computed in float32). */
export function rankTolerance(sigmaMax: number, K: number, D: number): number {
  return sigmaMax * Math.max(K, D) * F32_EPS;
}

/** Turns the eigenvalues of a Gram matrix (descending) into the scores. */
export function spectrumFromEigenvalues(eigenvalues: Float64Array, K: number, D: number, eps = DEFAULT_EPS): Spectrum {
  const singularValues = Float64Array.from(eigenvalues, (v) => Math.sqrt(Math.max(v, 0)));
  const tol = rankTolerance(singularValues[0] ?? 0, K, D);
  let score = 0;
  let scoreRank = 0;
  let rank = 0;
  for (const s of singularValues) {
    score += Math.log(Math.max(s, eps));
    if (s > tol && s > 0) {
      scoreRank += Math.log(s);
      rank++;
    }
  }
  return { score, scoreRank, rank, singularValues };
}

/**
 * Scores from a Jacobian J (K x D, row-major). The Gram matrix of the smaller side is formed in float64
 * and its eigenvalues give the singular values.
 */
export function scoreFromJacobian(J: Float32Array | Float64Array, K: number, D: number, opts: SpectrumOptions = {}): Spectrum {
  if (J.length !== K * D) throw new Error(`scoreFromJacobian: J has ${J.length} entries, expected ${K} x ${D}`);
  checkFinite(J, 'Jacobian');
  const wide = K <= D;
  const g = wide ? gram(J, K, D) : gram(transpose(J, K, D), D, K);
  return finishSpectrum(g, J, K, D, opts);
}

function finishSpectrum(g: Float64Array, J: Float32Array | Float64Array, K: number, D: number, opts: SpectrumOptions): Spectrum {
  const n = Math.min(K, D);
  const nv = Math.min(opts.vectors ?? 0, n);
  const eig = symmetricEigen(g, n, nv > 0);
  const spec = spectrumFromEigenvalues(eig.values, K, D, opts.eps ?? DEFAULT_EPS);
  if (nv > 0) spec.vectors = rightVectors(J, K, D, eig.vectors, spec.singularValues, nv);
  return spec;
}

// v_i = J^T u_i / sigma_i (K <= D, u from J J^T), or the eigenvectors of J^T J directly (K > D).
function rightVectors(J: ArrayLike<number>, K: number, D: number, eigvecs: Float64Array, sv: Float64Array, count: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let i = 0; i < count; i++) {
    const v = new Float32Array(D);
    if (K > D) {
      for (let d = 0; d < D; d++) v[d] = eigvecs[i * D + d];
    } else {
      const inv = sv[i] > 0 ? 1 / sv[i] : 0;
      for (let k = 0; k < K; k++) {
        const u = eigvecs[i * K + k] * inv;
        if (u === 0) continue;
        const row = k * D;
        for (let d = 0; d < D; d++) v[d] += u * J[row + d];
      }
    }
    out.push(v);
  }
  return out;
}

function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
  return t;
}

export class NonFiniteError extends Error {}

function checkFinite(a: ArrayLike<number>, what: string) {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) bad++;
  if (bad) throw new NonFiniteError(`${what} has ${bad} non-finite entries (NaN or Inf) of ${a.length}`);
}

/** log N(z; 0, I) */
export function logStandardNormal(z: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) s += z[i] * z[i];
  return -0.5 * s - 0.5 * z.length * Math.log(2 * Math.PI);
}

export interface ScoreOptions extends SpectrumOptions, SessionOptions {
  /** Jacobian rows per onnxruntime run (memory grows with it); default min(K, 32) */
  chunk?: number;
  /** return all singular values */
  spectrum?: boolean;
}

export interface ScoreResult extends Spectrum {
  embedding: Float32Array;
  /** log N(f(x); 0, I), the change-of-variables term the paper drops */
  logDensityEmbedding: number;
}

// Above this many Jacobian entries, the Gram matrix is formed by onnxruntime (float64 Gemm) instead of JS.
const ORT_GRAM_MIN = 4_000_000;

/** Computes Jacobians and JEPA-SCOREs of one encoder; reuse it for many inputs. */
export class JepaScorer {
  private gramSession?: Session;

  private constructor(
    readonly encoder: Encoder,
    private readonly jac: Session,
    private readonly fwd: Session,
    private readonly cotangent: string,
    private readonly grad: string,
    readonly K: number,
    readonly D: number,
    private readonly opts: ScoreOptions,
  ) {}

  static async create(enc: Encoder, opts: ScoreOptions = {}): Promise<JepaScorer> {
    const shape = enc.inputShape;
    if (shape[0] !== 1) throw new Error(`the encoder must be built for batch 1, got input shape [${shape}]`);
    const D = shape.reduce((a, b) => a * b, 1);
    const K = enc.embeddingDim;
    const res = await vjp(enc.graph, { outputs: [enc.output], wrt: [enc.input], mode: 'batched', inputShapes: { [enc.input]: shape }, keepOutputs: true });
    const sopts: SessionOptions = { threads: opts.threads, optimization: opts.optimization };
    const jac = await Session.create(res.graph, sopts);
    const fwd = await Session.create(forwardOnly(enc), sopts);
    return new JepaScorer(enc, jac, fwd, res.cotangents[0], res.grads[0], K, D, opts);
  }

  get chunk(): number {
    return Math.max(1, Math.min(this.K, this.opts.chunk ?? 32));
  }

  private feed(x: Float32Array): Tensor {
    if (x.length !== this.D) throw new Error(`input has ${x.length} values, the encoder takes [${this.encoder.inputShape}] = ${this.D}`);
    return new Tensor('float32', this.encoder.inputShape, x);
  }

  /** The embedding f(x) and the full Jacobian J (K x D, row-major, float32). */
  async jacobian(x: Float32Array): Promise<{ embedding: Float32Array; J: Float32Array }> {
    const { K, D } = this;
    const input = this.feed(x);
    const J = new Float32Array(K * D);
    let embedding: Float32Array | undefined;
    for (let start = 0; start < K; start += this.chunk) {
      const k = Math.min(this.chunk, K - start);
      const cot = new Float32Array(k * K);
      for (let r = 0; r < k; r++) cot[r * K + start + r] = 1;
      const out = await this.jac.run({ [this.encoder.input]: input, [this.cotangent]: new Tensor('float32', [k, 1, K], cot) });
      J.set(out[this.grad].data as Float32Array, start * D);
      embedding ??= Float32Array.from(out[this.encoder.output].data as Float32Array);
    }
    return { embedding: embedding!, J };
  }

  /** JEPA-SCORE of one input (D values, laid out as the encoder's input shape). */
  async score(x: Float32Array): Promise<ScoreResult> {
    const { embedding, J } = await this.jacobian(x);
    checkFinite(embedding, 'embedding');
    checkFinite(J, 'Jacobian');
    const { K, D } = this;
    let g: Float64Array;
    if (K <= D && K * D >= ORT_GRAM_MIN) g = await this.ortGram(J);
    else g = K <= D ? gram(J, K, D) : gram(transpose(J, K, D), D, K);
    const spec = finishSpectrum(g, J, K, D, this.opts);
    if (!this.opts.spectrum) spec.singularValues = spec.singularValues.slice(0, 0);
    return { ...spec, embedding, logDensityEmbedding: logStandardNormal(embedding) };
  }

  private async ortGram(J: Float32Array): Promise<Float64Array> {
    if (!this.gramSession) {
      const b = new GraphBuilder('gram');
      const j = b.input('J', 'float32', [this.K, this.D]);
      const jd = b.cast(j, 'float64');
      b.output(b.op('Gemm', [jd, jd], { transB: { type: 'int', value: 1 } }, 'G'), 'float64', [this.K, this.K]);
      this.gramSession = await Session.create(b.build(), { threads: this.opts.threads });
    }
    const out = await this.gramSession.run({ J: new Tensor('float32', [this.K, this.D], J) });
    return out.G.data as Float64Array;
  }

  /** Embeddings only (forward passes). */
  async embed(xs: Float32Array[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const x of xs) {
      const r = await this.fwd.run({ [this.encoder.input]: this.feed(x) });
      out.push(Float32Array.from(r[this.encoder.output].data as Float32Array));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.jac.release();
    await this.fwd.release();
    await this.gramSession?.release();
  }
}

function forwardOnly(enc: Encoder): Graph {
  const g: Graph = { ...enc.graph, outputs: enc.graph.outputs.filter((o) => o.name === enc.output) };
  if (!g.outputs.length) g.outputs = [{ name: enc.output, dtype: 'float32' }];
  const inputs = g.inputs.map((v) => (v.name === enc.input ? { ...v, shape: enc.inputShape } : v));
  return { ...g, inputs };
}

/** Scores several inputs with one encoder. */
export async function jepaScore(enc: Encoder, xs: Float32Array[], opts: ScoreOptions = {}): Promise<ScoreResult[]> {
  const s = await JepaScorer.create(enc, opts);
  try {
    const out: ScoreResult[] = [];
    for (const x of xs) out.push(await s.score(x));
    return out;
  } finally {
    await s.release();
  }
}
