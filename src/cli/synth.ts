// `jepa-score synth`: density recovery on Gaussian mixtures over a grid of input dimensions and sample sizes.
import { Command } from 'commander';
import { checkSynthConfig, defaultSynthConfig, runSynth, SynthConfig } from '../experiments/synth.js';
import { action, UserError } from './errors.js';
import { intList, num, optNum, POSITIVE_INT } from './flags.js';
import { addMixtureOptions, Flags, mixtureFromFlags } from './mixture-flags.js';

export function synthConfigFromFlags(f: Flags): SynthConfig {
  const d = defaultSynthConfig();
  const cfg: SynthConfig = {
    ...d,
    ...mixtureFromFlags(f, d),
    dims: f.dims !== undefined ? intList(f.dims, 'dims') : d.dims,
    samples: f.samples !== undefined ? intList(f.samples, 'samples') : d.samples,
    seed: num(f.seed, 'seed', d.seed, { int: true, min: 0 }),
    heldOut: num(f.heldOut, 'held-out', d.heldOut, { int: true, min: 10 }),
    embedDim: num(f.embedDim, 'embed-dim', d.embedDim, { int: true, min: 0 }),
    views: num(f.views, 'views', d.views, { int: true, min: 2 }),
    steps: num(f.steps, 'steps', d.steps, { int: true, min: 1 }),
    tMax: num(f.tMax, 't-max', d.tMax, { min: 0 }),
    knots: num(f.knots, 'knots', d.knots, { int: true, min: 2 }),
    threads: optNum(f.threads, 'threads', POSITIVE_INT),
  };
  try {
    checkSynthConfig(cfg, 'synth');
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  return cfg;
}

export function register(program: Command): void {
  const d = defaultSynthConfig();
  const cmd = program
    .command('synth')
    .description('Train MLP encoders with a JEPA objective on Gaussian mixtures and compare JEPA-SCORE with the exact log p(x) (the paper\'s figure 2)')
    .requiredOption('--out <dir>', 'output folder: results.json, results.csv, heatmap.svg/png, heatmap_full.svg/png')
    .option('--dims <list>', 'input dimensions', d.dims.join(','))
    .option('--samples <list>', 'training set sizes', d.samples.join(','))
    .option('--seed <n>', 'seed for data, weights and batches', String(d.seed))
    .option('--held-out <n>', 'held-out points for the evaluation', String(d.heldOut))
    .option('--embed-dim <k>', 'embedding dimension K (0: K = D)', String(d.embedDim))
    .option('--views <n>', 'views per point', String(d.views))
    .option('--steps <n>', 'Adam steps per cell', String(d.steps))
    .option('--t-max <t>', 'SIGReg integration range [0, t_max]', String(d.tMax))
    .option('--knots <n>', 'SIGReg trapezoid knots', String(d.knots));
  addMixtureOptions(cmd, d)
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .action(
      action(async (flags: Flags) => {
        const cfg = synthConfigFromFlags(flags);
        const { cells, files } = await runSynth(cfg, flags.out!, (m) => console.error(m));
        const table = cells.map((c) => `D=${c.dim}\tn=${c.samples}\tpearson=${c.pearson.toFixed(3)}\tspearman=${c.spearman.toFixed(3)}\tpearson_full=${c.pearson_full.toFixed(3)}\tspearman_full=${c.spearman_full.toFixed(3)}\t${c.train_seconds.toFixed(1)} s`);
        console.error(table.join('\n'));
        console.error(`wrote ${files.join(', ')}`);
      }),
    );
}
