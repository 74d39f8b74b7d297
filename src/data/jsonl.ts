// Append-only JSON-lines files that survive a killed run: complete lines are kept, a torn last line is dropped.
import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync } from 'node:fs';
import { dirname } from 'node:path';

/** Reads the complete records of a JSON-lines file (a torn or corrupt line is skipped and counted). */
export function readJsonl<T = Record<string, unknown>>(path: string): { records: T[]; bad: number } {
  if (!existsSync(path)) return { records: [], bad: 0 };
  const text = readFileSync(path, 'utf8');
  const records: T[] = [];
  let bad = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as T);
    } catch {
      bad++;
    }
  }
  return { records, bad };
}

/** Opens `path` for appending; a last line without its newline (a run killed mid-write) is cut off first. */
export class JsonlWriter {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
    if (existsSync(path)) {
      const buf = readFileSync(path);
      const end = buf.lastIndexOf(0x0a) + 1;
      if (end < buf.length) truncateSync(path, end);
    }
  }

  write(record: unknown): void {
    appendFileSync(this.path, JSON.stringify(record) + '\n');
  }
}
