import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { readSafetensors } from '../src/data/safetensors.js';

const ROOT = new URL('..', import.meta.url).pathname;
const FIX = join(ROOT, 'test/fixtures');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/jepa-score.js'), ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(path: string): Record<string, any>[] {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

test('score --pixel-values matches every fixture family (HF folders and the ONNX file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-score-'));
  for (const model of ['dinov2-tiny', 'dinov2-tiny/model.onnx', 'dinov2-reg-tiny', 'ijepa-tiny', 'clip-tiny']) {
    const family = model.split('/')[0];
    const exp = readSafetensors(join(FIX, family, 'expected.safetensors'));
    const out = join(dir, `${model.replace('/', '_')}.jsonl`);
    const r = cli('score', '--model', join(FIX, model), '--pixel-values', join(FIX, family, 'expected.safetensors'), '--out', out, '--embedding', '--spectrum');
    assert.equal(r.code, 0, r.stderr);
    const recs = lines(out);
    const K = exp.get('embedding')!.dims[1];
    assert.equal(recs.length, 2);
    recs.forEach((rec, b) => {
      assert.equal(rec.index, b);
      assert.equal(rec.embedding_dim, K);
      assert.ok(Math.abs(rec.score - Number(exp.get('jepa_score')!.data[b])) < 5e-3, `${model} image ${b}: ${rec.score}`);
      let err = 0;
      for (let k = 0; k < K; k++) err = Math.max(err, Math.abs(rec.embedding[k] - Number(exp.get('embedding')!.data[b * K + k])));
      assert.ok(err < 1e-4, `${model} embedding error ${err}`);
      assert.equal(rec.singular_values.length, K);
    });
  }
});

test('score resumes a killed run and keeps finished lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-resume-'));
  const out = join(dir, 's.jsonl');
  const args = ['score', '--model', join(FIX, 'clip-tiny'), '--pixel-values', join(FIX, 'clip-tiny/expected.safetensors'), '--out', out];
  assert.equal(cli(...args, '--limit', '1').code, 0);
  const first = readFileSync(out, 'utf8');
  // a torn line from a killed write is dropped on resume
  writeFileSync(out, first + '{"index":1,"sco');
  const r = cli(...args);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /resuming .*1 done, 1 to go/);
  const recs = lines(out);
  assert.equal(recs.length, 2);
  assert.ok(readFileSync(out, 'utf8').startsWith(first));
  assert.deepEqual(recs.map((x) => x.index), [0, 1]);
});

test('score on folders: classes from sub-folders, corrupt images reported, views estimator', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-folder-'));
  const imgs = join(dir, 'imgs');
  for (const cls of ['cats', 'dogs']) {
    mkdirSync(join(imgs, cls), { recursive: true });
    for (let i = 0; i < 2; i++) {
      const px = Buffer.alloc(64 * 48 * 3);
      for (let j = 0; j < px.length; j++) px[j] = (j * (i + 3) + cls.length * 17) % 256;
      await sharp(px, { raw: { width: 64, height: 48, channels: 3 } }).png().toFile(join(imgs, cls, `${i}.png`));
    }
  }
  writeFileSync(join(imgs, 'dogs', 'broken.jpg'), 'this is not a jpeg');
  const out = join(dir, 'scores.jsonl');
  const r = cli('score', '--model', join(FIX, 'dinov2-tiny'), imgs, '--out', out, '--size', '56', '--views', '3', '--augment', 'none', '--vectors', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /scored 4 images, 1 failed/);
  const recs = lines(out);
  assert.equal(recs.length, 5);
  const broken = recs.find((x) => String(x.path).endsWith('broken.jpg'))!;
  assert.match(broken.error, /broken\.jpg/);
  const ok = recs.filter((x) => !x.error);
  assert.deepEqual(ok.map((x) => x.class).sort(), ['cats', 'cats', 'dogs', 'dogs']);
  for (const x of ok) {
    assert.ok(Number.isFinite(x.score));
    // identical views: -log mean exp(-s) = s
    assert.ok(Math.abs(x.score_views - x.score) < 1e-5);
    assert.equal(x.vectors.length, 2);
  }
  // a rerun has nothing left to do
  const again = cli('score', '--model', join(FIX, 'dinov2-tiny'), imgs, '--out', out, '--size', '56');
  assert.match(again.stderr, /scored 0 images, 0 failed, 5 already done/);
});

