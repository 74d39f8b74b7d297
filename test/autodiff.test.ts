// Every gradient rule against central finite differences, in standard and batched mode.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkVjp } from '../src/autodiff/check.js';
import { vjp } from '../src/autodiff/index.js';
import { Rng } from '../src/data/random.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { attr } from '../src/graph/graph.js';
import { DType, Tensor } from '../src/graph/tensor.js';

type F = 'float32' | 'float64';

interface Case {
  outputs: string[];
  wrt: string[];
  feeds: Record<string, Tensor>;
}

/** Helps build a small graph whose inputs get random values. */
class Maker {
  readonly b = new GraphBuilder('case');
  readonly feeds: Record<string, Tensor> = {};
  constructor(
    readonly rng: Rng,
    readonly dt: F = 'float64',
  ) {}

  /** A graph input with random values; `positive` keeps them in [0.5, 2]. */
  in(name: string, dims: number[], positive = false): string {
    this.b.input(name, this.dt, dims);
    this.feeds[name] = this.rand(dims, positive);
    return name;
  }

  /** A random initializer. */
  w(name: string, dims: number[], positive = false): string {
    return this.b.init(name, this.rand(dims, positive));
  }

  rand(dims: number[], positive = false): Tensor {
    const n = dims.reduce((a, b) => a * b, 1);
    const v = Array.from({ length: n }, () => (positive ? 0.5 + 1.5 * this.rng.uniform() : this.rng.normal()));
    return this.dt === 'float64' ? Tensor.f64(dims, v) : Tensor.f32(dims, v);
  }

  scalar(v: number): string {
    return this.b.scalar(v, this.dt as DType);
  }

  done(outputs: string[], wrt: string[]): Case {
    for (const o of outputs) this.b.output(o, this.dt);
    return { outputs, wrt, feeds: this.feeds };
  }
}

async function check(name: string, make: (m: Maker) => Case, dt: F = 'float64', tol?: number): Promise<void> {
  for (const mode of ['standard', 'batched'] as const) {
    const m = new Maker(new Rng(11), dt);
    const c = make(m);
    const r = await checkVjp(m.b.build(), { ...c, mode, rows: 3, eps: dt === 'float64' ? 1e-6 : 1e-2 });
    const limit = tol ?? (dt === 'float64' ? 1e-6 : 1e-2);
    assert.ok(r.maxRelError < limit, `${name} (${mode}): relative error ${r.maxRelError} vs finite differences ${JSON.stringify(r.rows)}`);
    if (mode === 'batched') assert.ok(r.batchedVsStandard! < (dt === 'float64' ? 1e-12 : 1e-5), `${name}: batched rows differ from standard mode by ${r.batchedVsStandard}`);
  }
}

test('broadcasting arithmetic: Add, Sub, Mul, Div, Pow', async () => {
  await check('Add', (m) => m.done([m.b.add(m.in('a', [2, 3, 4]), m.in('b', [3, 1]))], ['a', 'b']));
  await check('Sub', (m) => m.done([m.b.sub(m.in('a', [4]), m.in('b', [2, 3, 4]))], ['a', 'b']));
  await check('Mul', (m) => m.done([m.b.mul(m.in('a', [2, 1, 4]), m.in('b', [3, 1]))], ['a', 'b']));
  await check('Mul by weight', (m) => m.done([m.b.mul(m.in('a', [2, 3]), m.w('g', [3]))], ['a', 'g']));
  await check('Div', (m) => m.done([m.b.div(m.in('a', [2, 3]), m.in('b', [3], true))], ['a', 'b']));
  await check('Pow const', (m) => m.done([m.b.pow(m.in('a', [3, 4], true), m.scalar(3))], ['a']));
  await check('Pow square', (m) => m.done([m.b.pow(m.in('a', [3, 4]), m.scalar(2))], ['a']));
  await check('Pow both', (m) => m.done([m.b.pow(m.in('a', [3, 4], true), m.in('p', [4]))], ['a', 'p']));
  await check('Sum/Mean of three', (m) => {
    const [a, b, c] = [m.in('a', [2, 3]), m.in('b', [3]), m.in('c', [2, 1])];
    return m.done([m.b.op('Sum', [a, b, c]), m.b.op('Mean', [a, b, c])], ['a', 'b', 'c']);
  }, 'float32');
  await check('Max/Min', (m) => {
    const [a, b] = [m.in('a', [2, 3]), m.in('b', [3])];
    return m.done([m.b.op('Max', [a, b]), m.b.op('Min', [a, b])], ['a', 'b']);
  });
  await check('reuse x*x + sin(x)', (m) => {
    const x = m.in('x', [5]);
    return m.done([m.b.add(m.b.mul(x, x), m.b.sin(x))], ['x']);
  });
});

