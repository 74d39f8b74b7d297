// npm run bench:web: seconds per image for the built-in model in headless Chromium (onnxruntime-web WASM,
// single-threaded and with threads; WebGPU where the browser has an adapter) next to the Node engine (the
// CLI's path: decode, preprocess, score) on the same PNG digits. Medians of --runs runs after one warm-up.
// Options: --images N (default 50) --gpu-images N (WebGPU, default 5) --runs N (default 3) --model NAME (default: the first
// built-in) --out FILE
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { loadInput, resolveModel } from '../src/cli/model.js';
import { readStored } from '../src/data/datasets.js';
import { builtinModels } from '../src/models/builtin.js';
import { JepaScorer } from '../src/score/jepa.js';
import { CHROMIUM_ARGS, findChromium } from '../test/support/chromium.js';
import { buildSite } from '../web/build.js';
import { serveStatic } from '../web/serve.js';

const { values: args } = parseArgs({
  options: { images: { type: 'string', default: '50' }, 'gpu-images': { type: 'string', default: '5' }, runs: { type: 'string', default: '3' }, model: { type: 'string' }, out: { type: 'string', default: 'out/bench-web.json' } },
});
const nImages = Number(args.images);
const runs = Number(args.runs);
const model = args.model ?? builtinModels()[0];
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const log = (s: string) => process.stderr.write(s + '\n');

/** MNIST test digits as 28x28 PNGs, or (jpeg) as 56x56 RGB JPEGs, which the page must decode and resize. */
async function writeDigits(dir: string, jpeg = false): Promise<string[]> {
  const { pixels, height, width } = readStored('mnist');
  const files: string[] = [];
  for (let k = 0; k < nImages; k++) {
    const i = (37 * k + 5) % 2000;
    const file = join(dir, `d${k}.${jpeg ? 'jpg' : 'png'}`);
    const img = sharp(Buffer.from(pixels.subarray(i * height * width, (i + 1) * height * width)), { raw: { width, height, channels: 1 } });
    if (jpeg) await img.resize(56, 56).toColourspace('srgb').jpeg({ quality: 90 }).toFile(file);
    else await img.png().toFile(file);
    files.push(file);
  }
  return files;
}

/** The Node engine on the CLI's path: s/image per run. */
const nodeScores = new Map<string, number>();

async function nodeRuns(files: string[], threads: number): Promise<number[]> {
  const m = await resolveModel(model);
  const scorer = await JepaScorer.create(m.encoder, { threads });
  const out: number[] = [];
  try {
    for (let r = 0; r <= runs; r++) {
      const t = performance.now();
      for (const f of files) nodeScores.set(basename(f), (await scorer.score(await loadInput(m, f))).score);
      if (r > 0) out.push((performance.now() - t) / 1000 / files.length);
    }
  } finally {
    await scorer.release();
  }
  return out;
}

/** The page in Chromium: s/image per run, as the page times a batch (decode, preprocess, score). */
async function browserRuns(site: string, files: string[], opts: { isolation: boolean; backend: 'wasm' | 'webgpu'; gpuArgs?: string[] }): Promise<{ runs: number[]; backend: string; maxDiff: number } | { error: string }> {
  const { server, url } = await serveStatic(site, { port: 0, isolation: opts.isolation });
  const browser = await chromium.launch({ executablePath: findChromium(), args: opts.gpuArgs ?? CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`${url}?backend=${opts.backend}&model=${encodeURIComponent(model)}`);
    await page.waitForFunction(() => window.jepaScoreState === 'ready' || window.jepaScoreState === 'error', null, { timeout: 120_000 });
    if ((await page.evaluate(() => window.jepaScoreState)) === 'error') return { error: (await page.textContent('#status')) ?? 'error' };
    const backend = (await page.textContent('#backend')) ?? '';
    const out: number[] = [];
    for (let r = 0; r <= runs; r++) {
      await page.evaluate(() => (window.jepaScoreState = 'waiting'));
      await page.setInputFiles('input[type=file]', r % 2 ? files : [...files].reverse());
      await page.waitForFunction(() => window.jepaScoreState === 'done' || window.jepaScoreState === 'error', null, { timeout: 600_000 });
      const t = await page.evaluate(() => window.jepaScoreTiming);
      if (!t || t.images !== files.length) return { error: (await page.textContent('#status')) ?? 'no timing' };
      if (r > 0) out.push(t.seconds / t.images);
    }
    const res = (await page.evaluate(() => window.jepaScoreResults)) ?? [];
    const maxDiff = Math.max(...res.map((x) => Math.abs((x.score ?? NaN) - nodeScores.get(x.name)!)));
    return { runs: out, backend, maxDiff };
  } finally {
    await browser.close();
    await new Promise((ok) => server.close(ok));
  }
}

