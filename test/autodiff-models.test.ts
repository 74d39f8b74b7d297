// The autodiff on whole models: the DINOv2 ONNX export against its reference Jacobian and finite
// differences, second derivatives, training-style weight gradients, and the errors it gives.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { liftInitializers, vjp } from '../src/autodiff/index.js';
import { checkVjp } from '../src/autodiff/check.js';
import { readSafetensors } from '../src/data/safetensors.js';
import { Rng } from '../src/data/random.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Graph } from '../src/graph/graph.js';
import { loadOnnx } from '../src/graph/onnx.js';
import { Tensor } from '../src/graph/tensor.js';
import { Session } from '../src/runtime/session.js';

const DINO = 'test/fixtures/dinov2-tiny';

test('dinov2-tiny: batched VJP rows equal the reference Jacobian, for any chunk size k', async () => {
  const g = loadOnnx(`${DINO}/model.onnx`);
  const ref = readSafetensors(`${DINO}/expected.safetensors`);
  const J = ref.get('jacobian_0')!;
  const px = ref.get('pixel_values')!;
  const [K, D] = J.dims;
  const x0 = new Tensor('float32', [1, 3, 56, 56], (px.data as Float32Array).slice(0, D));
  const res = await vjp(g, { outputs: ['embedding'], wrt: ['pixel_values'], mode: 'batched', inputShapes: { pixel_values: [1, 3, 56, 56] } });
  assert.deepEqual(res.graph.inputs.find((v) => v.name === res.cotangents[0])!.shape, ['k', 1, K]);
  const s = await Session.create(res.graph);
  let maxJ = 0;
  for (let i = 0; i < J.size; i++) maxJ = Math.max(maxJ, Math.abs((J.data as Float32Array)[i]));
  // rows 0..K-1 in chunks of 16, then all at once: one graph serves every k
  for (const chunk of [16, K]) {
    let maxDiff = 0;
    for (let r0 = 0; r0 < K; r0 += chunk) {
      const k = Math.min(chunk, K - r0);
      const cot = Tensor.f32([k, 1, K]);
      for (let r = 0; r < k; r++) (cot.data as Float32Array)[r * K + r0 + r] = 1;
      const out = await s.run({ pixel_values: x0, [res.cotangents[0]]: cot });
      const gt = out[res.grads[0]];
      assert.deepEqual(gt.dims, [k, 1, 3, 56, 56]);
      const gd = gt.data as Float32Array;
      for (let r = 0; r < k; r++) {
        for (let j = 0; j < D; j++) maxDiff = Math.max(maxDiff, Math.abs(gd[r * D + j] - (J.data as Float32Array)[(r0 + r) * D + j]));
      }
    }
    assert.ok(maxDiff < 1e-5 * maxJ, `k=${chunk}: max |J - J_ref| = ${maxDiff} (max |J| = ${maxJ})`);
  }
  await s.release();
});

test('dinov2-tiny: standard-mode gradient (batch 2) and batched rows match finite differences', async () => {
  const g = loadOnnx(`${DINO}/model.onnx`);
  const rng = new Rng(5);
  for (const [mode, batch] of [['standard', 2], ['batched', 1]] as const) {
    const feeds = { pixel_values: Tensor.f32([batch, 3, 56, 56], rng.normals(batch * 3 * 56 * 56)) };
    const r = await checkVjp(g, { outputs: ['embedding'], wrt: ['pixel_values'], feeds, mode, rows: 3, eps: 1e-2 });
    assert.ok(r.maxRelError < 3e-3, `${mode}: ${JSON.stringify(r.rows)}`);
    if (mode === 'batched') assert.ok(r.batchedVsStandard! < 1e-5, `batched vs standard: ${r.batchedVsStandard}`);
  }
});

