// The browser page: built into a temporary folder, served on a free loopback port, opened in headless Chromium;
// 10 digit PNGs through its file input must get the CLI's JEPA-SCOREs (1e-4), with no console errors and no
// request leaving the server, with and without cross-origin isolation (WASM threads / single-threaded).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { readStored } from '../src/data/datasets.js';
import { buildSite } from '../web/build.js';
import { serveStatic } from '../web/serve.js';
import { CHROMIUM_ARGS, chromiumSkip, findChromium, pageProblems } from './support/chromium.js';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/** 10 MNIST test digits as PNGs: 7 grayscale 28x28, 2 coloured RGB 28x28 (grayscale conversion), 1 RGB 42x42 (resize). */
async function writeDigits(dir: string): Promise<string[]> {
  const { pixels, height, width } = readStored('mnist');
  const files: string[] = [];
  for (let k = 0; k < 10; k++) {
    const i = 97 * k + 13; // spread over the classes, not among the reference images (every 10th)
    const gray = Buffer.from(pixels.subarray(i * height * width, (i + 1) * height * width));
    const file = join(dir, `digit-${k}-${i}.png`);
    if (k < 7) await sharp(gray, { raw: { width, height, channels: 1 } }).png().toFile(file);
    else {
      const rgb = Buffer.alloc(gray.length * 3);
      for (let p = 0; p < gray.length; p++) [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]] = [gray[p], Math.round(gray[p] * 0.6), 255 - gray[p]];
      let img = sharp(rgb, { raw: { width, height, channels: 3 } });
      if (k === 9) img = img.resize(42, 42, { kernel: 'cubic' });
      await img.png().toFile(file);
    }
    files.push(file);
  }
  return files;
}

