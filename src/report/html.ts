// One self-contained HTML report for a scores .jsonl: summary, metrics, histograms, per-class least and
// most likely images, outliers, Jacobian singular vectors. Images are data: URIs, plots inline SVG.
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Thumbnails, type Thumb } from './images.js';
import { groupColor, heatmap, histogram, spectrumPlot, writePlot, type Plot } from './plots.js';
import { naturalCompare, readMetrics, readScores, type Metrics, type ScoreSet, type ScoredItem } from './read.js';

export interface ReportOptions {
  /** metrics.json from `jepa-score ood` (default: metrics.json next to the jsonl, when there) */
  metrics?: string;
  title?: string;
  /** least and most likely images per class (default 6 each) */
  perClass?: number;
  /** lowest-scoring images overall (default 12) */
  outliers?: number;
  /** classes shown (default 40, in natural order) */
  maxClasses?: number;
  /** images whose singular vectors are shown (default 6) */
  vectorImages?: number;
  /** singular vectors shown per image (default 8) */
  maxVectors?: number;
  /** which score to show (default 'score') */
  field?: 'score' | 'score_rank';
  /**
   * a variant shown next to the score (histogram, per-class images, outliers): a key of the lines' `variants`.
   * Default: the metrics' `chosen` method when the lines carry it; `false` shows none.
   */
  variant?: string | false;
  /** thumbnail size in pixels (default 96) */
  thumbSize?: number;
}

/** Writes `<outDir>/report.html` and the plots (`<name>.svg` + `<name>.png`); returns their paths. */
export async function writeReport(jsonlPath: string, outDir: string, opts: ReportOptions = {}): Promise<{ html: string; plots: string[] }> {
  const set = await readScores(jsonlPath, { field: opts.field, vectorImages: opts.vectorImages ?? 6 });
  let metricsPath = opts.metrics;
  if (metricsPath === undefined) {
    const next = join(dirname(resolve(jsonlPath)), 'metrics.json');
    if (existsSync(next)) metricsPath = next;
  }
  const metrics = metricsPath === undefined ? undefined : await readMetrics(metricsPath);
  await mkdir(outDir, { recursive: true });

  const label = set.field === 'score_rank' ? 'JEPA-SCORE (rank-limited)' : 'JEPA-SCORE';
  // the variant shown beside the score: asked for, or the one `ood` chose, when the lines carry it
  let variant: { set: ScoreSet; name: string } | undefined;
  const variantName = opts.variant === false ? undefined : opts.variant ?? (metrics?.chosen !== 'jepa-score' ? metrics?.chosen : undefined);
  if (variantName !== undefined && set.items.length > 0) {
    const hasIt = opts.variant !== undefined || (await firstLineHasVariant(jsonlPath, variantName));
    if (hasIt) variant = { set: await readScores(jsonlPath, { field: `variants.${variantName}`, vectorImages: 0, spectrumSample: 0 }), name: variantName };
  }
  const plots: { name: string; title: string; plot: Plot; note: string }[] = [];
  if (set.items.length > 0) {
    const groups = set.groups.map((g) => ({ name: g, values: set.items.filter((it) => it.group === g).map((it) => it.value) }));
    const h = await histogram(groups, { xTitle: label, title: `${label} by ${groupWord(set)}` });
    plots.push({ name: 'histogram', title: 'Score histograms', plot: h, note: `Density of ${label} per ${groupWord(set)} on common bins. Higher scores mean more likely under the density the encoder implies.` });
  }
  if (variant) {
    const v = variant.set;
    const groups = v.groups.map((g) => ({ name: g, values: v.items.filter((it) => it.group === g).map((it) => it.value) }));
    // a variant can put OOD images thousands of nats away: the x range follows the first (in-distribution) group
    const h = await histogram(groups, { xTitle: variant.name, title: `${variant.name} by ${groupWord(v)}`, range: focusRange(groups) });
    plots.push({ name: 'histogram-variant', title: `Variant histograms`, plot: h, note: `Density of the variant ${variant.name} per ${groupWord(v)}, next to the plain score; the x range is the first ${groupWord(v)}'s 1-99% range widened 3 times its width each side, values beyond are counted in the end bins. Higher means more in-distribution.` });
  }
  if (set.spectra.length > 0) {
    const s = await spectrumPlot(set.spectra, set.groups);
    plots.push({ name: 'spectrum', title: 'Jacobian spectra', plot: s, note: 'Singular values σ_k of the Jacobian of the embedding with respect to the input, by index k.' });
  }
  if (metrics) {
    const cells = Object.entries(metrics.methods).flatMap(([row, sets]) =>
      Object.entries(sets).flatMap(([col, m]) => (m.auroc === undefined ? [] : [{ row, col, value: m.auroc }])),
    );
    if (cells.length > 0) {
      const lo = Math.min(...cells.map((c) => c.value));
      const hi = Math.max(...cells.map((c) => c.value));
      const domain: [number, number] | undefined = hi <= 1 ? [Math.min(0.5, lo), 1] : undefined;
      const p = await heatmap(cells, { valueTitle: 'AUROC', domain, format: hi <= 1 ? '.3f' : '.1f', title: 'AUROC (in-distribution vs each OOD set)' });
      plots.push({ name: 'auroc', title: 'AUROC', plot: p, note: '' });
    }
  }
  const plotFiles: string[] = [];
  for (const p of plots) plotFiles.push(...(await writePlot(p.plot, outDir, p.name)));

  const thumbs = new Thumbnails(opts.thumbSize ?? 96);
  const page = await renderPage(set, metrics, plots, thumbs, { ...opts, metrics: metricsPath, label }, variant);
  const html = join(outDir, 'report.html');
  await writeFile(html, page);
  return { html, plots: plotFiles };
}

