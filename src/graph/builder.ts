// A small typed API for authoring ONNX graphs in TypeScript.
import { Attr, attr, Dim, Graph, Node } from './graph.js';
import { DType, Tensor } from './tensor.js';

export type Value = string;

export class GraphBuilder {
  readonly graph: Graph;
  private counter = 0;
  private readonly used = new Set<string>();

  constructor(name = 'graph', opset = 17) {
    this.graph = { name, opset, inputs: [], outputs: [], initializers: new Map(), nodes: [] };
  }

  /** Continues building on an existing graph (its nodes, inputs and initializers are kept). */
  static from(g: Graph): GraphBuilder {
    const b = new GraphBuilder(g.name, g.opset);
    Object.assign(b.graph, { inputs: g.inputs, outputs: g.outputs, initializers: g.initializers, nodes: g.nodes });
    for (const v of g.inputs) b.used.add(v.name);
    for (const k of g.initializers.keys()) b.used.add(k);
    for (const n of g.nodes) {
      b.used.add(n.name);
      for (const o of n.outputs) b.used.add(o);
    }
    return b;
  }

  /** A fresh, unused name starting with `prefix`. */
  fresh(prefix = 'v'): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.used.has(name));
    this.used.add(name);
    return name;
  }

  private claim(name: string): string {
    if (this.used.has(name)) throw new Error(`name '${name}' is already used in graph ${this.graph.name}`);
    this.used.add(name);
    return name;
  }

  input(name: string, dtype: DType, shape?: Dim[]): Value {
    this.graph.inputs.push({ name: this.claim(name), dtype, shape });
    return name;
  }

  /** A weight. */
  init(name: string, t: Tensor): Value {
    this.graph.initializers.set(this.claim(name), t);
    return name;
  }

  /** An anonymous constant tensor. */
  constant(t: Tensor, prefix = 'const'): Value {
    const name = this.fresh(prefix);
    this.graph.initializers.set(name, t);
    return name;
  }

  scalar(v: number, dtype: DType = 'float32'): Value {
    return this.constant(Tensor.scalar(v, dtype), 'scalar');
  }

  ints(values: number[]): Value {
    return this.constant(Tensor.i64([values.length], values), 'ints');
  }

  output(name: Value, dtype: DType, shape?: Dim[]): void {
    this.graph.outputs.push({ name, dtype, shape });
  }

  /** Adds a node with `nOut` outputs and returns their names. */
  opN(op: string, inputs: Value[], nOut: number, attrs: Record<string, Attr> = {}, opts: { outputs?: string[]; domain?: string } = {}): Value[] {
    const outputs = opts.outputs ? opts.outputs.map((o) => this.claim(o)) : Array.from({ length: nOut }, () => this.fresh(op.toLowerCase()));
    const node: Node = { name: this.fresh(`n_${op}`), op, inputs, outputs, attrs };
    if (opts.domain) node.domain = opts.domain;
    this.graph.nodes.push(node);
    return outputs;
  }

  /** Adds a node with one output. `out` names that output. */
  op(op: string, inputs: Value[], attrs: Record<string, Attr> = {}, out?: string): Value {
    return this.opN(op, inputs, 1, attrs, out ? { outputs: [out] } : {})[0];
  }

  build(): Graph {
    return this.graph;
  }

  // ---- conveniences for common ops (opset 17) ----
  add(a: Value, b: Value) { return this.op('Add', [a, b]); }
  sub(a: Value, b: Value) { return this.op('Sub', [a, b]); }
  mul(a: Value, b: Value) { return this.op('Mul', [a, b]); }
  div(a: Value, b: Value) { return this.op('Div', [a, b]); }
  pow(a: Value, b: Value) { return this.op('Pow', [a, b]); }
  neg(a: Value) { return this.op('Neg', [a]); }
  sqrt(a: Value) { return this.op('Sqrt', [a]); }
  exp(a: Value) { return this.op('Exp', [a]); }
  log(a: Value) { return this.op('Log', [a]); }
  tanh(a: Value) { return this.op('Tanh', [a]); }
  sigmoid(a: Value) { return this.op('Sigmoid', [a]); }
  relu(a: Value) { return this.op('Relu', [a]); }
  erf(a: Value) { return this.op('Erf', [a]); }
  cos(a: Value) { return this.op('Cos', [a]); }
  sin(a: Value) { return this.op('Sin', [a]); }
  identity(a: Value) { return this.op('Identity', [a]); }
  matmul(a: Value, b: Value) { return this.op('MatMul', [a, b]); }

  gemm(a: Value, b: Value, c?: Value, o: { alpha?: number; beta?: number; transA?: boolean; transB?: boolean } = {}) {
    const attrs: Record<string, Attr> = {};
    if (o.alpha !== undefined) attrs.alpha = attr.float(o.alpha);
    if (o.beta !== undefined) attrs.beta = attr.float(o.beta);
    if (o.transA) attrs.transA = attr.int(1);
    if (o.transB) attrs.transB = attr.int(1);
    return this.op('Gemm', c ? [a, b, c] : [a, b], attrs);
  }

  /** x @ w^T + bias for a PyTorch-style Linear weight [out, in]. Works on any rank of x. */
  linear(x: Value, weight: Value, bias?: Value): Value {
    const wt = this.transpose(weight, [1, 0]);
    const y = this.matmul(x, wt);
    return bias ? this.add(y, bias) : y;
  }

  softmax(x: Value, axis = -1) { return this.op('Softmax', [x], { axis: attr.int(axis) }); }

  layerNorm(x: Value, scale: Value, bias: Value | undefined, eps: number, axis = -1) {
    return this.op('LayerNormalization', bias ? [x, scale, bias] : [x, scale], { axis: attr.int(axis), epsilon: attr.float(eps) });
  }

  /** Exact GELU: 0.5 x (1 + erf(x / sqrt 2)). */
  gelu(x: Value): Value {
    const t = this.erf(this.mul(x, this.scalar(Math.SQRT1_2)));
    return this.mul(this.mul(x, this.scalar(0.5)), this.add(t, this.scalar(1)));
  }

  /** GELU with the tanh approximation. */
  geluTanh(x: Value): Value {
    const x3 = this.mul(this.mul(x, x), x);
    const inner = this.mul(this.add(x, this.mul(x3, this.scalar(0.044715))), this.scalar(Math.sqrt(2 / Math.PI)));
    return this.mul(this.mul(x, this.scalar(0.5)), this.add(this.tanh(inner), this.scalar(1)));
  }

  /** CLIP's quick_gelu: x * sigmoid(1.702 x). */
  quickGelu(x: Value): Value {
    return this.mul(x, this.sigmoid(this.mul(x, this.scalar(1.702))));
  }

  silu(x: Value): Value {
    return this.mul(x, this.sigmoid(x));
  }

  reshape(x: Value, shape: number[]) { return this.op('Reshape', [x, this.ints(shape)]); }
  transpose(x: Value, perm: number[]) { return this.op('Transpose', [x], { perm: attr.ints(perm) }); }
  flatten(x: Value, axis = 1) { return this.op('Flatten', [x], { axis: attr.int(axis) }); }
  concat(xs: Value[], axis: number) { return this.op('Concat', xs, { axis: attr.int(axis) }); }
  unsqueeze(x: Value, axes: number[]) { return this.op('Unsqueeze', [x, this.ints(axes)]); }
  squeeze(x: Value, axes: number[]) { return this.op('Squeeze', [x, this.ints(axes)]); }
  expand(x: Value, shape: number[]) { return this.op('Expand', [x, this.ints(shape)]); }
  cast(x: Value, to: DType) {
    const code = { float32: 1, uint8: 2, int8: 3, uint16: 4, int16: 5, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11, uint32: 12, uint64: 13, bfloat16: 16 }[to];
    return this.op('Cast', [x], { to: attr.int(code) });
  }

  slice(x: Value, starts: number[], ends: number[], axes?: number[], steps?: number[]) {
    const ins = [x, this.ints(starts), this.ints(ends)];
    if (axes || steps) ins.push(axes ? this.ints(axes) : '');
    if (steps) ins.push(this.ints(steps));
    return this.op('Slice', ins);
  }

  split(x: Value, sizes: number[], axis: number): Value[] {
    return this.opN('Split', [x, this.ints(sizes)], sizes.length, { axis: attr.int(axis) });
  }

  gather(x: Value, indices: Value, axis = 0) { return this.op('Gather', [x, indices], { axis: attr.int(axis) }); }

  reduceMean(x: Value, axes: number[], keepdims = true) {
    return this.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }

  reduceSum(x: Value, axes: number[], keepdims = true) {
    return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }

  where(cond: Value, a: Value, b: Value) { return this.op('Where', [cond, a, b]); }

  conv(x: Value, w: Value, b: Value | undefined, o: { strides?: number[]; pads?: number[]; dilations?: number[]; group?: number } = {}) {
    const attrs: Record<string, Attr> = {};
    if (o.strides) attrs.strides = attr.ints(o.strides);
    if (o.pads) attrs.pads = attr.ints(o.pads);
    if (o.dilations) attrs.dilations = attr.ints(o.dilations);
    if (o.group) attrs.group = attr.int(o.group);
    return this.op('Conv', b ? [x, w, b] : [x, w], attrs);
  }
}
