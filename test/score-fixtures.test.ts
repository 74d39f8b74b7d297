import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { readSafetensors } from '../src/data/safetensors.js';
import { loadOnnx } from '../src/graph/onnx.js';
import { jacobian, JepaScorer } from '../src/score/jepa.js';

const FIX = new URL('./fixtures/', import.meta.url).pathname;

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('dinov2-tiny ONNX: embeddings, the Jacobian and JEPA-SCOREs match the float64 reference', async () => {
  const g = loadOnnx(join(FIX, 'dinov2-tiny/model.onnx'));
  const exp = readSafetensors(join(FIX, 'dinov2-tiny/expected.safetensors'));
  const pv = exp.get('pixel_values')!;
  const [B, C, H, W] = pv.dims;
  const K = exp.get('embedding')!.dims[1];
  const D = C * H * W;
  const scorer = await JepaScorer.create(
    { graph: g, input: g.inputs[0].name, output: g.outputs[0].name, inputShape: [1, C, H, W], embeddingDim: K },
    { chunk: 20, spectrum: true },
  );
  try {
    const emb = exp.get('embedding')!.data as Float64Array;
    const scores = exp.get('jepa_score')!.data as Float64Array;
    const sv = exp.get('singular_values')!.data as Float64Array;
    for (let b = 0; b < B; b++) {
      const x = (pv.data as Float32Array).slice(b * D, (b + 1) * D);
      const { embedding, J } = await scorer.jacobian(x);
      assert.ok(maxAbs(embedding, emb.subarray(b * K, (b + 1) * K)) < 1e-5);
      if (b === 0) {
        const jerr = maxAbs(J, exp.get('jacobian_0')!.data as Float32Array);
        assert.ok(jerr < 1e-4, `Jacobian max abs error ${jerr}`);
        // the standalone function, with another chunk size (the last chunk is short), gives the same rows
        const again = await jacobian({ graph: g, input: g.inputs[0].name, output: g.outputs[0].name, inputShape: [1, C, H, W], embeddingDim: K }, x, { chunk: 7 });
        assert.ok(maxAbs(again.J, J) < 1e-6);
      }
      const r = await scorer.score(x);
      assert.ok(Math.abs(r.score - scores[b]) < 5e-3, `image ${b}: score ${r.score} vs ${scores[b]}`);
      // singular values above eps agree closely
      for (let k = 0; k < K; k++) if (sv[b * K + k] > 1e-3) assert.ok(Math.abs(r.singularValues[k] - sv[b * K + k]) < 1e-4 * sv[b * K]);
    }
  } finally {
    await scorer.release();
  }
});