/** The first group's 1%..99% range widened by 3x its width on each side, within the range of all values. */
export function focusRange(groups: { values: number[] }[]): [number, number] | undefined {
  const first = [...(groups[0]?.values ?? [])].sort((a, b) => a - b);
  if (groups.length < 2 || first.length < 2) return undefined;
  const q = (p: number) => first[Math.min(first.length - 1, Math.max(0, Math.round(p * (first.length - 1))))];
  const span = q(0.99) - q(0.01);
  if (!(span > 0)) return undefined;
  let lo = Infinity;
  let hi = -Infinity;
  for (const g of groups) for (const v of g.values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  return [Math.max(lo, q(0.01) - 3 * span), Math.min(hi, q(0.99) + 3 * span)];
}

function groupWord(set: ScoreSet): string {
  return { dataset: 'data set', folder: 'folder', class: 'class', none: 'group' }[set.groupBy];
}

// ---------------------------------------------------------------- selection

export interface ClassRow {
  name: string;
  n: number;
  median: number;
  /** lowest first */
  least: ScoredItem[];
  /** highest first; never repeats an image of `least` */
  most: ScoredItem[];
}

/** Per row (class), in group order: the `k` least likely and `k` most likely images (half each when there are fewer than 2k). */
export function classRows(items: ScoredItem[], k: number, groups: string[] = []): ClassRow[] {
  const groupOrder = new Map(groups.map((g, i) => [g, i]));
  const byRow = new Map<string, ScoredItem[]>();
  for (const it of items) {
    let list = byRow.get(it.row);
    if (!list) byRow.set(it.row, (list = []));
    list.push(it);
  }
  return [...byRow.entries()]
    // rows follow the group order (the in-distribution set first), then their names
    .sort((a, b) => (groupOrder.get(a[1][0].group) ?? 0) - (groupOrder.get(b[1][0].group) ?? 0) || naturalCompare(a[0], b[0]))
    .map(([name, list]) => {
      const sorted = [...list].sort(byValue);
      // a class with fewer than 2k images is split in half
      const least = sorted.slice(0, Math.min(k, Math.ceil(sorted.length / 2)));
      const most = sorted.slice(least.length).reverse().slice(0, k);
      return { name, n: sorted.length, median: medianOf(sorted.map((it) => it.value)), least, most };
    });
}

/** The `m` lowest-scoring items overall, lowest first. */
export function lowestItems(items: ScoredItem[], m: number): ScoredItem[] {
  return [...items].sort(byValue).slice(0, m);
}

function byValue(a: ScoredItem, b: ScoredItem): number {
  return a.value - b.value || a.index - b.index;
}

function medianOf(sortedValues: number[]): number {
  const n = sortedValues.length;
  if (n === 0) return NaN;
  return n % 2 ? sortedValues[(n - 1) / 2] : (sortedValues[n / 2 - 1] + sortedValues[n / 2]) / 2;
}

interface GroupStats {
  name: string;
  n: number;
  mean: number;
  sd: number;
  median: number;
  min: number;
  max: number;
}

function groupStats(set: ScoreSet): GroupStats[] {
  return set.groups.map((name) => {
    const v = set.items.filter((it) => it.group === name).map((it) => it.value).sort((a, b) => a - b);
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / Math.max(1, v.length - 1));
    return { name, n: v.length, mean, sd, median: medianOf(v), min: v[0], max: v[v.length - 1] };
  });
}

