// `jepa-score synth`: density recovery on Gaussian mixtures over a grid of input dimensions and sample sizes.
import { Command } from 'commander';
import { checkSynthConfig, defaultSynthConfig, runSynth, SynthConfig } from '../experiments/synth.js';
import { action, UserError } from './errors.js';
import { intList, num, optNum, POSITIVE_INT, seedList } from './flags.js';
import { addMixtureOptions, Flags, mixtureFromFlags } from './mixture-flags.js';

/** --seeds LIST, or --seed S as a one-seed list. */
export function seedsFromFlags(f: Flags, fallback: number[]): number[] {
  if (f.seed !== undefined && f.seeds !== undefined) throw new UserError('give --seed or --seeds, not both');
  if (f.seeds !== undefined) return seedList(f.seeds, 'seeds');
  if (f.seed !== undefined) return [num(f.seed, 'seed', 0, { int: true, min: 0 })];
  return fallback;
}

export function synthConfigFromFlags(f: Flags): SynthConfig {
  const d = defaultSynthConfig();
  const cfg: SynthConfig = {
    ...d,
    ...mixtureFromFlags(f, d),
    dims: f.dims !== undefined ? intList(f.dims, 'dims') : d.dims,
    samples: f.samples !== undefined ? intList(f.samples, 'samples') : d.samples,
    seeds: seedsFromFlags(f, d.seeds),
    dataSeed: optNum(f.dataSeed, 'data-seed', { int: true, min: 0 }),
    trainSeed: optNum(f.trainSeed, 'train-seed', { int: true, min: 0 }),
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
    .option('--seed <n>', `one seed for both the mixture and the training (default ${d.seeds.join(',')})`)
    .option('--seeds <list>', "replicates, e.g. '1-10' or '1,3,5': each seed draws its own mixture and training; results give mean, sd and min per cell")
    .option('--data-seed <n>', 'fix the mixture (and training/held-out points) for every replicate: only the training varies')
    .option('--train-seed <n>', 'fix the weights, batches, view noise and directions for every replicate: only the mixture varies')
    .option('--held-out <n>', 'held-out points for the evaluation', String(d.heldOut))
    .option('--embed-dim <k>', 'embedding dimension K (0: K = D)', String(d.embedDim))
    .option('--views <n>', 'views per point', String(d.views))
    .option('--steps <n>', 'most Adam steps per cell (training stops earlier once the loss has converged)', String(d.steps))
    .option('--t-max <t>', 'SIGReg integration range [0, t_max]', String(d.tMax))
    .option('--knots <n>', 'SIGReg trapezoid knots', String(d.knots));
  addMixtureOptions(cmd, d)
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .action(
      action(async (flags: Flags) => {
        const cfg = synthConfigFromFlags(flags);
        const { cells, summary, summaryFull, files } = await runSynth(cfg, flags.out!, (m) => console.error(m));
        if (cfg.seeds.length === 1) {
          const table = cells.map((c) => `D=${c.dim}\tn=${c.samples}\tpearson=${c.pearson.toFixed(3)}\tspearman=${c.spearman.toFixed(3)}\tpearson_full=${c.pearson_full.toFixed(3)}\tspearman_full=${c.spearman_full.toFixed(3)}\t${c.steps} steps\t${c.train_seconds.toFixed(1)} s`);
          console.error(table.join('\n'));
        } else {
          const table = summary.map((r, i) => {
            const f = summaryFull[i];
            return `D=${r.dim}\tn=${r.samples}\tpearson over ${r.seeds} seeds: mean ${r.mean.toFixed(3)} sd ${r.sd.toFixed(3)} min ${r.min.toFixed(3)} max ${r.max.toFixed(3)}\t>= 0.9 on ${r.at_least_0_9}/${r.seeds}\t| full variant: mean ${f.mean.toFixed(3)} min ${f.min.toFixed(3)}, >= 0.9 on ${f.at_least_0_9}/${f.seeds}`;
          });
          console.error(table.join('\n'));
        }
        console.error(`wrote ${files.join(', ')}`);
      }),
    );
}
