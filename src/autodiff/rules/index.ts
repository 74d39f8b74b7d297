// The rule table: one gradient rule per op, shared by standard and batched mode.
import { Ctx } from '../context.js';
import { convRules } from './conv.js';
import { elementwiseRules } from './elementwise.js';
import { linalgRules } from './linalg.js';
import { shapeRules } from './shape.js';

/**
 * A rule reads the cotangents of a node's outputs (`c.dy(i)`) and returns one cotangent per input
 * (undefined where `c.needs(i)` is false or the input has no gradient). Every cotangent has the forward
 * shape of its value, with a leading k axis when `c.lead` is 1.
 */
export type Rule = (c: Ctx) => (string | undefined)[];

export const RULES: Record<string, Rule> = {
  ...elementwiseRules,
  ...linalgRules,
  ...shapeRules,
  ...convRules,
};

/** Ops whose float outputs have zero derivative (or are not differentiable): never on a gradient path. */
export const ZERO_GRAD_OPS = new Set([
  'Sign', 'Floor', 'Ceil', 'Round', 'Shape', 'Size', 'ConstantOfShape', 'OneHot', 'EyeLike',
  'RandomNormalLike', 'RandomUniformLike', 'Bernoulli', 'Constant', 'Range', 'NonZero', 'ArgMax', 'ArgMin',
  'Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf',
]);
