// mm/page_alloc.c: pages handed out of a free block lose the buddy's marks on their struct
// pages (__ClearPageBuddy(), set_page_private(page, 0), the list_del() poison). Where such a
// struct page lives in a vmemmap page that HVO freed and that reads as the memmap of free memory
// but for its first struct page (hugetlb_vmemmap.ts keepUnmarked(): frames.ts keepFirst), the
// plain form makes the page's bytes its own and stores the cleared marks into each struct page;
// the fast path (Kernel clearKeptFirst(), keptCleared) clears the kept struct page in a buffer
// and, where it then reads as the freed pattern's, gives the frame that pattern, storing
// nothing. Mainline's restore of a 1 GiB folio takes such pages (its vmemmap pages come from the
// blocks an earlier optimise freed). Two models, one on each form, take the same seeded pool
// steps and after each must agree on every struct page's bytes and every PTE, the free lists
// and allocations, the counters, the pools, the log and every TLB entry: all but how the frame
// store holds the bytes, which is what the fast path changes (and with it memmap.writes, the
// stores made into bytes: a page held as a pattern takes none, as after freedWhole).
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { MIGRATE_MOVABLE } from "../../src/mm/buddy_lru.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";
import { H1G, H2M, HVO, type Step, stepArb } from "./gigantic_steps.ts";

const GiB = 2 ** 30;

function model(design: Design, fast: boolean, path: "keptCleared" | "clearByRange"): Model {
  const md = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
  if (path === "keptCleared") md.k.paths.keptCleared = fast;
  else md.k.paths.clearByRange = fast;
  return md;
}

/** What a user or the kernel could tell apart, and every TLB entry over the vmemmap. */
function state(md: Model): Record<string, unknown> {
  const k = md.k;
  const maxPfn = Math.max(...k.buddy.zones.map((z) => z.endPfn));
  const tlb: number[] = [];
  for (let v = 0; v < Math.ceil(maxPfn / 64); v++) {
    const e = k.pgt.tlbEntry(v);
    if (e) tlb.push(v, e.frame, e.writable ? 1 : 0);
  }
  return {
    ...modelDigest(md, { pools: [H2M, H1G] }),
    topLists: k.buddy.zones.map((z) =>
      k.buddy.lru?.listOrder(z, k.spec.arch.maxPageOrder, MIGRATE_MOVABLE),
    ),
    tlb,
  };
}

/**
 * The seeded steps between two 1 GiB folios made and freed with HVO on (their vmemmap pages
 * freed, then taken by later restores) and a pool of both sizes made and freed after them;
 * `hvoAgain`: HVO switched on again first (the seeded steps may have switched it off).
 */
function around(steps: Step[], hvoAgain: boolean): Step[] {
  return [
    [HVO, "1"],
    [H1G, "2"],
    [H1G, "0"],
    ...steps,
    ...(hvoAgain ? [[HVO, "1"] as Step] : []),
    [H2M, "100"],
    [H1G, "1"],
    [H2M, "0"],
    [H1G, "0"],
  ];
}

describe("a freed vmemmap page with its first struct page kept, cleared: the freed pattern, or stores", () => {
  for (const design of ["mainline", "seed"] as const)
    it(`x86_64 4 GiB, 2 nodes, ${design}: bytes, lists, counters and TLB after each seeded step`, () => {
      // Fewer frames with bytes of their own in the fast model at some step: the path ran.
      let settled = 0;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 5 }), (steps) => {
          const fast = model(design, true, "keptCleared");
          const plain = model(design, false, "keptCleared");
          const all = around(steps, true);
          for (const [i, [path, value]] of all.entries()) {
            stepModels([fast, plain], path, value);
            expect(state(fast), `step ${i}: ${value} > ${path}`).toEqual(state(plain));
            if (fast.k.frames.stats().ownFrames < plain.k.frames.stats().ownFrames) settled++;
          }
        }),
        { seed: 7707, numRuns: 3, verbose: true },
      );
      if (design === "mainline") expect(settled).toBeGreaterThan(0);
    });
});

// Kernel clearBuddyHeads() with every struct page of a range of vmemmap pages cleared (a block
// handed out whole, as a restore's pages are): the pages' translations in one pass
// (clearRangeWords(), clearByRange) against translateFrame() of each in turn, on the same
// seeded steps: the same bytes, lists, counters and TLB entries.
describe("a range of struct pages cleared: its vmemmap pages translated in one pass, or one by one", () => {
  for (const design of ["mainline", "legacy"] as const)
    it(`x86_64 4 GiB, 2 nodes, ${design}: bytes, lists, counters and TLB after each seeded step`, () => {
      let ran = 0;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 5 }), (steps) => {
          const fast = model(design, true, "clearByRange");
          const plain = model(design, false, "clearByRange");
          // clearRangeWords() is private: reached by name.
          const spy = vi.spyOn(
            fast.k as unknown as { clearRangeWords: (v: number, n: number) => Float64Array },
            "clearRangeWords",
          );
          const all = around(steps, false);
          for (const [i, [path, value]] of all.entries()) {
            stepModels([fast, plain], path, value);
            expect(state(fast), `step ${i}: ${value} > ${path}`).toEqual(state(plain));
          }
          ran += spy.mock.calls.length;
        }),
        { seed: 7708, numRuns: 2, verbose: true },
      );
      expect(ran).toBeGreaterThan(0);
    });
});
