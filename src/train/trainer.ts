// A generic trainer: a graph with a scalar loss, its trainable initializers lifted to inputs, gradients
// from our reverse-mode autodiff, Adam in JS, seeded batches and checkpoints in safetensors.
import { existsSync, renameSync } from 'node:fs';
import { liftInitializers, vjp } from '../autodiff/index.js';
import { readSafetensors, writeSafetensors } from '../data/safetensors.js';
import { Rng } from '../data/random.js';
import { Graph, pruneGraph } from '../graph/graph.js';
import { Tensor } from '../graph/tensor.js';
import { Session, SessionOptions } from '../runtime/session.js';
import { Adam, AdamOptions } from './adam.js';

export interface TrainerOptions {
  /** name of the scalar graph output to minimise */
  loss: string;
  /** float32 initializers to train; they become graph inputs fed from JS each step */
  params: string[];
  adam: AdamOptions;
  /** other scalar outputs to report each step */
  metrics?: string[];
  /** concrete shapes for inputs with symbolic dims (the gradient graph is built for fixed shapes) */
  inputShapes?: Record<string, number[]>;
  session?: SessionOptions;
}

export interface StepResult {
  loss: number;
  metrics: Record<string, number>;
}

export class Trainer {
  private constructor(
    private readonly session: Session,
    private readonly cotangent: string,
    /** parameter name -> gradient output name */
    private readonly gradOf: Map<string, string>,
    readonly params: Map<string, Float32Array>,
    readonly shapes: Map<string, number[]>,
    readonly adam: Adam,
    readonly opts: TrainerOptions,
  ) {}

  static async create(graph: Graph, opts: TrainerOptions): Promise<Trainer> {
    const metrics = opts.metrics ?? [];
    const produced = new Set(graph.nodes.flatMap((n) => n.outputs));
    for (const name of [opts.loss, ...metrics])
      if (!produced.has(name) && !graph.inputs.some((v) => v.name === name)) throw new Error(`Trainer: graph '${graph.name}' computes no value '${name}'`);
    if (opts.params.length === 0) throw new Error('Trainer: no parameters to train');
    const params = new Map<string, Float32Array>();
    const shapes = new Map<string, number[]>();
    for (const name of opts.params) {
      const t = graph.initializers.get(name);
      if (!t) throw new Error(`Trainer: graph '${graph.name}' has no initializer '${name}' to train`);
      if (t.dtype !== 'float32') throw new Error(`Trainer: parameter '${name}' is ${t.dtype}, only float32 can be trained`);
      params.set(name, Float32Array.from(t.data as Float32Array));
      shapes.set(name, t.dims.slice());
    }
    const lifted = liftInitializers(graph, opts.params);
    const keep = [opts.loss, ...metrics];
    const g: Graph = { ...lifted, outputs: keep.map((name) => lifted.outputs.find((o) => o.name === name) ?? { name, dtype: 'float32' as const }) };
    const res = await vjp(g, { outputs: [opts.loss], wrt: opts.params, mode: 'standard', keepOutputs: true, inputShapes: opts.inputShapes });
    addMetrics(res.graph, g, metrics);
    const gradOf = new Map(opts.params.map((p, i) => [p, res.grads[i]]));
    const session = await Session.create(res.graph, opts.session);
    return new Trainer(session, res.cotangents[0], gradOf, params, shapes, new Adam(opts.adam), opts);
  }

  /** Steps taken so far. */
  get step(): number {
    return this.adam.t;
  }

  private paramFeeds(): Record<string, Tensor> {
    const f: Record<string, Tensor> = {};
    for (const [name, p] of this.params) f[name] = new Tensor('float32', this.shapes.get(name)!, p);
    return f;
  }

  /** Loss, metrics and gradients at the current parameters for one batch (no update). */
  async evaluate(feeds: Record<string, Tensor>): Promise<StepResult & { grads: Map<string, Float32Array> }> {
    const out = await this.session.run({ ...feeds, ...this.paramFeeds(), [this.cotangent]: Tensor.scalar(1) });
    const loss = out[this.opts.loss].toNumbers()[0];
    const metrics: Record<string, number> = {};
    for (const m of this.opts.metrics ?? []) metrics[m] = out[m].toNumbers()[0];
    const grads = new Map<string, Float32Array>();
    for (const [p, g] of this.gradOf) grads.set(p, out[g].data as Float32Array);
    return { loss, metrics, grads };
  }

  /** One Adam step on one batch; `lr` overrides the configured learning rate. */
  async trainStep(feeds: Record<string, Tensor>, lr?: number): Promise<StepResult> {
    const { loss, metrics, grads } = await this.evaluate(feeds);
    if (!Number.isFinite(loss)) throw new Error(`Trainer: loss is ${loss} at step ${this.step}`);
    this.adam.step(this.params, grads, lr);
    return { loss, metrics };
  }

