// Gradient rules for elementwise ops (with numpy broadcasting).
import { Ctx } from '../context.js';
import type { Rule } from './index.js';

/** dX = dY * d, where d is a forward-side local derivative (no k axis). */
function times(c: Ctx, d: string): string {
  return c.e.mul(c.dyReq(), d);
}

/** Cotangent of input i of a broadcasting op, from a cotangent shaped like the output. */
function toInput(c: Ctx, cot: string, i: number): string {
  return c.unbroadcast(cot, c.shape(c.y), c.shape(c.in(i)));
}

const add: Rule = (c) => [c.needs(0) ? toInput(c, c.dyReq(), 0) : undefined, c.needs(1) ? toInput(c, c.dyReq(), 1) : undefined];

const sub: Rule = (c) => [c.needs(0) ? toInput(c, c.dyReq(), 0) : undefined, c.needs(1) ? c.e.neg(toInput(c, c.dyReq(), 1)) : undefined];

const mul: Rule = (c) => {
  const dy = c.dyReq();
  return [c.needs(0) ? toInput(c, c.e.mul(dy, c.in(1)), 0) : undefined, c.needs(1) ? toInput(c, c.e.mul(dy, c.in(0)), 1) : undefined];
};

const div: Rule = (c) => {
  const t = c.e.div(c.dyReq(), c.in(1));
  return [c.needs(0) ? toInput(c, t, 0) : undefined, c.needs(1) ? toInput(c, c.e.neg(c.e.mul(t, c.y)), 1) : undefined];
};

/** p * x^(p-1) for Pow(x, p) on the forward side; undefined when it is 1. */
export function powDerivative(c: Ctx): string | undefined {
  const [x, p] = [c.in(0), c.in(1)];
  const dt = c.dtype(x);
  const pv = c.staticScalar(p);
  if (pv === 1) return undefined;
  if (pv === 2) return c.e.mul(x, c.scalar(2, dt));
  if (pv !== undefined) return c.e.mul(c.e.op('Pow', [x, c.scalar(pv - 1, c.dtype(p))]), c.scalar(pv, dt));
  return c.e.mul(c.e.op('Pow', [x, c.e.sub(p, c.scalar(1, c.dtype(p)))]), p);
}

const pow: Rule = (c) => {
  const out: (string | undefined)[] = [undefined, undefined];
  if (c.needs(0)) {
    const d = powDerivative(c);
    out[0] = toInput(c, d ? times(c, d) : c.dyReq(), 0);
  }
  if (c.needs(1)) out[1] = toInput(c, c.e.mul(c.dyReq(), c.e.mul(c.y, c.e.op('Log', [c.in(0)]))), 1);
  return out;
};

/** Local derivatives dy/dx of unary ops, computed on the forward side (no k axis). */
export const UNARY_DERIVATIVES: Record<string, (c: Ctx) => string> = {
  Exp: (c) => c.y,
  Log: (c) => c.e.div(c.scalar(1, c.dtype(c.x)), c.x),
  Sqrt: (c) => c.e.div(c.scalar(0.5, c.dtype(c.y)), c.y),
  Reciprocal: (c) => c.e.neg(c.e.mul(c.y, c.y)),
  Tanh: (c) => c.e.sub(c.scalar(1, c.dtype(c.y)), c.e.mul(c.y, c.y)),
  Sigmoid: (c) => c.e.mul(c.y, c.e.sub(c.scalar(1, c.dtype(c.y)), c.y)),
  Sin: (c) => c.e.op('Cos', [c.x]),
  Cos: (c) => c.e.neg(c.e.op('Sin', [c.x])),
  Abs: (c) => c.e.op('Sign', [c.x]),
  Erf: (c) => c.e.mul(c.e.op('Exp', [c.e.neg(c.e.mul(c.x, c.x))]), c.scalar(2 / Math.sqrt(Math.PI), c.dtype(c.x))),
  Relu: (c) => c.e.cast(c.e.op('Greater', [c.x, c.scalar(0, c.dtype(c.x))]), c.dtype(c.x)),
  LeakyRelu: (c) => {
    const dt = c.dtype(c.x);
    const alpha = c.attr('alpha')?.value as number | undefined;
    return c.e.op('Where', [c.e.op('Greater', [c.x, c.scalar(0, dt)]), c.scalar(1, dt), c.scalar(alpha ?? 0.01, dt)]);
  },
  Softplus: (c) => c.e.op('Sigmoid', [c.x]),
  Softsign: (c) => {
    const t = c.e.add(c.scalar(1, c.dtype(c.x)), c.e.op('Abs', [c.x]));
    return c.e.div(c.scalar(1, c.dtype(c.x)), c.e.mul(t, t));
  },
  Elu: (c) => {
    // 1 where x > 0, else y + alpha
    const dt = c.dtype(c.x);
    const alpha = (c.attr('alpha')?.value as number | undefined) ?? 1;
    return c.e.op('Where', [c.e.op('Greater', [c.x, c.scalar(0, dt)]), c.scalar(1, dt), c.e.add(c.y, c.scalar(alpha, dt))]);
  },
  Selu: (c) => {
    const dt = c.dtype(c.x);
    const alpha = (c.attr('alpha')?.value as number | undefined) ?? 1.67326319217681884765625;
    const gamma = (c.attr('gamma')?.value as number | undefined) ?? 1.05070102214813232421875;
    return c.e.op('Where', [c.e.op('Greater', [c.x, c.scalar(0, dt)]), c.scalar(gamma, dt), c.e.add(c.y, c.scalar(gamma * alpha, dt))]);
  },
  HardSigmoid: (c) => hardSigmoidSlope(c, (c.attr('alpha')?.value as number | undefined) ?? 0.2, (c.attr('beta')?.value as number | undefined) ?? 0.5),
  HardSwish: (c) => {
    // y = x * hs(x) with hs = clip(x / 6 + 1/2, 0, 1): dy/dx = hs(x) + x * hs'(x)
    const hs = c.e.op('HardSigmoid', [c.x], { alpha: { type: 'float', value: 1 / 6 }, beta: { type: 'float', value: 0.5 } });
    return c.e.add(hs, c.e.mul(c.x, hardSigmoidSlope(c, 1 / 6, 0.5)));
  },
};

