// `hvo check`'s defaults that its help prints (no kernel file). Here, in a module that imports
// nothing, so that `hvo check --help` need not load the checker, fast-check and the model;
// src/check/run.ts, which uses them, re-exports them.

/** The shrinker's default budget: candidate sequences replayed (CheckConfig.shrinkRuns). */
export const SHRINK_RUNS = 300;
