// Finds a Chromium for the browser tests: CHROMIUM_PATH, then the PATH. Without one, a test skips with a
// one-line reason, except under CI=true, where a missing browser is an error.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of a Chromium executable, or undefined. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env) {
    if (!executable(env)) throw new Error(`CHROMIUM_PATH=${env} is not an executable file`);
    return env;
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const n of NAMES) if (executable(join(dir, n))) return join(dir, n);
  }
  return undefined;
}

export const NO_CHROMIUM = 'no Chromium found (set CHROMIUM_PATH, or install it: apt-get install chromium)';

/** For node:test's `skip` option: false when Chromium exists; the reason when not; throws under CI=true. */
export function chromiumSkip(): false | string {
  if (findChromium()) return false;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${NO_CHROMIUM}`);
  return NO_CHROMIUM;
}

/** Launch flags for headless Chromium on a machine with no network. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