test('the page scores chosen images like the CLI, in Chromium, with and without cross-origin isolation', { skip: chromiumSkip(), timeout: 180_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'jepa-web-'));
  const t0 = Date.now();
  const note = (what: string) => process.env.WEB_TEST_VERBOSE && console.log(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const browser = await chromium.launch({ executablePath: findChromium(), args: CHROMIUM_ARGS });
  try {
    const site = await buildSite({ out: join(tmp, 'site') });
    note('built');
    const ref = JSON.parse(readFileSync(join(site, 'models', 'mnist-jepa', 'reference.json'), 'utf8'));
    assert.equal(ref.count, 200);
    assert.ok(ref.scores.every((s: number) => Number.isFinite(s)));

    const imgDir = join(tmp, 'digits');
    mkdirSync(imgDir);
    const files = await writeDigits(imgDir);
    const cliOut = join(tmp, 'cli.jsonl');
    const r = spawnSync(process.execPath, [join(ROOT, 'bin/jepa-score.js'), 'score', '--model', 'mnist-jepa', '--threads', '1', '--out', cliOut, ...files], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const cli = readFileSync(cliOut, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(cli.length, 10);
    note('CLI scored');

    for (const isolation of [true, false]) {
      const { server, url } = await serveStatic(site, { port: 0, isolation });
      const page = await browser.newPage({ acceptDownloads: true });
      const problems = pageProblems(page);
      page.on('response', (q) => {
        if (q.status() >= 400) problems.push(`HTTP ${q.status()}: ${q.url()}`);
      });
      page.on('request', (q) => {
        const u = q.url();
        if (!u.startsWith(url) && !u.startsWith('blob:') && !u.startsWith('data:')) problems.push(`outside request: ${u}`);
      });
      try {
        await page.goto(`${url}?backend=wasm`, { waitUntil: 'load' });
        await page.waitForFunction(() => window.jepaScoreState === 'ready' || window.jepaScoreState === 'error', null, { timeout: 60_000 });
        note('page ready');
        assert.equal(await page.evaluate(() => window.crossOriginIsolated), isolation);
        assert.equal(await page.locator('input[type=file]').count(), 1);
        const threads = Number(/WASM, (\d+) thread/.exec((await page.textContent('#backend')) ?? '')?.[1]);
        assert.equal(threads > 1, isolation && (await page.evaluate(() => navigator.hardwareConcurrency)) > 1, `threads ${threads}`);
        await page.setInputFiles('input[type=file]', files);
        await page.waitForFunction(() => window.jepaScoreState === 'done' || window.jepaScoreState === 'error', null, { timeout: 90_000 });
        const got = await page.evaluate(() => window.jepaScoreResults);
        assert.ok(got, `no results; status: ${await page.textContent('#status')}`);
        assert.deepEqual(got.map((g) => g.name), files.map((f) => f.split('/').pop()));
        note('page scored');
        let worst = 0;
        for (const [i, g] of got.entries()) {
          assert.equal(typeof g.score, 'number', `${g.name}: ${g.error}`);
          worst = Math.max(worst, Math.abs(g.score! - cli[i].score));
          assert.ok(Math.abs(g.score! - cli[i].score) <= 1e-4, `${g.name}: browser ${g.score}, CLI ${cli[i].score} (isolation ${isolation})`);
        }
        if (process.env.WEB_TEST_VERBOSE) console.log(`isolation ${isolation}, ${threads} thread(s): largest |browser - CLI| = ${worst.toExponential(2)}`);
        // the page's JSONL: the CLI's fields and values (the path is the file name)
        const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
        const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
        for (const [i, l] of lines.entries()) {
          const c = cli[i];
          assert.deepEqual(Object.keys(l).filter((k) => k !== 'dataset').sort(), Object.keys(c).filter((k) => k !== 'dataset').sort());
          assert.equal(l.path, files[i].split('/').pop());
          for (const k of ['index', 'rank', 'embedding_dim']) assert.equal(l[k], c[k], `${k} of ${l.path}`);
          for (const k of ['score', 'score_rank', 'log_density_embedding']) assert.ok(Math.abs(l[k] - c[k]) <= 1e-4, `${k} of ${l.path}: ${l[k]} vs ${c[k]}`);
        }
        // histogram, least/most likely and the outlier section are drawn
        assert.ok((await page.locator('#histogram svg rect').count()) > 0);
        assert.equal(await page.locator('#least figure').count(), 5);
        assert.match((await page.textContent('#outliers-note')) ?? '', /5th percentile/);
        if (!isolation) {
          // a model folder from disk (config.json + model.safetensors, read as bytes in the page): the built-in's own files
          const [chooser] = await Promise.all([page.waitForEvent('filechooser'), page.click('#load-folder')]);
          await chooser.setFiles(join(ROOT, 'assets', 'models', 'mnist-jepa'));
          await page.waitForFunction(() => /mnist-jepa \(from disk\)/.test(document.querySelector('#model')?.textContent ?? ''), null, { timeout: 30_000 });
          await page.setInputFiles('input[type=file]', files.slice(0, 2));
          await page.waitForFunction(() => window.jepaScoreState === 'done' && window.jepaScoreResults?.length === 2, null, { timeout: 60_000 });
          const disk = (await page.evaluate(() => window.jepaScoreResults)) ?? [];
          for (const [i, g] of disk.entries()) assert.ok(Math.abs(g.score! - cli[i].score) <= 1e-4, `model from disk, ${g.name}: ${g.score} vs CLI ${cli[i].score}`);
        }
        if (process.env.WEB_SCREENSHOT) await page.screenshot({ path: `${process.env.WEB_SCREENSHOT}-${isolation ? 'isolated' : 'plain'}.png`, fullPage: true });
        assert.deepEqual(problems, []);
      } finally {
        await page.close();
        await new Promise((ok) => server.close(ok));
      }
    }

    // WebGPU where the browser has an adapter (here often SwiftShader's, in software): 1 image, the same score;
    // without an adapter, ?backend=webgpu must say so
    const gpuBrowser = await chromium.launch({ executablePath: findChromium(), args: [...CHROMIUM_ARGS.filter((a) => a !== '--disable-gpu'), '--enable-unsafe-webgpu', '--enable-features=Vulkan'] });
    const { server, url } = await serveStatic(site, { port: 0 });
    try {
      const page = await gpuBrowser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      note('WebGPU browser');
      await page.goto(`${url}?backend=webgpu`, { waitUntil: 'load' });
      await page.waitForFunction(() => window.jepaScoreState === 'ready' || window.jepaScoreState === 'error', null, { timeout: 60_000 });
      if ((await page.evaluate(() => window.jepaScoreState)) === 'error') {
        if (process.env.WEB_TEST_VERBOSE) console.log('WebGPU: no adapter');
        assert.match((await page.textContent('#status')) ?? '', /no WebGPU adapter/);
      } else {
        assert.match((await page.textContent('#backend')) ?? '', /WebGPU adapter/);
        await page.setInputFiles('input[type=file]', files.slice(0, 1));
        await page.waitForFunction(() => window.jepaScoreState === 'done' || window.jepaScoreState === 'error', null, { timeout: 90_000 });
        const got = (await page.evaluate(() => window.jepaScoreResults)) ?? [];
        assert.equal(got.length, 1, (await page.textContent('#status')) ?? '');
        if (process.env.WEB_TEST_VERBOSE) console.log(`WebGPU (${await page.textContent('#backend')}): |browser - CLI| = ${Math.abs(got[0].score! - cli[0].score).toExponential(2)}`);
        for (const [i, g] of got.entries()) assert.ok(Math.abs(g.score! - cli[i].score) <= 1e-4, `WebGPU ${g.name}: ${g.score} vs CLI ${cli[i].score}`);
      }
      assert.deepEqual(problems, []);
      note('WebGPU done');
    } finally {
      await gpuBrowser.close();
      await new Promise((ok) => server.close(ok));
    }
  } finally {
    await browser.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
