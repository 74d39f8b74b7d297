#!/usr/bin/env node
// Runs the CLI from the TypeScript sources in a checkout (through tsx), or from dist/ when installed.
import { existsSync } from 'node:fs';

const src = new URL('../src/cli/main.ts', import.meta.url);
let fromSource = existsSync(src);
if (fromSource) {
  try {
    const { register } = await import('tsx/esm/api');
    register();
  } catch {
    fromSource = false;
  }
}
await import(fromSource ? src.href : new URL('../dist/src/cli/main.js', import.meta.url).href);
