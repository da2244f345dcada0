// After an operation the checker looks again at every folio whose vmemmap translation changed
// since it was last checked (src/check/checker.ts check()), finding each change's folio by the
// last head at or below its pfn, tried first at the folio of the change before. Changes to
// the vmemmap of several folios, made behind HVO's back in one step, must each lead to their
// own folio, whatever their order: a tail page of each of three 2 MiB folios remapped writable,
// the last folio first, is found in all three.
import { describe, expect, it } from "vitest";
import { Checker } from "../../src/check/checker.ts";
import { applyStep } from "../../src/check/run.ts";
import { checkModel } from "./seeded_steps.ts";

describe("the checker's folios whose vmemmap changed", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`finds a change in each of three folios changed in one step (${design})`, () => {
      const { model, session } = checkModel(design);
      const k = model.k;
      const checker = new Checker(k);
      expect(checker.check(true)).toEqual([]);
      applyStep(model, session, { op: "hvo", value: 1 });
      applyStep(model, session, { op: "nr", size: "2M", value: 4 });
      model.settle();
      expect(checker.check()).toEqual([]);
      const heads = [...(k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys()].sort(
        (a, b) => a - b,
      );
      expect(heads.length).toBe(4);
      // The second tail vmemmap page of folios 3, 0 and 1, in that order, made writable (the
      // mirror refreshed after each: its log keeps that order).
      const c = checker.c;
      const changed = [heads[3], heads[0], heads[1]];
      for (const head of changed) {
        const vpn = c.mirror.vpnOfPfn(head) + 2;
        const vaddr = k.vmemmapBase + BigInt(vpn * k.pageSize);
        const slot = k.pgt.slot(k.spec.arch.levelShifts.length - 1, vaddr);
        if (!slot) throw new Error(`vpn ${vpn} has no PTE`);
        k.pgt.setPte(slot.tablePfn, slot.idx, c.mirror.frameOf(vpn), true);
        c.mirror.refresh();
      }
      const found = checker.check().filter((v) => v.invariant === "vmemmap_mapping");
      for (const head of changed)
        expect(
          found.some((v) => v.detail.startsWith(`folio ${head}:`)),
          `folio ${head}`,
        ).toBe(true);
      expect(found.some((v) => v.detail.startsWith(`folio ${heads[2]}:`))).toBe(false);
    });
});
