// The Node backend of the runtime: onnxruntime-node, all cores, and large models through an external data file.
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../graph/graph.js';
import { serializeModel } from '../graph/onnx.js';
import type { OrtBackend } from './session.js';

/** Writes the model to a temporary folder with its large weights in an external data file. */
function writeWithExternalData(g: Graph): { path: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'jepa-score-model-'));
  const fd = openSync(join(dir, 'weights.bin'), 'w');
  try {
    const bytes = serializeModel(g, {
      location: 'weights.bin',
      minBytes: 1024,
      size: 0,
      write: (b, offset) => void writeSync(fd, b, 0, b.length, offset),
    });
    writeFileSync(join(dir, 'model.onnx'), bytes);
  } finally {
    closeSync(fd);
  }
  return { path: join(dir, 'model.onnx'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function nodeBackend(): OrtBackend {
  return { ort, executionProviders: ['cpu'], defaultThreads: () => cpus().length, writeExternal: writeWithExternalData };
}
