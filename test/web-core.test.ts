// The pieces the browser page runs, checked in Node: models from bytes (no file access) equal the file
// loaders, and the scorer on onnxruntime-web (its Node build, the same WASM as the page) equals onnxruntime-node's.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ortWeb from 'onnxruntime-web';
import { parseSafetensors, readSafetensors } from '../src/data/safetensors.js';
import { readStored } from '../src/data/datasets.js';
import { parseModel, serializeModel } from '../src/graph/onnx.js';
import { builtinModelDir, loadBuiltinModel } from '../src/models/builtin.js';
import { digitsEncoderFromBytes } from '../src/models/digits.js';
import { setOrt } from '../src/runtime/session.js';
import { JepaScorer } from '../src/score/jepa.js';

const dir = builtinModelDir('mnist-jepa');

test('parseSafetensors reads what readSafetensors reads, and names the source in errors', () => {
  const file = join(dir, 'model.safetensors');
  const bytes = new Uint8Array(readFileSync(file));
  const a = readSafetensors(file);
  const b = parseSafetensors(bytes, 'upload/model.safetensors');
  assert.deepEqual([...b.keys()], [...a.keys()]);
  for (const [k, t] of a) {
    assert.deepEqual(b.get(k)!.dims, t.dims);
    assert.deepEqual(b.get(k)!.data, t.data);
  }
  assert.throws(() => parseSafetensors(bytes.subarray(0, bytes.length - 10), 'upload/model.safetensors'), /^Error: upload\/model.safetensors: .*run past/);
  assert.throws(() => parseSafetensors(bytes.subarray(0, 4), 'x.safetensors'), /x.safetensors: file is 4 bytes, too short/);
});

test('digitsEncoderFromBytes builds the same graph as the folder loader', () => {
  const enc = digitsEncoderFromBytes(readFileSync(join(dir, 'config.json'), 'utf8'), new Uint8Array(readFileSync(join(dir, 'model.safetensors'))), { where: 'mnist-jepa' });
  const ref = loadBuiltinModel('mnist-jepa');
  assert.deepEqual(serializeModel(enc.graph), serializeModel(ref.graph));
  assert.throws(() => digitsEncoderFromBytes('{', new Uint8Array(0), { where: 'm' }), /^Error: m\/config.json: not valid JSON/);
});

test('JEPA-SCORE on onnxruntime-web (setOrt) equals onnxruntime-node, on the ONNX bytes the page loads', async () => {
  const { pixels, height, width } = readStored('mnist');
  const xs = [3, 500, 1700].map((i) => Float32Array.from(pixels.subarray(i * height * width, (i + 1) * height * width), (v) => Math.fround(v * (1 / 255))));
  const enc = loadBuiltinModel('mnist-jepa');
  const node = await JepaScorer.create(enc, { threads: 1 });
  const want = [];
  for (const x of xs) want.push(await node.score(x));
  await node.release();

  setOrt({ ort: ortWeb, executionProviders: ['wasm'] });
  ortWeb.env.wasm.numThreads = 1;
  const web = await JepaScorer.create({ ...enc, graph: parseModel(serializeModel(enc.graph)) });
  for (const [i, x] of xs.entries()) {
    const r = await web.score(x);
    assert.ok(Math.abs(r.score - want[i].score) < 1e-4, `image ${i}: web ${r.score}, node ${want[i].score}`);
    if (process.env.WEB_TEST_VERBOSE) console.log(`image ${i}: web - node = ${(r.score - want[i].score).toExponential(2)}`);
    assert.equal(r.rank, want[i].rank);
  }
  await web.release();
});
