// `jepa-score merge`: joins the outputs of `score --shard i/n` runs into the file one whole run would write.
// Every shard line carries `shard` ("i/n"), `total` (items in the whole list) and `list` (a hash of the whole
// list); merge checks that the files agree on them, that each index 0..total-1 occurs exactly once, and says
// which indices and shards are missing or duplicated.
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Command } from 'commander';
import { readJsonl } from '../data/jsonl.js';
import { action, UserError } from './errors.js';
import { relOrAbs } from './scoring.js';

interface MergeFlags {
  out: string;
  partial?: boolean;
}

export function register(program: Command): void {
  program
    .command('merge')
    .description('join the JSONL outputs of `score --shard i/n` runs; checks that no item is missing or duplicated')
    .argument('<files...>', 'shard outputs')
    .requiredOption('--out <file>', 'the merged JSON lines, in input order, without the shard fields')
    .option('--partial', 'write the merged file even when items are missing (duplicates are still an error)')
    .action(action(runMerge));
}

type Line = Record<string, unknown> & { index: number; shard?: string; total?: number; list?: string };

export interface MergeResult {
  records: Record<string, unknown>[];
  missing: number[];
  missingShards: string[];
  duplicates: { index: number; files: string[] }[];
  total: number;
}

/** Merges shard files (paths in lines are rebased from each file's folder to `outPath`'s). */
export function mergeShards(files: string[], outPath: string): MergeResult {
  let total: number | undefined;
  let list: string | undefined;
  let count: number | undefined;
  const seenShards = new Set<number>();
  const byIndex = new Map<number, { rec: Record<string, unknown>; file: string }>();
  const dup = new Map<number, Set<string>>();
  for (const file of files) {
    const { records, bad } = readJsonl<Line>(file);
    if (bad) process.stderr.write(`${file}: skipped ${bad} torn line(s)\n`);
    for (const [n, r] of records.entries()) {
      if (typeof r.shard !== 'string' || typeof r.total !== 'number' || typeof r.index !== 'number') {
        throw new UserError(`${file}: line ${n + 1} has no shard fields (shard, total); was it written by score --shard i/n?`);
      }
      const [i, c] = r.shard.split('/').map(Number);
      if (total === undefined) [total, list, count] = [r.total, r.list, c];
      if (r.total !== total || r.list !== list || c !== count) {
        throw new UserError(`${file}: line ${n + 1} is from another list (shard ${r.shard} of ${r.total} items, list ${r.list}; expected shard i/${count} of ${total} items, list ${list})`);
      }
      seenShards.add(i);
      const { shard: _s, total: _t, list: _l, ...rec } = r;
      for (const key of ['path'] as const) if (typeof rec[key] === 'string') rec[key] = rebase(rec[key] as string, file, outPath);
      if (Array.isArray(rec.vectors)) rec.vectors = (rec.vectors as string[]).map((p) => rebase(p, file, outPath));
      const prev = byIndex.get(r.index);
      if (prev) {
        const s = dup.get(r.index) ?? new Set([prev.file]);
        s.add(file);
        dup.set(r.index, s);
      } else byIndex.set(r.index, { rec, file });
    }
  }
  total ??= 0;
  const missing: number[] = [];
  for (let i = 0; i < total; i++) if (!byIndex.has(i)) missing.push(i);
  const missingShards: string[] = [];
  for (let i = 0; i < (count ?? 0); i++) if (!seenShards.has(i)) missingShards.push(`${i}/${count}`);
  const records = [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i)!.rec);
  return { records, missing, missingShards, duplicates: [...dup].map(([index, s]) => ({ index, files: [...s] })), total };
}

function rebase(p: string, file: string, outPath: string): string {
  return relOrAbs(resolve(dirname(resolve(file)), p), dirname(resolve(outPath)));
}

function few(xs: unknown[], n = 10): string {
  return xs.slice(0, n).join(', ') + (xs.length > n ? `, ... (${xs.length} in all)` : '');
}

async function runMerge(files: string[], flags: MergeFlags): Promise<void> {
  const outPath = resolve(flags.out);
  const m = mergeShards(files, outPath);
  const problems: string[] = [];
  if (m.duplicates.length) problems.push(`${m.duplicates.length} item(s) duplicated: ${few(m.duplicates.map((d) => `index ${d.index} in ${d.files.join(' and ')}`), 5)}`);
  if (m.missing.length) {
    const shards = m.missingShards.length ? `shard(s) ${m.missingShards.join(', ')} in none of the files; ` : '';
    problems.push(`${m.missing.length} of ${m.total} item(s) missing: ${shards}indices ${few(m.missing)}`);
  }
  if (m.duplicates.length || (m.missing.length && !flags.partial)) throw new UserError(`merge: ${problems.join('; ')}; nothing written`);
  writeFileSync(outPath, m.records.map((r) => JSON.stringify(r) + '\n').join(''));
  if (problems.length) process.stderr.write(`merge: ${problems.join('; ')}\n`);
  process.stderr.write(`merged ${m.records.length} of ${m.total} items from ${files.length} file(s) into ${outPath}\n`);
}
