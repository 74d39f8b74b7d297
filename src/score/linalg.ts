// Float64 dense linear algebra for small symmetric matrices (K x K Gram matrices).

export interface Eigen {
  /** eigenvalues, descending */
  values: Float64Array;
  /** eigenvectors as rows: vectors[i*n .. i*n+n) belongs to values[i]; empty unless asked for */
  vectors: Float64Array;
}

/**
 * Eigen-decomposition of a symmetric n x n matrix (row-major, only read, never changed):
 * Householder reduction to tridiagonal form, then the implicit QL method with Wilkinson shifts.
 */
export function symmetricEigen(a: ArrayLike<number>, n: number, withVectors = false): Eigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: expected ${n * n} entries, got ${a.length}`);
  const z = Float64Array.from(a as ArrayLike<number>); // working copy, becomes the transform
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(z, n, d, e, withVectors);
  tridiagonalQL(d, e, n, withVectors ? z : undefined);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = Float64Array.from(order, (i) => d[i]);
  let vectors = new Float64Array(0);
  if (withVectors) {
    // z holds eigenvectors in columns
    vectors = new Float64Array(n * n);
    order.forEach((col, r) => {
      for (let i = 0; i < n; i++) vectors[r * n + i] = z[i * n + col];
    });
  }
  return { values, vectors };
}

// Householder tridiagonalisation (the classic tred2 scheme) on row-major z.
function tridiagonalize(z: Float64Array, n: number, d: Float64Array, e: Float64Array, vec: boolean) {
  for (let i = n - 1; i > 0; i--) {
    const l = i - 1;
    let h = 0;
    if (l > 0) {
      let scale = 0;
      for (let k = 0; k <= l; k++) scale += Math.abs(z[i * n + k]);
      if (scale === 0) {
        e[i] = z[i * n + l];
      } else {
        for (let k = 0; k <= l; k++) {
          z[i * n + k] /= scale;
          h += z[i * n + k] * z[i * n + k];
        }
        let f = z[i * n + l];
        const g = f >= 0 ? -Math.sqrt(h) : Math.sqrt(h);
        e[i] = scale * g;
        h -= f * g;
        z[i * n + l] = f - g;
        f = 0;
        for (let j = 0; j <= l; j++) {
          if (vec) z[j * n + i] = z[i * n + j] / h;
          let s = 0;
          for (let k = 0; k <= j; k++) s += z[j * n + k] * z[i * n + k];
          for (let k = j + 1; k <= l; k++) s += z[k * n + j] * z[i * n + k];
          e[j] = s / h;
          f += e[j] * z[i * n + j];
        }
        const hh = f / (h + h);
        for (let j = 0; j <= l; j++) {
          const fj = z[i * n + j];
          const gj = e[j] - hh * fj;
          e[j] = gj;
          for (let k = 0; k <= j; k++) z[j * n + k] -= fj * e[k] + gj * z[i * n + k];
        }
      }
    } else {
      e[i] = z[i * n + l];
    }
    d[i] = h;
  }
  d[0] = 0;
  e[0] = 0;
  for (let i = 0; i < n; i++) {
    if (vec) {
      if (d[i] !== 0) {
        for (let j = 0; j < i; j++) {
          let g = 0;
          for (let k = 0; k < i; k++) g += z[i * n + k] * z[k * n + j];
          for (let k = 0; k < i; k++) z[k * n + j] -= g * z[k * n + i];
        }
      }
      d[i] = z[i * n + i];
      z[i * n + i] = 1;
      for (let j = 0; j < i; j++) {
        z[j * n + i] = 0;
        z[i * n + j] = 0;
      }
    } else {
      d[i] = z[i * n + i];
    }
  }
}

// Implicit QL on the tridiagonal (d, e); accumulates rotations into z's columns when given.
function tridiagonalQL(d: Float64Array, e: Float64Array, n: number, z?: Float64Array) {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  if (n > 0) e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= Number.EPSILON * dd) break;
      }
      if (m === l) break;
      if (++iter > 60) throw new Error('symmetricEigen: QL iteration did not converge');
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = Math.hypot(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? Math.abs(r) : -Math.abs(r)));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      for (; i >= l; i--) {
        let f = s * e[i];
        const b = c * e[i];
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] -= p;
          e[m] = 0;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (z) {
          for (let k = 0; k < n; k++) {
            f = z[k * n + i + 1];
            z[k * n + i + 1] = s * z[k * n + i] + c * f;
            z[k * n + i] = c * z[k * n + i] - s * f;
          }
        }
      }
      if (r === 0 && i >= l) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/** G = A A^T in float64 for row-major A (rows x cols), any float input precision. */
export function gram(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const g = new Float64Array(rows * rows);
  const ad = a instanceof Float64Array ? a : Float64Array.from(a);
  for (let i = 0; i < rows; i++) {
    const oi = i * cols;
    for (let j = 0; j <= i; j++) {
      const oj = j * cols;
      let s = 0;
      for (let c = 0; c < cols; c++) s += ad[oi + c] * ad[oj + c];
      g[i * rows + j] = s;
      g[j * rows + i] = s;
    }
  }
  return g;
}
