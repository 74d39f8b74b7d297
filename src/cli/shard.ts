// `--shard i/n`: a deterministic 1/n of the inputs, chosen by a hash of each input's path relative to the
// input folder it was found under, so listing the folder again (or adding files) does not move other files.
import { createHash } from 'node:crypto';
import { UserError } from './errors.js';

export interface Shard {
  index: number;
  count: number;
}

/** Parses `i/n` (0 <= i < n). */
export function parseShard(v: string): Shard {
  const m = /^(\d+)\/(\d+)$/.exec(v.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || !(count >= 1) || !(index < count)) throw new UserError(`--shard must be i/n with 0 <= i < n, got '${v}'`);
  return { index, count };
}

/** The shard (0..n-1) a key falls in: the first 6 bytes of its SHA-256, modulo n. */
export function shardOf(key: string, count: number): number {
  const h = createHash('sha256').update(key).digest();
  return h.readUIntBE(0, 6) % count;
}

export function inShard(key: string, shard: Shard): boolean {
  return shardOf(key, shard.count) === shard.index;
}

export function formatShard(s: Shard): string {
  return `${s.index}/${s.count}`;
}
