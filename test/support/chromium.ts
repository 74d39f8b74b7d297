// Finds a Chromium for the browser tests: CHROMIUM_PATH, then the PATH. Without one, a test skips with a
// one-line reason, except under CI=true, where a missing browser is an error.
import type { Page } from 'playwright-core';
import { executable, findExecutable } from './path.js';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** The path of a Chromium executable, or undefined. */
export function findChromium(): string | undefined {
  const env = process.env.CHROMIUM_PATH;
  if (env) {
    if (!executable(env)) throw new Error(`CHROMIUM_PATH=${env} is not an executable file`);
    return env;
  }
  return findExecutable(NAMES);
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

/** Collects a page's console errors and warnings, uncaught errors and failed requests as lines. */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  return problems;
}
