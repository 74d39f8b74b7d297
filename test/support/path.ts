// Finding programs for tests: on the PATH, then in a few extra folders.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Whether p is an executable file. */
export function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first of `names` that is executable in a folder of the PATH, then of `extraDirs`, or undefined. */
export function findExecutable(names: string[], extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    for (const n of names) if (executable(join(dir, n))) return join(dir, n);
  }
  return undefined;
}
