import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { GraphBuilder } from '../src/graph/builder.js';
import { Tensor } from '../src/graph/tensor.js';
import { runOnce } from '../src/runtime/session.js';
import { Adam } from '../src/train/adam.js';
import { randomDirections, sigreg, sigregGaussianMean, sigregQuadrature, sigregReference } from '../src/train/sigreg.js';

function gaussian(rng: Rng, N: number, K: number, shift = 0, scale = 1): Float64Array {
  return Float64Array.from({ length: N * K }, (_, i) => (i % K === 0 ? shift : 0) + scale * rng.normal());
}

test('SIGReg quadrature: trapezoid weights on [0, 3] with 17 knots integrate exp(-t^2/2) over the real line', () => {
  const q = sigregQuadrature();
  assert.equal(q.t.length, 17);
  assert.equal(q.t[16], 3);
  // sum_t w_t ~ integral_{-3}^{3} exp(-t^2/2) dt = sqrt(2 pi) (1 - 2 Phi(-3)) = 2.49986
  const total = q.weights.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 2.49986) < 2e-3, `${total}`);
  // E[SIGReg] under N(0, I) = integral (1 - exp(-t^2)) exp(-t^2/2) dt = 2.49986 - sqrt(2 pi / 3) (1 - 2 Phi(-3 sqrt 3))
  assert.ok(Math.abs(sigregGaussianMean() - (2.49986 - Math.sqrt((2 * Math.PI) / 3))) < 2e-3);
});

test('SIGReg is small on Gaussian samples and large on shifted or scaled ones', () => {
  const rng = new Rng(21);
  const N = 512;
  const K = 8;
  const M = 64;
  const mean = sigregGaussianMean();
  let avg = 0;
  const draws = 20;
  for (let r = 0; r < draws; r++) {
    const v = sigregReference(gaussian(rng, N, K), N, K, randomDirections(rng, K, M), M);
    avg += v / draws;
    assert.ok(v < 3 * mean, `Gaussian sample gave ${v}`);
  }
  // E[SIGReg] is exactly sum_t w_t (1 - phi_t^2) for N(0, I) samples, whatever N
  assert.ok(Math.abs(avg - mean) < 0.1 * mean, `mean over draws ${avg} vs ${mean}`);
  const dirs = randomDirections(rng, K, M);
  const shifted = sigregReference(gaussian(rng, N, K, 1), N, K, dirs, M);
  const scaled = sigregReference(gaussian(rng, N, K, 0, 1.5), N, K, dirs, M);
  const narrow = sigregReference(gaussian(rng, N, K, 0, 0.5), N, K, dirs, M);
  for (const v of [shifted, scaled, narrow]) assert.ok(v > 10 * mean, `off-target sample gave only ${v}`);
  // it grows linearly with N when the law is wrong
  const big = sigregReference(gaussian(rng, 4 * N, K, 0, 1.5), 4 * N, K, dirs, M);
  assert.ok(big > 3 * scaled && big < 5 * scaled, `${big} vs 4 x ${scaled}`);
});

test('SIGReg as graph ops equals the float64 reference, with fixed and read-off batch size', async () => {
  const rng = new Rng(5);
  const V = 2;
  const N = 100;
  const K = 3;
  const M = 16;
  const z = Float32Array.from(gaussian(rng, V * N, K, 0.3, 1.2));
  const dirs = randomDirections(rng, K, M);
  for (const n of [N, undefined]) {
    const b = new GraphBuilder('sigreg');
    const zv = b.input('z', 'float32', [V, N, K]);
    const dv = b.input('dirs', 'float32', [K, M]);
    b.output(b.identity(sigreg(b, zv, dv, { n })), 'float32', []);
    const out = await runOnce(b.build(), { z: new Tensor('float32', [V, N, K], z), dirs: new Tensor('float32', [K, M], dirs) }, { threads: 1 });
    const got = Object.values(out)[0].toNumbers()[0];
    const want = (sigregReference(z.subarray(0, N * K), N, K, dirs, M) + sigregReference(z.subarray(N * K), N, K, dirs, M)) / 2;
    assert.ok(Math.abs(got - want) < 1e-4 * want, `graph ${got} vs reference ${want}`);
  }
});

test('randomDirections gives unit columns', () => {
  const d = randomDirections(new Rng(1), 5, 7);
  for (let m = 0; m < 7; m++) {
    let s = 0;
    for (let k = 0; k < 5; k++) s += d[k * 7 + m] ** 2;
    assert.ok(Math.abs(s - 1) < 1e-6);
  }
});

test('Adam: the first two steps match the hand computation, and it minimises a quadratic', () => {
  const lr = 0.1;
  const adam = new Adam({ lr });
  const p = new Map([['w', Float32Array.of(1, -2)]]);
  adam.step(p, new Map([['w', [0.5, -4]]]));
  // m_hat = g, v_hat = g^2: the first step is lr * sign(g)
  assert.ok(Math.abs(p.get('w')![0] - (1 - lr)) < 1e-6);
  assert.ok(Math.abs(p.get('w')![1] - (-2 + lr)) < 1e-6);
  adam.step(p, new Map([['w', [1.5, -4]]]));
  const m = 0.9 * 0.1 * 0.5 + 0.1 * 1.5;
  const v = 0.999 * 0.001 * 0.25 + 0.001 * 2.25;
  const expected = 1 - lr - (lr * (m / (1 - 0.81))) / (Math.sqrt(v / (1 - 0.999 ** 2)) + 1e-8);
  assert.ok(Math.abs(p.get('w')![0] - expected) < 1e-6, `${p.get('w')![0]} vs ${expected}`);

  // f(w) = sum a_i (w_i - c_i)^2; a copy restored from the state follows the same path
  const a = [1, 10, 0.1];
  const c = [3, -1, 2];
  const run = (opt: Adam, w: Float32Array, steps: number) => {
    const params = new Map([['w', w]]);
    for (let s = 0; s < steps; s++) opt.step(params, new Map([['w', a.map((ai, i) => 2 * ai * (w[i] - c[i]))]]));
  };
  const opt = new Adam({ lr: 0.05 });
  const w = new Float32Array(3);
  run(opt, w, 300);
  const copy = new Adam({ lr: 0.05 });
  copy.loadState(opt.state());
  const w2 = Float32Array.from(w);
  run(opt, w, 1700);
  run(copy, w2, 1700);
  assert.deepEqual([...w2], [...w]);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(w[i] - c[i]) < 1e-2, `w = ${w}`);
  assert.throws(() => opt.step(new Map([['w', w]]), new Map()), /no gradient for parameter 'w'/);
});
