// The incremental checker (what `hvo check` runs after every step: the folios, frames and
// translations that changed) against the full audit (every folio, every page table, the
// whole-machine sweeps of invariants.ts, after every step: CheckConfig.fullEvery 1) on the same
// seeded operations. The full audit is the oracle: the incremental checker must stop at the
// same step with the same invariants, on clean runs with ENOMEM injected and on runs with each
// deliberate bug of src/kernel.ts MUTATIONS (so that there is something to find).
import { describe, expect, it } from "vitest";
import {
  type CheckConfig,
  type RunViolation,
  defaultCheckMachine,
  execute,
  opStream,
} from "../../src/check/run.ts";
import { DESIGNS, type Design, MUTATIONS, type Mutation } from "../../src/kernel.ts";

function cfg(design: Design, seed: number, mutation: Mutation | null, ops: number): CheckConfig {
  return {
    machine: defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"),
    design,
    seed,
    ops,
    every: 1,
    faults: mutation ? 0 : 0.02,
    mutation,
    shrinkRuns: 0,
  };
}

/** The verdict a run ends with: the step it stopped at and the invariants broken there. */
function verdict(vs: RunViolation[]): { step: number | null; invariants: string[] } {
  if (!vs.length) return { step: null, invariants: [] };
  const step = vs[0].step;
  const invariants = [...new Set(vs.filter((v) => v.step === step).map((v) => v.invariant))];
  return { step, invariants: invariants.sort() };
}

function both(c: CheckConfig) {
  const full = execute({ ...c, fullEvery: 1 }, opStream(c));
  const incremental = execute(c, opStream(c));
  return { full: verdict(full.violations), incremental: verdict(incremental.violations) };
}

describe("the incremental checker reaches the full audit's verdicts", () => {
  for (const design of DESIGNS)
    it(`${design}: clean runs with 2% ENOMEM, same verdict at every seed`, () => {
      for (const seed of [1, 2]) {
        const r = both(cfg(design, seed, null, 150));
        expect(r.incremental, `seed ${seed}`).toEqual(r.full);
      }
    });

  for (const design of DESIGNS)
    it(`${design}: every mutation, the same step and the same invariants`, () => {
      let found = 0;
      for (const mutation of MUTATIONS) {
        const r = both(cfg(design, 3, mutation, 60));
        expect(r.incremental, mutation).toEqual(r.full);
        if (r.full.step !== null) found++;
      }
      // The comparison is only worth something where the oracle found a violation.
      expect(found).toBeGreaterThanOrEqual(3);
    });
});