test('unary ops', async () => {
  const ops = ['Exp', 'Neg', 'Tanh', 'Sigmoid', 'Relu', 'Cos', 'Sin', 'Abs', 'Identity'];
  for (const op of ops) await check(op, (m) => m.done([m.b.op(op, [m.in('x', [3, 4])])], ['x']));
  for (const op of ['Sqrt', 'Log', 'Reciprocal']) await check(op, (m) => m.done([m.b.op(op, [m.in('x', [3, 4], true)])], ['x']));
  await check('LeakyRelu', (m) => m.done([m.b.op('LeakyRelu', [m.in('x', [3, 4])], { alpha: attr.float(0.2) })], ['x']));
  await check('Clip', (m) => m.done([m.b.op('Clip', [m.in('x', [3, 4]), m.scalar(-0.5), m.scalar(0.7)])], ['x']));
  for (const op of ['Softsign', 'Elu', 'Selu', 'HardSigmoid', 'HardSwish']) await check(op, (m) => m.done([m.b.op(op, [m.in('x', [3, 4])])], ['x']), 'float32');
  await check('Dropout (inference)', (m) => m.done([m.b.op('Dropout', [m.in('x', [3, 4])])], ['x']));
  await check('Softplus', (m) => m.done([m.b.op('Softplus', [m.in('x', [3, 4])])], ['x']), 'float32');
  await check('Erf', (m) => m.done([m.b.erf(m.in('x', [3, 4]))], ['x']), 'float32');
  await check('Cast f32<->f64', (m) => {
    const x64 = m.b.cast(m.in('x', [3, 4]), 'float64');
    return m.done([m.b.cast(m.b.mul(x64, m.b.sin(x64)), 'float32')], ['x']);
  }, 'float32');
});

test('MatMul in every rank combination', async () => {
  const shapes: [number[], number[]][] = [
    [[3, 4], [4, 5]],
    [[2, 3, 4], [4, 5]],
    [[4], [2, 4, 5]],
    [[2, 3, 4], [4]],
    [[4], [4]],
    [[3, 1, 2, 4], [2, 4, 3]],
    [[2, 3, 4], [1, 4, 5]],
  ];
  for (const [sa, sb] of shapes) await check(`MatMul ${sa}x${sb}`, (m) => m.done([m.b.matmul(m.in('a', sa), m.in('b', sb))], ['a', 'b']));
  await check('MatMul const weight', (m) => m.done([m.b.matmul(m.in('a', [2, 3, 4]), m.w('W', [4, 5]))], ['a']));
  await check('linear (Transpose of weight)', (m) => m.done([m.b.linear(m.in('a', [2, 3, 4]), m.w('W', [5, 4]), m.w('bias', [5]))], ['a', 'W', 'bias']));
  await check('linear const weight', (m) => m.done([m.b.linear(m.in('a', [2, 3, 4]), m.w('W', [5, 4]))], ['a']));
});

