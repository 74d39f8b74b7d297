// Plots as vega-lite specs, rendered headless with vega to SVG, and to PNG with sharp.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import { compile, type Config, type TopLevelSpec } from 'vega-lite';

/** A rendered plot. */
export interface Plot {
  svg: string;
  png: Buffer;
}

/** Colours for groups (vega's tableau10), so pages can match their plots. */
export const PALETTE = ['#4c78a8', '#f58518', '#e45756', '#72b7b2', '#54a24b', '#eeca3b', '#b279a2', '#ff9da6', '#9d755d', '#bab0ac'];

export function groupColor(i: number): string {
  return PALETTE[i % PALETTE.length];
}

const FONT = 'DejaVu Sans, Helvetica, Arial, sans-serif';

const CONFIG: Config = {
  font: FONT,
  background: 'white',
  padding: 8,
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee', domainColor: '#888', tickColor: '#888' },
  legend: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', labelLimit: 220 },
  header: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 14, fontWeight: 'bold', anchor: 'start', subtitleFontSize: 11, subtitleColor: '#666' },
};

/** Compiles a vega-lite spec and renders it to SVG and PNG (PNG at `scale` times the SVG size, default 2). */
export async function renderSpec(spec: TopLevelSpec, opts: { scale?: number } = {}): Promise<Plot> {
  const scale = opts.scale ?? 2;
  const compiled = compile(spec, { config: CONFIG }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const png = await sharp(Buffer.from(svg), { density: 72 * scale }).png({ compressionLevel: 9 }).toBuffer();
  return { svg, png };
}

/** Writes `<name>.svg` and `<name>.png` into `outDir`; returns both paths. */
export async function writePlot(plot: Plot, outDir: string, name: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const svgPath = join(outDir, `${name}.svg`);
  const pngPath = join(outDir, `${name}.png`);
  await writeFile(svgPath, plot.svg.startsWith('<?xml') ? plot.svg : `<?xml version="1.0" encoding="UTF-8"?>\n${plot.svg}`);
  await writeFile(pngPath, plot.png);
  return [svgPath, pngPath];
}

// ---------------------------------------------------------------- histogram

export interface HistogramGroup {
  name: string;
  values: ArrayLike<number>;
}

export interface HistogramBins {
  /** bins + 1 edges */
  edges: number[];
  groups: { name: string; n: number; counts: number[]; below: number; above: number }[];
}

export interface HistogramOptions {
  /** number of bins (default: Rice rule on the largest group, 10..60) */
  bins?: number;
  /** the x range; values outside are counted in the end bins (default: all values, or the
   *  0.1%..99.9% quantiles when there are more than 1000) */
  range?: [number, number];
  title?: string;
  xTitle?: string;
  /** 'overlay' (one panel) or 'facet' (one row per group); default: overlay up to 5 groups */
  layout?: 'overlay' | 'facet' | 'auto';
  width?: number;
}

/** Counts values into common bins [e_i, e_{i+1}) (the last bin is closed); values out of range go to the end bins. */
export function histogramBins(groups: HistogramGroup[], opts: Pick<HistogramOptions, 'bins' | 'range'> = {}): HistogramBins {
  let total = 0;
  let largest = 0;
  for (const g of groups) {
    total += g.values.length;
    largest = Math.max(largest, g.values.length);
  }
  if (total === 0) throw new Error('histogram: no values');
  let [lo, hi] = opts.range ?? robustRange(groups, total);
  if (!(hi > lo)) {
    lo -= 0.5;
    hi += 0.5;
  }
  const bins = opts.bins ?? Math.min(60, Math.max(10, Math.round(2 * Math.cbrt(largest))));
  const width = (hi - lo) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + i * width));
  return {
    edges,
    groups: groups.map((g) => {
      const counts = new Array<number>(bins).fill(0);
      let below = 0;
      let above = 0;
      for (let i = 0; i < g.values.length; i++) {
        const v = g.values[i];
        if (v < lo) below++;
        if (v > hi) above++;
        let b = Math.floor((v - lo) / width);
        if (b < 0) b = 0;
        if (b >= bins) b = bins - 1;
        // keep the bin consistent with the stored edges despite rounding
        while (b > 0 && v < edges[b]) b--;
        while (b < bins - 1 && v >= edges[b + 1]) b++;
        counts[b]++;
      }
      return { name: g.name, n: g.values.length, counts, below, above };
    }),
  };
}

function robustRange(groups: HistogramGroup[], total: number): [number, number] {
  const all = new Float64Array(total);
  let k = 0;
  for (const g of groups) for (let i = 0; i < g.values.length; i++) all[k++] = g.values[i];
  all.sort();
  if (total <= 1000) return [all[0], all[total - 1]];
  return [quantileSorted(all, 0.001), quantileSorted(all, 0.999)];
}

