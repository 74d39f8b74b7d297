// Errors the CLI reports as one line, without a stack trace.

/** An error caused by the user's input (a file, a flag, a model). */
export class UserError extends Error {}

/** Runs a command action; user-facing failures become one line on stderr and exit code 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void> | void): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      const err = e as Error;
      if (process.env.JEPA_DEBUG) console.error(err.stack);
      console.error(`jepa-score: ${err?.message ?? String(e)}`);
      process.exitCode = 1;
    }
  };
}
