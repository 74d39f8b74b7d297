// Correlations and two-sample distances.

function checkPair(what: string, a: ArrayLike<number>, b: ArrayLike<number>) {
  if (a.length !== b.length) throw new Error(`${what}: the two series have different lengths (${a.length} and ${b.length})`);
  if (a.length < 2) throw new Error(`${what}: needs at least 2 points, got ${a.length}`);
  for (let i = 0; i < a.length; i++)
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) throw new Error(`${what}: point ${i} is not finite (${a[i]}, ${b[i]})`);
}

/** Pearson correlation coefficient; NaN when either series is constant. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair('pearson', a, b);
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (saa === 0 || sbb === 0) return NaN;
  return sab / Math.sqrt(saa * sbb);
}

/** Ranks 1..n, ties get the average of their ranks. */
export function ranks(a: ArrayLike<number>): Float64Array {
  const n = a.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[i] - a[j]);
  const r = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && a[idx[j + 1]] === a[idx[i]]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[idx[k]] = avg;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation (Pearson correlation of the average ranks). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  checkPair('spearman', a, b);
  return pearson(ranks(a), ranks(b));
}

function checkSample(what: string, x: ArrayLike<number>, dim: number): number {
  if (!(dim >= 1) || !Number.isInteger(dim)) throw new Error(`${what}: dimension must be a positive integer, got ${dim}`);
  if (x.length % dim !== 0) throw new Error(`${what}: ${x.length} values is not a whole number of points of dimension ${dim}`);
  const n = x.length / dim;
  if (n < 2) throw new Error(`${what}: needs at least 2 points per sample, got ${n}`);
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i])) throw new Error(`${what}: value ${i} is not finite (${x[i]})`);
  return n;
}

function dist(x: ArrayLike<number>, i: number, y: ArrayLike<number>, j: number, dim: number): number {
  let s = 0;
  for (let d = 0; d < dim; d++) {
    const t = x[i * dim + d] - y[j * dim + d];
    s += t * t;
  }
  return s;
}

function meanCross(x: ArrayLike<number>, n: number, y: ArrayLike<number>, m: number, dim: number, f: (d2: number) => number): number {
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) s += f(dist(x, i, y, j, dim));
  return s / (n * m);
}

function meanWithin(x: ArrayLike<number>, n: number, dim: number, f: (d2: number) => number): number {
  let s = 0;
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) s += f(dist(x, i, x, j, dim));
  return (2 * s) / (n * (n - 1));
}

/**
 * Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between two samples (row-major, `dim` columns),
 * with unbiased (U-statistic) within-sample terms, so it can be slightly negative for equal laws.
 */
export function energyDistance(x: ArrayLike<number>, y: ArrayLike<number>, dim: number): number {
  const n = checkSample('energyDistance', x, dim);
  const m = checkSample('energyDistance', y, dim);
  return 2 * meanCross(x, n, y, m, dim, Math.sqrt) - meanWithin(x, n, dim, Math.sqrt) - meanWithin(y, m, dim, Math.sqrt);
}

/** Median pairwise distance of the pooled sample (on at most `limit` points of each). */
export function medianDistance(x: ArrayLike<number>, y: ArrayLike<number>, dim: number, limit = 500): number {
  const pts: number[][] = [];
  for (const s of [x, y]) {
    const n = s.length / dim;
    const step = Math.max(1, Math.floor(n / limit));
    for (let i = 0; i < n; i += step) pts.push(Array.from({ length: dim }, (_, d) => s[i * dim + d]));
  }
  const d2: number[] = [];
  for (let i = 0; i < pts.length; i++)
    for (let j = i + 1; j < pts.length; j++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += (pts[i][d] - pts[j][d]) ** 2;
      d2.push(s);
    }
  d2.sort((a, b) => a - b);
  return Math.sqrt(d2[Math.floor(d2.length / 2)]);
}

/**
 * Unbiased squared maximum mean discrepancy with the Gaussian kernel exp(-|a - b|^2 / (2 h^2)).
 * The bandwidth h defaults to the median pairwise distance of the pooled sample.
 */
export function mmd2(x: ArrayLike<number>, y: ArrayLike<number>, dim: number, bandwidth?: number): { mmd2: number; bandwidth: number } {
  const n = checkSample('mmd2', x, dim);
  const m = checkSample('mmd2', y, dim);
  const h = bandwidth ?? medianDistance(x, y, dim);
  if (!(h > 0)) throw new Error(`mmd2: bandwidth must be positive, got ${h}`);
  const k = (d2: number) => Math.exp(-d2 / (2 * h * h));
  const value = meanWithin(x, n, dim, k) + meanWithin(y, m, dim, k) - 2 * meanCross(x, n, y, m, dim, k);
  return { mmd2: value, bandwidth: h };
}

/** Mean and (population) standard deviation. */
export function meanStd(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}
