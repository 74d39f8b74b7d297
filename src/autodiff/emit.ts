// Emits ONNX nodes for the backward pass, with opset-aware helpers and shared constants.
import { GraphBuilder } from '../graph/builder.js';
import { Attr, attr } from '../graph/graph.js';
import { DType, ONNX_DTYPE, Tensor } from '../graph/tensor.js';

export class Emitter {
  private readonly consts = new Map<string, string>();

  constructor(
    readonly b: GraphBuilder,
    readonly opset: number,
  ) {}

  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.b.opN(op, inputs, 1, attrs)[0];
  }

  opN(op: string, inputs: string[], n: number, attrs: Record<string, Attr> = {}): string[] {
    return this.b.opN(op, inputs, n, attrs);
  }

  /** A new initializer (not shared). */
  constant(t: Tensor, prefix = 'const'): string {
    return this.b.constant(t, prefix);
  }

  private cached(key: string, make: () => Tensor, prefix: string): string {
    let v = this.consts.get(key);
    if (!v) {
      v = this.b.constant(make(), prefix);
      this.consts.set(key, v);
    }
    return v;
  }

  scalar(value: number, dtype: DType): string {
    return this.cached(`s:${dtype}:${value}`, () => Tensor.scalar(value, dtype), 'scalar');
  }

  ints(values: number[]): string {
    return this.cached(`i:${values.join(',')}`, () => Tensor.i64([values.length], values), 'ints');
  }

  /** A shared initializer made once per key. */
  shared(key: string, make: () => Tensor, prefix = 'const'): string {
    return this.cached(`t:${key}`, make, prefix);
  }

  add(a: string, b: string) { return this.op('Add', [a, b]); }
  sub(a: string, b: string) { return this.op('Sub', [a, b]); }
  mul(a: string, b: string) { return this.op('Mul', [a, b]); }
  div(a: string, b: string) { return this.op('Div', [a, b]); }
  neg(a: string) { return this.op('Neg', [a]); }
  matmul(a: string, b: string) { return this.op('MatMul', [a, b]); }

  cast(x: string, to: DType): string {
    return this.op('Cast', [x], { to: attr.int(ONNX_DTYPE[to]) });
  }

  reshape(x: string, dims: number[]): string {
    return this.op('Reshape', [x, this.ints(dims)]);
  }

  transpose(x: string, perm: number[]): string {
    if (perm.every((p, i) => p === i)) return x;
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }

  reduceSum(x: string, axes: number[], keepdims: boolean): string {
    if (!axes.length) return x;
    return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  reduceMean(x: string, axes: number[], keepdims: boolean): string {
    if (!axes.length) return x;
    if (this.opset >= 18) return this.op('ReduceMean', [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
    return this.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  concat(xs: string[], axis: number): string {
    if (xs.length === 1) return xs[0];
    return this.op('Concat', xs, { axis: attr.int(axis) });
  }

  split(x: string, sizes: number[], axis: number): string[] {
    return this.opN('Split', [x, this.ints(sizes)], sizes.length, { axis: attr.int(axis) });
  }

  slice(x: string, starts: number[], ends: number[], axes: number[], steps?: number[]): string {
    const ins = [x, this.ints(starts), this.ints(ends), this.ints(axes)];
    if (steps) ins.push(this.ints(steps));
    return this.op('Slice', ins);
  }

  /** Constant-zero padding; negative pads crop. */
  pad(x: string, pads: number[]): string {
    if (pads.every((p) => p === 0)) return x;
    return this.op('Pad', [x, this.ints(pads)], { mode: attr.string('constant') });
  }

  unsqueeze(x: string, axes: number[]): string {
    return this.op('Unsqueeze', [x, this.ints(axes)]);
  }

  /** Adds the values (one Add for two, one Sum for more). */
  sum(xs: string[]): string {
    if (xs.length === 1) return xs[0];
    if (xs.length === 2) return this.add(xs[0], xs[1]);
    return this.op('Sum', xs);
  }
}
