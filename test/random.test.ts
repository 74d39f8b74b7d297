import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';

test('Rng is deterministic per seed and has the right moments', () => {
  const a = new Rng(7);
  const b = new Rng(7);
  for (let i = 0; i < 10; i++) assert.equal(a.nextU32(), b.nextU32());
  const r = new Rng(1);
  const n = 200000;
  let s = 0;
  let s2 = 0;
  let u = 0;
  for (let i = 0; i < n; i++) {
    const x = r.normal();
    s += x;
    s2 += x * x;
    u += r.uniform();
  }
  // standard errors: mean 1/sqrt(n) ~ 0.0022, variance sqrt(2/n) ~ 0.003, uniform mean 0.00065
  assert.ok(Math.abs(s / n) < 0.01);
  assert.ok(Math.abs(s2 / n - 1) < 0.015);
  assert.ok(Math.abs(u / n - 0.5) < 0.003);
  const p = new Rng(3).permutation(50);
  assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});
