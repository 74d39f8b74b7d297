// Separable Gaussian blur of h x w arrays (pure JS): the mnist-blurred OOD set and the elastic distortion of
// digit views both use it.

/** The normalised 1-D Gaussian kernel of standard deviation sigma, radius ceil(3 sigma). */
export function gaussianKernel(sigma: number): Float64Array {
  if (!(sigma > 0)) throw new Error(`blur: sigma must be positive, got ${sigma}`);
  const r = Math.ceil(3 * sigma);
  const k = Float64Array.from({ length: 2 * r + 1 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
}

/**
 * Separable Gaussian blur of an h x w image, in float64: rows first, then columns. Outside the image a
 * pixel counts as 0 (`zero`) or as the nearest edge pixel (`clamp`).
 */
export function gaussianBlur(img: ArrayLike<number>, h: number, w: number, sigma: number, edges: 'zero' | 'clamp'): Float64Array {
  const k = gaussianKernel(sigma);
  const tmp = new Float64Array(h * w);
  const out = new Float64Array(h * w);
  blurPass(img, tmp, h, w, k, true, edges === 'clamp');
  blurPass(tmp, out, h, w, k, false, edges === 'clamp');
  return out;
}

function blurPass(src: ArrayLike<number>, dst: Float64Array, h: number, w: number, k: Float64Array, alongRows: boolean, clamp: boolean): void {
  const r = (k.length - 1) / 2;
  const n = alongRows ? w : h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let t = -r; t <= r; t++) {
        let p = (alongRows ? x : y) + t;
        if (p < 0 || p >= n) {
          if (!clamp) continue;
          p = p < 0 ? 0 : n - 1;
        }
        s += k[t + r] * (alongRows ? src[y * w + p] : src[p * w + x]);
      }
      dst[y * w + x] = s;
    }
  }
}