/** alpha where 0 < alpha x + beta < 1, else 0. */
function hardSigmoidSlope(c: Ctx, alpha: number, beta: number): string {
  const dt = c.dtype(c.x);
  const z = c.e.add(c.e.mul(c.x, c.scalar(alpha, dt)), c.scalar(beta, dt));
  const inside = c.e.op('And', [c.e.op('Greater', [z, c.scalar(0, dt)]), c.e.op('Less', [z, c.scalar(1, dt)])]);
  return c.e.mul(c.e.cast(inside, dt), c.scalar(alpha, dt));
}

const unary = (deriv: (c: Ctx) => string): Rule => (c) => [times(c, deriv(c))];

const neg: Rule = (c) => [c.e.neg(c.dyReq())];
const identity: Rule = (c) => [c.dyReq()];
const log: Rule = (c) => [c.e.div(c.dyReq(), c.x)];

const cast: Rule = (c) => {
  if (!c.isFloat(c.x)) return [undefined];
  return [c.dtype(c.x) === c.dtype(c.y) ? c.dyReq() : c.e.cast(c.dyReq(), c.dtype(c.x))];
};

/** Sum and Mean: each input gets the (scaled) cotangent. */
const sumN = (mean: boolean): Rule => (c) => {
  let dy = c.dyReq();
  if (mean) dy = c.e.mul(dy, c.scalar(1 / c.node.inputs.length, c.dtype(c.y)));
  return c.node.inputs.map((_, i) => (c.needs(i) ? toInput(c, dy, i) : undefined));
};

/** Max and Min: the cotangent goes to every input equal to the result (ties share it in full). */
const extremum: Rule = (c) => {
  const dt = c.dtype(c.y);
  return c.node.inputs.map((v, i) => {
    if (!c.needs(i)) return undefined;
    const mask = c.e.cast(c.e.op('Equal', [c.y, v]), dt);
    return toInput(c, c.e.mul(c.dyReq(), mask), i);
  });
};

const where: Rule = (c) => {
  const [cond, a, b] = c.node.inputs;
  const dy = c.dyReq();
  const zero = c.scalar(0, c.dtype(c.y));
  const out: (string | undefined)[] = [undefined, undefined, undefined];
  if (c.needs(1)) out[1] = c.unbroadcast(c.e.op('Where', [cond, dy, zero]), c.shape(c.y), c.shape(a));
  if (c.needs(2)) out[2] = c.unbroadcast(c.e.op('Where', [cond, zero, dy]), c.shape(c.y), c.shape(b));
  return out;
};

const clip: Rule = (c) => {
  // Clip(x, min, max): the cotangent passes where min < x < max
  const dt = c.dtype(c.x);
  let mask = '';
  const [, lo, hi] = c.node.inputs;
  if (c.needs(1) || c.needs(2)) throw c.fail('gradients for the clip bounds are not supported');
  if (lo) mask = c.e.op('Greater', [c.x, lo]);
  if (hi) {
    const m2 = c.e.op('Less', [c.x, hi]);
    mask = mask ? c.e.op('And', [mask, m2]) : m2;
  }
  if (!mask) return [c.dyReq()];
  return [times(c, c.e.cast(mask, dt))];
};


/** Dropout at inference (no training_mode, or a fixed false one) passes the cotangent through. */
const dropout: Rule = (c) => {
  const mode = c.in(2);
  if (mode && (!c.isStatic(mode) || c.ints(mode, 'training mode')[0])) throw c.fail('no gradient for Dropout in training mode');
  return [c.dyReq(), undefined, undefined];
};

export const elementwiseRules: Record<string, Rule> = {
  Dropout: dropout,
  Add: add,
  Sub: sub,
  Mul: mul,
  Div: div,
  Pow: pow,
  Neg: neg,
  Identity: identity,
  Log: log,
  Cast: cast,
  Sum: sumN(false),
  Mean: sumN(true),
  Max: extremum,
  Min: extremum,
  Where: where,
  Clip: clip,
};
for (const [op, d] of Object.entries(UNARY_DERIVATIVES)) if (op !== 'Log') elementwiseRules[op] = unary(d);
