// The page: pick a model, drop or choose images, score them in the browser, compare with the model's reference.
import { BackendChoice, decodeImage, initOrt, JepaScorer, listBuiltins, loadBuiltin, loadUserModel, LoadedModel, OrtSetup, toInput, useBackend } from './engine.js';

interface Row {
  index: number;
  name: string;
  file: File;
  score?: number;
  error?: string;
  record: Record<string, unknown>;
}

declare global {
  interface Window {
    jepaScoreResults?: { name: string; score: number | null; error?: string }[];
    jepaScoreState?: string;
    /** seconds the last batch took (decode, preprocess, score; not model loading) and how many images it scored */
    jepaScoreTiming?: { seconds: number; images: number };
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const base = new URL('.', location.href).href;
const params = new URLSearchParams(location.search);

let current: { model: LoadedModel; scorer?: JepaScorer } | undefined;
let builtins: string[] = [];
let setup: OrtSetup;
let choice: BackendChoice = 'auto';
let busy: Promise<void> = Promise.resolve();
let rows: Row[] = [];
const thumbs: string[] = [];

function status(text: string, isError = false) {
  const el = $('status');
  el.textContent = text;
  el.className = isError ? 'error' : '';
}

async function useModel(load: () => Promise<LoadedModel>, label: string) {
  status(`loading ${label}…`);
  const model = await load();
  await current?.scorer?.release();
  current = { model };
  const m = model.meta;
  $('model-info').textContent = `${m.name}: input [${m.inputShape.join(', ')}], ${m.embeddingDim}-dim embedding` + (model.reference ? `; reference scores: ${model.reference.count} images, ${model.reference.description}` : '; no reference scores');
  status(`${label} ready`);
}

async function scorer(): Promise<{ model: LoadedModel; scorer: JepaScorer }> {
  if (!current) await useModel(() => loadBuiltin(base, builtins[0]), builtins[0]);
  if (!current!.scorer) {
    status(`building the Jacobian graph of ${current!.model.meta.name}…`);
    const enc = current!.model.encoder;
    current!.scorer = await JepaScorer.create(enc);
    if (setup.backend === 'webgpu' && choice === 'auto') {
      // WebGPU lacks some kernels; try one input and fall back to WASM if it fails
      try {
        await current!.scorer.score(new Float32Array(enc.inputShape.reduce((a, b) => a * b, 1)));
      } catch (e) {
        await current!.scorer.release();
        setup = { ...setup, backend: 'wasm' };
        useBackend('wasm', setup.threads);
        showBackend(`WebGPU failed (${(e as Error).message.split('\n')[0]}), using WASM`);
        current!.scorer = await JepaScorer.create(enc);
      }
    }
  }
  return current as { model: LoadedModel; scorer: JepaScorer };
}

function relPath(f: File): string {
  return (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name;
}

async function scoreFiles(files: File[]) {
  const images = files.filter((f) => !f.name.startsWith('.'));
  if (!images.length) return;
  window.jepaScoreResults = undefined;
  window.jepaScoreState = 'scoring';
  const { model, scorer: s } = await scorer();
  for (const u of thumbs.splice(0)) URL.revokeObjectURL(u);
  rows = [];
  const bar = $<HTMLProgressElement>('progress');
  bar.max = images.length;
  bar.value = 0;
  $('results').hidden = true;
  const started = performance.now();
  let painted = started;
  for (const [index, file] of images.entries()) {
    const path = relPath(file);
    const parts = path.split('/');
    // the CLI's fields for a folder: dataset = the folder given, class = its sub-folder
    const base: Record<string, unknown> = { index, path, ...(parts.length > 2 ? { class: parts[parts.length - 2] } : {}), ...(parts.length > 1 ? { dataset: parts[0] } : {}) };
    const row: Row = { index, name: file.name, file, record: base };
    try {
      const x = await toInput(model.meta, await decodeImage(file, path));
      const r = await s.score(x);
      row.score = r.score;
      row.record = { ...base, score: r.score, score_rank: r.scoreRank, rank: r.rank, embedding_dim: s.K, log_density_embedding: r.logDensityEmbedding };
    } catch (e) {
      row.error = (e as Error).message;
      row.record = { ...base, error: row.error };
    }
    rows.push(row);
    bar.value = index + 1;
    status(`scored ${index + 1} of ${images.length}`);
    if (performance.now() - painted > 50) {
      await new Promise((r) => setTimeout(r, 0)); // let the page paint now and then
      painted = performance.now();
    }
  }
  const secs = (performance.now() - started) / 1000;
  const ok = rows.filter((r) => r.score !== undefined).length;
  status(`scored ${ok} images${rows.length > ok ? `, ${rows.length - ok} failed` : ''} in ${secs.toFixed(1)} s (${(secs / Math.max(ok, 1)).toFixed(3)} s/image) with ${model.meta.name}`);
  render(model);
  window.jepaScoreTiming = { seconds: secs, images: ok };
  window.jepaScoreResults = rows.map((r) => ({ name: r.name, score: r.score ?? null, ...(r.error ? { error: r.error } : {}) }));
  window.jepaScoreState = 'done';
}

/** Linear-interpolated quantile of sorted values. */
function quantile(sorted: number[], q: number): number {
  const p = (sorted.length - 1) * q;
  const lo = Math.floor(p);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (p - lo);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function thumb(r: Row, note = ''): string {
  const url = URL.createObjectURL(r.file);
  thumbs.push(url);
  return `<figure><img src="${url}" alt=""><figcaption title="${esc(r.name)}">${esc(r.name)}<br><b>${r.score!.toFixed(2)}</b>${note}</figcaption></figure>`;
}

function render(model: LoadedModel) {
  const ref = model.reference ? [...model.reference.scores].sort((a, b) => a - b) : [];
  const p1 = ref.length ? quantile(ref, 0.01) : NaN;
  const p5 = ref.length ? quantile(ref, 0.05) : NaN;
  const scored = rows.filter((r) => r.score !== undefined).sort((a, b) => a.score! - b.score!);
  $('results').hidden = false;
  $('histogram').innerHTML = histogram(scored.map((r) => r.score!), ref, p1, p5);
  const k = Math.min(6, Math.ceil(scored.length / 2));
  $('least').innerHTML = scored.slice(0, k).map((r) => thumb(r)).join('');
  $('most').innerHTML = scored.slice(-k).reverse().map((r) => thumb(r)).join('');
  if (ref.length) {
    const out = scored.filter((r) => r.score! < p5);
    $('outliers-note').textContent = `Flagged: scores below the 5th percentile (${p5.toFixed(2)}) of the ${ref.length} reference scores; "< 1%" marks those below the 1st percentile (${p1.toFixed(2)}).`;
    $('outliers').innerHTML = out.length ? out.map((r) => thumb(r, r.score! < p1 ? ' <span class="flag">&lt; 1%</span>' : ' <span class="flag">&lt; 5%</span>')).join('') : '<p>none</p>';
  } else {
    $('outliers-note').textContent = 'This model has no reference scores, so nothing is flagged.';
    $('outliers').innerHTML = '';
  }
  const pct = (s: number) => (ref.length ? `${((100 * ref.filter((v) => v <= s).length) / ref.length).toFixed(1)}%` : '');
  $('table').innerHTML =
    '<tr><th>#</th><th>image</th><th>JEPA-SCORE</th><th>reference percentile</th></tr>' +
    rows
      .map((r) => `<tr${r.score !== undefined && r.score < p5 ? ' class="flagged"' : ''}><td>${r.index}</td><td>${esc(r.name)}</td>` + (r.score !== undefined ? `<td>${r.score.toFixed(4)}</td><td>${pct(r.score)}</td>` : `<td colspan="2" class="error">${esc(r.error!)}</td>`) + '</tr>')
      .join('');
}

/** Densities of the images' scores and the reference scores on common bins, as an SVG. */
function histogram(scores: number[], ref: number[], p1: number, p5: number): string {
  const all = [...scores, ...ref];
  if (!all.length) return '';
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi - lo < 1e-9) [lo, hi] = [lo - 1, hi + 1];
  const bins = 30;
  const W = 640, H = 200, pad = 30;
  const count = (v: number[]) => {
    const c = new Array(bins).fill(0);
    for (const x of v) c[Math.min(bins - 1, Math.floor(((x - lo) / (hi - lo)) * bins))]++;
    return c.map((n) => (v.length ? n / v.length : 0));
  };
  const a = count(scores), b = count(ref);
  const top = Math.max(...a, ...b) || 1;
  const x = (v: number) => pad + ((v - lo) / (hi - lo)) * (W - 2 * pad);
  const bw = (W - 2 * pad) / bins;
  const bars = (c: number[], cls: string) => c.map((n, i) => (n ? `<rect class="${cls}" x="${pad + i * bw}" width="${bw}" y="${H - pad - (n / top) * (H - 2 * pad)}" height="${(n / top) * (H - 2 * pad)}"/>` : '')).join('');
  const line = (v: number, label: string) => (Number.isFinite(v) ? `<line class="pct" x1="${x(v)}" x2="${x(v)}" y1="${pad / 2}" y2="${H - pad}"/><text x="${x(v) + 3}" y="${pad / 2 + 10}">${label}</text>` : '');
  return (
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="score histogram">${bars(b, 'ref')}${bars(a, 'mine')}${line(p1, '1%')}${line(p5, '5%')}` +
    `<line x1="${pad}" x2="${W - pad}" y1="${H - pad}" y2="${H - pad}" class="axis"/><text x="${pad}" y="${H - 8}">${lo.toFixed(1)}</text><text x="${W - pad}" y="${H - 8}" text-anchor="end">${hi.toFixed(1)}</text></svg>` +
    `<p class="legend"><span class="sw ref"></span> reference (${ref.length}) <span class="sw mine"></span> your images (${scores.length}); bars are fractions of each set</p>`
  );
}

function showBackend(note = '') {
  const { backend, threads, adapter } = setup;
  const wasm = `WASM, ${threads} thread${threads > 1 ? 's' : ''}${globalThis.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}`;
  const gpu = adapter ? `WebGPU adapter: ${adapter.name}${adapter.software ? ' (software)' : ''}` : choice === 'wasm' ? '' : 'no WebGPU adapter';
  $('backend').textContent = `onnxruntime-web ${backend === 'webgpu' ? 'WebGPU (WASM for unsupported operators)' : wasm}${gpu ? `; ${gpu}` : ''}${note ? `; ${note}` : ''}`;
}

function downloadJsonl() {
  const text = rows.map((r) => JSON.stringify(r.record) + '\n').join('');
  const a = document.createElement('a');
  a.href = URL.createObjectURL(new Blob([text], { type: 'application/x-ndjson' }));
  a.download = 'scores.jsonl';
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

/** Picks files with a detached input, so the page keeps its one input[type=file] for images. */
function pickFiles(opts: { accept?: string; folder?: boolean }): Promise<File[]> {
  return new Promise((resolve) => {
    const inp = document.createElement('input');
    inp.type = 'file';
    if (opts.accept) inp.accept = opts.accept;
    if (opts.folder) inp.setAttribute('webkitdirectory', '');
    inp.onchange = () => resolve([...(inp.files ?? [])]);
    inp.click();
  });
}

function run(task: () => Promise<void>) {
  busy = busy.then(task).catch((e) => {
    status((e as Error).message, true);
    window.jepaScoreState = 'error';
  });
}

/** Files from a drop, walking dropped folders. */
async function droppedFiles(dt: DataTransfer): Promise<File[]> {
  const entries = [...dt.items].map((it) => it.webkitGetAsEntry?.()).filter((e): e is FileSystemEntry => !!e);
  if (!entries.length) return [...dt.files];
  const out: File[] = [];
  const walk = async (e: FileSystemEntry): Promise<void> => {
    if (e.isFile) out.push(await new Promise<File>((res, rej) => (e as FileSystemFileEntry).file(res, rej)));
    else if (e.isDirectory) {
      const reader = (e as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const c of batch) await walk(c);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

async function main() {
  if (location.protocol === 'file:') throw new Error('open this page through a web server (npm run web, or any static server on web/dist), not as a file');
  choice = (params.get('backend') ?? 'auto') as BackendChoice;
  if (!['auto', 'wasm', 'webgpu'].includes(choice)) throw new Error(`backend must be auto, wasm or webgpu, got '${choice}'`);
  setup = await initOrt(choice, new URL('ort/', base).href);
  showBackend();
  builtins = await listBuiltins(base);
  const sel = $<HTMLSelectElement>('model');
  sel.innerHTML = builtins.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join('');
  sel.onchange = () => run(() => useModel(() => loadBuiltin(base, sel.value), sel.value));
  const userModel = (files: File[]) =>
    run(async () => {
      if (!files.length) return;
      await useModel(() => loadUserModel(files), files.length === 1 ? files[0].name : 'model folder');
      const opt = document.createElement('option');
      opt.textContent = `${current!.model.meta.name} (from disk)`;
      opt.value = '';
      sel.append(opt);
      sel.value = '';
    });
  $('load-onnx').onclick = () => void pickFiles({ accept: '.onnx' }).then(userModel);
  $('load-folder').onclick = () => void pickFiles({ folder: true }).then(userModel);
  const input = $<HTMLInputElement>('images');
  input.onchange = () => {
    const files = [...(input.files ?? [])];
    run(() => scoreFiles(files));
  };
  const drop = $('drop');
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    void droppedFiles(e.dataTransfer!).then((files) => {
      const model = files.filter((f) => f.name.endsWith('.onnx') || f.name === 'config.json' || f.name === 'model.safetensors');
      if (model.length) userModel(files.filter((f) => !/\.(png|jpe?g|webp|gif|bmp)$/i.test(f.name)));
      else run(() => scoreFiles(files));
    });
  };
  $('download').onclick = downloadJsonl;
  const first = params.get('model') ?? builtins[0];
  if (!builtins.includes(first)) throw new Error(`no built-in model '${first}' (built-in: ${builtins.join(', ')})`);
  sel.value = first;
  run(() => useModel(() => loadBuiltin(base, first), first));
  await busy;
  window.jepaScoreState ??= 'ready';
}

main().catch((e) => {
  status(`cannot start: ${(e as Error).message}`, true);
  window.jepaScoreState = 'error';
});
