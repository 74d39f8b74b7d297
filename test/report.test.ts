import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { Rng } from '../src/data/random.js';
import { escapeHtml, writeReport } from '../src/report/html.js';
import { histogram, histogramBins, scatter, spectrumBands } from '../src/report/plots.js';
import { readMetrics, readScores } from '../src/report/read.js';
import { CHROMIUM_ARGS, chromiumSkip, findChromium, pageProblems } from './support/chromium.js';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'jepa-report-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const WEIRD = 'bird <&> "x"';

interface Line {
  index: number;
  path?: string;
  class?: string;
  score?: number;
  error?: string;
  [k: string]: unknown;
}

/** Class folders of real PNG/JPEG images, a scores.jsonl over them, vector PNGs, metrics.json. */
async function makeFixture(root: string): Promise<{ jsonl: string; lines: Line[] }> {
  const rng = new Rng(11);
  const lines: Line[] = [];
  const classes: [string, number][] = [['cat', 9], ['dog', 8], [WEIRD, 3]];
  let index = 0;
  for (const [ci, [cls, n]] of classes.entries()) {
    await mkdir(join(root, 'imgs', cls), { recursive: true });
    for (let i = 0; i < n; i++) {
      const big = i === 0;
      const w = big ? 160 : 28;
      const h = big ? 120 : 28;
      const ch = cls === 'dog' && !big ? 1 : 3;
      const px = Buffer.alloc(w * h * ch);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let c = 0; c < ch; c++) px[(y * w + x) * ch + c] = (x * 9 + y * 5 * (c + 1) + ci * 80 + i * 23) & 255;
        }
      }
      const rel = `imgs/${cls}/${i}.${big ? 'jpg' : 'png'}`;
      const img = sharp(px, { raw: { width: w, height: h, channels: ch as 1 | 3 } });
      await (big ? img.jpeg() : img.png()).toFile(join(root, rel));
      lines.push({ index: index++, path: rel, class: cls, score: Math.round(rng.normal() * 400 - 1000 + ci * 300) / 10, embedding_dim: 48, rank: 47 });
    }
  }
  // a tensor without a file, a missing file, two failures
  lines.push({ index: index++, class: 'dog', score: -250.5, embedding_dim: 48 });
  lines.push({ index: index++, path: 'imgs/cat/gone.png', class: 'cat', score: -10, embedding_dim: 48 });
  lines.push({ index: index++, path: 'imgs/cat/broken <b>.png', class: 'cat', error: 'cannot decode <b>image</b>' });
  lines.push({ index: index++, path: 'imgs/dog/x.png', class: 'dog', error: 'unsupported format' });
  // spectra and singular vectors for two images
  await mkdir(join(root, 'scores.vectors'), { recursive: true });
  for (const li of [lines[1], lines[10]]) {
    li.singular_values = Array.from({ length: 48 }, (_, k) => Math.exp(-k / 6)).reverse();
    li.vectors = [];
    for (let k = 0; k < 3; k++) {
      const name = `scores.vectors/${li.index}_${k}.png`;
      const px = Buffer.alloc(28 * 28 * 3);
      for (let p = 0; p < 28 * 28; p++) px[p * 3 + (k % 3)] = (p * (k + 3)) & 255;
      await sharp(px, { raw: { width: 28, height: 28, channels: 3 } }).png().toFile(join(root, name));
      (li.vectors as string[]).push(name);
    }
  }
  for (const li of lines.slice(2, 8)) li.singular_values = Array.from({ length: 48 }, (_, k) => 2 * Math.exp(-k / 5) + (k === 47 ? -2 * Math.exp(-47 / 5) : 0));
  const jsonl = join(root, 'scores.jsonl');
  await writeFile(jsonl, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  await writeFile(
    join(root, 'metrics.json'),
    JSON.stringify({ model: 'tiny <m>', methods: { 'jepa-score': { fashion: { auroc: 0.912, fpr95: 0.41, aupr: 0.9 }, noise: { auroc: 0.99, fpr95: 0.02, aupr: 0.98 } }, knn: { fashion: { auroc: 0.85, fpr95: 0.5, aupr: 0.83 }, noise: { auroc: 0.995, fpr95: 0.05 } } } }),
  );
  return { jsonl, lines };
}

