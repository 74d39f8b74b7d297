// Test helper: rows of an n x dim matrix with orthonormal rows (Gram-Schmidt on Gaussians), independent of src/.
import { Rng } from '../../src/data/random.js';

export function orthonormalRows(n: number, dim: number, rng: Rng): Float64Array[] {
  const rows: Float64Array[] = [];
  while (rows.length < n) {
    const v = Float64Array.from({ length: dim }, () => rng.normal());
    for (const r of rows) {
      let d = 0;
      for (let i = 0; i < dim; i++) d += v[i] * r[i];
      for (let i = 0; i < dim; i++) v[i] -= d * r[i];
    }
    const norm = Math.hypot(...v);
    rows.push(v.map((x) => x / norm));
  }
  return rows;
}
