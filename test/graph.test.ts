import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { GraphBuilder } from '../src/graph/builder.js';
import { attr, pruneGraph, topoSort } from '../src/graph/graph.js';
import { loadOnnx, OnnxImportError, parseModel, serializeModel } from '../src/graph/onnx.js';
import { ProtoWriter } from '../src/graph/protobuf.js';
import { Tensor } from '../src/graph/tensor.js';
import { readSafetensors } from '../src/data/safetensors.js';
import { runOnce } from '../src/runtime/session.js';

const FIX = new URL('./fixtures/', import.meta.url).pathname;

test('a built graph serialises, parses back identically and runs in onnxruntime', async () => {
  const b = new GraphBuilder('mlp');
  const x = b.input('x', 'float32', [2, 3]);
  const w = b.init('w', Tensor.f32([3, 2], [1, -2, 0.5, 4, -1, 3]));
  const bias = b.init('b', Tensor.f32([2], [0.25, -0.5]));
  const h = b.add(b.matmul(x, w), bias);
  const y = b.op('LeakyRelu', [h], { alpha: attr.float(0.5) }, 'y');
  b.output(y, 'float32', [2, 2]);
  const g = b.build();
  const back = parseModel(serializeModel(g));
  assert.equal(back.opset, 17);
  assert.deepEqual(back.inputs, g.inputs);
  assert.deepEqual(back.outputs, g.outputs);
  assert.deepEqual(back.nodes.map((n) => [n.op, n.inputs, n.outputs, n.attrs]), g.nodes.map((n) => [n.op, n.inputs, n.outputs, n.attrs]));
  assert.deepEqual([...back.initializers.get('w')!.data], [...g.initializers.get('w')!.data]);
  const xv = [1, 2, 3, -1, 0, 2];
  const out = (await runOnce(back, { x: Tensor.f32([2, 3], xv) }))[y].data;
  // closed form
  const W = [[1, -2], [0.5, 4], [-1, 3]];
  const expected: number[] = [];
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 2; j++) {
      let s = [0.25, -0.5][j];
      for (let k = 0; k < 3; k++) s += xv[i * 3 + k] * W[k][j];
      expected.push(s > 0 ? s : 0.5 * s);
    }
  assert.deepEqual([...out], expected);
});

test('the PyTorch-exported dinov2-tiny ONNX file imports and reproduces its embeddings', async () => {
  const g = loadOnnx(join(FIX, 'dinov2-tiny/model.onnx'));
  assert.equal(g.inputs.length, 1);
  assert.equal(g.outputs.length, 1);
  assert.ok(g.initializers.size > 10);
  assert.equal(topoSort(g).length, g.nodes.length);
  const exp = readSafetensors(join(FIX, 'dinov2-tiny/expected.safetensors'));
  const pv = exp.get('pixel_values')!;
  const want = exp.get('embedding')!;
  const roundTrip = parseModel(serializeModel(pruneGraph(g)));
  const out = (await runOnce(roundTrip, { [g.inputs[0].name]: pv }))[g.outputs[0].name];
  assert.deepEqual(out.dims, want.dims);
  let max = 0;
  for (let i = 0; i < out.size; i++) max = Math.max(max, Math.abs((out.data as Float32Array)[i] - Number(want.data[i])));
  assert.ok(max < 1e-5, `max abs error ${max}`);
});

test('malformed ONNX files give a clear error naming the file', () => {
  const good = serializeModel(new GraphBuilder('g').build());
  const dir = mkdtempSync(join(tmpdir(), 'onnx-'));
  const onnx = join(FIX, 'dinov2-tiny/model.onnx');
  const real = loadOnnx(onnx);
  const bytes = serializeModel(real);
  const cases: [string, Uint8Array][] = [
    ['truncated', bytes.slice(0, Math.floor(bytes.length / 2))],
    ['random', Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) % 256)],
    ['empty graph (no outputs)', good],
    ['huge length', Uint8Array.from([0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f])],
    ['bad varint', Uint8Array.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])],
  ];
  for (const [name, buf] of cases) {
    const p = join(dir, `${name.replace(/\W/g, '_')}.onnx`);
    writeFileSync(p, buf);
    assert.throws(() => loadOnnx(p), (e: unknown) => e instanceof OnnxImportError && (e as Error).message.startsWith(p), name);
  }
  assert.throws(() => loadOnnx(join(dir, 'missing.onnx')), /missing\.onnx: cannot read/);
});

