// Bicubic resizing of position-embedding grids, matching torch.nn.functional.interpolate
// (mode='bicubic', align_corners=False, given `size=`), computed in float64.

/** One output position: the input indices it reads and their weights. */
interface Taps {
  index: number[];
  weight: number[];
}

// Keys' cubic convolution kernel, as PyTorch writes it (A = -0.75 without antialias).
function cubic1(x: number, a: number): number {
  return ((a + 2) * x - (a + 3)) * x * x + 1;
}

function cubic2(x: number, a: number): number {
  return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

/** PyTorch's upsample_bicubic2d along one axis: 4 taps, indices clamped to the border. */
function plainTaps(inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  const a = -0.75;
  const out: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const real = scale * (o + 0.5) - 0.5;
    const i0 = Math.floor(real);
    const t = real - i0;
    const weight = [cubic2(t + 1, a), cubic1(t, a), cubic1(1 - t, a), cubic2(2 - t, a)];
    const index = [i0 - 1, i0, i0 + 1, i0 + 2].map((i) => Math.min(Math.max(i, 0), inSize - 1));
    out.push({ index, weight });
  }
  return out;
}

// The antialiased kernel (PyTorch follows Pillow: A = -0.5).
function aaKernel(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

/** PyTorch's antialiased bicubic along one axis: window cut at the border and renormalised. */
function aaTaps(inSize: number, outSize: number): Taps[] {
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const out: Taps[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const index: number[] = [];
    const weight: number[] = [];
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const w = aaKernel((i - center + 0.5) * invScale);
      index.push(i);
      weight.push(w);
      total += w;
    }
    out.push({ index, weight: weight.map((w) => (total !== 0 ? w / total : 0)) });
  }
  return out;
}

/**
 * Resizes a grid stored token-major, [inH * inW, channels] (row-major over the grid), to
 * [outH * outW, channels]. `antialias` picks PyTorch's antialiased variant.
 */
export function resizeGrid(
  src: ArrayLike<number>,
  channels: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  antialias = false,
): Float64Array {
  if (src.length !== inH * inW * channels) throw new Error(`resizeGrid: ${src.length} values do not fill a ${inH}x${inW}x${channels} grid`);
  const taps = antialias ? aaTaps : plainTaps;
  const ty = taps(inH, outH);
  const tx = taps(inW, outW);
  // along x first, then along y
  const rows = new Float64Array(inH * outW * channels);
  for (let y = 0; y < inH; y++) {
    for (let x = 0; x < outW; x++) {
      const { index, weight } = tx[x];
      const dst = (y * outW + x) * channels;
      for (let k = 0; k < index.length; k++) {
        const s = (y * inW + index[k]) * channels;
        const w = weight[k];
        for (let c = 0; c < channels; c++) rows[dst + c] += w * src[s + c];
      }
    }
  }
  const out = new Float64Array(outH * outW * channels);
  for (let y = 0; y < outH; y++) {
    const { index, weight } = ty[y];
    for (let x = 0; x < outW; x++) {
      const dst = (y * outW + x) * channels;
      for (let k = 0; k < index.length; k++) {
        const s = (index[k] * outW + x) * channels;
        const w = weight[k];
        for (let c = 0; c < channels; c++) out[dst + c] += w * rows[s + c];
      }
    }
  }
  return out;
}
