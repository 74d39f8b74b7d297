import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { vjp } from '../src/autodiff/index.js';
import { Rng } from '../src/data/random.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Tensor } from '../src/graph/tensor.js';
import { addMlp, initMlpWeights, MlpConfig, mlpForward, mlpWeightShapes } from '../src/models/mlp.js';
import { runOnce } from '../src/runtime/session.js';
import { lejepaLoss, momentLoss } from '../src/train/objectives.js';
import { randomDirections, sigreg, sigregReference } from '../src/train/sigreg.js';
import { BatchSampler, fit, Trainer } from '../src/train/trainer.js';

test('SIGReg gradient from the autodiff matches finite differences of the float64 reference', async () => {
  const rng = new Rng(3);
  const N = 40;
  const K = 3;
  const M = 8;
  const z = Float32Array.from({ length: N * K }, () => 0.3 + 1.3 * rng.normal());
  const dirs = randomDirections(rng, K, M);
  const b = new GraphBuilder('sigreg');
  const zv = b.input('z', 'float32', [N, K]);
  const dv = b.input('dirs', 'float32', [K, M]);
  const s = sigreg(b, zv, dv);
  b.output(s, 'float32', []);
  const res = await vjp(b.build(), { outputs: [s], wrt: ['z'] });
  const out = await runOnce(res.graph, { z: new Tensor('float32', [N, K], z), dirs: new Tensor('float32', [K, M], dirs), [res.cotangents[0]]: Tensor.scalar(1) }, { threads: 1 });
  const grad = out[res.grads[0]].data as Float32Array;
  const z64 = Float64Array.from(z);
  const h = 1e-5;
  let maxErr = 0;
  let maxG = 0;
  for (let i = 0; i < N * K; i++) {
    const zp = Float64Array.from(z64);
    const zm = Float64Array.from(z64);
    zp[i] += h;
    zm[i] -= h;
    const fd = (sigregReference(zp, N, K, dirs, M) - sigregReference(zm, N, K, dirs, M)) / (2 * h);
    maxErr = Math.max(maxErr, Math.abs(fd - grad[i]));
    maxG = Math.max(maxG, Math.abs(fd));
  }
  assert.ok(maxG > 0.1, 'gradient is not trivially small');
  assert.ok(maxErr < 1e-3 * maxG, `max gradient error ${maxErr} (largest entry ${maxG})`);
});

// float64 LeJEPA loss of an MLP on two fixed views, for finite differences
function lejepaReference(cfg: MlpConfig, w: Map<string, Tensor>, views: Float64Array[], N: number, dirs: Float32Array, M: number, lambda: number): number {
  const K = cfg.outputDim;
  const zs = views.map((x) => mlpForward(cfg, w, x, N));
  let inv = 0;
  for (let i = 0; i < N * K; i++) {
    const m = (zs[0][i] + zs[1][i]) / 2;
    inv += ((zs[0][i] - m) ** 2 + (zs[1][i] - m) ** 2) / (2 * N * K);
  }
  const reg = zs.reduce((a, z) => a + sigregReference(z, N, K, dirs, M), 0) / 2;
  return inv + lambda * reg;
}

test('LeJEPA weight gradients of an MLP match finite differences; moment matching has its closed form', async () => {
  const rng = new Rng(8);
  const cfg: MlpConfig = { inputDim: 2, outputDim: 3, width: 6, depth: 2, activation: 'tanh' };
  const N = 32;
  const M = 6;
  const lambda = 0.5;
  const weights = initMlpWeights(cfg, rng);
  const x = Float32Array.from({ length: 2 * N * 2 }, () => rng.normal());
  const dirs = randomDirections(rng, 3, M);
  const b = new GraphBuilder('lejepa');
  const xv = b.input('x', 'float32', [2, N, 2]);
  const dv = b.input('dirs', 'float32', [3, M]);
  for (const [name] of mlpWeightShapes(cfg)) b.init(name, weights.get(name)!);
  const z = addMlp(b, cfg, xv, (n) => n);
  const obj = lejepaLoss(b, z, dv, { lambda });
  const mom = momentLoss(b, z, 3, { lambda: 1 });
  b.output(obj.loss, 'float32', []);
  const tr = await Trainer.create(b.build(), { loss: obj.loss, params: mlpWeightShapes(cfg).map(([n]) => n), adam: { lr: 1e-3 }, metrics: [obj.regularizer, mom.regularizer], session: { threads: 1 } });
  const feeds = { x: new Tensor('float32', [2, N, 2], x), dirs: new Tensor('float32', [3, M], dirs) };
  const r = await tr.evaluate(feeds);
  const views = [Float64Array.from(x.subarray(0, 2 * N)), Float64Array.from(x.subarray(2 * N))];
  const base = lejepaReference(cfg, weights, views, N, dirs, M, lambda);
  assert.ok(Math.abs(r.loss - base) < 1e-4 * Math.abs(base), `loss ${r.loss} vs ${base}`);

  // moment matching: |mean|^2 + |cov - I|^2 per view, averaged
  let mm = 0;
  for (const v of views) {
    const zz = mlpForward(cfg, weights, v, N);
    const mean = [0, 1, 2].map((k) => zz.filter((_, i) => i % 3 === k).reduce((a, c) => a + c, 0) / N);
    let t = mean.reduce((a, m) => a + m * m, 0);
    for (let p = 0; p < 3; p++)
      for (let q = 0; q < 3; q++) {
        let c = 0;
        for (let i = 0; i < N; i++) c += ((zz[i * 3 + p] - mean[p]) * (zz[i * 3 + q] - mean[q])) / N;
        t += (c - (p === q ? 1 : 0)) ** 2;
      }
    mm += t / 2;
  }
  assert.ok(Math.abs(r.metrics[mom.regularizer] - mm) < 1e-4 * mm, `moments ${r.metrics[mom.regularizer]} vs ${mm}`);

  const h = 1e-5;
  for (const [name, g] of r.grads) {
    const t = weights.get(name)!;
    for (let i = 0; i < t.size; i += 3) {
      const orig = (t.data as Float32Array)[i];
      const at = (v: number) => {
        const w2 = new Map(weights);
        const c = Float64Array.from(t.data as Float32Array);
        c[i] = v;
        w2.set(name, new Tensor('float64', t.dims, c));
        return lejepaReference(cfg, w2, views, N, dirs, M, lambda);
      };
      const fd = (at(orig + h) - at(orig - h)) / (2 * h);
      assert.ok(Math.abs(fd - g[i]) < 2e-3 * Math.max(0.05, Math.abs(fd)), `${name}[${i}]: autodiff ${g[i]} vs finite differences ${fd}`);
    }
  }
  await tr.release();
});

