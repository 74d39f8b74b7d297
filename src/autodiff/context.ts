// What a gradient rule sees: the node, its output cotangents, forward shapes and values, and helpers
// that hide whether cotangents carry a leading k axis (batched mode) or not (standard mode).
import { Node, Attr } from '../graph/graph.js';
import { DType, getNumber, isFloat, sizeOf, Tensor } from '../graph/tensor.js';
import { Emitter } from './emit.js';

export interface ForwardInfo {
  graphName: string;
  opset: number;
  dtypes: Map<string, DType>;
  /** shape of every input, initializer and node output */
  shapes: Map<string, number[]>;
  /** probed contents of inputs, integer node outputs and float values read by rules */
  values: Map<string, Tensor>;
  initializers: Map<string, Tensor>;
  /** values whose contents depend on graph input data (or on a wrt initializer) */
  dataDependent: Set<string>;
  /** initializers that are not differentiated (safe to fold into new constants) */
  constants: Set<string>;
  /** producer of each node output */
  producers: Map<string, Node>;
  /** the nodes that get rules and read each value */
  consumers: Map<string, Node[]>;
  /** values asked for as outputs */
  outputs: Set<string>;
}

export class RuleError extends Error {}

export class Ctx {
  node!: Node;
  private dys: (string | undefined)[] = [];
  private needed: boolean[] = [];
  private kShape: string | undefined;
  private readonly fwdT = new Map<string, string>();
  private readonly memos = new Map<string, string>();

  constructor(
    readonly e: Emitter,
    readonly info: ForwardInfo,
    /** 1 when cotangents have a leading k axis */
    readonly lead: 0 | 1,
    /** a cotangent input, for reading k at run time */
    private readonly kSource: string,
    /** the summed cotangent of a value whose consumers have all been processed */
    private readonly cotangentOf: (v: string) => string | undefined,
  ) {}

  /** The total cotangent of a forward value downstream of this node (already complete), if any. */
  cotangent(v: string): string | undefined {
    return this.cotangentOf(v);
  }

  attach(node: Node, dys: (string | undefined)[], needed: boolean[]): void {
    this.node = node;
    this.dys = dys;
    this.needed = needed;
  }

  /** An error naming the node. */
  fail(msg: string): RuleError {
    return new RuleError(`vjp(${this.info.graphName}): node ${this.node.name} (${this.node.op}): ${msg}`);
  }

  /** Cotangent of output i, or undefined when nothing downstream needs it. */
  dy(i = 0): string | undefined {
    return this.dys[i];
  }

  /** Cotangent of output i; throws if it has none. */
  dyReq(i = 0): string {
    const d = this.dys[i];
    if (!d) throw this.fail(`output ${i} has no cotangent`);
    return d;
  }

  /** Whether input i needs a gradient. */
  needs(i: number): boolean {
    return !!this.needed[i];
  }

  get x(): string {
    return this.node.inputs[0];
  }

  get y(): string {
    return this.node.outputs[0];
  }

  in(i: number): string {
    return this.node.inputs[i] ?? '';
  }

  attr(name: string): Attr | undefined {
    return this.node.attrs[name];
  }

  shape(v: string): number[] {
    const s = this.info.shapes.get(v);
    if (!s) throw this.fail(`no shape known for '${v}'`);
    return s;
  }

  dtype(v: string): DType {
    const t = this.info.dtypes.get(v);
    if (!t) throw this.fail(`no data type known for '${v}'`);
    return t;
  }

  isFloat(v: string): boolean {
    return isFloat(this.dtype(v));
  }

  /** Probed contents of a value (forward, at the probe inputs). */
  tensor(v: string): Tensor {
    const t = this.info.initializers.get(v) ?? this.info.values.get(v);
    if (!t) throw this.fail(`no value known for '${v}'`);
    return t;
  }

  /** Whether the contents of v are fixed (independent of input data and of wrt values). */
  isStatic(v: string): boolean {
    return !this.info.dataDependent.has(v);
  }

  /** Contents of a static integer (or float) tensor as numbers. */
  ints(v: string, what = 'value'): number[] {
    if (!this.isStatic(v)) throw this.fail(`${what} '${v}' depends on input data; only fixed ${what}s are supported`);
    return this.tensor(v).toNumbers();
  }

  /** The initializer tensor behind v when v is a constant (non-wrt) weight. */
  constTensor(v: string): Tensor | undefined {
    return this.info.constants.has(v) ? this.info.initializers.get(v) : undefined;
  }

  /** A static scalar (any rank, one element) value, or undefined. */
  staticScalar(v: string): number | undefined {
    if (!this.isStatic(v)) return undefined;
    const t = this.info.initializers.get(v) ?? this.info.values.get(v);
    if (!t || t.size !== 1) return undefined;
    return getNumber(t, 0);
  }

