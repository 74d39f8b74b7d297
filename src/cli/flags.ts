// Parsing of numeric command-line flags; a bad value is a UserError naming the flag.
import { UserError } from './errors.js';

export interface NumOptions {
  int?: boolean;
  /** smallest allowed value */
  min?: number;
  /** the value must be > 0 */
  positive?: boolean;
}

export const POSITIVE_INT: NumOptions = { int: true, min: 1 };
export const NON_NEGATIVE_INT: NumOptions = { int: true, min: 0 };

/** The number in `v`, the value of flag `--name`. */
export function parseNum(v: string, name: string, opts: NumOptions = {}): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || n < (opts.min ?? -Infinity) || (opts.positive && !(n > 0))) {
    const kind = opts.int ? 'an integer' : 'a number';
    const bound = opts.positive ? ' > 0' : opts.min !== undefined ? ` >= ${opts.min}` : '';
    throw new UserError(`--${name} must be ${kind}${bound}, got '${v}'`);
  }
  return n;
}

/** parseNum, or `fallback` when the flag is absent. */
export function num(v: string | undefined, name: string, fallback: number, opts: NumOptions = {}): number {
  return v === undefined ? fallback : parseNum(v, name, opts);
}

/** parseNum, or undefined when the flag is absent. */
export function optNum(v: string | undefined, name: string, opts: NumOptions = {}): number | undefined {
  return v === undefined ? undefined : parseNum(v, name, opts);
}

/** A comma-separated list of positive integers. */
export function intList(v: string, name: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const out = parts.map(Number);
  if (!parts.length || out.some((n, i) => !parts[i] || !Number.isInteger(n) || n < 1)) throw new UserError(`--${name} must be a comma-separated list of positive integers, got '${v}'`);
  return out;
}

/** A list of non-negative integers with ranges: '1-10', '1,2,5-7'. */
export function seedList(v: string, name: string): number[] {
  const out: number[] = [];
  const bad = () => new UserError(`--${name} must be a list of non-negative integers or ranges like '1-10' or '1,3,5-7', got '${v}'`);
  for (const part of v.split(',').map((s) => s.trim())) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw bad();
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 100000) throw bad();
    for (let s = a; s <= b; s++) out.push(s);
  }
  if (new Set(out).size !== out.length) throw new UserError(`--${name} lists a seed twice: '${v}'`);
  return out;
}
