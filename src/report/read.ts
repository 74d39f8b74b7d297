// Reads a scores .jsonl file (from `jepa-score score` / `ood`) line by line into what a report needs.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import { Rng } from '../data/random.js';

/** One scored image (the fields a report keeps; spectra and vectors are kept only for a few). */
export interface ScoredItem {
  /** 1-based line in the jsonl */
  line: number;
  index: number;
  /** as written in the file */
  path?: string;
  /** resolved against the jsonl's folder */
  file?: string;
  cls?: string;
  dataset?: string;
  /** the value the report shows: `score` or `score_rank` */
  value: number;
  rank?: number;
  /** the histogram group (data set, top folder, class or 'all'), set once the whole file is read */
  group: string;
  /** the row of the per-class figure, set once the whole file is read */
  row: string;
}

export interface FailedItem {
  line: number;
  index: number;
  path?: string;
  error: string;
}

/** An image whose Jacobian vectors were written as PNGs (figure 7). */
export interface VectorItem {
  item: ScoredItem;
  singularValues?: number[];
  /** resolved PNG paths, in the file's order */
  vectors: { path: string; file: string }[];
}

export interface ScoreSet {
  jsonl: string;
  /** `score`, `score_rank`, or `variants.<name>` (a variant written by `ood`) */
  field: string;
  items: ScoredItem[];
  failed: FailedItem[];
  /** how many failures there were (failed holds at most `maxErrors`) */
  failedCount: number;
  /** groups in display order */
  groups: string[];
  /** how the groups were formed */
  groupBy: 'dataset' | 'folder' | 'class' | 'none';
  vectorItems: VectorItem[];
  /** singular values (sorted, largest first) of a seeded random sample of the items that carry them */
  spectra: { group: string; values: Float64Array }[];
  /** the embedding dims seen, with counts */
  embeddingDims: Map<number, number>;
}

export interface ReadOptions {
  /** `score` (default), `score_rank` or `variants.<name>` */
  field?: string;
  /** keep vectors for this many images (default 6) */
  vectorImages?: number;
  /** sample this many spectra for the spectrum plot (default 2000) */
  spectrumSample?: number;
  /** keep at most this many failure lines (default 1000; all are counted) */
  maxErrors?: number;
  seed?: number;
}