  /** Copies of the current parameters. */
  weights(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, p] of this.params) out.set(name, new Tensor('float32', this.shapes.get(name)!.slice(), Float32Array.from(p)));
    return out;
  }

  /** Parameters and optimiser state. */
  state(): Map<string, Tensor> {
    return new Map([...this.weights(), ...this.adam.state()]);
  }

  /** Restores parameters and optimiser state; `where` names the source in error messages. */
  loadState(tensors: Map<string, Tensor>, where = 'trainer state'): void {
    for (const [name, p] of this.params) {
      const t = tensors.get(name);
      if (!t) throw new Error(`${where}: no tensor '${name}'`);
      const shape = this.shapes.get(name)!;
      if (t.dims.join(',') !== shape.join(',')) throw new Error(`${where}: '${name}' has shape [${t.dims}], expected [${shape}]`);
      p.set(t.toFloat32());
    }
    this.adam.loadState(tensors, where);
  }

  /** Writes a checkpoint (parameters, Adam moments, step) atomically. */
  save(path: string, metadata: Record<string, string> = {}): void {
    const tmp = `${path}.tmp`;
    writeSafetensors(tmp, this.state(), { ...metadata, step: String(this.step) });
    renameSync(tmp, path);
  }

  /** Loads a checkpoint written by `save`. */
  load(path: string): void {
    this.loadState(readSafetensors(path), path);
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

// The vjp graph keeps only what the loss needs; metrics off that path come back from the forward graph.
function addMetrics(out: Graph, fwd: Graph, metrics: string[]): void {
  const have = new Set(out.nodes.flatMap((n) => n.outputs));
  const needed = metrics.filter((m) => !have.has(m) && !out.inputs.some((v) => v.name === m));
  if (needed.length) {
    const missing = pruneGraph({ ...fwd, outputs: needed.map((name) => ({ name, dtype: 'float32' as const })) });
    for (const n of missing.nodes) if (!n.outputs.some((o) => have.has(o))) out.nodes.push(n);
    for (const [k, t] of missing.initializers) if (!out.initializers.has(k)) out.initializers.set(k, t);
  }
  for (const m of metrics) if (!out.outputs.some((o) => o.name === m)) out.outputs.push({ name: m, dtype: 'float32' });
}

export interface FitOptions {
  /** train until this many steps in total (continues from trainer.step after a resume) */
  steps: number;
  /** the feeds of a step; must depend only on the step number, so a resumed run repeats exactly */
  batch: (step: number) => Record<string, Tensor>;
  /** learning rate schedule (default: the trainer's fixed rate) */
  lr?: (step: number) => number;
  /** save every `every` steps and at the end; resume from `path` when it exists */
  checkpoint?: { path: string; every: number; metadata?: Record<string, string> };
  onStep?: (step: number, r: StepResult) => void;
}

/** Runs the training loop; returns the losses of the steps it ran. */
export async function fit(trainer: Trainer, opts: FitOptions): Promise<number[]> {
  const ck = opts.checkpoint;
  if (ck && existsSync(ck.path)) trainer.load(ck.path);
  const losses: number[] = [];
  while (trainer.step < opts.steps) {
    const step = trainer.step;
    const r = await trainer.trainStep(opts.batch(step), opts.lr?.(step));
    losses.push(r.loss);
    opts.onStep?.(step, r);
    if (ck && (trainer.step % ck.every === 0 || trainer.step === opts.steps)) trainer.save(ck.path, ck.metadata);
  }
  return losses;
}

/** A generator for (seed, step, stream), independent of any other step: resumed runs see the same numbers. */
export function stepRng(seed: number, step: number, stream = 0): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (step + 0x632be5ab), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (stream * 0x27d4eb2f + 0x165667b1), 0x85ebca6b) >>> 0;
  return new Rng((h ^ (h >>> 15)) >>> 0);
}

/**
 * Mini-batches over n examples: each epoch is a seeded permutation, cut into floor(n / size) batches
 * (the remainder is dropped; with n <= size every batch is a whole permutation). Batch `step` is a pure
 * function of (seed, step).
 */
export class BatchSampler {
  readonly perEpoch: number;
  readonly size: number;
  private cachedEpoch = -1;
  private perm: number[] = [];

  constructor(readonly n: number, size: number, readonly seed: number) {
    if (!(n >= 1) || !Number.isInteger(n)) throw new Error(`BatchSampler: need at least one example, got ${n}`);
    if (!(size >= 1) || !Number.isInteger(size)) throw new Error(`BatchSampler: batch size must be a positive integer, got ${size}`);
    this.size = Math.min(size, n);
    this.perEpoch = Math.floor(n / this.size);
  }

  indices(step: number): Int32Array {
    const epoch = Math.floor(step / this.perEpoch);
    if (epoch !== this.cachedEpoch) {
      this.perm = stepRng(this.seed, epoch, 1).permutation(this.n);
      this.cachedEpoch = epoch;
    }
    const start = (step % this.perEpoch) * this.size;
    return Int32Array.from(this.perm.slice(start, start + this.size));
  }
}
