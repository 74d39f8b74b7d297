// `jepa-score langevin`: train a 2-D encoder, then sample exp(JEPA-SCORE) with Langevin dynamics.
import { Command } from 'commander';
import { checkLangevinConfig, defaultLangevinConfig, LangevinConfig, runLangevin, runLangevinSeeds } from '../experiments/langevin.js';
import { ACTIVATIONS } from '../models/mlp.js';
import { action, UserError } from './errors.js';
import { num, optNum, POSITIVE_INT, seedList } from './flags.js';
import { addMixtureOptions, Flags, mixtureFromFlags } from './mixture-flags.js';

export function langevinConfigFromFlags(f: Flags): LangevinConfig {
  const d = defaultLangevinConfig();
  const cfg: LangevinConfig = {
    ...d,
    ...mixtureFromFlags(f, d),
    seed: num(f.seed, 'seed', d.seed, { int: true, min: 0 }),
    samples: num(f.samples, 'samples', d.samples, { int: true, min: 2 }),
    steps: num(f.trainSteps, 'train-steps', d.steps, { int: true, min: 1 }),
    chains: num(f.chains, 'chains', d.chains, { int: true, min: 2 }),
    langevinSteps: num(f.steps, 'steps', d.langevinSteps, { int: true, min: 0 }),
    stepSize: num(f.stepSize, 'step-size', d.stepSize, { min: 0 }),
    initScale: num(f.initScale, 'init-scale', d.initScale, { min: 0 }),
    grid: num(f.grid, 'grid', d.grid, { int: true, min: 4 }),
    threads: optNum(f.threads, 'threads', POSITIVE_INT),
  };
  try {
    checkLangevinConfig(cfg, 'langevin');
  } catch (e) {
    throw new UserError((e as Error).message);
  }
  return cfg;
}

export function register(program: Command): void {
  const d = defaultLangevinConfig();
  const cmd = program
    .command('langevin')
    .description('Train an MLP encoder on a 2-D Gaussian mixture, then run Langevin dynamics on exp(JEPA-SCORE) and compare the samples with the mixture')
    .requiredOption('--out <dir>', 'output folder: results.json, langevin.svg/png')
    .option('--seed <n>', `seed for data, weights, batches and chains (default ${d.seed})`)
    .option('--seeds <list>', "run each seed (e.g. '1-5') into <out>/seed-<s>/ and write <out>/summary.json: mean, min and max over seeds")
    .option('--samples <n>', 'training points', String(d.samples))
    .option('--train-steps <n>', 'most Adam steps (training stops earlier once the loss has converged)', String(d.steps));
  addMixtureOptions(cmd, d, `${ACTIVATIONS.join(', ')} (relu has no second derivative: Langevin needs a smooth one)`)
    .option('--chains <n>', 'Langevin chains', String(d.chains))
    .option('--steps <n>', 'Langevin steps', String(d.langevinSteps))
    .option('--step-size <eta>', 'Langevin step size, in units of the data variance', String(d.stepSize))
    .option('--init-scale <s>', 'chains start from N(data mean, (s * data std)^2 I)', String(d.initScale))
    .option('--grid <n>', 'density picture resolution (n x n)', String(d.grid))
    .option('--threads <n>', 'onnxruntime threads (default: all cores)')
    .action(
      action(async (flags: Flags) => {
        const cfg = langevinConfigFromFlags(flags);
        if (cfg.activation === 'relu') throw new UserError('--activation relu has a zero second derivative, so JEPA-SCORE has no useful gradient; choose tanh, gelu, silu or softplus');
        if (flags.seeds !== undefined) {
          if (flags.seed !== undefined) throw new UserError('give --seed or --seeds, not both');
          const seeds = seedList(flags.seeds, 'seeds');
          const { summary, files } = await runLangevinSeeds(cfg, seeds, flags.out!, (m) => console.error(m));
          const m = summary.metrics;
          const f = (k: string) => `${m[k].mean.toFixed(3)} [${m[k].min.toFixed(3)}, ${m[k].max.toFixed(3)}]`;
          console.error(`over ${seeds.length} seeds, energy distance mean [min, max]: exp(JEPA-SCORE) ${f('energy_distance')}, starting noise ${f('baseline_energy_distance')}, full variant ${f('full_energy_distance')}, true score ${f('oracle_energy_distance')}`);
          console.error(`exp(JEPA-SCORE) beats the starting noise on ${summary.beats_start}/${seeds.length} seeds; the full variant is within 0.05 of the true-score sampler on ${summary.full_near_true_score}/${seeds.length}`);
          console.error(`wrote ${files.join(', ')}`);
          return;
        }
        const { result: r, files } = await runLangevin(cfg, flags.out!, (m) => console.error(m));
        console.error(
          `energy distance to a fresh true sample: exp(JEPA-SCORE) ${r.energy_distance.toFixed(4)}, starting noise ${r.baseline_energy_distance.toFixed(4)}, ` +
            `full variant ${r.full_energy_distance.toFixed(4)}, true score ${r.oracle_energy_distance.toFixed(4)}, best Gaussian ${r.gaussian_fit_energy_distance.toFixed(4)}`,
        );
        console.error(`wrote ${files.join(', ')}`);
      }),
    );
}