/** Streams a jsonl file; bad lines raise an Error naming the file, the line and the problem. */
export async function readScores(jsonlPath: string, opts: ReadOptions = {}): Promise<ScoreSet> {
  const jsonl = resolve(jsonlPath);
  const field = opts.field ?? 'score';
  const vectorImages = opts.vectorImages ?? 6;
  const spectrumSample = opts.spectrumSample ?? 2000;
  const maxErrors = opts.maxErrors ?? 1000;
  const rng = new Rng(opts.seed ?? 1);
  const base = dirname(jsonl);

  try {
    const st = await stat(jsonl);
    if (!st.isFile()) throw new Error('not a file');
  } catch (e) {
    throw new Error(`${jsonlPath}: cannot read the scores file (${(e as Error).message})`);
  }

  const items: ScoredItem[] = [];
  const failed: FailedItem[] = [];
  let failedCount = 0;
  const vectorItems: VectorItem[] = [];
  const sample: { item: ScoredItem; values: Float64Array }[] = [];
  let seenSpectra = 0;
  const embeddingDims = new Map<number, number>();

  const input = createReadStream(jsonl, { encoding: 'utf8' });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of lines) {
      lineNo++;
      const text = raw.trim();
      if (!text) continue;
      const where = `${jsonlPath}:${lineNo}`;
      let obj: unknown;
      try {
        obj = JSON.parse(text);
      } catch (e) {
        throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new Error(`${where}: expected a JSON object`);
      const o = obj as Record<string, unknown>;

      const index = o.index === undefined ? lineNo - 1 : o.index;
      if (typeof index !== 'number' || !Number.isInteger(index)) throw new Error(`${where}: "index" must be an integer`);
      const path = optString(o.path, 'path', where);
      if (path === '') throw new Error(`${where}: "path" is empty`);

      if (o.error !== undefined && o.error !== null) {
        failedCount++;
        if (failed.length < maxErrors) failed.push({ line: lineNo, index, path, error: String(o.error) });
        continue;
      }

      const cls = o.class === undefined || o.class === null ? undefined : labelOf(o.class, 'class', where);
      const dataset = o.dataset === undefined || o.dataset === null ? undefined : labelOf(o.dataset, 'dataset', where);
      const v = field.startsWith('variants.') ? (o.variants as Record<string, unknown> | undefined)?.[field.slice(9)] : o[field];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new Error(`${where}: "${field}" must be a finite number (got ${JSON.stringify(v) ?? 'nothing'})`);
      }
      let rank: number | undefined;
      if (o.rank !== undefined && o.rank !== null) {
        if (typeof o.rank !== 'number' || !Number.isFinite(o.rank)) throw new Error(`${where}: "rank" must be a number`);
        rank = o.rank;
      }
      if (o.embedding_dim !== undefined && o.embedding_dim !== null) {
        if (typeof o.embedding_dim !== 'number' || !Number.isInteger(o.embedding_dim)) throw new Error(`${where}: "embedding_dim" must be an integer`);
        embeddingDims.set(o.embedding_dim, (embeddingDims.get(o.embedding_dim) ?? 0) + 1);
      }
      const item: ScoredItem = {
        line: lineNo, index, path, file: path === undefined ? undefined : resolve(base, path),
        cls, dataset, value: v, rank, group: '', row: '',
      };
      items.push(item);

      let sv: number[] | undefined;
      if (o.singular_values !== undefined && o.singular_values !== null) {
        sv = numberArray(o.singular_values, 'singular_values', where);
        if (spectrumSample > 0 && sv.length > 0) {
          // reservoir sample, so a 100k-line file keeps only `spectrumSample` spectra
          seenSpectra++;
          const slot = sample.length < spectrumSample ? sample.length : rng.int(seenSpectra);
          if (slot < spectrumSample) {
            const values = Float64Array.from(sv).sort().reverse();
            sample[slot] = { item, values };
          }
        }
      }
      if (o.vectors !== undefined && o.vectors !== null) {
        if (!Array.isArray(o.vectors) || o.vectors.some((p) => typeof p !== 'string' || p === '')) {
          throw new Error(`${where}: "vectors" must be a list of file names`);
        }
        if (vectorItems.length < vectorImages && o.vectors.length > 0) {
          vectorItems.push({
            item,
            singularValues: sv ? [...sv].sort((a, b) => b - a) : undefined,
            vectors: (o.vectors as string[]).map((p) => ({ path: p, file: resolve(base, p) })),
          });
        }
      }
    }
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code) throw new Error(`${jsonlPath}: cannot read the scores file (${err.message})`);
    throw e;
  } finally {
    lines.close();
    input.destroy();
  }
  if (items.length === 0 && failedCount === 0) throw new Error(`${jsonlPath}: no score lines in the file`);

  const { groups, groupBy } = assignGroups(items);
  const spectra = sample.map((s) => ({ group: s.item.group, values: s.values }));
  return { jsonl, field, items, failed, failedCount, groups, groupBy, vectorItems, spectra, embeddingDims };
}

function optString(v: unknown, name: string, where: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new Error(`${where}: "${name}" must be a string`);
  return v;
}

function labelOf(v: unknown, name: string, where: string): string {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`${where}: "${name}" must be a string or a number`);
}

function numberArray(v: unknown, name: string, where: string): number[] {
  if (!Array.isArray(v)) throw new Error(`${where}: "${name}" must be a list of numbers`);
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new Error(`${where}: "${name}" must be a list of finite numbers`);
  }
  return v as number[];
}

/** Compares labels so that "class 2" sorts before "class 10". */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true, sensitivity: 'variant' }) || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Groups for the histograms: the data set when given, else the top folder under the common folder
 * of all images (when there are at least two), else the class, else one group 'all'.
 * Rows of the per-class figure: the class (prefixed by the group when there are several data sets).
 */
