// The CLI's model resolution lives in src/models/resolve.ts (shared by every command); re-exported here.
export { loadInput, resolveModel } from '../models/resolve.js';
export type { ModelOptions, ResolvedModel } from '../models/resolve.js';