test('dinov2-tiny: weight gradients (training) match finite differences', async () => {
  const g = loadOnnx(`${DINO}/model.onnx`);
  const rng = new Rng(9);
  const feeds = { pixel_values: Tensor.f32([2, 3, 56, 56], rng.normals(2 * 3 * 56 * 56)) };
  const wrt = ['m.patch_embed.proj.weight', 'm.blocks.0.norm1.weight', 'onnx::MatMul_240', 'm.cls_token', 'm.pos_embed', 'm.blocks.1.ls2.gamma', 'm.norm.bias'];
  const r = await checkVjp(g, { outputs: ['embedding'], wrt, feeds, rows: 2, eps: 1e-3 });
  assert.ok(r.maxRelError < 3e-3, JSON.stringify(r.rows));
});

test('dinov2-tiny: second derivatives through the batched Jacobian graph (Langevin on JEPA-SCORE)', async () => {
  const g = loadOnnx(`${DINO}/model.onnx`);
  const rng = new Rng(3);
  const first = await vjp(g, { outputs: ['embedding'], wrt: ['pixel_values'], mode: 'batched', inputShapes: { pixel_values: [1, 3, 56, 56] }, keepOutputs: false });
  const feeds = { pixel_values: Tensor.f32([1, 3, 56, 56], rng.normals(3 * 56 * 56)), [first.cotangents[0]]: Tensor.f32([2, 1, 48], rng.normals(96)) };
  const r = await checkVjp(first.graph, { outputs: first.grads, wrt: ['pixel_values'], feeds, eps: 1e-2, rows: 2 });
  assert.ok(r.maxRelError < 2e-3, JSON.stringify(r.rows));
});

test('opset 18 graphs (ReduceMean axes as an input)', async () => {
  const rng = new Rng(6);
  const b = new GraphBuilder('op18', 18);
  const x = b.input('x', 'float64', [2, 3, 4]);
  const m = b.op('ReduceMean', [x, b.ints([-1])], { keepdims: { type: 'int', value: 1 } });
  const c = b.sub(x, m);
  const v = b.op('ReduceMean', [b.mul(c, c), b.ints([-1])], { keepdims: { type: 'int', value: 1 } });
  const y = b.layerNorm(b.div(c, b.sqrt(b.add(v, b.scalar(1e-3, 'float64')))), b.init('s', Tensor.f64([4], rng.normals(4, true))), undefined, 1e-5);
  const [p0] = b.split(y, [1, 2], 1);
  b.output(b.softmax(p0), 'float64');
  const g = b.build();
  for (const mode of ['standard', 'batched'] as const) {
    const r = await checkVjp(g, { outputs: [g.outputs[0].name], wrt: ['x', 's'], feeds: { x: Tensor.f64([2, 3, 4], rng.normals(24, true)) }, mode, eps: 1e-6 });
    assert.ok(r.maxRelError < 1e-6 && (mode === 'standard' || r.batchedVsStandard! < 1e-12), `${mode}: ${JSON.stringify(r)}`);
  }
});

/** A float64 tanh MLP with one hidden layer. */
function tanhMlp(rng: Rng): Graph {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float64', [3, 4]);
  const w1 = b.init('w1', Tensor.f64([4, 6], rng.normals(24, true)));
  const b1 = b.init('b1', Tensor.f64([6], rng.normals(6, true)));
  const w2 = b.init('w2', Tensor.f64([2, 6], rng.normals(12, true)));
  const h = b.tanh(b.add(b.matmul(x, w1), b1));
  b.output(b.linear(h, w2), 'float64');
  return b.build();
}

test('second derivatives: vjp of a vjp graph matches finite differences of the first derivative', async () => {
  const rng = new Rng(21);
  const g = tanhMlp(rng);
  const y = g.outputs[0].name;
  const x = Tensor.f64([3, 4], rng.normals(12, true));
  // d/dx of (J^T u), in both modes, also w.r.t. the cotangent u and a weight
  const first = await vjp(g, { outputs: [y], wrt: ['x', 'w1'], keepOutputs: false });
  const u = Tensor.f64([3, 2], rng.normals(6, true));
  for (const mode of ['standard', 'batched'] as const) {
    const r = await checkVjp(first.graph, { outputs: first.grads, wrt: ['x', first.cotangents[0], 'w1'], feeds: { x, [first.cotangents[0]]: u }, mode, eps: 1e-5 });
    assert.ok(r.maxRelError < 1e-6, `${mode}: ${JSON.stringify(r.rows)}`);
  }
  // the gradient of a function of batched Jacobian rows (what Langevin on JEPA-SCORE needs)
  const rows = await vjp(g, { outputs: [y], wrt: ['x'], mode: 'batched', inputShapes: { x: [3, 4] }, keepOutputs: false });
  const U = Tensor.f64([2, 3, 2], rng.normals(12, true));
  const r2 = await checkVjp(rows.graph, { outputs: rows.grads, wrt: ['x'], feeds: { x, [rows.cotangents[0]]: U }, eps: 1e-5 });
  assert.ok(r2.maxRelError < 1e-6, JSON.stringify(r2.rows));
});

