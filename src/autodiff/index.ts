// Reverse-mode autodiff on ONNX graphs.
export { vjp, liftInitializers } from './vjp.js';
export type { VjpMode, VjpOptions, VjpResult } from './vjp.js';
export { inferDtypes } from './dtypes.js';
export { checkVjp } from './check.js';
export type { GradCheckOptions, GradCheckResult } from './check.js';
export { RULES } from './rules/index.js';
export type { Rule } from './rules/index.js';
