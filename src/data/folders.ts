// Lists image files from files and folders, with class labels read from a class-per-folder layout.
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { extname, join, relative, resolve, sep } from 'node:path';

/** File extensions treated as images (compared case-insensitively). */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

export function isImagePath(path: string): boolean {
  return IMAGE_EXTENSIONS.includes(extname(path).toLowerCase());
}

/**
 * Lists the images in `inputs` (files or folders; folders are searched recursively, hidden entries skipped).
 * Order: inputs in the order given; inside a folder, sorted by relative path (code-point order). A file listed
 * twice is kept once. Class rule: when every image of an input folder sits directly in one of its immediate
 * sub-folders (none at the top level, none deeper), each image gets `class` = that sub-folder's name.
 * Otherwise (and for files named directly) `class` is absent.
 */
export function listImages(inputs: string[]): { path: string; class?: string }[] {
  const missing = inputs.filter((p) => !exists(p));
  if (missing.length) throw new Error(`${missing.join(', ')}: no such file or folder`);
  const out: { path: string; class?: string }[] = [];
  const seen = new Set<string>();
  const push = (path: string, cls?: string) => {
    const key = resolve(path);
    if (seen.has(key)) return;
    seen.add(key);
    out.push(cls === undefined ? { path } : { path, class: cls });
  };
  for (const input of inputs) {
    const st = statSync(input);
    if (st.isFile()) {
      if (!isImagePath(input)) {
        throw new Error(`${input}: not an image file name (expected one of ${IMAGE_EXTENSIONS.join(' ')})`);
      }
      push(input);
      continue;
    }
    if (!st.isDirectory()) throw new Error(`${input}: neither a file nor a folder`);
    const files: string[] = [];
    walk(input, files, new Set([realpathSync(input)]));
    const rel = files.map((f) => relative(input, f)).sort(byCodePoint);
    const depths = rel.map((r) => r.split(sep).length);
    const byClass = rel.length > 0 && depths.every((d) => d === 2);
    for (const r of rel) push(join(input, r), byClass ? r.split(sep)[0] : undefined);
  }
  return out;
}

function walk(dir: string, files: string[], visited: Set<string>): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    throw new Error(`${dir}: cannot read folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    let st;
    try {
      st = statSync(p);
    } catch {
      continue; // a dangling link
    }
    if (st.isDirectory()) {
      const real = realpathSync(p);
      if (visited.has(real)) continue; // a link back up the tree
      visited.add(real);
      walk(p, files, visited);
    } else if (st.isFile() && isImagePath(name)) {
      files.push(p);
    }
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
