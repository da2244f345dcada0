// checkFolio() passes over the tail vmemmap pages of a folio that map one frame the same way as
// the page before (a shared tail, legacy's aliases of the head page) as a run, read from the
// mirror's leaf arrays in one loop (VmemmapMirror.sameFrameRun()). The run must end where a
// page maps another frame or the same frame writable: one such page in the middle of a
// 1 GiB folio's 4095 tail pages is found, as at either end.
import { describe, expect, it } from "vitest";
import { checkFolio } from "../../src/check/invariants.ts";
import type { Design } from "../../src/kernel.ts";
import { optimisedFolioModel } from "./seeded_steps.ts";

/** A 1 GiB folio HVO optimised, on a fresh machine of the design. */
function optimisedGigantic(design: Design) {
  const { k, c } = optimisedFolioModel(design, "1G");
  const head = [...(k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys()][0];
  const first = c.mirror.vpnOfPfn(head);
  const last = c.mirror.vpnOfPfn(head + 2 ** 18 - 1);
  /** Maps the vmemmap page `vpn` to `frame` (set_pte behind HVO's back). */
  const remap = (vpn: number, frame: number, writable: boolean) => {
    const vaddr = k.vmemmapBase + BigInt(vpn * k.pageSize);
    const slot = k.pgt.slot(k.spec.arch.levelShifts.length - 1, vaddr);
    if (!slot) throw new Error(`vpn ${vpn} has no PTE`);
    k.pgt.setPte(slot.tablePfn, slot.idx, frame, writable);
    c.mirror.refresh();
  };
  const check = () => checkFolio(c, { headPfn: head, order: 18 });
  return { k, c, head, first, last, remap, check };
}

/** The pfns checkFolio() names in what it finds. */
function pfns(vs: Array<{ pfn?: number }>): number[] {
  return vs.map((v) => v.pfn ?? -1);
}

describe("checkFolio over a run of tail pages that map one frame", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`finds nothing in a clean 1 GiB folio, and passes over its tail pages as runs (${design})`, () => {
      const { c, first, last, check } = optimisedGigantic(design);
      expect(check()).toEqual([]);
      // Every tail page maps one frame read-only: the runs this test is about.
      const tail = c.mirror.frameOf(first + 1);
      expect(c.mirror.frameWritable).toBe(false);
      expect(c.mirror.sameFrameRun(first + 1, tail, false, last - first)).toBe(last - first);
    });

    for (const [where, pick] of [
      ["in the middle", (f: number, l: number) => f + Math.floor((l - f) / 2) + 3],
      ["second", (f: number) => f + 2],
      ["last", (_f: number, l: number) => l],
    ] as const) {
      it(`finds a tail page ${where} mapped writable (${design})`, () => {
        const { c, head, first, last, remap, check } = optimisedGigantic(design);
        const vpn = pick(first, last);
        remap(vpn, c.mirror.frameOf(vpn), true);
        const found = check();
        const pfn = (vpn * 4096) / 64;
        expect(found.map((v) => v.invariant)).toContain("vmemmap_mapping");
        expect(pfns(found)).toContain(Math.max(head, pfn));
      });

      it(`finds a tail page ${where} mapping another frame (${design})`, () => {
        const { c, first, last, remap, check } = optimisedGigantic(design);
        const vpn = pick(first, last);
        // Another frame of the memmap (the page after the folio's): its struct pages are
        // another folio's, or none.
        remap(vpn, c.mirror.frameOf(last + 1), false);
        const found = check();
        expect(found.length).toBeGreaterThan(0);
        expect(pfns(found).some((p) => p >= (vpn * 4096) / 64 && p < ((vpn + 1) * 4096) / 64)).toBe(
          true,
        );
      });
    }
  }
});
