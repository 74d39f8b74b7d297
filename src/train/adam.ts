// Adam (Kingma & Ba) with optional decoupled weight decay (AdamW), run in JS on float32 parameters.
import { Tensor } from '../graph/tensor.js';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** decoupled weight decay (AdamW); default 0 */
  weightDecay?: number;
}

export class Adam {
  /** number of steps taken */
  t = 0;
  readonly m = new Map<string, Float64Array>();
  readonly v = new Map<string, Float64Array>();
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(readonly opts: AdamOptions) {
    if (!(opts.lr > 0)) throw new Error(`Adam: learning rate must be positive, got ${opts.lr}`);
    this.beta1 = opts.beta1 ?? 0.9;
    this.beta2 = opts.beta2 ?? 0.999;
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const)
      if (!(b >= 0 && b < 1)) throw new Error(`Adam: ${k} must be in [0, 1), got ${b}`);
  }

  /** One update of every parameter in place; `lr` overrides the configured rate (for schedules). */
  step(params: Map<string, Float32Array>, grads: Map<string, ArrayLike<number>>, lr = this.opts.lr): void {
    this.t++;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const c1 = 1 - Math.pow(b1, this.t);
    const c2 = 1 - Math.pow(b2, this.t);
    for (const [name, p] of params) {
      const g = grads.get(name);
      if (!g) throw new Error(`Adam: no gradient for parameter '${name}'`);
      if (g.length !== p.length) throw new Error(`Adam: gradient of '${name}' has ${g.length} entries, the parameter ${p.length}`);
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) {
        m = new Float64Array(p.length);
        v = new Float64Array(p.length);
        this.m.set(name, m);
        this.v.set(name, v);
      }
      const decay = 1 - lr * this.weightDecay;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        if (!Number.isFinite(gi)) throw new Error(`Adam: gradient of '${name}' is not finite at entry ${i} (${gi})`);
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] = p[i] * decay - (lr * (m[i] / c1)) / (Math.sqrt(v[i] / c2) + this.eps);
      }
    }
  }

  /** The moments and step count as tensors (`adam.m.<name>`, `adam.v.<name>`, `adam.t`). */
  state(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [name, m] of this.m) {
      out.set(`adam.m.${name}`, new Tensor('float64', [m.length], m));
      out.set(`adam.v.${name}`, new Tensor('float64', [m.length], this.v.get(name)!));
    }
    out.set('adam.t', Tensor.f64([1], [this.t]));
    return out;
  }

  /** Restores what `state()` returned; `where` names the source in error messages. */
  loadState(tensors: Map<string, Tensor>, where = 'Adam state'): void {
    const t = tensors.get('adam.t');
    if (!t) throw new Error(`${where}: no 'adam.t' entry`);
    this.t = t.toNumbers()[0];
    this.m.clear();
    this.v.clear();
    for (const [key, tensor] of tensors) {
      if (!key.startsWith('adam.m.')) continue;
      const name = key.slice('adam.m.'.length);
      const v = tensors.get(`adam.v.${name}`);
      if (!v || v.size !== tensor.size) throw new Error(`${where}: 'adam.v.${name}' is missing or has the wrong size`);
      this.m.set(name, Float64Array.from(tensor.toNumbers()));
      this.v.set(name, Float64Array.from(v.toNumbers()));
    }
  }
}