test('Gemm with alpha, beta, transA, transB', async () => {
  for (const tA of [false, true]) {
    for (const tB of [false, true]) {
      for (const cs of [[5], [1, 5], [3, 5]]) {
        await check(`Gemm tA=${tA} tB=${tB} C=${cs}`, (m) => {
          const a = m.in('a', tA ? [4, 3] : [3, 4]);
          const b = m.in('b', tB ? [5, 4] : [4, 5]);
          const c = m.in('c', cs);
          return m.done([m.b.gemm(a, b, c, { alpha: 0.7, beta: 1.3, transA: tA, transB: tB })], ['a', 'b', 'c']);
        });
      }
    }
  }
});

test('Softmax, LogSoftmax, LayerNormalization', async () => {
  await check('Softmax -1', (m) => m.done([m.b.softmax(m.in('x', [2, 3, 4]))], ['x']));
  await check('Softmax 1', (m) => m.done([m.b.softmax(m.in('x', [2, 3, 4]), 1)], ['x']));
  await check('LogSoftmax', (m) => m.done([m.b.op('LogSoftmax', [m.in('x', [2, 3, 4])], { axis: attr.int(-1) })], ['x']));
  await check('LayerNorm -1', (m) => m.done([m.b.layerNorm(m.in('x', [2, 3, 4]), m.in('s', [4]), m.in('bias', [4]), 1e-5)], ['x', 's', 'bias']));
  await check('LayerNorm axis 1', (m) => m.done([m.b.layerNorm(m.in('x', [2, 3, 4]), m.w('s', [3, 4]), m.w('bias', [3, 4]), 1e-3, 1)], ['x', 's', 'bias']));
});

test('reductions', async () => {
  await check('ReduceSum keep', (m) => m.done([m.b.reduceSum(m.in('x', [2, 3, 4]), [1])], ['x']));
  await check('ReduceSum drop', (m) => m.done([m.b.reduceSum(m.in('x', [2, 3, 4]), [0, -1], false)], ['x']));
  await check('ReduceSum all', (m) => m.done([m.b.op('ReduceSum', [m.in('x', [2, 3])], { keepdims: attr.int(0) })], ['x']));
  await check('ReduceMean', (m) => m.done([m.b.reduceMean(m.in('x', [2, 3, 4]), [0, 2], false)], ['x']));
  for (const op of ['ReduceMax', 'ReduceMin', 'ReduceL2', 'ReduceLogSumExp']) {
    await check(`${op} keep`, (m) => m.done([m.b.op(op, [m.in('x', [2, 3, 4])], { axes: attr.ints([1]) })], ['x']));
    await check(`${op} drop`, (m) => m.done([m.b.op(op, [m.in('x', [2, 3, 4])], { axes: attr.ints([0, 2]), keepdims: attr.int(0) })], ['x']));
  }
  await check('ReduceMax tie', (m) => {
    const x = m.in('x', [2, 3]);
    return m.done([m.b.op('ReduceMax', [m.b.concat([x, x], 1)], { axes: attr.ints([1]), keepdims: attr.int(0) })], ['x']);
  });
  await check('ReduceSumSquare', (m) => m.done([m.b.op('ReduceSumSquare', [m.in('x', [2, 3, 4])], { axes: attr.ints([1]) })], ['x']));
});

test('shape ops: Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Expand', async () => {
  await check('Transpose', (m) => m.done([m.b.transpose(m.in('x', [2, 3, 4]), [2, 0, 1])], ['x']));
  await check('Reshape', (m) => m.done([m.b.reshape(m.in('x', [2, 3, 4]), [4, -1])], ['x']));
  await check('Flatten', (m) => m.done([m.b.flatten(m.in('x', [2, 3, 4]), 2)], ['x']));
  await check('Squeeze', (m) => m.done([m.b.squeeze(m.in('x', [2, 1, 4]), [1])], ['x']));
  await check('Unsqueeze', (m) => m.done([m.b.unsqueeze(m.in('x', [2, 4]), [0, 2])], ['x']));
  await check('Tile', (m) => m.done([m.b.op('Tile', [m.in('x', [2, 1, 3]), m.b.ints([2, 3, 1])])], ['x']));
  await check('Expand', (m) => m.done([m.b.expand(m.in('x', [3, 1]), [2, 3, 4])], ['x']));
});

