// The Node backend of the runtime: onnxruntime-node, all cores, and large models through an external data file.
import { closeSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Graph } from '../graph/graph.js';
import { serializeModel } from '../graph/onnx.js';
import type { Device, OrtBackend } from './session.js';

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

/** Where onnxruntime-node looks for its CUDA provider library (installed only on request, see docs/scale.md). */
export function cudaProviderPath(): string {
  const pkg = dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
  return join(pkg, 'bin', 'napi-v6', platform(), arch(), 'libonnxruntime_providers_cuda.so');
}

/** Throws, with one line saying how to enable it, when the device's provider is not installed. */
function checkDevice(device: Device): void {
  if (device !== 'cuda') return;
  if (!existsSync(cudaProviderPath())) {
    throw new Error(
      `--device cuda: onnxruntime-node's CUDA provider is not installed (${cudaProviderPath()} is missing); ` +
        'install it with `node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12` (downloads from NuGet; needs CUDA 12 and cuDNN 9), see docs/scale.md',
    );
  }
}

export function nodeBackend(): OrtBackend {
  return { ort, executionProviders: ['cpu'], defaultThreads: () => cpus().length, writeExternal: writeWithExternalData, checkDevice };
}
