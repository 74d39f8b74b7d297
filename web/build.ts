// npm run web:build: the static site in web/dist: index.html, the bundle (app.js), onnxruntime-web's wasm files,
// and every built-in model (its encoder graph as ONNX, how to preprocess for it, its reference scores).
// Options: --out DIR (default web/dist), --reference N (reference images per model, default 200; 0: none), --quiet
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as esbuild from 'esbuild';
import { resolveModel, ResolvedModel } from '../src/cli/model.js';
import { describeDataset, readStored, STORED } from '../src/data/datasets.js';
import { preprocessPixels } from '../src/data/preprocess.js';
import { serializeModel } from '../src/graph/onnx.js';
import { builtinModelDir, builtinModels } from '../src/models/builtin.js';
import { JepaScorer } from '../src/score/jepa.js';
import type { ModelMeta, Reference } from './src/engine.js';

const WEB = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(WEB);
// the onnxruntime-web build the bundle uses (WASM + WebGPU) loads these two files at run time
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

/** Node built-ins become stubs that throw when called: only code the page never runs uses them. */
const nodeOnly: esbuild.Plugin = {
  name: 'node-only',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => ({ path: a.path, namespace: 'node-stub' }));
    b.onLoad({ filter: /.*/, namespace: 'node-stub' }, async (a) => {
      const names = Object.keys(await import(a.path)).filter((n) => n !== 'default' && /^[A-Za-z_$][\w$]*$/.test(n));
      const body = names.map((n) => `export const ${n} = no(${JSON.stringify(`${a.path} ${n}`)});`).join('\n');
      return { contents: `const no = (what) => () => { throw new Error(what + ' is not available in the browser'); };\n${body}\nexport default {};\n`, loader: 'js' };
    });
    // sharp and onnxruntime-node may only be loaded lazily (never in the browser), not imported
    b.onResolve({ filter: /^(sharp|onnxruntime-node)$/ }, (a) =>
      a.kind === 'dynamic-import' ? { path: a.path, external: true } : { errors: [{ text: `${a.path} is Node-only but ${relative(ROOT, a.importer)} imports it` }] },
    );
  },
};

/** Bundles the page; returns the bundle's size in bytes. */
export async function bundle(out: string): Promise<number> {
  const res = await esbuild.build({
    entryPoints: [join(WEB, 'src', 'main.ts')],
    outfile: join(out, 'app.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    // onnxruntime-web's build that loads its wasm glue from env.wasm.wasmPaths (copied next to the page)
    conditions: ['onnxruntime-web-use-extern-wasm'],
    plugins: [nodeOnly],
    metafile: true,
    logLevel: 'error',
  });
  const inputs = Object.keys(res.metafile.inputs);
  const bad = inputs.filter((p) => /node_modules\/(sharp|onnxruntime-node|@img)\//.test(p));
  if (bad.length) throw new Error(`the browser bundle holds Node-only code: ${bad.join(', ')}`);
  return res.metafile.outputs[relative(process.cwd(), join(out, 'app.js'))]?.bytes ?? 0;
}

/** The held-out set of a built-in model's training domain: `<set>-train` -> `<set>`; digit models default to mnist. */
function referenceSet(name: string, model: ResolvedModel): string | undefined {
  const settings = join(builtinModelDir(name), 'train-settings.json');
  if (existsSync(settings)) {
    const train = JSON.parse(readFileSync(settings, 'utf8')).trainSet as string | undefined;
    const held = train?.replace(/-train$/, '');
    if (held && held !== train && STORED[held]) return held;
  }
  return model.channels === 1 ? 'mnist' : undefined;
}

/** JEPA-SCOREs of `count` images of the set (every (N/count)-th, so all classes), preprocessed as the CLI does. */
async function referenceScores(model: ResolvedModel, set: string, count: number): Promise<Reference> {
  const { pixels, height, width } = readStored(set);
  const n = pixels.length / (height * width);
  const step = Math.max(1, Math.floor(n / count));
  const scorer = await JepaScorer.create(model.encoder, { threads: 1 });
  const scores: number[] = [];
  try {
    for (let i = 0; i < n && scores.length < count; i += step) {
      const gray = pixels.slice(i * height * width, (i + 1) * height * width);
      const data = model.channels === 1 ? gray : Uint8Array.from({ length: gray.length * 3 }, (_, j) => gray[Math.floor(j / 3)]);
      const x = (await preprocessPixels({ data, height, width, channels: model.channels }, model.preprocess)).data;
      scores.push((await scorer.score(x)).score);
    }
  } finally {
    await scorer.release();
  }
  return { dataset: set, description: `every ${step}th image of '${set}' (${describeDataset(set)})`, count: scores.length, scores };
}

export async function buildSite(opts: { out?: string; reference?: number; log?: (s: string) => void } = {}): Promise<string> {
  const out = opts.out ?? join(WEB, 'dist');
  const log = opts.log ?? (() => {});
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'ort'), { recursive: true });
  const bytes = await bundle(out);
  log(`app.js: ${(bytes / 1024).toFixed(0)} KiB`);
  copyFileSync(join(WEB, 'index.html'), join(out, 'index.html'));
  const ortDist = join(ROOT, 'node_modules', 'onnxruntime-web', 'dist');
  for (const f of ORT_FILES) copyFileSync(join(ortDist, f), join(out, 'ort', f));
  const names = builtinModels();
  for (const name of names) {
    const m = await resolveModel(name);
    const dir = join(out, 'models', name);
    mkdirSync(dir, { recursive: true });
    const enc = m.encoder;
    writeFileSync(join(dir, 'model.onnx'), serializeModel(enc.graph));
    const meta: ModelMeta = { name, family: m.family, input: enc.input, output: enc.output, inputShape: enc.inputShape, embeddingDim: enc.embeddingDim, channels: m.channels, preprocess: m.preprocess };
    writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta, null, 1));
    const set = opts.reference === 0 ? undefined : referenceSet(name, m);
    if (set) {
      const t = Date.now();
      const ref = await referenceScores(m, set, opts.reference ?? 200);
      writeFileSync(join(dir, 'reference.json'), JSON.stringify(ref));
      log(`${name}: reference scores of ${ref.count} ${set} images in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } else log(`${name}: no reference set`);
  }
  writeFileSync(join(out, 'models', 'index.json'), JSON.stringify({ models: names }));
  log(`wrote ${relative(process.cwd(), out) || '.'}`);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { out: { type: 'string' }, reference: { type: 'string' }, quiet: { type: 'boolean', default: false } } });
  const reference = values.reference === undefined ? undefined : Number(values.reference);
  if (reference !== undefined && !(Number.isInteger(reference) && reference >= 0)) {
    process.stderr.write(`--reference must be a non-negative integer, got ${values.reference}\n`);
    process.exit(2);
  }
  buildSite({ out: values.out, reference, log: values.quiet ? undefined : (s) => process.stderr.write(s + '\n') }).catch((e) => {
    process.stderr.write(`web:build: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