test('histogram bins match a brute-force count', () => {
  const rng = new Rng(5);
  const a = Array.from({ length: 500 }, () => rng.normal() * 3);
  const b = Array.from({ length: 200 }, () => rng.normal() + 2);
  const { edges, groups } = histogramBins([{ name: 'a', values: a }, { name: 'b', values: b }], { bins: 17 });
  assert.equal(edges.length, 18);
  assert.equal(edges[0], Math.min(...a, ...b));
  assert.equal(edges[17], Math.max(...a, ...b));
  for (const [g, vals] of [[groups[0], a], [groups[1], b]] as const) {
    const brute = edges.slice(0, -1).map((lo, i) => vals.filter((v) => v >= lo && (i === 16 ? v <= edges[17] : v < edges[i + 1])).length);
    assert.deepEqual(g.counts, brute);
    assert.equal(g.counts.reduce((s, c) => s + c, 0), vals.length);
  }
  // a fixed range: out-of-range values land in the end bins and are counted
  const r = histogramBins([{ name: 'x', values: [-5, 0, 0.5, 1, 9] }], { bins: 2, range: [0, 1] });
  assert.deepEqual(r.groups[0].counts, [2, 3]);
  assert.equal(r.groups[0].below, 1);
  assert.equal(r.groups[0].above, 1);
});

test('spectrum bands are medians and 10/90% quantiles per index', () => {
  const spectra = [1, 2, 3, 4, 5].map((s) => ({ group: 'g', values: [s, s / 10, 0] }));
  const [band] = spectrumBands(spectra, ['g']);
  assert.deepEqual(band.k, [1, 2, 3]);
  assert.deepEqual(band.median, [3, 0.3, 1e-12]);
  assert.ok(Math.abs(band.lo[0] - 1.4) < 1e-12 && Math.abs(band.hi[0] - 4.6) < 1e-12);
});

