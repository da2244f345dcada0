// Each deliberate bug of src/kernel.ts MUTATIONS is caught by `hvo check` within a small number
// of seeded operations, through the invariant that bug breaks (issue 5).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type CheckConfig, checkRun, defaultCheckMachine } from "../../src/check/run.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
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
    shrinkRuns: 0,
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
        // Control: the same seed without the mutation breaks nothing up to that step.
        const clean = checkRun(cfg(design, hit.seed ?? 1, null));
        expect(clean.violations.filter((v) => v.step <= (hit.v?.step ?? 0))).toEqual([]);
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

// The three mutations of issue #10 item 5, caught by rules the checker holds itself: the
// overcommit limit and the return of unused surplus pages (src/check/pool_ref.ts, from
// mm/hugetlb.c), and the tail word from the encoding's formula (invariants.ts
// expectedTailWord()). One node, so that the surplus pages gathered for a reservation and the
// free pages return_unused_surplus_pages() looks for are on the same node.
const POOL_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];
const POOL_OPS = 80;

function oneNode(design: Design, seed: number, mutation: Mutation | null): CheckConfig {
  return {
    ...cfg(design, seed, mutation),
    machine: { ...defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"), nodes: 1 },
    ops: POOL_OPS,
  };
}

const RULES: Array<{ mutation: Mutation; invariant: string }> = [
  // alloc_surplus_hugetlb_folio() refuses at surplus_huge_pages >= nr_overcommit_huge_pages.
  { mutation: "surplus-limit-off-by-one", invariant: "surplus_limit" },
  // return_unused_surplus_pages() frees min(unused, surplus_huge_pages) pages.
  { mutation: "return-surplus-one-short", invariant: "surplus_unused" },
  // set_compound_head(): head address | 1, or GENMASK(63, order + log2(sizeof(struct page))) | 1.
  { mutation: "tail-info-bit1", invariant: "tail_word" },
];

describe("the pool's rules and the tail word's formula catch their mutations on every design", () => {
  for (const r of RULES) {
    for (const design of ["legacy", "seed", "mainline"] as Design[]) {
      it(`${r.mutation} (${design}) is caught by ${r.invariant}; the same seed without it is clean`, () => {
        let caught: { seed: number; step: number } | null = null;
        const seen: string[] = [];
        for (const seed of POOL_SEEDS) {
          const run = checkRun(oneNode(design, seed, r.mutation));
          const v = run.violations[0];
          if (v?.invariant === r.invariant) {
            caught = { seed, step: v.step };
            break;
          }
          if (v) seen.push(`seed ${seed}: ${v.invariant}`);
        }
        expect(caught, `not caught (found: ${seen.join("; ") || "nothing"})`).not.toBeNull();
        const { seed, step } = caught as { seed: number; step: number };
        // Control: the same operations on a kernel without the mutation break no rule up to
        // and including the step where the mutation was caught.
        const control = checkRun(oneNode(design, seed, null));
        expect(control.violations.filter((v) => v.step <= step)).toEqual([]);
      });
    }
  }
});

/** A replay file for `hvo check --replay` (FORMAT.md's x-check extension). */
function replayFile(design: Design, mutation: Mutation | null, steps: unknown[]): string {
  return JSON.stringify({
    format: "hvo-scenario/1",
    "x-check": {
      preset: "x86_64",
      memory: "4G",
      nodes: 1,
      cmdline: "hugetlb_free_vmemmap=on",
      design,
      mutation,
      every: 1,
    },
    scenarios: [{ id: `by-hand-${mutation ?? "none"}`, steps }],
  });
}

// Small sequences written by hand from the kernel's rules, through the CLI: exit 1 and the
// invariant's name with the mutation, exit 0 and "no violation" without it.
const BY_HAND: Array<{ mutation: Mutation; invariant: string; steps: unknown[] }> = [
  {
    // Overcommit 1 and nothing persistent: the first fault of a MAP_NORESERVE mapping gets a
    // surplus page, the second is refused (surplus 1 >= overcommit 1) and the touch ends in
    // SIGBUS. With > instead of >=, a second surplus page: surplus 2 > the limit 1.
    mutation: "surplus-limit-off-by-one",
    invariant: "surplus_limit",
    steps: [
      { op: "overcommit", size: "2M", value: 1 },
      { op: "map", id: "m0", size: "2M", n: 2, noreserve: 1, touch: 1 },
    ],
  },
  {
    // Reserving 2 pages with an empty pool gathers 2 surplus pages (gather_surplus_pages());
    // unmapping without touching them unreserves 2, and return_unused_surplus_pages() must free
    // min(2, 2) = 2 of them.
    mutation: "return-surplus-one-short",
    invariant: "surplus_unused",
    steps: [
      { op: "overcommit", size: "2M", value: 2 },
      { op: "map", id: "m0", size: "2M", n: 2, touch: 0 },
      { op: "release", id: "m0" },
    ],
  },
  {
    // One 2 MiB folio: its 511 tails hold the encoding's word, bit 1 clear.
    mutation: "tail-info-bit1",
    invariant: "tail_word",
    steps: [{ op: "nr", size: "2M", value: 1 }],
  },
];

describe("hvo check --replay names the rule a mutation breaks (exit 1), and is clean without it", () => {
  const dir = mkdtempSync(join(tmpdir(), "hvo-mutations-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const c of BY_HAND) {
    for (const design of ["legacy", "seed", "mainline"] as Design[]) {
      it(`${c.mutation} (${design}): ${c.invariant}`, async () => {
        const bad = join(dir, `${c.mutation}-${design}.json`);
        writeFileSync(bad, replayFile(design, c.mutation, c.steps));
        const io = captureIo();
        expect(await main(["check", "--replay", bad], io)).toBe(1);
        expect(io.stdout()).toMatch(new RegExp(`VIOLATION ${c.invariant} at step`));
        const good = join(dir, `${c.mutation}-${design}-control.json`);
        writeFileSync(good, replayFile(design, null, c.steps));
        const io2 = captureIo();
        expect(await main(["check", "--replay", good], io2)).toBe(0);
        expect(io2.stdout()).toMatch(/no violation/);
      });
    }
  }
});