test('bad input is one clear line, not a stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-bad-'));
  const bad = join(dir, 'bad.safetensors');
  writeFileSync(bad, Buffer.from([1, 2, 3]));
  const r = cli('score', '--model', join(FIX, 'clip-tiny'), '--pixel-values', bad, '--out', join(dir, 'o.jsonl'));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^jepa-score: .*bad\.safetensors/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
  const m = cli('score', '--model', join(dir, 'nope'), '--pixel-values', join(FIX, 'clip-tiny/expected.safetensors'), '--out', join(dir, 'o.jsonl'));
  assert.equal(m.code, 1);
  assert.match(m.stderr, /nope/);
});

test('score takes the built-in model by name and a digits model folder (as train writes it) alike', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-digits-'));
  const px = Buffer.alloc(28 * 28);
  for (let i = 0; i < px.length; i++) px[i] = i % 28 > 10 && i % 28 < 16 ? 255 : 0;
  mkdirSync(join(dir, 'imgs'));
  await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(join(dir, 'imgs', 'one.png'));
  const a = cli('score', '--model', 'mnist-jepa', join(dir, 'imgs'), '--out', join(dir, 'a.jsonl'));
  const b = cli('score', '--model', join(ROOT, 'assets/models/mnist-jepa'), join(dir, 'imgs'), '--out', join(dir, 'b.jsonl'));
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const [ra] = lines(join(dir, 'a.jsonl'));
  const [rb] = lines(join(dir, 'b.jsonl'));
  assert.equal(ra.embedding_dim, 64);
  assert.ok(Number.isFinite(ra.score));
  assert.equal(ra.score, rb.score);
});

test('without --size, images are scored at the crop size of the model folder\'s image processor', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-size-'));
  const model = join(dir, 'model');
  mkdirSync(model);
  for (const f of ['config.json', 'model.safetensors']) writeFileSync(join(model, f), readFileSync(join(FIX, 'dinov2-tiny', f)));
  writeFileSync(
    join(model, 'preprocessor_config.json'),
    JSON.stringify({ do_resize: true, size: { shortest_edge: 48 }, resample: 3, do_center_crop: true, crop_size: { height: 42, width: 42 }, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.485, 0.456, 0.406], image_std: [0.229, 0.224, 0.225] }),
  );
  mkdirSync(join(dir, 'imgs'));
  const px = Buffer.alloc(80 * 60 * 3);
  for (let j = 0; j < px.length; j++) px[j] = (j * 13) % 256;
  await sharp(px, { raw: { width: 80, height: 60, channels: 3 } }).png().toFile(join(dir, 'imgs', 'a.png'));
  const a = cli('score', '--model', model, join(dir, 'imgs'), '--out', join(dir, 'a.jsonl'));
  // config.json says image_size 56; the processor crops 42
  const b = cli('score', '--model', model, join(dir, 'imgs'), '--out', join(dir, 'b.jsonl'), '--size', '42');
  const c = cli('score', '--model', model, join(dir, 'imgs'), '--out', join(dir, 'c.jsonl'), '--size', '56');
  for (const r of [a, b, c]) assert.equal(r.code, 0, r.stderr);
  const [sa, sb, sc] = ['a', 'b', 'c'].map((n) => lines(join(dir, `${n}.jsonl`))[0].score);
  assert.equal(sa, sb);
  assert.notEqual(sa, sc);
});
