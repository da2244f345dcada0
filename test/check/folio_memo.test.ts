// What checkFolio() keeps while it judges (src/check/invariants.ts): the summary of a frame's
// own bytes, reused for the next frame that reads as the same array of the frame store (a legacy
// restore's copies of the head page), and each folio's expected tail word, kept per head and
// order. Neither may hide a difference: a copy written since is judged on its own bytes, and a
// head seen as the head of a folio of one order is judged with the word of its order now.
import { describe, expect, it } from "vitest";
import { Checker } from "../../src/check/checker.ts";
import { checkContext, checkFolio } from "../../src/check/invariants.ts";
import {
  applyStep,
  bootCheckModel,
  checkMachineSpec,
  defaultCheckMachine,
} from "../../src/check/run.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import type { Design } from "../../src/kernel.ts";
import type { Step } from "../../src/scenario/format.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

function model(design: Design, cmdline: string, steps: Step[]) {
  const spec = checkMachineSpec(defaultCheckMachine("x86_64", cmdline));
  const m = bootCheckModel(spec, design, null);
  const session = new ModelSession(m);
  session.reset();
  for (const s of steps) applyStep(m, session, s);
  m.settle();
  const k = m.k;
  const c = checkContext(k);
  c.mirror.refresh();
  const heads = [...(k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys()];
  return { m, session, k, c, heads };
}

/** A legacy 2 MiB folio, optimised by HVO and then restored (not yet freed). */
function restoredLegacyFolio() {
  const { k, c, heads } = model("legacy", "hugetlb_free_vmemmap=on", [
    { op: "hvo", value: 1 },
    { op: "nr", size: "2M", value: 1 },
  ]);
  const head = heads[0];
  const hvo = k.sub.hvo as { restoreFolio(order: number, head: number): number };
  expect(hvo.restoreFolio(9, head)).toBe(0);
  c.mirror.refresh();
  // 512 struct pages of 64 bytes: 8 vmemmap pages of 4 KiB, head first.
  const frames = Array.from({ length: 8 }, (_, i) => c.mirror.frameOf(c.mirror.vpnOfPfn(head) + i));
  return { k, c, head, frames };
}

describe("checkFolio's summary of a frame's own bytes", () => {
  it("is shared by the frames a restore copied, and the folio reads clean", () => {
    const { k, c, head, frames } = restoredLegacyFolio();
    // The restore copied the head page: the frame store hands out one array for the copies
    // (else this test would not exercise the shared summary).
    const shared = frames.filter((f, i) => i > 0 && k.frames.view(f) === k.frames.view(frames[1]));
    expect(shared.length).toBeGreaterThan(2);
    expect(checkFolio(c, { headPfn: head, order: 9 }, { optimized: false })).toEqual([]);
  });

  it("does not stand for a copy written since: a fake head in it is found", () => {
    const { k, c, head, frames } = restoredLegacyFolio();
    // PG_head set in the 6th struct page of the 5th vmemmap page: pfn head + 4 * 64 + 5.
    const frame = frames[4];
    const off = 5 * 64 + PAGE_OFF.flags;
    k.frames.writeU32(frame, off, k.frames.readU32(frame, off) | (1 << PG.head));
    c.mirror.refresh();
    const found = checkFolio(c, { headPfn: head, order: 9 }, { optimized: false });
    expect(found.map((v) => [v.invariant, v.pfn])).toContainEqual(["fake_head", head + 4 * 64 + 5]);
  });

  it("does not stand for a copy written since: a wrong compound word in the last page is found", () => {
    const { k, c, head, frames } = restoredLegacyFolio();
    // The compound word of pfn head + 7 * 64 + 10 pointed at the struct page after the head.
    const frame = frames[7];
    const off = 10 * 64 + PAGE_OFF.compoundInfo;
    k.frames.writeU32(frame, off, k.frames.readU32(frame, off) + 64);
    c.mirror.refresh();
    const found = checkFolio(c, { headPfn: head, order: 9 }, { optimized: false });
    expect(found.map((v) => [v.invariant, v.pfn])).toContainEqual([
      "compound_head",
      head + 7 * 64 + 10,
    ]);
  });
});

describe("checkFolio's expected tail word", () => {
  it("is the word of the folio's order now, after the same head was a folio of another order", () => {
    // mainline's tail word is the mask of the order (GENMASK(63, order + 6) | 1 for 64-byte
    // struct pages): a 1 GiB folio's and a 2 MiB folio's at the same head differ.
    const { m, session, c, heads } = model("mainline", "", [{ op: "nr", size: "1G", value: 1 }]);
    expect(heads.length).toBe(1);
    const head = heads[0];
    expect(checkFolio(c, { headPfn: head, order: 18 })).toEqual([]);
    // Demoted: 512 folios of 2 MiB, the first at the same head.
    applyStep(m, session, { op: "demote", size: "1G", value: 1 });
    m.settle();
    c.mirror.refresh();
    const folios = (m.k.sub.hugetlb as { folios: Map<number, { h: { order: number } }> }).folios;
    expect(folios.get(head)?.h.order).toBe(9);
    expect(checkFolio(c, { headPfn: head, order: 9 })).toEqual([]);
    // And the other way: the head's order-18 word again, now wrong for what the memmap holds.
    expect(checkFolio(c, { headPfn: head, order: 18 }).length).toBeGreaterThan(0);
  });
});

describe("FrameStore.tailsInfoOf (what checkFolio reads of a page of tails)", () => {
  it("is patternOf's compound word for every frame that backs the memmap, null for others", () => {
    for (const design of ["legacy", "mainline"] as const) {
      const { k, c } = model(design, "hugetlb_free_vmemmap=on", [
        { op: "nr", size: "2M", value: 3 },
        { op: "hvo", value: 1 },
        { op: "nr", size: "2M", value: 6 },
        { op: "nr", size: "1G", value: 1 },
      ]);
      const frames = new Set<number>();
      for (const [f] of c.mirror.pteRefs()) frames.add(f);
      for (const h of c.mirror.hugeLeaves())
        for (let j = 0; j < h.nrPages; j++) frames.add(h.frame + j);
      let tails = 0;
      for (const f of frames) {
        const p = k.frames.patternOf(f);
        const want = p?.kind === "tails" ? p.info : null;
        if (want !== null) tails++;
        expect(k.frames.tailsInfoOf(f), `${design} frame ${f}`).toBe(want);
      }
      // Pages of tails were there to compare (the folios' tail vmemmap pages).
      expect(tails, design).toBeGreaterThan(10);
    }
  });
});

describe("a frame summarised by one check and written in one slot since", () => {
  /**
   * A 2 MiB folio allocated with HVO on, checked by a Checker when HVO returned it (its head
   * vmemmap page summarised), then one struct page of that page given a compound word pointing
   * 64 bytes past the head's struct page (no operation: a stray store). The head page holds
   * struct pages head .. head + 63; slot 10 is pfn head + 10.
   */
  function optimisedThenWritten(design: Design) {
    const spec = checkMachineSpec(defaultCheckMachine("x86_64", "hugetlb_free_vmemmap=on"));
    const m = bootCheckModel(spec, design, null);
    const session = new ModelSession(m);
    session.reset();
    const checker = new Checker(m.k);
    checker.afterStep(null);
    for (const s of [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 1 },
    ] as Step[]) {
      applyStep(m, session, s);
      m.settle();
      checker.afterStep(s);
      expect(checker.check()).toEqual([]);
    }
    expect(checker.foliosChecked).toBeGreaterThan(0);
    const heads = [...(m.k.sub.hugetlb as { folios: Map<number, unknown> }).folios.keys()];
    expect(heads.length).toBe(1);
    const head = heads[0];
    const c = checker.c;
    const frame = c.mirror.frameOf(c.mirror.vpnOfPfn(head));
    // Clean as summarised, by a pass of its own too.
    expect(checkFolio(c, { headPfn: head, order: 9 })).toEqual([]);
    const off = 10 * 64 + PAGE_OFF.compoundInfo;
    m.k.frames.writeU32(frame, off, m.k.frames.readU32(frame, off) + 64);
    return { checker, c, head };
  }

  for (const design of ["legacy", "seed", "mainline"] as const)
    it(`is judged on its bytes now: the one wrong struct page is found (${design})`, () => {
      const { checker, c, head } = optimisedThenWritten(design);
      c.mirror.refresh();
      // The folio checked again by a pass of its own, and by the checker's full audit.
      const again = checkFolio(c, { headPfn: head, order: 9 });
      expect(again.map((v) => v.pfn)).toContain(head + 10);
      const audit = checker.check(true);
      expect(audit.map((v) => v.pfn)).toContain(head + 10);
    });
});
