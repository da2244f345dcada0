// Each deliberate bug of src/kernel.ts MUTATIONS is caught by `hvo check` within a small number
// of seeded operations, through the invariant that bug breaks (issue 5).
import { describe, expect, it } from "vitest";
import { type CheckConfig, checkRun, defaultCheckMachine } from "../../src/check/run.ts";
import type { Design, Mutation } from "../../src/kernel.ts";

const OPS = 60;
const SEEDS = [1, 2, 3, 4, 5];

/** HVO on from boot, no boot-time gigantic pages: every finding comes from the operations. */
function cfg(design: Design, seed: number, mutation: Mutation | null): CheckConfig {
  return {
    machine: defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"),
    design,
    seed,
    ops: OPS,
    every: 1,
    faults: 0,
    mutation,
    shrinkMs: 0,
  };
}

/**
 * The first seed whose run finds a violation of the expected kind (a run stops at its first
 * violation, and the model may have findings of its own on some seeds).
 */
function firstCatch(design: Design, mutation: Mutation, through: RegExp) {
  const seen: string[] = [];
  for (const seed of SEEDS) {
    const r = checkRun(cfg(design, seed, mutation));
    if (r.violations.some((v) => through.test(v.invariant)))
      return { seed, v: r.violations[0], all: r.violations, seen };
    seen.push(...r.violations.map((v) => `seed ${seed}: ${v.invariant}`));
  }
  return { seed: null, v: null, all: [], seen };
}

const CASES: Array<{ mutation: Mutation; designs: Design[]; through: RegExp }> = [
  // The TLB still translates the old vmemmap pages once the operation has returned.
  { mutation: "skip-tlb-flush", designs: ["legacy", "seed", "mainline"], through: /^stale_tlb$/ },
  // legacy compound_head() of an alias of the head page (struct page 64, 128, ...) is itself.
  {
    mutation: "no-fake-head-fixup",
    designs: ["legacy"],
    through: /^(compound_head|page_head_tail)$/,
  },
  // The shared tail's bytes are not tails when it becomes visible, or change after.
  {
    mutation: "publish-uninitialised-tail",
    designs: ["seed", "mainline"],
    through: /^(shared_tail_written|tails_identical|compound_head)$/,
  },
  // Restored vmemmap pages hold copies of the head: PG_head where a tail should be.
  {
    mutation: "restore-without-reset",
    designs: ["legacy", "seed", "mainline"],
    through: /^(compound_head|fake_head|page_head_tail)$/,
  },
  // The first write to the head struct page after HVO faults.
  {
    mutation: "head-pte-readonly",
    designs: ["legacy", "seed", "mainline"],
    through: /^(ro_pte_write|vmemmap_mapping)$/,
  },
  // A vmemmap page is taken out of the memmap but never freed: allocated and unmapped.
  {
    mutation: "leak-vmemmap-page",
    designs: ["legacy", "seed", "mainline"],
    through: /^(vmemmap_leak|memmap_counters|frame_state)$/,
  },
];

describe("mutations are caught within a few seeded operations", () => {
  for (const c of CASES) {
    for (const design of c.designs) {
      it(`${c.mutation} (${design}) is caught through ${c.through.source}`, () => {
        const hit = firstCatch(design, c.mutation, c.through);
        expect(
          hit.seed,
          `not caught in ${SEEDS.length} runs of ${OPS} ops (found: ${hit.seen.join("; ") || "nothing"})`,
        ).not.toBeNull();
      });
    }
  }

  it("the seeds that catch a mutation run clean without it (the mutation is what is caught)", () => {
    const hit = firstCatch("legacy", "no-fake-head-fixup", /^(compound_head|page_head_tail)$/);
    expect(hit.seed).not.toBeNull();
    const clean = checkRun(cfg("legacy", hit.seed ?? 1, null));
    expect(clean.violations.filter((v) => v.step <= (hit.v?.step ?? 0))).toEqual([]);
  });
});
