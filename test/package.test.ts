// The package as users get it: a bare `npm pack` (its prepack builds), the tarball's file list, an install into an
// empty project with the README's command (install scripts allowed and running), the CLI, an ESM import and
// a type-check against the published declarations. Needs the npm registry (or its cache), as `npm ci` does.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadDataset } from '../src/data/datasets.js';
import { writePng } from '../src/data/images.js';
import { loadInput, resolveModel } from '../src/models/resolve.js';
import { JepaScorer } from '../src/score/jepa.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

// npm passes its own settings to scripts as npm_* variables (ignore-scripts=true from the repo's .npmrc
// among them): the temporary project must see only its own, plus where the cache and registry are.
const KEEP = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile']);
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || KEEP.has(k.toLowerCase())) env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}): string {
  try {
    return execFileSync(cmd, args, { cwd, env: cleanEnv(extra), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${err.stdout ?? ''}\n${err.stderr ?? ''}`);
  }
}

test('the packed tarball installs offline-safe and works as a CLI, an ESM library and typed API', { timeout: 300_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'jepa-pkg-'));
  try {
    // 1. a bare `npm pack`: its prepack builds dist/ (the repo's .npmrc does not ignore scripts)
    const packDir = join(work, 'pack');
    mkdirSync(packDir);
    run('npm', ['pack', '--pack-destination', packDir], ROOT);
    const tgz = readdirSync(packDir).filter((f) => f.endsWith('.tgz'));
    assert.deepEqual(tgz, [`jepa-score-${VERSION}.tgz`]);
    const tarball = join(packDir, tgz[0]);
    const files = run('tar', ['-tzf', tarball], work).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'README.md',
      'bin/jepa-score.js',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/src/cli/main.js',
      'dist/src/models/resolve.d.ts',
      'assets/models/mnist-jepa/config.json',
      'assets/models/mnist-jepa/model.safetensors',
      'assets/data/mnist-test-images-idx3-ubyte.gz',
      'assets/data/mnist-test-labels-idx1-ubyte.gz',
      'assets/data/fashion-mnist-test-images-idx3-ubyte.gz',
    ]) {
      assert.ok(files.includes(f), `tarball lacks ${f}`);
    }
    // no sources, tests, benchmarks or compiled tests: only the compiled library, its types, the CLI and assets
    const stray = files.filter((f) => !/^(dist\/src\/.*\.(js|d\.ts)|bin\/jepa-score\.js|assets\/.*|package\.json|README\.md|LICENSE)$/.test(f));
    assert.deepEqual(stray, []);
    // every compiled module has its declarations
    const js = files.filter((f) => f.startsWith('dist/src/') && f.endsWith('.js'));
    assert.ok(js.length > 40, `only ${js.length} compiled modules`);
    for (const f of js) assert.ok(files.includes(f.replace(/\.js$/, '.d.ts')), `no declarations for ${f}`);

    // 2. an empty project, the README's install command; install scripts are allowed to run (npm >= 11.19
    //    blocks dependency scripts unless listed in allowScripts; older npm runs them anyway)
    const proj = join(work, 'proj');
    mkdirSync(proj);
    const allowScripts = { 'onnxruntime-node': true, sharp: true };
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'try-jepa-score', private: true, type: 'module', allowScripts }, null, 2));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], proj, { ONNXRUNTIME_NODE_INSTALL: 'skip' });

    // 3. the CLI through npx
    assert.equal(run('npx', ['jepa-score', '--version'], proj).trim(), VERSION);

    // 4. score a few shipped digits with the built-in model; the same scores as the in-repo scorer
    const ds = await loadDataset('mnist', { limit: 3 });
    const pngs: string[] = [];
    for (let i = 0; i < ds.images.length; i++) {
      const p = join(proj, 'digits', `${i}.png`);
      await writePng(p, ds.images[i], 1, ds.height, ds.width);
      pngs.push(p);
    }
    const model = await resolveModel('mnist-jepa');
    const scorer = await JepaScorer.create(model.encoder, { threads: 1 });
    const expected = new Map<string, number>();
    try {
      for (const p of pngs) expected.set(p, (await scorer.score(await loadInput(model, p))).score);
    } finally {
      await scorer.release();
    }
    const out = join(proj, 'scores.jsonl');
    run('npx', ['jepa-score', 'score', '--model', 'mnist-jepa', '--threads', '1', '--out', out, ...pngs], proj);
    const rows = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; score: number });
    assert.equal(rows.length, pngs.length);
    for (const r of rows) {
      const want = expected.get(resolve(dirname(out), r.path));
      assert.ok(want !== undefined && Number.isFinite(want), `unexpected path ${r.path}`);
      assert.ok(Math.abs(r.score - want) < 1e-5, `${r.path}: CLI ${r.score}, in-repo ${want}`);
    }

    // 5. the library from an ESM script
    writeFileSync(
      join(proj, 'one.mjs'),
      [
        "import { JepaScorer, loadInput, resolveModel } from 'jepa-score';",
        "const model = await resolveModel('mnist-jepa');",
        'const scorer = await JepaScorer.create(model.encoder, { threads: 1 });',
        'const r = await scorer.score(await loadInput(model, process.argv[2]));',
        'await scorer.release();',
        'console.log(JSON.stringify({ score: r.score, K: scorer.K }));',
      ].join('\n'),
    );
    const esm = JSON.parse(run('node', ['one.mjs', pngs[1]], proj)) as { score: number; K: number };
    assert.equal(esm.K, model.encoder.embeddingDim);
    assert.ok(Math.abs(esm.score - expected.get(pngs[1])!) < 1e-5, `ESM ${esm.score}, in-repo ${expected.get(pngs[1])}`);

    // 6. a TypeScript user type-checks against the published declarations (a wrong call must be an error,
    //    so the declarations are real types, not `any`)
    writeFileSync(
      join(proj, 'check.ts'),
      [
        "import { JepaScorer, loadInput, resolveModel, type ResolvedModel, type ScoreResult } from 'jepa-score';",
        "const model: ResolvedModel = await resolveModel('mnist-jepa');",
        'const scorer = await JepaScorer.create(model.encoder, { eps: 1e-6 });',
        "const r: ScoreResult = await scorer.score(await loadInput(model, 'digit.png'));",
        'const s: number = r.score;',
        'console.log(s);',
        '// @ts-expect-error score takes a Float32Array',
        "await scorer.score('digit.png');",
      ].join('\n'),
    );
    run('node', [TSC, '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', 'check.ts'], proj);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