test('tensor data that does not match its shape, and subgraph attributes, are rejected', () => {
  const model = (graph: (w: ProtoWriter) => void) => {
    const w = new ProtoWriter();
    w.int(1, 8);
    w.message(7, graph);
    w.message(8, (o) => o.int(2, 17));
    return w.finish();
  };
  const badTensor = model((g) => {
    g.message(5, (t) => {
      t.int(1, 1000);
      t.int(2, 1);
      t.string(8, 'w');
      t.bytes(9, new Uint8Array(8));
    });
    g.message(12, (v) => v.string(1, 'w'));
  });
  assert.throws(() => parseModel(badTensor, 'bad.onnx'), /bad\.onnx: initializer 'w' has 8 bytes of data, its shape \[1000\] of float32 needs 4000/);
  const withIf = model((g) => {
    g.message(1, (n) => {
      n.string(1, 'c');
      n.string(2, 'y');
      n.string(4, 'If');
      n.message(5, (a) => {
        a.string(1, 'then_branch');
        a.message(6, () => {});
        a.int(20, 5);
      });
    });
    g.message(12, (v) => v.string(1, 'y'));
  });
  assert.throws(() => parseModel(withIf, 'if.onnx'), /if\.onnx: node .*\(If\): attribute 'then_branch' holds a subgraph/);
});

test('external tensor data is read from the model folder and may not escape it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onnx-ext-'));
  writeFileSync(join(dir, 'weights.bin'), Buffer.from(new Float32Array([0, 0, 1.5, -2]).buffer));
  const model = (location: string) => {
    const w = new ProtoWriter();
    w.int(1, 8);
    w.message(7, (g) => {
      g.message(5, (t) => {
        t.int(1, 2);
        t.int(2, 1);
        t.string(8, 'w');
        t.message(13, (e) => { e.string(1, 'location'); e.string(2, location); });
        t.message(13, (e) => { e.string(1, 'offset'); e.string(2, '8'); });
        t.message(13, (e) => { e.string(1, 'length'); e.string(2, '8'); });
        t.int(14, 1);
      });
      g.message(12, (v) => {
        v.string(1, 'w');
        v.message(2, (tp) => tp.message(1, (tt) => tt.int(1, 1)));
      });
    });
    w.message(8, (o) => o.int(2, 17));
    return w.finish();
  };
  const g = parseModel(model('weights.bin'), 'ext.onnx', dir);
  assert.deepEqual([...g.initializers.get('w')!.data], [1.5, -2]);
  assert.throws(() => parseModel(model('../etc/passwd'), 'ext.onnx', dir), /must be a relative path inside the model's folder/);
});

test('a graph whose weights go through an external data file runs the same', async () => {
  const b = new GraphBuilder('ext');
  const x = b.input('x', 'float32', [2, 300]);
  const w1 = b.init('w1', Tensor.f32([300, 400], Array.from({ length: 120000 }, (_, i) => Math.sin(i))));
  const w2 = b.init('w2', Tensor.f32([400, 3], Array.from({ length: 1200 }, (_, i) => Math.cos(i))));
  const y = b.matmul(b.tanh(b.matmul(x, w1)), w2);
  b.output(y, 'float32', [2, 3]);
  const feeds = { x: Tensor.f32([2, 300], Array.from({ length: 600 }, (_, i) => (i % 7) / 7)) };
  const inMemory = (await runOnce(b.build(), feeds))[y].data;
  const external = (await runOnce(b.build(), feeds, { externalAbove: 0 }))[y].data;
  assert.deepEqual([...external], [...inMemory]);
});
