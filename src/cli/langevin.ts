// `jepa-score langevin`: train a 2-D encoder, then sample exp(JEPA-SCORE) with Langevin dynamics.
import { Command } from 'commander';
import { checkLangevinConfig, defaultLangevinConfig, LangevinConfig, runLangevin } from '../experiments/langevin.js';
import { ACTIVATIONS, Activation } from '../models/mlp.js';
import { action, UserError } from './errors.js';
import { num } from './flags.js';

type Flags = Record<string, string | undefined>;

export function langevinConfigFromFlags(f: Flags): LangevinConfig {
  const d = defaultLangevinConfig();
  const activation = (f.activation ?? d.activation) as Activation;
  if (!ACTIVATIONS.includes(activation)) throw new UserError(`--activation must be one of ${ACTIVATIONS.join(', ')}, got '${f.activation}'`);
  const objective = f.objective ?? d.objective;
  if (objective !== 'lejepa' && objective !== 'moments') throw new UserError(`--objective must be lejepa or moments, got '${objective}'`);
  let scaleRange = d.scaleRange;
  if (f.scales !== undefined) {
    const p = f.scales.split(',').map(Number);
    if (p.length !== 2 || !(p[0] > 0) || !(p[1] >= p[0])) throw new UserError(`--scales must be 'lo,hi' with 0 < lo <= hi, got '${f.scales}'`);
    scaleRange = [p[0], p[1]];
  }
  const cfg: LangevinConfig = {
    ...d,
    seed: num(f.seed, 'seed', d.seed, { int: true, min: 0 }),
    samples: num(f.samples, 'samples', d.samples, { int: true, min: 2 }),
    components: num(f.components, 'components', d.components, { int: true, min: 1 }),
    meanScale: num(f.meanScale, 'mean-scale', d.meanScale, { min: 0 }),
    scaleRange,
    condition: num(f.condition, 'condition', d.condition, { min: 1 }),
    weightAlpha: num(f.weightAlpha, 'weight-alpha', d.weightAlpha, { min: 0 }),
    width: num(f.width, 'width', d.width, { int: true, min: 1 }),
    depth: num(f.depth, 'depth', d.depth, { int: true, min: 0 }),
    activation,
    objective,
    lambda: num(f.lambda, 'lambda', d.lambda, { min: 0 }),
    noise: num(f.noise, 'noise', d.noise, { min: 0 }),
    steps: num(f.trainSteps, 'train-steps', d.steps, { int: true, min: 1 }),
    batch: num(f.batch, 'batch', d.batch, { int: true, min: 2 }),
    lr: num(f.lr, 'lr', d.lr, { min: 0 }),
    directions: num(f.directions, 'directions', d.directions, { int: true, min: 1 }),
    chains: num(f.chains, 'chains', d.chains, { int: true, min: 2 }),
    langevinSteps: num(f.steps, 'steps', d.langevinSteps, { int: true, min: 0 }),
    stepSize: num(f.stepSize, 'step-size', d.stepSize, { min: 0 }),
    initScale: num(f.initScale, 'init-scale', d.initScale, { min: 0 }),
    grid: num(f.grid, 'grid', d.grid, { int: true, min: 4 }),
    threads: f.threads !== undefined ? num(f.threads, 'threads', 0, { int: true, min: 1 }) : undefined,
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
  program
    .command('langevin')
    .description('Train an MLP encoder on a 2-D Gaussian mixture, then run Langevin dynamics on exp(JEPA-SCORE) and compare the samples with the mixture')
    .requiredOption('--out <dir>', 'output folder: results.json, langevin.svg/png')
    .option('--seed <n>', 'seed for data, weights, batches and chains', String(d.seed))
    .option('--samples <n>', 'training points', String(d.samples))
    .option('--components <n>', 'mixture components', String(d.components))
    .option('--mean-scale <s>', 'component means ~ N(0, s^2 I)', String(d.meanScale))
    .option('--scales <lo,hi>', 'component standard deviations, log-uniform in [lo, hi]', d.scaleRange.join(','))
    .option('--condition <c>', 'largest eigenvalue ratio within a covariance', String(d.condition))
    .option('--weight-alpha <a>', 'mixture weights ~ Dirichlet(a)', String(d.weightAlpha))
    .option('--width <n>', 'hidden units per layer', String(d.width))
    .option('--depth <n>', 'hidden layers', String(d.depth))
    .option('--activation <name>', `${ACTIVATIONS.join(', ')} (relu has no second derivative: Langevin needs a smooth one)`, d.activation)
    .option('--objective <name>', 'lejepa or moments', d.objective)
    .option('--lambda <x>', 'regulariser weight', String(d.lambda))
    .option('--noise <s>', 'view noise standard deviation, relative to the data standard deviation', String(d.noise))
    .option('--train-steps <n>', 'Adam steps', String(d.steps))
    .option('--batch <n>', 'points per training step', String(d.batch))
    .option('--lr <x>', 'peak learning rate', String(d.lr))
    .option('--directions <m>', 'SIGReg random directions per step', String(d.directions))
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
        const { result: r, files } = await runLangevin(cfg, flags.out!, (m) => console.error(m));
        console.error(
          `energy distance to a fresh true sample: exp(JEPA-SCORE) ${r.energy_distance.toFixed(4)}, starting noise ${r.baseline_energy_distance.toFixed(4)}, ` +
            `full variant ${r.full_energy_distance.toFixed(4)}, true score ${r.oracle_energy_distance.toFixed(4)}, best Gaussian ${r.gaussian_fit_energy_distance.toFixed(4)}`,
        );
        console.error(`wrote ${files.join(', ')}`);
      }),
    );
}
