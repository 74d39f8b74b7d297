// The demo that `npm start` runs: the built-in mnist-jepa model on held-out MNIST digits against
// the shipped out-of-distribution sets, with every baseline.
import { loadOodModel, OodResult, runOod } from './ood.js';

export const DEMO_MODEL = 'mnist-jepa';
export const DEMO_IN = 'mnist';
export const DEMO_OOD = ['fashion-mnist', 'letters', 'mnist-inverted', 'noise', 'constant', 'mnist-blurred'];
/** seeds of the random OOD sets (noise, constant, mnist-blurred) */
export const DEMO_SEEDS = [1, 2, 3];
/** images per seed of the random OOD sets (so the demo stays near a minute on 2 cores) */
export const DEMO_SEEDED_LIMIT = 200;
/** training images scored for the fitted variants */
export const DEMO_VARIANT_TRAIN = 300;

export interface DemoOptions {
  outDir: string;
  /** images per evaluated set (default 500) */
  limit?: number;
  /** training images for the baselines (default all 12000) */
  trainLimit?: number;
  oodSets?: string[];
  seeds?: number[];
  threads?: number;
  log?: (line: string) => void;
}

export async function runDemo(opts: DemoOptions): Promise<OodResult> {
  const model = await loadOodModel(DEMO_MODEL, opts.threads);
  return runOod(model, {
    inSet: DEMO_IN,
    oodSets: opts.oodSets ?? DEMO_OOD,
    outDir: opts.outDir,
    trainSet: 'mnist-train',
    limit: opts.limit ?? 500,
    trainLimit: opts.trainLimit ?? 12000,
    seeds: opts.seeds ?? DEMO_SEEDS,
    seededLimit: Math.min(opts.limit ?? 500, DEMO_SEEDED_LIMIT),
    variantTrain: DEMO_VARIANT_TRAIN,
    threads: opts.threads,
    log: opts.log,
  });
}
