// mm/page_alloc.c alloc_contig_range() of a range that lies in blocks memblock_free_all() gave
// the buddy and nothing allocated from since (the model's lazily freed MAX_PAGE_ORDER blocks,
// PageAllocator lazyHolding()): the range checked free and taken off the lists in one lookup,
// against the same checks and takes block by block (lazyRunBulk false). Two models take the same
// seeded pool steps on a fresh boot (1 GiB folios grown and shrunk, 2 MiB folios between them,
// HVO on and off) and after each step must agree on every struct page's bytes and translation,
// the free lists in list order, the allocations, the counters and the stores counted in
// memmap.writes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { stepModels } from "../model_digest.ts";
import { buddyState, H1G, H2M, type Step, stepArb } from "./gigantic_steps.ts";

const GiB = 2 ** 30;

function model(design: Design, bulk: boolean): Model {
  const md = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
  md.k.paths.lazyRunBulk = bulk;
  return md;
}

describe("a gigantic range taken from lazily freed blocks in one lookup equals block by block", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`x86_64 4 GiB, 2 nodes, ${design}: bytes, lists and counters after each seeded step`, () => {
      const seed = 5107;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 6 }), (steps) => {
          const bulk = model(design, true);
          const single = model(design, false);
          // A 1 GiB folio first: on a fresh boot its range lies in lazily freed blocks.
          const all: Step[] = [[H1G, "1"], ...steps, [H1G, "0"], [H2M, "0"]];
          for (const [i, [path, value]] of all.entries()) {
            stepModels([bulk, single], path, value);
            expect(buddyState(bulk), `step ${i}: ${value} > ${path}`).toEqual(buddyState(single));
          }
        }),
        { seed, numRuns: 3, verbose: true },
      );
    });

  it("the one-lookup path runs: a fresh 1 GiB folio asks freeBlockAt() of no block", () => {
    // Block by block, rangeFree() and takeFreeRange() each ask it of every one of the folio's
    // 1 GiB / 4 MiB = 256 MAX_PAGE_ORDER blocks (x86_64: 4 KiB pages, MAX_PAGE_ORDER 10).
    const asked = (bulk: boolean): number => {
      const md = model("mainline", bulk);
      const buddy = md.k.buddy;
      const orig = buddy.freeBlockAt.bind(buddy);
      let n = 0;
      buddy.freeBlockAt = (pfn) => {
        n++;
        return orig(pfn);
      };
      md.write(H1G, "1");
      md.settle();
      expect(md.read(H1G).trim()).toBe("1");
      return n;
    };
    const single = asked(false);
    expect(single).toBeGreaterThanOrEqual(2 * 256);
    expect(asked(true)).toBeLessThanOrEqual(single - 2 * 256);
  });
});