test('the trainer solves least squares, and a resumed run repeats the uninterrupted one exactly', async () => {
  const rng = new Rng(4);
  const N = 64;
  const X = Float32Array.from({ length: N * 3 }, () => rng.normal());
  const wTrue = [1.5, -2, 0.5];
  const Y = Float32Array.from({ length: N }, (_, i) => wTrue.reduce((a, w, j) => a + w * X[i * 3 + j], 0) + 0.3 + 0.1 * rng.normal());
  const build = () => {
    const b = new GraphBuilder('lsq');
    const x = b.input('x', 'float32', [16, 3]);
    const y = b.input('y', 'float32', [16, 1]);
    b.init('w', Tensor.f32([1, 3]));
    b.init('b', Tensor.f32([1]));
    const d = b.sub(b.linear(x, 'w', 'b'), y);
    const loss = b.reduceMean(b.reshape(b.mul(d, d), [-1]), [0], false);
    b.output(loss, 'float32', []);
    return { graph: b.build(), loss };
  };
  const sampler = new BatchSampler(N, 16, 9);
  const batch = (step: number) => {
    const idx = sampler.indices(step);
    return {
      x: new Tensor('float32', [16, 3], Float32Array.from({ length: 48 }, (_, i) => X[idx[Math.floor(i / 3)] * 3 + (i % 3)])),
      y: new Tensor('float32', [16, 1], Float32Array.from(idx, (j) => Y[j])),
    };
  };
  const make = async () => {
    const { graph, loss } = build();
    return Trainer.create(graph, { loss, params: ['w', 'b'], adam: { lr: 0.02 }, session: { threads: 1 } });
  };
  // closed-form least squares via the normal equations (4 x 4, Gaussian elimination)
  const A = Array.from({ length: 4 }, () => new Array(5).fill(0));
  for (let i = 0; i < N; i++) {
    const row = [X[i * 3], X[i * 3 + 1], X[i * 3 + 2], 1];
    for (let p = 0; p < 4; p++) {
      for (let q = 0; q < 4; q++) A[p][q] += row[p] * row[q];
      A[p][4] += row[p] * Y[i];
    }
  }
  for (let c = 0; c < 4; c++)
    for (let r = 0; r < 4; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let j = c; j < 5; j++) A[r][j] -= f * A[c][j];
    }
  const sol = A.map((row, i) => row[4] / row[i]);

  const dir = mkdtempSync(join(tmpdir(), 'trainer-'));
  try {
    const straight = await make();
    await fit(straight, { steps: 1200, batch, lr: (s) => (s < 800 ? 0.02 : 0.002) });
    const w = straight.params.get('w')!;
    const bias = straight.params.get('b')![0];
    for (let j = 0; j < 3; j++) assert.ok(Math.abs(w[j] - sol[j]) < 0.01, `w ${[...w]} vs ${sol}`);
    assert.ok(Math.abs(bias - sol[3]) < 0.01);

    const path = join(dir, 'ck.safetensors');
    const first = await make();
    await fit(first, { steps: 500, batch, checkpoint: { path, every: 100 } });
    await first.release();
    const second = await make();
    await fit(second, { steps: 1200, batch, lr: (s) => (s < 800 ? 0.02 : 0.002), checkpoint: { path, every: 100 } });
    assert.equal(second.step, 1200);
    assert.deepEqual([...second.params.get('w')!], [...w]);
    assert.deepEqual([...second.params.get('b')!], [bias]);
    await straight.release();
    await second.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trainer and batch sampler reject bad input with clear messages', async () => {
  const b = new GraphBuilder('bad');
  const x = b.input('x', 'float32', [2]);
  b.init('w', Tensor.f32([2], [1, 2]));
  const loss = b.reduceSum(b.mul(x, 'w'), [0], false);
  b.output(loss, 'float32', []);
  await assert.rejects(Trainer.create(b.build(), { loss, params: ['nope'], adam: { lr: 0.1 } }), /has no initializer 'nope'/);
  await assert.rejects(Trainer.create(b.build(), { loss: 'zzz', params: ['w'], adam: { lr: 0.1 } }), /computes no value 'zzz'/);
  assert.throws(() => new BatchSampler(0, 4, 1), /at least one example/);
  const s = new BatchSampler(10, 4, 1);
  assert.equal(s.perEpoch, 2);
  const seen = [...s.indices(0), ...s.indices(1)];
  assert.equal(new Set(seen).size, 8);
  assert.deepEqual([...new BatchSampler(10, 4, 1).indices(3)], [...s.indices(3)]);
});
