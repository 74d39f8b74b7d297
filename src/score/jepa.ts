// JEPA-SCORE: sum_k log max(sigma_k(J_f(x)), eps), from the exact Jacobian of the encoder.
import { vjp } from '../autodiff/index.js';
import { Graph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Session, SessionOptions } from '../runtime/session.js';
import { ApproxOptions, checkApprox, combine, sketchEstimate, sketchMatrices } from './approx.js';
import { GramSession } from './gram.js';
import { gram } from './linalg.js';
import { checkFinite, finishSpectrum, logStandardNormal, rankTolerance, Spectrum, SpectrumOptions, transpose } from './spectrum.js';

export * from './spectrum.js';

/** An image encoder: one float input (batch 1 at `inputShape`), one [1, K] embedding output. */
export interface Encoder {
  graph: Graph;
  input: string;
  output: string;
  inputShape: number[];
  embeddingDim: number;
}

export interface ScoreOptions extends SpectrumOptions, SessionOptions {
  /** Jacobian rows per onnxruntime run (memory grows with it); default min(K, 32) */
  chunk?: number;
  /** return all singular values */
  spectrum?: boolean;
  /** estimate the score from r Jacobian products instead of K (src/score/approx.ts says what it estimates) */
  approx?: ApproxOptions;
}

export interface ScoreResult extends Spectrum {
  embedding: Float32Array;
  /** log N(f(x); 0, I), the change-of-variables term the paper drops */
  logDensityEmbedding: number;
  /** set when the score is the approximate one: its settings and each sketch's estimate */
  approx?: Required<Omit<ApproxOptions, 'basis'>> & { perSketch: number[] };
}

// Above this many Jacobian entries, the Gram matrix is formed by onnxruntime (float64 Gemm) instead of JS.
const ORT_GRAM_MIN = 4_000_000;

/** Computes Jacobians and JEPA-SCOREs of one encoder; reuse it for many inputs. */
export class JepaScorer {
  private gramSession?: GramSession;
  /** forward-only session, made on the first embed() */
  private fwd?: Session;
  /** the approximate mode's sketches (each s x K, row-major) */
  private sketches?: Float32Array[];

  private constructor(
    readonly encoder: Encoder,
    private readonly jac: Session,
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
    // the float64 Gram session stays on the CPU (GramSession), whatever the device
    const sopts: SessionOptions = { threads: opts.threads, optimization: opts.optimization, device: opts.device };
    const jac = await Session.create(res.graph, sopts);
    const s = new JepaScorer(enc, jac, res.cotangents[0], res.grads[0], K, D, opts);
    if (opts.approx) {
      try {
        s.sketches = sketchMatrices(K, opts.approx).map((m) => Float32Array.from(m));
      } catch (e) {
        await jac.release();
        throw e;
      }
    }
    return s;
  }

  get chunk(): number {
    return Math.max(1, Math.min(this.K, this.opts.chunk ?? 32));
  }

  private feed(x: Float32Array): Tensor {
    if (x.length !== this.D) throw new Error(`input has ${x.length} values, the encoder takes [${this.encoder.inputShape}] = ${this.D}`);
    return new Tensor('float32', this.encoder.inputShape, x);
  }

  /** The embedding f(x) and the full Jacobian J (K x D, row-major, float32): the products with the identity. */
  async jacobian(x: Float32Array): Promise<{ embedding: Float32Array; J: Float32Array }> {
    const { K } = this;
    const identity = new Float32Array(K * K);
    for (let r = 0; r < K; r++) identity[r * K + r] = 1;
    const { embedding, Y } = await this.products(x, identity);
    return { embedding, J: Y };
  }