test('Concat, Split, Slice, Pad', async () => {
  await check('Concat', (m) => m.done([m.b.concat([m.in('a', [2, 1, 4]), m.w('c', [2, 2, 4]), m.in('b', [2, 3, 4])], 1)], ['a', 'b']));
  await check('Concat one wrt', (m) => m.done([m.b.concat([m.w('cls', [1, 4]), m.in('b', [3, 4])], 0)], ['b']));
  await check('Split', (m) => {
    const parts = m.b.split(m.in('x', [2, 6]), [1, 2, 3], 1);
    return m.done([parts[0], parts[2]], ['x']);
  });
  await check('Slice step 1', (m) => m.done([m.b.slice(m.in('x', [4, 5, 6]), [1, -4], [3, 100], [0, 2])], ['x']));
  await check('Slice step 2', (m) => m.done([m.b.slice(m.in('x', [4, 7]), [1], [7], [1], [2])], ['x']));
  await check('Slice step -1', (m) => m.done([m.b.slice(m.in('x', [4, 5]), [-1, 3], [-100, 0], [0, 1], [-1, -2])], ['x']));
  await check('Pad', (m) => m.done([m.b.op('Pad', [m.in('x', [3, 4]), m.b.ints([1, 0, 2, -1])])], ['x']));
});

test('Gather: scalar index (CLS token), lists with repeats, 2-D and run-time indices', async () => {
  await check('Gather scalar', (m) => m.done([m.b.gather(m.in('x', [2, 5, 3]), m.b.constant(Tensor.i64([], [0])), 1)], ['x']));
  await check('Gather negative', (m) => m.done([m.b.gather(m.in('x', [2, 5, 3]), m.b.constant(Tensor.i64([], [-1])), 1)], ['x']));
  await check('Gather list', (m) => m.done([m.b.gather(m.in('x', [5, 3]), m.b.constant(Tensor.i64([4], [3, 0, 3, 1])), 0)], ['x']));
  await check('Gather range', (m) => m.done([m.b.gather(m.in('x', [2, 6]), m.b.constant(Tensor.i64([3], [2, 3, 4])), 1)], ['x']));
  await check('Gather 2-D', (m) => m.done([m.b.gather(m.in('x', [2, 5, 3]), m.b.constant(Tensor.i64([2, 2], [1, 4, 4, 0])), 1)], ['x']));
  await check('Gather run-time', (m) => {
    const idx = m.b.input('idx', 'int64', [3]);
    m.feeds.idx = Tensor.i64([3], [2, 0, 2]);
    return m.done([m.b.gather(m.in('x', [4, 3]), idx, 0)], ['x']);
  });
});

test('Where with float branches', async () => {
  await check('Where', (m) => {
    const x = m.in('x', [2, 3]);
    const y = m.in('y', [3]);
    const cond = m.b.op('Greater', [x, m.scalar(0)]);
    return m.done([m.b.where(cond, m.b.mul(x, x), y)], ['x', 'y']);
  });
});

