// Flags that synth and langevin share: the Gaussian mixture, the MLP encoder and its training.
import { Command } from 'commander';
import { DataConfig, EncoderConfig, TrainConfig } from '../experiments/synth.js';
import { ACTIVATIONS, Activation } from '../models/mlp.js';
import { UserError } from './errors.js';
import { num } from './flags.js';

export type Flags = Record<string, string | undefined>;
type Shared = Pick<DataConfig, 'components' | 'meanScale' | 'scaleRange' | 'condition' | 'weightAlpha'> &
  Pick<EncoderConfig, 'width' | 'depth' | 'activation'> &
  Pick<TrainConfig, 'objective' | 'lambda' | 'noise' | 'batch' | 'lr' | 'directions' | 'minSteps' | 'tol' | 'patience' | 'window'>;

/** Adds the mixture, encoder and training flags, with `d` as defaults. */
export function addMixtureOptions(cmd: Command, d: Shared, activationHelp = ACTIVATIONS.join(', ')): Command {
  return cmd
    .option('--components <n>', 'mixture components', String(d.components))
    .option('--mean-scale <s>', 'component means ~ N(0, s^2 I)', String(d.meanScale))
    .option('--scales <lo,hi>', 'component standard deviations, log-uniform in [lo, hi]', d.scaleRange.join(','))
    .option('--condition <c>', 'largest eigenvalue ratio within a covariance', String(d.condition))
    .option('--weight-alpha <a>', 'mixture weights ~ Dirichlet(a)', String(d.weightAlpha))
    .option('--width <n>', 'hidden units per layer', String(d.width))
    .option('--depth <n>', 'hidden layers', String(d.depth))
    .option('--activation <name>', activationHelp, d.activation)
    .option('--objective <name>', 'lejepa (invariance + lambda SIGReg) or moments (invariance + lambda moment matching)', d.objective)
    .option('--lambda <x>', 'regulariser weight', String(d.lambda))
    .option('--noise <s>', 'view noise standard deviation, relative to the data standard deviation', String(d.noise))
    .option('--batch <n>', 'points per training step', String(d.batch))
    .option('--lr <x>', 'peak learning rate (warm-up, then cosine decay)', String(d.lr))
    .option('--directions <m>', 'SIGReg random directions per step', String(d.directions))
    .option('--min-steps <n>', 'fewest Adam steps before training may stop on convergence', String(d.minSteps))
    .option('--window <n>', 'convergence test: steps per window of averaged loss', String(d.window))
    .option('--tol <x>', 'convergence test: relative gain of the best window mean that counts as progress', String(d.tol))
    .option('--patience <n>', 'convergence test: windows without progress before the learning rate decays and training stops', String(d.patience));
}

/** Parses the flags that addMixtureOptions adds. */
export function mixtureFromFlags(f: Flags, d: Shared): Shared {
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
  return {
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
    batch: num(f.batch, 'batch', d.batch, { int: true, min: 2 }),
    lr: num(f.lr, 'lr', d.lr, { min: 0 }),
    directions: num(f.directions, 'directions', d.directions, { int: true, min: 1 }),
    minSteps: num(f.minSteps, 'min-steps', d.minSteps, { int: true, min: 0 }),
    window: num(f.window, 'window', d.window, { int: true, min: 10 }),
    tol: num(f.tol, 'tol', d.tol, { min: 0 }),
    patience: num(f.patience, 'patience', d.patience, { int: true, min: 1 }),
  };
}