test('plots render to SVG with marks and to a PNG of twice the size', async () => {
  const h = await histogram([{ name: 'only <one>', values: [1, 2, 2, 3, 3, 3] }], { bins: 3, xTitle: 'score' });
  assert.match(h.svg, /^<svg/);
  assert.ok(h.svg.includes('only &lt;one&gt;') && !h.svg.includes('<one>'), 'group names are escaped in SVG');
  const w = Number(/width="(\d+)"/.exec(h.svg)![1]);
  const meta = await sharp(h.png).metadata();
  assert.equal(meta.format, 'png');
  assert.equal(meta.width, 2 * w);
  // points land where linear scales over [1, 3] x [2, 5] on a 420 x 300 frame put them
  const s = await scatter([{ x: 1, y: 2 }, { x: 2, y: 4 }, { x: 3, y: 5 }], { width: 420, height: 300 });
  const at = [...s.svg.matchAll(/aria-roledescription="circle" transform="translate\(([-\d.e]+),([-\d.e]+)\)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  const want = [[0, 300], [210, 100], [420, 0]];
  assert.equal(at.length, 3);
  at.forEach(([x, y], i) => assert.ok(Math.abs(x - want[i][0]) < 1e-6 && Math.abs(y - want[i][1]) < 1e-6, `point ${i} at ${x},${y}`));
});

test('bad input gives errors that name the file, the line and the problem', async () => {
  const bad = join(dir, 'bad.jsonl');
  await writeFile(bad, '{"index":0,"score":-1}\n{"index":1,"score":\n');
  await assert.rejects(readScores(bad), (e: Error) => e.message.includes(`${bad}:2: not valid JSON`));
  await writeFile(bad, '{"index":0,"score":null}\n');
  await assert.rejects(readScores(bad), (e: Error) => e.message.includes(`${bad}:1: "score" must be a finite number`));
  await writeFile(bad, '\n\n');
  await assert.rejects(readScores(bad), (e: Error) => e.message.includes(`${bad}: no score lines`));
  await assert.rejects(readScores(join(dir, 'nope.jsonl')), (e: Error) => e.message.includes('nope.jsonl: cannot read the scores file'));
  const m = join(dir, 'm.json');
  await writeFile(m, '{"methods": {"a": {"b": {"auroc": "high"}}}}');
  await assert.rejects(readMetrics(m), (e: Error) => e.message.includes(`${m}: "a" / "b" / "auroc" must be a number`));
  await writeFile(bad, '{"index":0,"score":-1}\n');
  await assert.rejects(writeReport(bad, join(dir, 'bad-out'), { metrics: join(dir, 'missing.json') }), (e: Error) => e.message.includes('missing.json: cannot read the metrics file'));
});

test('groups: data set, else top folder, else class', async () => {
  const f = join(dir, 'groups.jsonl');
  await writeFile(f, ['{"index":0,"path":"a/x/1.png","class":"x","score":1}', '{"index":1,"path":"b/y/2.png","class":"y","score":2}'].join('\n'));
  let s = await readScores(f);
  assert.equal(s.groupBy, 'folder');
  assert.deepEqual(s.groups, ['a', 'b']);
  assert.deepEqual(s.items.map((it) => it.row), ['a / x', 'b / y']);
  await writeFile(f, ['{"index":0,"path":"d/1.png","class":"x","score":1}', '{"index":1,"path":"d/2.png","class":"y","score":2}'].join('\n'));
  s = await readScores(f);
  assert.equal(s.groupBy, 'class');
  assert.deepEqual(s.groups, ['x', 'y']);
  await writeFile(f, ['{"index":0,"path":"d/1.png","dataset":"mnist","class":3,"score":1}', '{"index":1,"score":2,"dataset":"noise"}'].join('\n'));
  s = await readScores(f);
  assert.equal(s.groupBy, 'dataset');
  assert.deepEqual(s.groups, ['mnist', 'noise']);
  assert.deepEqual(s.items.map((it) => it.row), ['mnist / 3', 'noise']);
});

test('the report opens in headless Chromium with every image and plot loaded', { skip: chromiumSkip() }, async () => {
  const root = join(dir, 'run');
  const { jsonl, lines } = await makeFixture(root);
  const out = join(root, 'out');
  const res = await writeReport(jsonl, out, { perClass: 3, outliers: 5 });

  // plots as files
  const names = res.plots.map((p) => basename(p)).sort();
  assert.deepEqual(names, ['auroc.png', 'auroc.svg', 'histogram.png', 'histogram.svg', 'spectrum.png', 'spectrum.svg']);
  for (const p of res.plots) {
    if (p.endsWith('.png')) assert.ok(((await sharp(p).metadata()).width ?? 0) > 100);
    else assert.match(await readFile(p, 'utf8'), /^<\?xml[^>]*>\n<svg[\s\S]*<\/svg>$/);
  }
  const html = await readFile(res.html, 'utf8');
  assert.ok(!/(src|href)="(https?:)?\/\//.test(html), 'no external URLs');
  assert.ok(html.includes(escapeHtml('cannot decode <b>image</b>')));

  // what the page should show, computed here from the lines
  const scored = lines.filter((l) => l.error === undefined) as (Line & { score: number })[];
  const byScore = (a: Line & { score: number }, b: Line & { score: number }) => a.score - b.score || a.index - b.index;
  const expectRows = new Map<string, { least: number[]; most: number[] }>();
  for (const cls of ['cat', 'dog', WEIRD]) {
    const s = scored.filter((l) => l.class === cls).sort(byScore);
    const least = s.slice(0, Math.min(3, Math.ceil(s.length / 2))).map((l) => l.index);
    const most = s.slice(least.length).reverse().slice(0, 3).map((l) => l.index);
    expectRows.set(cls, { least, most });
  }
  const expectOutliers = [...scored].sort(byScore).slice(0, 5).map((l) => l.index);

  const browser = await chromium.launch({
    executablePath: findChromium(),
    args: CHROMIUM_ARGS,
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems = pageProblems(page);
    page.on('request', (r) => {
      if (!/^(file|data):/.test(r.url())) problems.push(`outside request: ${r.url()}`);
    });
    await page.goto(pathToFileURL(res.html).href, { waitUntil: 'load' });

    const imgs = await page.$$eval('img', (els) => els.map((e) => ({ w: (e as HTMLImageElement).naturalWidth, done: (e as HTMLImageElement).complete, src: (e as HTMLImageElement).src.slice(0, 22) })));
    // 3 + 3 per class row (fewer for the small class), 5 outliers, 2 x (image + 3 vectors)
    assert.ok(imgs.length >= 20, `only ${imgs.length} images`);
    for (const i of imgs) {
      assert.ok(i.done && i.w > 0, `image did not load: ${i.src}`);
      assert.match(i.src, /^data:image\/(png|webp);base64/);
    }
    const svgs = await page.$$eval('svg', (els) => els.map((e) => ({ n: e.querySelectorAll('path,rect,text,line').length, w: (e as SVGSVGElement).getBBox().width })));
    assert.equal(svgs.length, 3);
    for (const s of svgs) assert.ok(s.n > 10 && s.w > 100, `empty plot ${JSON.stringify(s)}`);

    const rows = await page.$$eval('.crow', (els) =>
      els.map((e) => ({
        cls: e.getAttribute('data-class'),
        name: e.querySelector('.cname b')?.textContent,
        least: [...e.querySelectorAll('.least figure')].map((f) => Number(f.getAttribute('data-index'))),
        most: [...e.querySelectorAll('.most figure')].map((f) => Number(f.getAttribute('data-index'))),
      })),
    );
    assert.deepEqual(rows.map((r) => r.cls), [WEIRD, 'cat', 'dog']);
    for (const r of rows) {
      assert.equal(r.name, r.cls, 'class names are shown as text');
      assert.deepEqual({ least: r.least, most: r.most }, expectRows.get(r.cls!));
    }
    const outliers = await page.$$eval('#outliers figure', (els) => els.map((f) => Number(f.getAttribute('data-index'))));
    assert.deepEqual(outliers, expectOutliers);
    // the tensor without a file shows its index; the missing file is reported
    assert.ok(await page.locator('figure[data-index="20"] .ph').count());
    assert.match((await page.textContent('.warn')) ?? '', /gone\.png: file not found/);
    const errors = await page.$$eval('#errors tbody tr', (els) => els.map((e) => e.textContent));
    assert.equal(errors.length, 2);
    assert.ok(errors[0]!.includes('broken <b>.png') && errors[0]!.includes('cannot decode <b>image</b>'));
    const best = await page.$$eval('.metrics td.best', (els) => els.map((e) => e.textContent));
    // row by row; a column with one value has no best
    assert.deepEqual(best, ['0.912', '0.410', '0.900', '0.020', '0.995']);
    assert.match((await page.textContent('#metrics')) ?? '', /model: tiny <m>/);
    const vec = await page.$$eval('.vrow', (els) => els.map((e) => [Number(e.getAttribute('data-index')), e.querySelectorAll('.vec img').length]));
    assert.deepEqual(vec, [[1, 3], [10, 3]]);
    if (process.env.REPORT_SCREENSHOT) await page.screenshot({ path: process.env.REPORT_SCREENSHOT, fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
});

test('the report shows the variant ood chose next to the plain score: its histogram, per-class images and outliers', { skip: chromiumSkip() }, async () => {
  const root = join(dir, 'variant');
  const { jsonl, lines } = await makeFixture(root);
  // a variant that orders the images differently from the score
  const V = 'jepa-score+class-log-density';
  const scored = lines.filter((l) => l.error === undefined) as (Line & { score: number })[];
  for (const l of scored) l.variants = { [V]: ((l.index * 37) % 23) - 10.5 + l.index / 100, 'jepa-score+complexity': 1 };
  await writeFile(jsonl, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const metricsPath = join(root, 'metrics.json');
  const m = JSON.parse(await readFile(metricsPath, 'utf8'));
  m.methods[V] = { fashion: { auroc: 0.97, fpr95: 0.1, aupr: 0.96 }, noise: { auroc: 1, fpr95: 0, aupr: 1 } };
  m.chosen = V;
  await writeFile(metricsPath, JSON.stringify(m));
  assert.equal((await readMetrics(metricsPath)).chosen, V);
  const res = await writeReport(jsonl, join(root, 'out'), { perClass: 2, outliers: 4 });
  assert.deepEqual(res.plots.map((p) => basename(p)).filter((p) => p.startsWith('histogram')).sort(), ['histogram-variant.png', 'histogram-variant.svg', 'histogram.png', 'histogram.svg']);

  const val = (l: Line) => (l.variants as Record<string, number>)[V];
  const byVariant = (a: Line, b: Line) => val(a) - val(b) || a.index - b.index;
  const byScore = (a: Line & { score: number }, b: Line & { score: number }) => a.score - b.score || a.index - b.index;
  const expect = (cmp: (a: Line & { score: number }, b: Line & { score: number }) => number) =>
    [WEIRD, 'cat', 'dog'].map((cls) => {
      const s = scored.filter((l) => l.class === cls).sort(cmp);
      const least = s.slice(0, Math.min(2, Math.ceil(s.length / 2)));
      return { cls, least: least.map((l) => l.index), most: s.slice(least.length).reverse().slice(0, 2).map((l) => l.index) };
    });

  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    await page.goto(pathToFileURL(res.html).href, { waitUntil: 'load' });
    // both histograms are drawn
    for (const id of ['#histogram svg', '#histogram-variant svg']) {
      const box = await page.$eval(id, (e) => ({ n: e.querySelectorAll('path,rect').length, w: (e as SVGSVGElement).getBBox().width }));
      assert.ok(box.n > 10 && box.w > 100, `${id}: ${JSON.stringify(box)}`);
    }
    assert.match((await page.textContent('#histogram-variant')) ?? '', /class-log-density/);
    const rowsOf = (sel: string) =>
      page.$$eval(`${sel} .crow`, (els) =>
        els.map((e) => ({
          cls: e.getAttribute('data-class'),
          least: [...e.querySelectorAll('.least figure')].map((f) => Number(f.getAttribute('data-index'))),
          most: [...e.querySelectorAll('.most figure')].map((f) => Number(f.getAttribute('data-index'))),
        })),
      );
    assert.deepEqual(await rowsOf('#classes'), expect(byScore));
    assert.deepEqual(await rowsOf('#variant-classes'), expect(byVariant));
    const outliers = (sel: string) => page.$$eval(`${sel} figure`, (els) => els.map((f) => Number(f.getAttribute('data-index'))));
    assert.deepEqual(await outliers('#outliers'), [...scored].sort(byScore).slice(0, 4).map((l) => l.index));
    assert.deepEqual(await outliers('#variant-outliers'), [...scored].sort(byVariant).slice(0, 4).map((l) => l.index));
    // the variant's galleries show its values, and every thumbnail loaded
    const shown = await page.$$eval('#variant-outliers figure', (els) => els.map((f) => Number(f.getAttribute('data-score'))));
    assert.deepEqual(shown, [...scored].sort(byVariant).slice(0, 4).map(val));
    const imgs = await page.$$eval('#variant-classes img, #variant-outliers img', (els) => els.map((e) => (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth > 0));
    assert.ok(imgs.length >= 10 && imgs.every(Boolean), `variant thumbnails: ${imgs}`);
    assert.deepEqual(problems, []);
  } finally {
    await browser.close();
  }
  // asked for no variant, or for one the lines lack: none shown / a clear error
  const plain = await writeReport(jsonl, join(root, 'plain'), { variant: false });
  assert.ok(!(await readFile(plain.html, 'utf8')).includes('variant-classes'));
  await assert.rejects(writeReport(jsonl, join(root, 'bad'), { variant: 'nope' }), /"variants\.nope" must be a finite number/);
});

test('a 100k-line file is streamed and summarised', async () => {
  const f = join(dir, 'big.jsonl');
  const rng = new Rng(9);
  const ws = createWriteStream(f);
  let sum = 0;
  const n = 100_000;
  for (let i = 0; i < n; i++) {
    const score = rng.normal() * 20 - 300;
    sum += score;
    const rec: Record<string, unknown> = { index: i, dataset: i % 4 ? 'in' : 'ood', class: String(i % 10), score, embedding_dim: 32 };
    if (i % 500 === 0) rec.singular_values = Array.from({ length: 32 }, (_, k) => 1 / (k + 1));
    if (!ws.write(JSON.stringify(rec) + '\n')) await new Promise<void>((r) => ws.once('drain', () => r()));
  }
  await new Promise<void>((r) => ws.end(() => r()));
  const set = await readScores(f, { spectrumSample: 50 });
  assert.equal(set.items.length, n);
  assert.equal(set.spectra.length, 50);
  assert.ok(Math.abs(set.items.reduce((s, it) => s + it.value, 0) - sum) < 1e-6 * n);
  const res = await writeReport(f, join(dir, 'big-out'), { perClass: 2 });
  const size = (await stat(res.html)).size;
  assert.ok(size < 2e6, `report is ${size} bytes`);
  const html = await readFile(res.html, 'utf8');
  assert.equal((html.match(/class="crow"/g) ?? []).length, 15, 'in x 10 classes + ood x 5 (even) classes');
});

test('the CLI writes a report, and names the file and line of bad input in one line', async () => {
  const bin = fileURLToPath(new URL('../bin/jepa-score.js', import.meta.url));
  const f = join(dir, 'cli.jsonl');
  await writeFile(f, '{"index":0,"score":-3.5,"class":"a"}\n{"index":1,"score":-1,"class":"b"}\n');
  const run = promisify(execFile);
  const ok = await run(process.execPath, [bin, 'report', f, '--out', join(dir, 'cli-out'), '--per-class', '1']);
  assert.match(ok.stderr, /report: .*cli-out\/report\.html/);
  const html = await readFile(join(dir, 'cli-out', 'report.html'), 'utf8');
  assert.equal((html.match(/<figure class="thumb"/g) ?? []).length, 4, 'two rows of one image, two outliers');
  await writeFile(f, '{"index":0,"score":-3.5}\n{"index":1,"score":"high"}\n');
  await assert.rejects(run(process.execPath, [bin, 'report', f, '--out', join(dir, 'cli-bad')]), (e: { code: number; stderr: string }) => {
    assert.equal(e.code, 1);
    assert.equal(e.stderr.trim(), `jepa-score: ${f}:2: "score" must be a finite number (got "high")`);
    return true;
  });
});
