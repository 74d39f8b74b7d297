// `jepa-score synth`: density recovery on Gaussian mixtures over a grid of input dimensions and sample sizes.
import { Command } from 'commander';
import { checkSynthConfig, defaultSynthConfig, runSynth, SynthConfig } from '../experiments/synth.js';
import { ACTIVATIONS, Activation } from '../models/mlp.js';
import { action, UserError } from './errors.js';
import { intList, num } from './flags.js';

type Flags = Record<string, string | undefined>;

export function synthConfigFromFlags(f: Flags): SynthConfig {
  const d = defaultSynthConfig();
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
  const cfg: SynthConfig = {
    dims: f.dims !== undefined ? intList(f.dims, 'dims') : d.dims,
    samples: f.samples !== undefined ? intList(f.samples, 'samples') : d.samples,
    seed: num(f.seed, 'seed', d.seed, { int: true, min: 0 }),
    components: num(f.components, 'components', d.components, { int: true, min: 1 }),
    meanScale: num(f.meanScale, 'mean-scale', d.meanScale, { min: 0 }),
    scaleRange,
    condition: num(f.condition, 'condition', d.condition, { min: 1 }),
    weightAlpha: num(f.weightAlpha, 'weight-alpha', d.weightAlpha, { min: 0 }),
    heldOut: num(f.heldOut, 'held-out', d.heldOut, { int: true, min: 10 }),
    embedDim: num(f.embedDim, 'embed-dim', d.embedDim, { int: true, min: 0 }),
    width: num(f.width, 'width', d.width, { int: true, min: 1 }),
    depth: num(f.depth, 'depth', d.depth, { int: true, min: 0 }),
    activation,
    objective,
    lambda: num(f.lambda, 'lambda', d.lambda, { min: 0 }),
    noise: num(f.noise, 'noise', d.noise, { min: 0 }),
    views: num(f.views, 'views', d.views, { int: true, min: 2 }),
    steps: num(f.steps, 'steps', d.steps, { int: true, min: 1 }),
    batch: num(f.batch, 'batch', d.batch, { int: true, min: 2 }),
    lr: num(f.lr, 'lr', d.lr, { min: 0 }),
    directions: num(f.directions, 'directions', d.directions, { int: true, min: 1 }),
    tMax: num(f.tMax, 't-max', d.tMax, { min: 0 }),
    knots: num(f.knots, 'knots', d.knots, { int: true, min: 2 }),
    threads: f.threads !== undefined ? num(f.threads, 'threads', 0, { int: true, min: 1 }) : undefined,
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
  program
    .command('synth')
    .description('Train MLP encoders with a JEPA objective on Gaussian mixtures and compare JEPA-SCORE with the exact log p(x) (the paper\'s figure 2)')
    .requiredOption('--out <dir>', 'output folder: results.json, results.csv, heatmap.svg/png, heatmap_full.svg/png')
    .option('--dims <list>', 'input dimensions', d.dims.join(','))
    .option('--samples <list>', 'training set sizes', d.samples.join(','))
    .option('--seed <n>', 'seed for data, weights and batches', String(d.seed))
    .option('--components <n>', 'mixture components', String(d.components))
    .option('--mean-scale <s>', 'component means ~ N(0, s^2 I)', String(d.meanScale))
    .option('--scales <lo,hi>', 'component standard deviations, log-uniform in [lo, hi]', d.scaleRange.join(','))
    .option('--condition <c>', 'largest eigenvalue ratio within a covariance', String(d.condition))
    .option('--weight-alpha <a>', 'mixture weights ~ Dirichlet(a)', String(d.weightAlpha))
    .option('--held-out <n>', 'held-out points for the evaluation', String(d.heldOut))
    .option('--embed-dim <k>', 'embedding dimension K (0: K = D)', String(d.embedDim))
    .option('--width <n>', 'hidden units per layer', String(d.width))
    .option('--depth <n>', 'hidden layers', String(d.depth))
    .option('--activation <name>', ACTIVATIONS.join(', '), d.activation)
    .option('--objective <name>', 'lejepa (invariance + lambda SIGReg) or moments (invariance + lambda moment matching)', d.objective)
    .option('--lambda <x>', 'regulariser weight', String(d.lambda))
    .option('--noise <s>', 'view noise standard deviation, relative to the data standard deviation', String(d.noise))
    .option('--views <n>', 'views per point', String(d.views))
    .option('--steps <n>', 'Adam steps per cell', String(d.steps))
    .option('--batch <n>', 'points per step', String(d.batch))
    .option('--lr <x>', 'peak learning rate (warm-up, then cosine decay)', String(d.lr))
    .option('--directions <m>', 'SIGReg random directions per step', String(d.directions))
    .option('--t-max <t>', 'SIGReg integration range [0, t_max]', String(d.tMax))
    .option('--knots <n>', 'SIGReg trapezoid knots', String(d.knots))
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