async function main() {
  if (!findChromium()) throw new Error('no Chromium found (set CHROMIUM_PATH, or install it)');
  const tmp = mkdtempSync(join(tmpdir(), 'jepa-bench-web-'));
  try {
    const site = await buildSite({ out: join(tmp, 'site'), reference: 0 });
    mkdirSync(join(tmp, 'img'));
    const files = await writeDigits(join(tmp, 'img'));
    const rows: Record<string, unknown>[] = [];
    const add = (name: string, r: number[] | { runs: number[]; backend: string; maxDiff: number } | { error: string }) => {
      if ('error' in r) {
        log(`${name}: ${r.error}`);
        rows.push({ name, error: r.error });
        return;
      }
      const list = Array.isArray(r) ? r : r.runs;
      const s = median(list);
      log(`${name}: ${(s * 1000).toFixed(1)} ms/image (runs: ${list.map((x) => (x * 1000).toFixed(1)).join(', ')})${Array.isArray(r) ? '' : ` max |score - node| ${r.maxDiff.toExponential(1)} [${r.backend}]`}`);
      rows.push({ name, secondsPerImage: s, runs: list, ...(Array.isArray(r) ? {} : { backend: r.backend, maxAbsDiffVsNode: r.maxDiff }) });
    };
    add('node, 1 thread', await nodeRuns(files, 1));
    add(`node, ${cpus().length} threads`, await nodeRuns(files, cpus().length));
    add('chromium wasm, 1 thread (not cross-origin isolated)', await browserRuns(site, files, { isolation: false, backend: 'wasm' }));
    add('chromium wasm, threads (cross-origin isolated)', await browserRuns(site, files, { isolation: true, backend: 'wasm' }));
    // WebGPU needs a GPU adapter; headless Chromium without one has none
    const gpuArgs = [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu', '--enable-features=Vulkan'];
    add(`chromium webgpu (${args['gpu-images']} images)`, await browserRuns(site, files.slice(0, Number(args['gpu-images'])), { isolation: true, backend: 'webgpu', gpuArgs }));
    add('chromium auto (what the page picks)', await browserRuns(site, files, { isolation: true, backend: 'auto' as 'wasm', gpuArgs }));
    // agreement on JPEGs that need a resize: the resize is the same code on both sides, the JPEG decoders differ
    mkdirSync(join(tmp, 'jpg'));
    const jpegs = await writeDigits(join(tmp, 'jpg'), true);
    await nodeRuns(jpegs, 1);
    const j = await browserRuns(site, jpegs, { isolation: false, backend: 'wasm' });
    if ('error' in j) log(`jpeg: ${j.error}`);
    else log(`56x56 JPEGs (quality 90), browser vs node: max |score difference| ${j.maxDiff.toExponential(2)}`);
    rows.push({ name: 'jpeg agreement', ...('error' in j ? { error: j.error } : { maxAbsDiffVsNode: j.maxDiff }) });
    const result = { model, images: nImages, runs, cpus: cpus().length, cpu: cpus()[0]?.model, date: new Date().toISOString(), rows };
    mkdirSync(dirname(args.out!), { recursive: true });
    writeFileSync(args.out!, JSON.stringify(result, null, 1));
    log(`wrote ${args.out}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write(`bench:web: ${(e as Error).message}\n`);
  process.exit(1);
});