  /** Products C J for the rows of C (n x K, row-major): n x D, `chunk` rows per run. */
  async products(x: Float32Array, C: Float32Array): Promise<{ embedding: Float32Array; Y: Float32Array }> {
    const { K, D } = this;
    const n = C.length / K;
    if (!Number.isInteger(n) || n < 1) throw new Error(`products: the cotangent matrix has ${C.length} entries, not a multiple of K = ${K}`);
    const input = this.feed(x);
    const Y = new Float32Array(n * D);
    let embedding: Float32Array | undefined;
    for (let start = 0; start < n; start += this.chunk) {
      const k = Math.min(this.chunk, n - start);
      const cot = C.slice(start * K, (start + k) * K);
      const out = await this.jac.run({ [this.encoder.input]: input, [this.cotangent]: new Tensor('float32', [k, 1, K], cot) });
      Y.set(out[this.grad].data as Float32Array, start * D);
      embedding ??= Float32Array.from(out[this.encoder.output].data as Float32Array);
    }
    return { embedding: embedding!, Y };
  }

  /** The approximate score (opts.approx): r products in total instead of K. */
  private async approxScore(x: Float32Array): Promise<ScoreResult> {
    const { K, D } = this;
    const eps = this.opts.eps;
    const parts = [];
    let embedding: Float32Array | undefined;
    for (const C of this.sketches!) {
      const r = await this.products(x, C);
      checkFinite(r.Y, 'Jacobian products');
      embedding ??= r.embedding;
      parts.push(sketchEstimate(r.Y, C.length / K, D, K, eps));
    }
    checkFinite(embedding!, 'embedding');
    const res = combine(parts);
    const sv = res.singularValues;
    const tol = rankTolerance(sv[0], K, D, this.opts.rankTol);
    return {
      score: res.score,
      scoreRank: res.score,
      rank: sv.filter((v) => v > tol && v > 0).length,
      singularValues: this.opts.spectrum ? sv : sv.slice(0, 0),
      embedding: embedding!,
      logDensityEmbedding: logStandardNormal(embedding!),
      approx: { ...checkApprox(this.opts.approx!, K), perSketch: res.perSketch },
    };
  }

  /** JEPA-SCORE of one input (D values, laid out as the encoder's input shape); the estimate with opts.approx. */
  async score(x: Float32Array): Promise<ScoreResult> {
    if (this.sketches) return this.approxScore(x);
    const { embedding, J } = await this.jacobian(x);
    checkFinite(embedding, 'embedding');
    checkFinite(J, 'Jacobian');
    const { K, D } = this;
    let g: Float64Array;
    if (K <= D && K * D >= ORT_GRAM_MIN) {
      this.gramSession ??= await GramSession.create(K, D, this.opts.threads);
      g = await this.gramSession.gram(J);
    }
    else g = K <= D ? gram(J, K, D) : gram(transpose(J, K, D), D, K);
    const spec = finishSpectrum(g, J, K, D, this.opts);
    if (!this.opts.spectrum) spec.singularValues = spec.singularValues.slice(0, 0);
    return { ...spec, embedding, logDensityEmbedding: logStandardNormal(embedding) };
  }

  /** Embeddings only (forward passes). */
  async embed(xs: Float32Array[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const x of xs) {
      this.fwd ??= await Session.create(forwardOnly(this.encoder), { threads: this.opts.threads, optimization: this.opts.optimization, device: this.opts.device });
      const r = await this.fwd.run({ [this.encoder.input]: this.feed(x) });
      out.push(Float32Array.from(r[this.encoder.output].data as Float32Array));
    }
    return out;
  }

  async release(): Promise<void> {
    await this.jac.release();
    await this.fwd?.release();
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

/** The embedding and the full Jacobian J (K x D, row-major float32) of one input, `chunk` rows per onnxruntime run. */
export async function jacobian(enc: Encoder, x: Float32Array, opts: { chunk?: number; threads?: number } = {}): Promise<{ embedding: Float32Array; J: Float32Array }> {
  const s = await JepaScorer.create(enc, opts);
  try {
    return await s.jacobian(x);
  } finally {
    await s.release();
  }
}