/** Linear-interpolated quantile of sorted values. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const p = q * (n - 1);
  const i = Math.floor(p);
  const f = p - i;
  return i + 1 < n ? sorted[i] * (1 - f) + sorted[i + 1] * f : sorted[n - 1];
}

/** Density histograms of several groups on common bins (figure 3), overlaid or one row per group. */
export async function histogram(groups: HistogramGroup[], opts: HistogramOptions = {}): Promise<Plot & { bins: HistogramBins }> {
  const bins = histogramBins(groups, opts);
  const { edges } = bins;
  const hi = edges[edges.length - 1];
  const rows: { group: string; x: number; density: number }[] = [];
  for (const g of bins.groups) {
    if (g.n === 0) continue;
    for (let i = 0; i < g.counts.length; i++) {
      rows.push({ group: g.name, x: edges[i], density: g.counts[i] / (g.n * (edges[i + 1] - edges[i])) });
    }
    rows.push({ group: g.name, x: hi, density: g.counts[g.counts.length - 1] / (g.n * (hi - edges[edges.length - 2])) });
  }
  const names = groups.map((g) => g.name);
  const facet = opts.layout === 'facet' || ((opts.layout ?? 'auto') === 'auto' && names.length > 5);
  const clipped = bins.groups.reduce((s, g) => s + g.below + g.above, 0);
  const subtitle = clipped ? `${clipped} value(s) outside [${fmt(edges[0])}, ${fmt(hi)}] are counted in the end bins` : undefined;
  const width = opts.width ?? 440;
  const color = {
    field: 'group', type: 'nominal' as const, title: null,
    scale: { domain: names, range: names.map((_, i) => groupColor(i)) },
    legend: facet ? null : { orient: 'right' as const, symbolType: 'square', symbolOpacity: 0.9, symbolStrokeWidth: 0 },
  };
  const x = { field: 'x', type: 'quantitative' as const, title: opts.xTitle ?? 'value', scale: { domain: [edges[0], hi], nice: false, zero: false } };
  const y = { field: 'density', type: 'quantitative' as const, title: 'density', stack: null };
  const layer = [
    { mark: { type: 'area' as const, interpolate: 'step-after' as const, opacity: 0.25 }, encoding: { x, y, color } },
    { mark: { type: 'line' as const, interpolate: 'step-after' as const, strokeWidth: 1.6 }, encoding: { x, y, color } },
  ];
  const title = opts.title ? { text: opts.title, subtitle } : subtitle ? { text: '', subtitle } : undefined;
  const spec: TopLevelSpec = facet
    ? {
        title,
        data: { values: rows },
        facet: { row: { field: 'group', type: 'nominal', title: null, sort: names, header: { labelAngle: 0, labelAlign: 'left', labelOrient: 'right', labelLimit: 160 } } },
        spec: { width, height: 48, layer: layer.map((l) => ({ ...l, encoding: { ...l.encoding, y: { ...y, title: null, axis: { tickCount: 2 } } } })) },
        resolve: { scale: { y: 'independent' } },
        spacing: 4,
      }
    : { title, width, height: 220, data: { values: rows }, layer };
  return { ...(await renderSpec(spec)), bins };
}

// ---------------------------------------------------------------- heatmap

export interface HeatCell {
  row: string;
  col: string;
  value: number;
}

/** A table of numbers as coloured cells with the value written in each. */
export async function heatmap(
  cells: HeatCell[],
  opts: { title?: string; rowTitle?: string; colTitle?: string; valueTitle?: string; domain?: [number, number]; format?: string; scheme?: string } = {},
): Promise<Plot> {
  if (cells.length === 0) throw new Error('heatmap: no cells');
  const rows = [...new Set(cells.map((c) => c.row))];
  const cols = [...new Set(cells.map((c) => c.col))];
  const vals = cells.map((c) => c.value);
  const domain = opts.domain ?? [Math.min(...vals), Math.max(...vals)];
  const mid = (domain[0] + domain[1]) / 2;
  const spec: TopLevelSpec = {
    title: opts.title,
    data: { values: cells },
    width: { step: Math.max(56, Math.min(110, 8 * Math.max(...cols.map((c) => c.length)))) },
    height: { step: 28 },
    encoding: {
      x: { field: 'col', type: 'nominal', sort: cols, title: opts.colTitle ?? null, axis: { labelAngle: 0, orient: 'top', labelLimit: 140 } },
      y: { field: 'row', type: 'nominal', sort: rows, title: opts.rowTitle ?? null, axis: { labelLimit: 200 } },
    },
    layer: [
      { mark: { type: 'rect', stroke: 'white', strokeWidth: 1 }, encoding: { color: { field: 'value', type: 'quantitative', title: opts.valueTitle ?? 'value', scale: { scheme: (opts.scheme ?? 'blues') as 'blues', domain } } } },
      {
        mark: { type: 'text', fontSize: 11 },
        encoding: {
          text: { field: 'value', type: 'quantitative', format: opts.format ?? '.3f' },
          color: { condition: { test: `datum.value > ${mid}`, value: 'white' }, value: 'black' },
        },
      },
    ],
  };
  return renderSpec(spec);
}

// ---------------------------------------------------------------- scatter

export interface ScatterPoint {
  x: number;
  y: number;
  group?: string;
}