test('Conv: patch embedding, strides, padding, dilation, groups; ConvTranspose', async () => {
  await check('Conv patch', (m) => m.done([m.b.conv(m.in('x', [2, 3, 8, 8]), m.in('w', [4, 3, 4, 4]), m.in('bias', [4]), { strides: [4, 4] })], ['x', 'w', 'bias']), 'float32');
  await check('Conv patch const w', (m) => m.done([m.b.conv(m.in('x', [1, 3, 6, 6]), m.w('w', [5, 3, 3, 3]), m.w('bias', [5]), { strides: [3, 3] })], ['x']), 'float32');
  await check('Conv stride 2 pad 1', (m) => m.done([m.b.conv(m.in('x', [2, 2, 7, 6]), m.in('w', [3, 2, 3, 3]), m.in('bias', [3]), { strides: [2, 2], pads: [1, 0, 1, 1] })], ['x', 'w', 'bias']), 'float32');
  await check('Conv dilation 2', (m) => m.done([m.b.conv(m.in('x', [1, 2, 7, 7]), m.in('w', [3, 2, 2, 3]), undefined, { dilations: [2, 1], strides: [1, 2] })], ['x', 'w']), 'float32');
  await check('Conv SAME_UPPER', (m) => m.done([m.b.op('Conv', [m.in('x', [1, 2, 7, 6]), m.in('w', [3, 2, 3, 2])], { strides: attr.ints([2, 2]), auto_pad: attr.string('SAME_UPPER') })], ['x', 'w']), 'float32');
  await check('Conv groups', (m) => m.done([m.b.conv(m.in('x', [2, 4, 5, 5]), m.w('w', [6, 2, 3, 3]), undefined, { group: 2, pads: [1, 1, 1, 1] })], ['x']), 'float32');
  await check('Conv 1-D', (m) => m.done([m.b.conv(m.in('x', [2, 3, 9]), m.in('w', [4, 3, 3]), undefined, { strides: [2] })], ['x', 'w']), 'float32');
  await check('ConvTranspose', (m) => m.done([m.b.op('ConvTranspose', [m.in('x', [2, 3, 4, 4]), m.w('w', [3, 2, 3, 3])], { strides: attr.ints([2, 2]), pads: attr.ints([1, 1, 0, 0]), output_padding: attr.ints([1, 0]) })], ['x']), 'float32');
});

test('batched fusions: elementwise chains and the attention softmax shortcut', async () => {
  await check('chain', (m) => {
    const x = m.in('x', [2, 5], true);
    const s = (v: number) => m.scalar(v);
    const e = m.b.sub(m.b.exp(m.b.neg(x)), m.b.pow(x, s(3)));
    const t = m.b.mul(m.b.div(e, s(2)), m.b.tanh(x));
    const q = m.b.div(m.b.sigmoid(x), x);
    const r = m.b.add(m.b.mul(t, m.w('g', [5])), m.b.div(s(1), m.b.add(q, s(3))));
    return m.done([m.b.sub(m.b.sqrt(m.b.add(m.b.mul(r, r), s(1))), m.b.log(m.b.add(x, s(1))))], ['x']);
  });
  // the whole chain costs one k-sized Mul in batched mode
  const m = new Maker(new Rng(1), 'float32');
  const x = m.in('x', [3]);
  const y = m.b.mul(m.b.erf(m.b.div(x, m.scalar(1.4))), m.b.add(x, m.scalar(1)));
  const res = await vjp(m.b.build(), { outputs: [y], wrt: ['x'], mode: 'batched' });
  const kDependent = new Set([res.cotangents[0]]);
  const kNodes = res.graph.nodes.filter((n) => n.inputs.some((i) => kDependent.has(i)) && n.outputs.every((o) => kDependent.add(o)));
  assert.deepEqual(kNodes.map((n) => n.op), ['Mul']);
  await check('chain output also used', (m) => {
    const x = m.in('x', [4]);
    const h = m.b.tanh(m.b.mul(x, m.scalar(0.5)));
    return m.done([m.b.mul(h, m.scalar(3)), h], ['x']);
  });
  // (a scale that float32 represents exactly: onnxruntime fuses MatMul * scalar into FusedMatMul with a
  // float32 alpha, also in float64 graphs)
  await check('scaled scores into softmax and MatMul (scalar folded)', (m) => {
    const s = m.b.mul(m.b.matmul(m.in('q', [2, 4, 3]), m.in('kt', [2, 3, 4])), m.scalar(0.25));
    return m.done([m.b.matmul(m.b.softmax(s), m.in('v', [2, 4, 3]))], ['q', 'kt', 'v']);
  });
  for (const vShape of [[2, 4, 3], [4, 3]]) {
    await check(`softmax into MatMul, V ${vShape}`, (m) => {
      const s = m.in('s', [2, 4, 4]);
      const v = m.in('v', vShape);
      return m.done([m.b.matmul(m.b.softmax(s), v)], ['s', 'v']);
    });
  }
});