test('second derivatives through a transformer block (LayerNorm, attention, softmax, GELU, CLS gather)', async () => {
  const rng = new Rng(4);
  const b = new GraphBuilder('block');
  const T = 5;
  const C = 6;
  const w = (name: string, dims: number[], s = 0.5) => b.init(name, Tensor.f64(dims, Array.from(rng.normals(dims.reduce((p, q) => p * q, 1), true), (v) => v * s)));
  const x = b.input('x', 'float64', [1, T, C]);
  const h = b.layerNorm(x, w('g1', [C]), w('b1', [C]), 1e-6);
  const qkv = b.reshape(b.linear(h, w('wqkv', [3 * C, C])), [1, T, 3, 2, C / 2]);
  const [q, k, v] = b.split(qkv, [1, 1, 1], 2).map((t) => b.transpose(b.squeeze(t, [2]), [0, 2, 1, 3]));
  const att = b.softmax(b.mul(b.matmul(q, b.transpose(k, [0, 1, 3, 2])), b.scalar(0.5, 'float64')));
  const o = b.reshape(b.transpose(b.matmul(att, v), [0, 2, 1, 3]), [1, T, C]);
  const x1 = b.add(x, b.linear(o, w('wo', [C, C])));
  const gelu = (t: string) => {
    const s = (v: number) => b.scalar(v, 'float64');
    const inner = b.mul(b.add(t, b.mul(b.pow(t, s(3)), s(0.044715))), s(Math.sqrt(2 / Math.PI)));
    return b.mul(b.mul(t, s(0.5)), b.add(b.tanh(inner), s(1)));
  };
  const m = b.linear(gelu(b.linear(b.layerNorm(x1, w('g2', [C]), w('b2', [C]), 1e-6), w('w1', [2 * C, C]))), w('w2', [C, 2 * C]));
  const y = b.gather(b.add(x1, m), b.constant(Tensor.i64([], [0])), 1);
  b.output(y, 'float64');
  const g = b.build();
  const xv = Tensor.f64([1, T, C], rng.normals(T * C, true));
  const first = await vjp(g, { outputs: [y], wrt: ['x'], keepOutputs: false });
  const u = Tensor.f64([1, C], rng.normals(C, true));
  const r = await checkVjp(first.graph, { outputs: first.grads, wrt: ['x'], feeds: { x: xv, [first.cotangents[0]]: u }, eps: 1e-5 });
  assert.ok(r.maxRelError < 1e-6, JSON.stringify(r.rows));
  const r1 = await checkVjp(g, { outputs: [y], wrt: ['x', 'wqkv', 'g2'], feeds: { x: xv }, mode: 'batched', eps: 1e-6 });
  assert.ok(r1.maxRelError < 1e-6 && r1.batchedVsStandard! < 1e-12, JSON.stringify(r1));
});

test('second derivatives through a patch-embedding Conv (float32)', async () => {
  const rng = new Rng(8);
  const b = new GraphBuilder('patch');
  const x = b.input('x', 'float32', [1, 2, 6, 6]);
  const wt = b.init('w', Tensor.f32([3, 2, 3, 3], rng.normals(54)));
  const y = b.tanh(b.conv(x, wt, undefined, { strides: [3, 3] }));
  b.output(y, 'float32');
  const g = b.build();
  const first = await vjp(g, { outputs: [y], wrt: ['x'], mode: 'batched', inputShapes: { x: [1, 2, 6, 6] }, keepOutputs: false });
  const feeds = { x: Tensor.f32([1, 2, 6, 6], rng.normals(72)), [first.cotangents[0]]: Tensor.f32([2, 1, 3, 2, 2], rng.normals(24)) };
  const r = await checkVjp(first.graph, { outputs: first.grads, wrt: ['x'], feeds, eps: 1e-2 });
  assert.ok(r.maxRelError < 1e-2, JSON.stringify(r.rows));
});

