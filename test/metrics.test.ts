import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../src/data/random.js';
import { oodMetrics } from '../src/experiments/metrics.js';

// Brute-force references, straight from the definitions.
function bruteAuroc(a: number[], b: number[]): number {
  let s = 0;
  for (const x of a) for (const y of b) s += x > y ? 1 : x === y ? 0.5 : 0;
  return s / (a.length * b.length);
}

function bruteFpr95(a: number[], b: number[]): number {
  let best = 1;
  for (const t of [...a, ...b]) {
    const tpr = a.filter((x) => x >= t).length / a.length;
    const fpr = b.filter((y) => y >= t).length / b.length;
    if (tpr >= 0.95 && fpr < best) best = fpr;
  }
  return best;
}

function bruteAupr(a: number[], b: number[]): number {
  const ts = [...new Set([...a, ...b])].sort((x, y) => y - x);
  let ap = 0;
  let prevRecall = 0;
  for (const t of ts) {
    const tp = a.filter((x) => x >= t).length;
    const fp = b.filter((y) => y >= t).length;
    const recall = tp / a.length;
    ap += (recall - prevRecall) * (tp / (tp + fp));
    prevRecall = recall;
  }
  return ap;
}

test('metrics match brute force on random scores, with and without ties', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 30; trial++) {
    const nIn = 5 + rng.int(60);
    const nOut = 5 + rng.int(60);
    const quantise = trial % 2 === 0; // many ties
    const shift = rng.range(-1, 2);
    const draw = (m: number) => {
      const v = rng.normal() + m;
      return quantise ? Math.round(v * 2) / 2 : v;
    };
    const a = Array.from({ length: nIn }, () => draw(shift));
    const b = Array.from({ length: nOut }, () => draw(0));
    const m = oodMetrics(a, b);
    assert.ok(Math.abs(m.auroc - bruteAuroc(a, b)) < 1e-12, `auroc trial ${trial}`);
    assert.equal(m.fpr95, bruteFpr95(a, b), `fpr95 trial ${trial}`);
    assert.ok(Math.abs(m.aupr - bruteAupr(a, b)) < 1e-12, `aupr trial ${trial}`);
  }
});

test('metrics on perfect, reversed and identical scores', () => {
  const a = [5, 6, 7, 8];
  const b = [1, 2, 3];
  assert.deepEqual(oodMetrics(a, b), { auroc: 1, fpr95: 0, aupr: 1 });
  const r = oodMetrics(b, a);
  assert.equal(r.auroc, 0);
  assert.equal(r.fpr95, 1);
  const same = oodMetrics([1, 1, 1], [1, 1]);
  assert.equal(same.auroc, 0.5);
  assert.equal(same.fpr95, 1);
  assert.ok(Math.abs(same.aupr - 0.6) < 1e-12); // precision = 3/5 at the only threshold
});

test('metrics reject empty or non-finite scores', () => {
  assert.throws(() => oodMetrics([], [1]), /in-distribution scores: no scores/);
  assert.throws(() => oodMetrics([1, NaN], [1]), /in-distribution scores: score 1 is not finite/);
  assert.throws(() => oodMetrics([1], [Infinity]), /out-of-distribution scores: score 0 is not finite/);
});
