// hugetlb_vmemmap.ts clearReservedRunDown(): when HVO frees boot memmap pages from the top down,
// a vmemmap page that holds only struct pages of the freed run, still as memmap_init() left it,
// is given the pattern of the memmap of free memory at once, without storing PG_reserved,
// _refcount and the buddy's marks into its bytes and settling them back (k.paths.freedWhole
// false: it stores and settles, as every other freed page). The first page of a block the run
// is freed as is never marked by the buddy if it merges at once with a free block below: its
// vmemmap page keeps that struct page as clearReservedPage() left it (keepUnmarked()): as a
// pattern (frames.ts keepFirst) when it is the page's first, else in bytes of its own.
//
// Two models, one each way, step the same pools with HVO on; after each step every struct page
// (through the page tables), the PTEs, the free lists, the allocations, memblock.reserved, the
// counters and the log must be the same, and the fast way may hold no more vmemmap pages as
// bytes of their own. The
// pool sizes come from a seeded sample; the list is also freed in pieces that cut the runs.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

const GiB = 2 ** 30;
const SEED = 1106;
const P2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
const P32M = "/sys/kernel/mm/hugepages/hugepages-32768kB/nr_hugepages";

function boot(preset: string, design: Design, whole: boolean, piece?: number): Model {
  const m = bootModel(machinePreset(preset, { memoryBytes: 4 * GiB, nodes: 2 }), design);
  const core = m.vmemmap as HvoCore;
  m.k.paths.freedWhole = whole;
  if (piece !== undefined) core.pageListPiece = piece;
  return m;
}

/** Counts the vmemmap pages the fast way gives the freed pattern (setPattern of "init", asFree). */
function countFreedPatterns(m: Model): { n: number } {
  const count = { n: 0 };
  const fr = m.k.frames;
  const set = fr.setPattern.bind(fr);
  fr.setPattern = (frame, p) => {
    if (p.kind === "init" && p.asFree === true && p.unlisted === true) count.n++;
    set(frame, p);
  };
  return count;
}

const cases: [string, Design, number | undefined][] = [
  ["x86_64", "legacy", undefined],
  ["x86_64", "seed", undefined],
  ["x86_64", "mainline", undefined],
  ["x86_64", "mainline-7.1", undefined],
  ["x86_64", "mainline", 1000],
  ["arm64-16k", "mainline", undefined],
];

describe("freed boot memmap pages held as a pattern at once = stored into and settled", () => {
  it.each(cases)(
    "%s %s (list pieces %s): the same model after each step",
    (preset, design, piece) => {
      const small = preset === "x86_64" ? P2M : P32M;
      const rng = fc.sample(fc.array(fc.nat(40), { minLength: 4, maxLength: 4 }), {
        seed: SEED,
        numRuns: 1,
      })[0];
      const steps: [string, number][] = [
        ["/proc/sys/vm/hugetlb_optimize_vmemmap", 1],
        [P1G, 2],
        [small, 20 + rng[0]],
        [P1G, 1],
        // Most of what is left, in small folios: blocks the boot memmap freed above are split,
        // and first pages of their blocks become free heads again (marked through a pattern).
        [small, (preset === "x86_64" ? 1100 : 60) + rng[3]],
        [small, 3 + rng[1]],
        [P1G, 3],
        [small, 40 + rng[2]],
        [P1G, 0],
        [small, 0],
      ];
      const fast = boot(preset, design, true, piece);
      const plain = boot(preset, design, false, piece);
      const held = countFreedPatterns(fast);
      for (const [file, n] of steps) {
        for (const m of [fast, plain]) {
          m.write(file, String(n));
          m.settle();
        }
        const pools = [small, P1G];
        expect(
          modelDigest(fast, { pools }),
          `${preset} ${design} after ${n} > ${file} (seed ${SEED}, sizes ${rng.join(" ")})`,
        ).toEqual(modelDigest(plain, { pools }));
        // The fast way holds no more vmemmap pages as bytes of their own than the plain way (a
        // page whose kept struct page would keep it own there is a pattern here: keepFirst).
        expect(fast.k.frames.stats().ownFrames).toBeLessThanOrEqual(
          plain.k.frames.stats().ownFrames,
        );
      }
      // With 4 KiB pages, 1 GiB folios freed 4096 boot vmemmap pages each, in falling runs whose
      // struct pages fill whole vmemmap pages: those went the fast way. (With 16 KiB pages a
      // vmemmap page holds 256 struct pages, more than a 1 GiB folio's vmemmap frees in one run
      // there: none can.)
      if (preset === "x86_64") expect(held.n).toBeGreaterThan(0);
    },
  );

  it("x86_64 mainline: a kept first struct page that heads a free block later shows its marks", () => {
    // keepUnmarked() keeps a vmemmap page as a pattern with its first struct page as boot
    // memory's; when that page later becomes a free head (a block around it split), the
    // buddy's marks must be stored there, not left to the pattern.
    const fast = boot("x86_64", "mainline", true);
    const plain = boot("x86_64", "mainline", false);
    for (const m of [fast, plain]) {
      m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      m.write(P1G, "2");
      m.settle();
    }
    const { k } = fast;
    const per = k.pageSize / k.spec.structPageSize;
    let end = 0;
    for (const n of k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
    const kept: number[] = [];
    for (let pfn = 0; pfn < end; pfn += per) {
      const t = k.pgt.walk(k.memmap.vaddrOf(pfn));
      const p = t === null ? null : k.frames.patternOf(t.frame);
      if (p?.kind === "init" && p.keepFirst === true) kept.push(pfn);
    }
    expect(kept.length).toBeGreaterThan(0);
    // The page below each taken out of the free lists: the block holding both is split and
    // the kept page heads a free block of its own.
    for (const s of kept)
      for (const m of [fast, plain])
        if (m.k.buddy.rangeFree(s - 1, 1)) m.k.buddy.takeFreeRange(s - 1, 1);
    expect(kept.some((s) => k.buddy.headOrder(s) >= 0)).toBe(true);
    expect(modelDigest(fast, { pools: [P1G] })).toEqual(modelDigest(plain, { pools: [P1G] }));
  });
});