/** Points, coloured by group when given. */
export async function scatter(
  points: ScatterPoint[],
  opts: { title?: string; xTitle?: string; yTitle?: string; logX?: boolean; logY?: boolean; width?: number; height?: number } = {},
): Promise<Plot> {
  const groups = [...new Set(points.map((p) => p.group ?? ''))];
  const grouped = groups.length > 1 || groups[0] !== '';
  const spec: TopLevelSpec = {
    title: opts.title,
    width: opts.width ?? 420,
    height: opts.height ?? 300,
    data: { values: points.map((p) => ({ x: p.x, y: p.y, group: p.group ?? '' })) },
    mark: { type: 'circle', size: 22, opacity: 0.7 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: opts.xTitle ?? 'x', scale: { type: opts.logX ? 'log' : 'linear', zero: false } },
      y: { field: 'y', type: 'quantitative', title: opts.yTitle ?? 'y', scale: { type: opts.logY ? 'log' : 'linear', zero: false } },
      ...(grouped ? { color: { field: 'group', type: 'nominal', title: null, scale: { domain: groups, range: groups.map((_, i) => groupColor(i)) } } } : { color: { value: PALETTE[0] } }),
    },
  };
  return renderSpec(spec);
}

// ---------------------------------------------------------------- spectra

export interface SpectrumBand {
  group: string;
  /** k = 1..K */
  k: number[];
  median: number[];
  lo: number[];
  hi: number[];
  n: number;
}

/** Per group and per index k: the median and 10%..90% range of the k-th largest singular value. */
export function spectrumBands(spectra: { group: string; values: ArrayLike<number> }[], groups: string[], floor = 1e-12): SpectrumBand[] {
  const out: SpectrumBand[] = [];
  for (const g of groups) {
    const mine = spectra.filter((s) => s.group === g);
    if (mine.length === 0) continue;
    const K = Math.max(...mine.map((s) => s.values.length));
    const band: SpectrumBand = { group: g, k: [], median: [], lo: [], hi: [], n: mine.length };
    for (let k = 0; k < K; k++) {
      const col = Float64Array.from(mine.filter((s) => s.values.length > k).map((s) => Math.max(s.values[k], floor))).sort();
      band.k.push(k + 1);
      band.median.push(quantileSorted(col, 0.5));
      band.lo.push(quantileSorted(col, 0.1));
      band.hi.push(quantileSorted(col, 0.9));
    }
    out.push(band);
  }
  return out;
}

/** Singular values of the Jacobian against their index, log scale; the line at eps is the JEPA-SCORE clip. */
export async function spectrumPlot(
  spectra: { group: string; values: ArrayLike<number> }[],
  groups: string[],
  opts: { title?: string; eps?: number; width?: number } = {},
): Promise<Plot & { bands: SpectrumBand[] }> {
  const floor = 1e-12;
  const bands = spectrumBands(spectra, groups, floor);
  if (bands.length === 0) throw new Error('spectrum plot: no spectra');
  const names = bands.map((b) => b.group);
  const colorIndex = new Map(groups.map((g, i) => [g, i]));
  const rows = bands.flatMap((b) => b.k.map((k, i) => ({ group: b.group, k, median: b.median[i], lo: b.lo[i], hi: b.hi[i] })));
  const eps = opts.eps ?? 1e-6;
  const color = {
    field: 'group', type: 'nominal' as const, title: null,
    scale: { domain: names, range: names.map((g) => groupColor(colorIndex.get(g) ?? 0)) },
    legend: bands.length > 1 ? { orient: 'right' as const, symbolType: 'square', symbolOpacity: 0.9, symbolStrokeWidth: 0 } : null,
  };
  const x = { field: 'k', type: 'quantitative' as const, title: 'k (singular values, largest first)', scale: { zero: false, nice: false } };
  const yScale = { type: 'log' as const };
  const yAxis = { format: '.0e', tickCount: 6, grid: true };
  const spec: TopLevelSpec = {
    title: { text: opts.title ?? 'Singular values of the Jacobian', subtitle: [`median and 10%–90% band over ${bands.reduce((s, b) => s + b.n, 0)} images`, `dashed: eps = ${eps.toExponential(0)}; smaller σ are clipped in the score`] },
    width: opts.width ?? 440,
    height: 220,
    layer: [
      {
        data: { values: rows },
        mark: { type: 'area', opacity: bands.length > 4 ? 0 : 0.15 },
        encoding: { x, y: { field: 'lo', type: 'quantitative', scale: yScale, axis: yAxis, title: 'σ_k', stack: null }, y2: { field: 'hi' }, color },
      },
      {
        data: { values: rows },
        mark: { type: 'line', strokeWidth: 1.6 },
        encoding: { x, y: { field: 'median', type: 'quantitative', scale: yScale }, color },
      },
      {
        data: { values: [{ eps }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#666' },
        encoding: { y: { field: 'eps', type: 'quantitative', scale: yScale } },
      },
    ],
  };
  return { ...(await renderSpec(spec)), bands };
}

function fmt(v: number): string {
  return Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(2) : Number(v.toPrecision(4)).toString();
}