function assignGroups(items: ScoredItem[]): { groups: string[]; groupBy: ScoreSet['groupBy'] } {
  const anyDataset = items.some((it) => it.dataset !== undefined);
  const anyClass = items.some((it) => it.cls !== undefined);
  const tops = topFolders(items);
  const distinctTops = new Set(tops.filter((t) => t !== undefined));
  let groupBy: ScoreSet['groupBy'];
  if (anyDataset) groupBy = 'dataset';
  else if (distinctTops.size >= 2 && !(anyClass && items.every((it, i) => tops[i] === undefined || tops[i] === it.cls))) groupBy = 'folder';
  else if (anyClass) groupBy = 'class';
  else groupBy = 'none';

  items.forEach((it, i) => {
    let g: string | undefined;
    if (groupBy === 'dataset') g = it.dataset ?? tops[i] ?? it.cls;
    else if (groupBy === 'folder') g = tops[i] ?? it.cls;
    else if (groupBy === 'class') g = it.cls;
    it.group = g ?? (groupBy === 'none' ? 'all' : '(none)');
  });
  // data sets keep the file's order (`ood` writes the in-distribution set first); others sort by name
  const groups = [...new Set(items.map((it) => it.group))];
  if (groupBy !== 'dataset') groups.sort(naturalCompare);
  const several = groups.length > 1;
  for (const it of items) {
    if (it.cls === undefined) it.row = it.group;
    else if (groupBy === 'class' || !several || it.group === it.cls) it.row = it.cls;
    else it.row = `${it.group} / ${it.cls}`;
  }
  return { groups, groupBy };
}

/** The first folder of each image under the folder all images share (undefined without a path). */
function topFolders(items: ScoredItem[]): (string | undefined)[] {
  const dirIds = new Map<string, number>();
  const ids = items.map((it) => {
    if (it.file === undefined) return -1;
    const d = dirname(it.file);
    let id = dirIds.get(d);
    if (id === undefined) dirIds.set(d, (id = dirIds.size));
    return id;
  });
  const dirs = [...dirIds.keys()];
  if (dirs.length === 0) return items.map(() => undefined);
  const parts = dirs.map((d) => d.split(sep));
  let common = parts[0].length;
  for (const p of parts) {
    let k = 0;
    while (k < common && k < p.length && p[k] === parts[0][k]) k++;
    common = k;
  }
  const top = parts.map((p) => (p.length > common ? p[common] : '(top level)'));
  return ids.map((id) => (id < 0 ? undefined : top[id]));
}

/** OOD metrics from `jepa-score ood`: method -> OOD set -> values (missing ones stay undefined). */
export interface Metrics {
  methods: Record<string, Record<string, { auroc?: number; fpr95?: number; aupr?: number }>>;
  /** descriptive fields `ood` also writes (model, in, train, convention), when they are strings */
  info: Record<string, string>;
  /** the JEPA-based method `ood` picked by mean AUROC, when written */
  chosen?: string;
}

/** Reads and checks a metrics.json; problems raise an Error naming the file. */
export async function readMetrics(path: string): Promise<Metrics> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read the metrics file (${(e as Error).message})`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const methods = (obj as { methods?: unknown } | null)?.methods;
  if (typeof methods !== 'object' || methods === null || Array.isArray(methods)) {
    throw new Error(`${path}: expected {"methods": {"<name>": {"<ood set>": {"auroc", "fpr95", "aupr"}}}}`);
  }
  const out: Metrics = { methods: {}, info: {} };
  for (const key of ['model', 'in', 'train', 'convention']) {
    const v = (obj as Record<string, unknown>)[key];
    if (typeof v === 'string') out.info[key] = v;
  }
  const chosen = (obj as Record<string, unknown>).chosen;
  if (chosen !== undefined) {
    if (typeof chosen !== 'string' || !(chosen in methods)) throw new Error(`${path}: "chosen" must name one of the methods`);
    out.chosen = chosen;
  }
  for (const [name, sets] of Object.entries(methods)) {
    if (typeof sets !== 'object' || sets === null || Array.isArray(sets)) throw new Error(`${path}: method "${name}" must map OOD sets to metrics`);
    out.methods[name] = {};
    for (const [set, vals] of Object.entries(sets as Record<string, unknown>)) {
      if (typeof vals !== 'object' || vals === null || Array.isArray(vals)) throw new Error(`${path}: "${name}" / "${set}" must be an object of metrics`);
      const m: { auroc?: number; fpr95?: number; aupr?: number } = {};
      for (const key of ['auroc', 'fpr95', 'aupr'] as const) {
        const v = (vals as Record<string, unknown>)[key];
        if (v === undefined || v === null) continue;
        if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${path}: "${name}" / "${set}" / "${key}" must be a number`);
        m[key] = v;
      }
      out.methods[name][set] = m;
    }
  }
  return out;
}