test('liftInitializers turns weights into inputs', async () => {
  const g = tanhMlp(new Rng(1));
  const lifted = liftInitializers(g, ['w1', 'b1']);
  assert.ok(!lifted.initializers.has('w1') && g.initializers.has('w1'));
  assert.deepEqual(lifted.inputs.find((v) => v.name === 'w1'), { name: 'w1', dtype: 'float64', shape: [4, 6] });
  assert.throws(() => liftInitializers(g, ['nope']), /liftInitializers\(mlp\): 'nope' is not an initializer/);
  // a training step's gradient w.r.t. a lifted weight
  const rng = new Rng(2);
  const r = await checkVjp(lifted, {
    outputs: [g.outputs[0].name],
    wrt: ['w1', 'b1'],
    feeds: { x: Tensor.f64([3, 4], rng.normals(12, true)), w1: g.initializers.get('w1')!, b1: g.initializers.get('b1')! },
    eps: 1e-6,
  });
  assert.ok(r.maxRelError < 1e-6, JSON.stringify(r.rows));
});

test('errors name the graph, the op and the node', async () => {
  const b = new GraphBuilder('bad');
  const x = b.input('x', 'float32', ['batch', 4]);
  const eq = { equation: { type: 'string' as const, value: 'ij->ij' } };
  const side = b.op('Einsum', [x], eq); // not on the path: fine
  const t = b.tanh(x);
  const y = b.op('Einsum', [t], eq, 'es_out');
  b.output(y, 'float32');
  b.output(side, 'float32');
  const g = b.build();
  const shapes = { x: [2, 4] };
  await assert.rejects(vjp(g, { outputs: [y], wrt: ['x'], inputShapes: shapes }), /vjp\(bad\): no gradient rule for op Einsum \(node 'n_Einsum_\d+'\)/);
  const ok = await vjp(g, { outputs: [t], wrt: ['x'], inputShapes: shapes }); // Einsum off the path
  assert.deepEqual(ok.graph.outputs.map((o) => o.shape), [[2, 4], [2, 4]]);
  await assert.rejects(vjp(g, { outputs: [y], wrt: ['x'] }), /vjp\(bad\): input 'x' has shape \[batch,4\]; pass its concrete shape in inputShapes/);
  await assert.rejects(vjp(g, { outputs: [y], wrt: ['w'], inputShapes: shapes }), /wrt 'w' is not a graph input or initializer/);
  await assert.rejects(vjp(g, { outputs: ['nothing'], wrt: ['x'], inputShapes: shapes }), /output 'nothing' is not a value of the graph/);
  await assert.rejects(vjp(g, { outputs: [y], wrt: ['x'], inputShapes: { x: [2, 5] } }), /input 'x' has dim 1 fixed to 4/);
  // outputs that do not depend on wrt give zero gradients
  const b2 = new GraphBuilder('free');
  const a = b2.input('a', 'float32', [3]);
  b2.input('c', 'float32', [3]);
  const z = b2.tanh(a);
  b2.output(z, 'float32');
  for (const mode of ['standard', 'batched'] as const) {
    const res = await vjp(b2.build(), { outputs: [z], wrt: ['c'], mode });
    const s = await Session.create(res.graph);
    const out = await s.run({ a: Tensor.f32([3], [1, 2, 3]), c: Tensor.f32([3]), [res.cotangents[0]]: Tensor.f32(mode === 'batched' ? [2, 3] : [3], new Array(mode === 'batched' ? 6 : 3).fill(1)) });
    assert.deepEqual(out[res.grads[0]].dims, mode === 'batched' ? [2, 3] : [3]);
    assert.ok(out[res.grads[0]].toNumbers().every((v) => v === 0));
    await s.release();
  }
});