  /** Computes a forward-side value once per key and reuses it. */
  memo(key: string, make: () => string): string {
    let v = this.memos.get(key);
    if (v === undefined) {
      v = make();
      this.memos.set(key, v);
    }
    return v;
  }

  // ---- helpers on cotangents ----

  /** Normalises a forward axis of a rank-r value and shifts it past the lead axis. */
  axis(a: number, rank: number): number {
    const n = a < 0 ? a + rank : a;
    if (n < 0 || n >= rank) throw this.fail(`axis ${a} out of range for rank ${rank}`);
    return n + this.lead;
  }

  /** Forward axes (normalised) shifted past the lead axis. */
  axes(as: number[], rank: number): number[] {
    return as.map((a) => this.axis(a, rank));
  }

  /** A forward permutation, extended to keep the lead axis first. */
  perm(p: number[]): number[] {
    return this.lead ? [0, ...p.map((i) => i + 1)] : p.slice();
  }

  /** Reshapes a cotangent to the forward shape `dims` (keeping k in front). */
  reshape(cot: string, dims: number[]): string {
    return this.e.reshape(cot, this.lead ? [-1, ...dims] : dims);
  }

  /** Transposes a cotangent by a forward permutation. */
  transpose(cot: string, p: number[]): string {
    return this.e.transpose(cot, this.perm(p));
  }

  /**
   * Sums a cotangent of forward shape `from` down to the shape `to` that numpy-broadcast to `from`,
   * never touching the lead axis.
   */
  unbroadcast(cot: string, from: number[], to: number[]): string {
    const r = from.length - to.length;
    if (r < 0) throw this.fail(`cannot sum shape [${from}] down to [${to}]`);
    const lead: number[] = [];
    const inner: number[] = [];
    for (let i = 0; i < r; i++) lead.push(i + this.lead);
    to.forEach((d, j) => {
      if (d === 1 && from[r + j] !== 1) inner.push(r + j + this.lead);
      else if (d !== from[r + j]) throw this.fail(`shape [${to}] does not broadcast to [${from}]`);
    });
    if (!inner.length) return this.e.reduceSum(cot, lead, false);
    if (!lead.length) return this.e.reduceSum(cot, inner, true);
    return this.reshape(this.e.reduceSum(cot, [...lead, ...inner], true), to);
  }

  /** A [k,]-shaped 1-D int64 value holding the run-time k (batched mode only). */
  kDims(): string {
    if (!this.kShape) {
      const s = this.e.op('Shape', [this.kSource]);
      this.kShape = this.e.slice(s, [0], [1], [0]);
    }
    return this.kShape;
  }

  /** Zeros of the cotangent shape for a forward shape. */
  zeros(dims: number[], dtype: DType): string {
    const value = { value: { type: 'tensor', value: Tensor.zeros(dtype, [1]) } as Attr };
    if (!this.lead) return this.e.op('ConstantOfShape', [this.e.ints(dims)], value);
    const shape = this.e.concat([this.kDims(), this.e.ints(dims)], 0);
    return this.e.op('ConstantOfShape', [shape], value);
  }

  scalar(v: number, dtype: DType): string {
    return this.e.scalar(v, dtype);
  }

  /**
   * The forward value v with its last two axes swapped, shared between uses. A constant weight becomes
   * a pre-transposed initializer; the output of such a Transpose node gives back its input.
   */
  transposeLast2(v: string): string {
    const hit = this.fwdT.get(v);
    if (hit) return hit;
    const dims = this.shape(v);
    const r = dims.length;
    const swap = Array.from({ length: r }, (_, i) => (i === r - 2 ? r - 1 : i === r - 1 ? r - 2 : i));
    let out: string | undefined;
    const p = this.info.producers.get(v);
    if (p && p.op === 'Transpose') {
      const pa = p.attrs.perm;
      if (pa?.type === 'ints' && pa.value.length === r && pa.value.every((q, i) => q === swap[i])) out = p.inputs[0];
    }
    const t = this.constTensor(v);
    if (!out && t) out = this.e.shared(`T:${v}`, () => transposeLast2Tensor(t), 'wT');
    if (!out) out = this.e.transpose(v, swap);
    this.fwdT.set(v, out);
    return out;
  }
}

function transposeLast2Tensor(t: Tensor): Tensor {
  const d = t.dims;
  const r = d.length;
  const m = d[r - 2];
  const n = d[r - 1];
  const batch = sizeOf(d.slice(0, r - 2));
  const out = Tensor.zeros(t.dtype, [...d.slice(0, r - 2), n, m]);
  const src = t.data as Float32Array;
  const dst = out.data as Float32Array;
  for (let b = 0; b < batch; b++) {
    const o = b * m * n;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) dst[o + j * m + i] = src[o + i * n + j];
  }
  return out;
}