// ---------------------------------------------------------------- HTML

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Makes the ids of an SVG unique within a page and marks it as an image. */
export function inlineSvg(svg: string, prefix: string, label: string): string {
  return svg
    .replace(/^<\?xml[^>]*>\s*/, '')
    .replace(/\bid="([^"]+)"/g, `id="${prefix}-$1"`)
    .replace(/url\(#([^)]+)\)/g, `url(#${prefix}-$1)`)
    .replace(/href="#([^"]+)"/g, `href="#${prefix}-$1"`)
    .replace(/^<svg\b/, `<svg role="img" aria-label="${escapeHtml(label)}"`);
}

/** A score for people: about four significant digits. */
export function formatScore(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e5 || (a < 1e-3 && v !== 0)) return v.toExponential(2);
  if (a >= 100) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

interface PageOptions extends ReportOptions {
  label: string;
}

async function renderPage(
  set: ScoreSet,
  metrics: Metrics | undefined,
  plots: { name: string; title: string; plot: Plot; note: string }[],
  thumbs: Thumbnails,
  opts: PageOptions,
  variant?: { set: ScoreSet; name: string },
): Promise<string> {
  const perClass = opts.perClass ?? 6;
  const maxClasses = opts.maxClasses ?? 40;
  const maxVectors = opts.maxVectors ?? 8;
  const title = opts.title ?? `JEPA-SCORE report: ${basename(set.jsonl)}`;
  const colorOf = new Map(set.groups.map((g, i) => [g, groupColor(i)]));
  const problems = new Set<string>();

  const figure = async (it: ScoredItem, extra = '', label = opts.label): Promise<string> => {
    const name = it.path === undefined ? `#${it.index}` : it.path;
    const tip = [name, it.cls !== undefined ? `class ${it.cls}` : '', it.dataset !== undefined ? `data set ${it.dataset}` : '', `${label} ${it.value}`, it.rank !== undefined ? `rank ${it.rank}` : '', `line ${it.line}`]
      .filter(Boolean)
      .join('\n');
    let picture: string;
    if (it.file === undefined) {
      picture = `<div class="ph">#${it.index}<small>no image file</small></div>`;
    } else {
      const t = await thumbs.get(it.file);
      picture = imageTag(t, name, problems);
    }
    const color = colorOf.get(it.group) ?? '#999';
    return (
      `<figure class="thumb" data-index="${it.index}" data-score="${it.value}" title="${escapeHtml(tip)}" style="--group:${color}">` +
      `${picture}<figcaption><b>${escapeHtml(formatScore(it.value))}</b>` +
      `<span>${extra}${escapeHtml(it.path === undefined ? `#${it.index}` : basename(it.path))}</span></figcaption></figure>`
    );
  };

  const parts: string[] = [];
  const nav: [string, string][] = [['summary', 'Summary']];

  // summary
  const stats = groupStats(set);
  const classes = new Set(set.items.map((it) => it.cls).filter((c) => c !== undefined));
  const dims = [...set.embeddingDims.keys()].sort((a, b) => a - b);
  const ranks = set.items.map((it) => it.rank).filter((r): r is number => r !== undefined).sort((a, b) => a - b);
  const all = set.items.map((it) => it.value).sort((a, b) => a - b);
  const cards: [string, string][] = [
    ['Images scored', String(set.items.length)],
    ['Failed', String(set.failedCount)],
  ];
  if (set.groupBy === 'dataset' || set.groupBy === 'folder') cards.push([set.groupBy === 'dataset' ? 'Data sets' : 'Folders', String(set.groups.length)]);
  if (classes.size > 0) cards.push(['Classes', String(classes.size)]);
  if (dims.length > 0) cards.push(['Embedding dim K', dims.join(', ')]);
  if (all.length > 0) cards.push([`Median ${opts.label}`, formatScore(medianOf(all))]);
  if (ranks.length > 0) cards.push(['Jacobian rank', ranks[0] === ranks[ranks.length - 1] ? String(ranks[0]) : `${ranks[0]}–${ranks[ranks.length - 1]}`]);
  let summary =
    `<section id="summary"><h2>Summary</h2><div class="cards">` +
    cards.map(([k, v]) => `<div class="card"><div class="k">${escapeHtml(k)}</div><div class="v">${escapeHtml(v)}</div></div>`).join('') +
    `</div>`;
  if (stats.length > 0) {
    summary +=
      `<table class="stats"><thead><tr><th>${escapeHtml(cap(groupWord(set)))}</th><th>images</th><th>mean</th><th>sd</th><th>median</th><th>min</th><th>max</th></tr></thead><tbody>` +
      stats
        .map(
          (s) =>
            `<tr><td><span class="sw" style="background:${colorOf.get(s.name)}"></span>${escapeHtml(s.name)}</td><td>${s.n}</td>` +
            [s.mean, s.sd, s.median, s.min, s.max].map((v) => `<td>${escapeHtml(formatScore(v))}</td>`).join('') +
            `</tr>`,
        )
        .join('') +
      `</tbody></table>`;
  }
  summary += `<!--warnings--></section>`;
  parts.push(summary);

  // metrics
  if (metrics) {
    nav.push(['metrics', 'Metrics']);
    parts.push(`<section id="metrics"><h2>OOD metrics</h2><p class="note">From <code>${escapeHtml(opts.metrics ?? '')}</code>. ↑ higher is better, ↓ lower is better; the best method per column is in bold.</p>` +
      (Object.keys(metrics.info).length ? `<p class="note">${Object.entries(metrics.info).map(([k, v]) => `${escapeHtml(k)}: <b>${escapeHtml(v)}</b>`).join(' · ')}</p>` : '') +
      `${metricsTable(metrics)}` +
      plots.filter((p) => p.name === 'auroc').map((p) => `<div class="plot">${inlineSvg(p.plot.svg, `plot-${p.name}`, p.title)}</div>`).join('') +
      `</section>`);
  }

  // histograms and spectra
  const shown = plots.filter((p) => p.name !== 'auroc');
  if (shown.length > 0) {
    nav.push(['plots', 'Histograms']);
    parts.push(
      `<section id="plots"><h2>Score histograms${set.spectra.length ? ' and spectra' : ''}</h2>` +
        `<div class="plots">` +
        shown.map((p) => `<div class="plot" id="${p.name}">${inlineSvg(p.plot.svg, `plot-${p.name}`, p.title)}<p class="note">${escapeHtml(p.note)}</p></div>`).join('') +
        `</div></section>`,
    );
  }

  // per class and outliers, for the score and then for the variant
  const galleries = async (s0: ScoreSet, label: string, id: string, title: string) => {
    const rows = classRows(s0.items, perClass, s0.groups);
    const showRows = rows.slice(0, maxClasses);
    let s =
      `<section id="${id}classes"><h2>${title}Least and most likely images per ${s0.items.some((it) => it.cls !== undefined) ? 'class' : groupWord(s0)}</h2>` +
      `<p class="note">Each row: the ${perClass} lowest ${escapeHtml(label)} images of the class (left, lowest first) and the ${perClass} highest (right, highest first).` +
      `${rows.length > showRows.length ? ` Showing ${showRows.length} of ${rows.length} classes (raise with <code>--max-classes</code>).` : ''}</p>` +
      `<div class="rows">`;
    for (const r of showRows) {
      const least = (await Promise.all(r.least.map((it) => figure(it, '', label)))).join('');
      const most = r.most.length ? (await Promise.all(r.most.map((it) => figure(it, '', label)))).join('') : '<p class="empty">only one image</p>';
      s +=
        `<div class="crow" data-class="${escapeHtml(r.name)}"><div class="cname"><b>${escapeHtml(r.name)}</b><span>${r.n} image${r.n === 1 ? '' : 's'}</span><span>median ${escapeHtml(formatScore(r.median))}</span></div>` +
        `<div class="strip least"><div class="lbl">least likely</div><div class="thumbs">${least}</div></div>` +
        `<div class="strip most"><div class="lbl">most likely</div><div class="thumbs">${most}</div></div></div>`;
    }
    parts.push(s + `</div></section>`);

    const low = lowestItems(s0.items, opts.outliers ?? 12);
    const several = s0.groups.length > 1;
    parts.push(
      `<section id="${id}outliers"><h2>${title}Top outliers</h2><p class="note">The ${low.length} lowest ${escapeHtml(label)} images overall, lowest first${several ? `; the colour bar marks the ${groupWord(s0)}` : ''}.</p>` +
        (several ? `<p class="legend">${s0.groups.map((g) => `<span><span class="sw" style="background:${colorOf.get(g)}"></span>${escapeHtml(g)}</span>`).join('')}</p>` : '') +
        `<div class="thumbs grid">${(await Promise.all(low.map((it) => figure(it, several ? `${escapeHtml(it.group)} · ` : '', label)))).join('')}</div></section>`,
    );
  };
  if (set.items.length > 0) {
    nav.push(['classes', 'Per class'], ['outliers', 'Outliers']);
    await galleries(set, opts.label, '', '');
  }
  if (variant) {
    nav.push(['variant-classes', `${variant.name}: per class`], ['variant-outliers', `${variant.name}: outliers`]);
    await galleries(variant.set, variant.name, 'variant-', `${escapeHtml(variant.name)}: `);
  }

  // singular vectors (figure 7)
  if (set.vectorItems.length > 0) {
    nav.push(['vectors', 'Singular vectors']);
    let s = `<section id="vectors"><h2>Top singular vectors of the Jacobian</h2><p class="note">For a few images: the input directions v<sub>k</sub> that move the embedding most (right singular vectors of J, largest σ first).</p>`;
    for (const v of set.vectorItems) {
      const vecs = await Promise.all(
        v.vectors.slice(0, maxVectors).map(async (p, k) => {
          const t = await thumbs.get(p.file);
          const sigma = v.singularValues?.[k];
          return `<figure class="vec">${imageTag(t, p.path, problems)}<figcaption>v<sub>${k + 1}</sub>${sigma !== undefined ? ` · σ ${escapeHtml(formatScore(sigma))}` : ''}</figcaption></figure>`;
        }),
      );
      s += `<div class="vrow" data-index="${v.item.index}">${await figure(v.item)}<div class="arrow">→</div><div class="thumbs">${vecs.join('')}</div></div>`;
    }
    parts.push(s + `</section>`);
  }

  // failures
  if (set.failedCount > 0) {
    nav.push(['errors', `Errors (${set.failedCount})`]);
    const shownFailed = set.failed.slice(0, 500);
    parts.push(
      `<section id="errors"><h2>Images that failed (${set.failedCount})</h2>` +
        (set.failedCount > shownFailed.length ? `<p class="note">Showing the first ${shownFailed.length}.</p>` : '') +
        `<table class="errors"><thead><tr><th>index</th><th>image</th><th>error</th></tr></thead><tbody>` +
        shownFailed.map((f) => `<tr><td>${f.index}</td><td><code>${escapeHtml(f.path ?? `#${f.index}`)}</code></td><td>${escapeHtml(f.error)}</td></tr>`).join('') +
        `</tbody></table></section>`,
    );
  }

  let body = parts.join('\n');
  if (problems.size > 0) {
    const list = [...problems];
    body = body.replace(
      '<!--warnings-->',
      `<div class="warn"><b>${list.length} image file${list.length === 1 ? '' : 's'} could not be shown:</b><ul>${list.slice(0, 50).map((p) => `<li>${escapeHtml(p)}</li>`).join('')}</ul></div>`,
    );
  }

  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${CSS}</style></head>
<body>
<header><div class="wrap"><h1>${escapeHtml(title)}</h1>
<p class="meta">Scores from <code>${escapeHtml(set.jsonl)}</code> · ${set.items.length + set.failedCount} lines · generated ${escapeHtml(new Date().toISOString().slice(0, 16).replace('T', ' '))} UTC</p>
<nav>${nav.map(([id, t]) => `<a href="#${id}">${escapeHtml(t)}</a>`).join('')}</nav></div></header>
<main class="wrap">
${body}
</main>
<footer class="wrap">JEPA-SCORE(x) = Σ<sub>k</sub> log max(σ<sub>k</sub>(J<sub>f</sub>(x)), 10<sup>−6</sup>), where J<sub>f</sub> is the Jacobian of the encoder's embedding with respect to the input
(Balestriero, Ballas, Rabbat, LeCun: <i>Gaussian Embeddings: How JEPAs Secretly Learn Your Data Density</i>). Made by <code>jepa-score report</code>.</footer>
</body></html>
`;
}

function imageTag(t: Thumb | { problem: string }, alt: string, problems: Set<string>): string {
  if ('problem' in t) {
    problems.add(t.problem);
    return `<div class="ph missing" title="${escapeHtml(t.problem)}">missing<small>cannot read</small></div>`;
  }
  const small = t.srcWidth * 2 <= t.width;
  return `<img src="${t.uri}" width="${t.width}" height="${t.height}" alt="${escapeHtml(alt)}"${small ? ' class="px"' : ''}>`;
}

function metricsTable(metrics: Metrics): string {
  const methods = Object.keys(metrics.methods);
  const sets: string[] = [];
  for (const m of methods) for (const s of Object.keys(metrics.methods[m])) if (!sets.includes(s)) sets.push(s);
  const cols: { set: string; key: 'auroc' | 'fpr95' | 'aupr'; label: string; higher: boolean }[] = sets.flatMap((set) => [
    { set, key: 'auroc' as const, label: 'AUROC ↑', higher: true },
    { set, key: 'fpr95' as const, label: 'FPR95 ↓', higher: false },
    { set, key: 'aupr' as const, label: 'AUPR ↑', higher: true },
  ]);
  const best = cols.map((c) => {
    const vals = methods.map((m) => metrics.methods[m][c.set]?.[c.key]).filter((v): v is number => v !== undefined);
    if (vals.length < 2) return undefined;
    return c.higher ? Math.max(...vals) : Math.min(...vals);
  });
  const fmt = (v: number) => (Math.abs(v) <= 1 ? v.toFixed(3) : v.toFixed(1));
  return (
    `<div class="scroll"><table class="metrics"><thead><tr><th rowspan="2">method</th>${sets.map((s) => `<th colspan="3" class="set">${escapeHtml(s)}</th>`).join('')}</tr>` +
    `<tr>${cols.map((c) => `<th>${c.label}</th>`).join('')}</tr></thead><tbody>` +
    methods
      .map(
        (m) =>
          `<tr><td>${escapeHtml(m)}</td>` +
          cols
            .map((c, i) => {
              const v = metrics.methods[m][c.set]?.[c.key];
              if (v === undefined) return '<td class="na">–</td>';
              return `<td${v === best[i] ? ' class="best"' : ''}>${fmt(v)}</td>`;
            })
            .join('') +
          `</tr>`,
      )
      .join('') +
    `</tbody></table></div>`
  );
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const CSS = `
:root{--fg:#1d2430;--muted:#667085;--line:#e4e7ec;--bg:#f5f6f8;--card:#fff;--accent:#3b5bdb}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--fg);background:var(--bg)}
.wrap{max-width:1400px;margin:0 auto;padding:0 20px}
header{background:var(--card);border-bottom:1px solid var(--line);position:sticky;top:0;z-index:2}
header h1{font-size:20px;margin:14px 0 2px}
.meta{color:var(--muted);margin:0 0 8px;font-size:12px;overflow-wrap:anywhere}
nav{display:flex;gap:4px;flex-wrap:wrap;padding-bottom:10px}
nav a{color:var(--accent);text-decoration:none;padding:3px 10px;border-radius:999px;background:#eef2ff;font-size:13px}
nav a:hover{background:#dbe4ff}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;margin:18px 0;padding:16px 20px;scroll-margin-top:110px}
h2{font-size:17px;margin:0 0 10px}
.note{color:var(--muted);margin:4px 0 12px;font-size:13px}
code{font:12px ui-monospace,"DejaVu Sans Mono",monospace;background:#f2f4f7;padding:1px 4px;border-radius:4px;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin-bottom:14px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fafbfc}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
th{font-weight:600;color:#344054;background:#f9fafb}
td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#fcfcfd}
.sw{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:baseline}
.metrics th.set{text-align:center;border-left:1px solid var(--line)}
.metrics td.best{font-weight:700}
.metrics td.na{color:var(--muted)}
.scroll{overflow-x:auto;margin-bottom:12px}
table.errors td,table.errors th{text-align:left;white-space:normal}table.errors td:first-child{width:70px}
.plots{display:flex;flex-wrap:wrap;gap:8px 32px;align-items:flex-start}
.plot{margin:6px 0 16px;max-width:100%}
.plot .note{max-width:640px}
.plot svg{max-width:100%;height:auto;display:block}
.rows{display:flex;flex-direction:column;gap:8px}
.crow{display:grid;grid-template-columns:150px 1fr 1fr;gap:12px;align-items:start;padding:8px 0;border-top:1px solid var(--line)}
.crow:first-child{border-top:0}
.cname{display:flex;flex-direction:column;gap:2px;overflow-wrap:anywhere}.cname span{color:var(--muted);font-size:12px}
.strip{border-radius:8px;padding:6px 8px}
.strip.least{background:#fff4f2}.strip.most{background:#f0f9f1}
.lbl{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin-bottom:4px}
.thumbs{display:flex;flex-wrap:wrap;gap:6px}
.thumbs.grid{gap:10px}
figure{margin:0}
.thumb{width:84px;background:#fff;border:1px solid var(--line);border-top:3px solid var(--group,#999);border-radius:6px;padding:2px;overflow:hidden}
.thumb img,.vec img,.ph{width:78px;height:78px;object-fit:contain;display:block;background:#f2f4f7;border-radius:3px}
img.px{image-rendering:pixelated}
.ph{display:flex;flex-direction:column;align-items:center;justify-content:center;color:var(--muted);font-size:13px}
.ph small{font-size:10px}.ph.missing{color:#b42318;background:#fef3f2}
figcaption{font-size:11px;line-height:1.25;padding:2px 1px 0;overflow:hidden}
figcaption b{display:block;font-variant-numeric:tabular-nums}
figcaption span{display:block;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.empty{color:var(--muted);font-size:12px;margin:28px 0}
.legend{display:flex;gap:14px;flex-wrap:wrap;font-size:12px;margin:0 0 10px}
.vrow{display:flex;align-items:center;gap:12px;padding:8px 0;border-top:1px solid var(--line)}
.vrow:first-of-type{border-top:0}
.arrow{color:var(--muted);font-size:20px}
.vec{width:82px;text-align:center}.vec figcaption{text-align:center}
.warn{margin-top:14px;padding:10px 14px;border:1px solid #fecdca;background:#fef3f2;border-radius:8px;color:#7a271a}
.warn ul{margin:6px 0 0;padding-left:18px}
footer{color:var(--muted);font-size:12px;padding:8px 20px 30px}
@media (max-width:1100px){.crow{grid-template-columns:1fr}}
`;

/** Whether the first score line of a jsonl carries `variants.<name>` (older files and `score` output do not). */
async function firstLineHasVariant(jsonlPath: string, name: string): Promise<boolean> {
  const lines = createInterface({ input: createReadStream(jsonlPath, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const raw of lines) {
      const text = raw.trim();
      if (!text) continue;
      try {
        const o = JSON.parse(text) as { variants?: Record<string, unknown>; error?: unknown };
        if (o.error !== undefined && o.error !== null) continue;
        return typeof o.variants?.[name] === 'number';
      } catch {
        return false;
      }
    }
    return false;
  } finally {
    lines.close();
  }
}
