// checkFolio() keeps its summary of a vmemmap page held as a "fill" pattern (every struct page
// the same bytes: a restored folio's tail pages) per pattern of the frame store, which hands
// out one pattern object per distinct bytes and never writes it. A page given other bytes is a
// page with another pattern: the check must read it afresh and find what is wrong with it, after
// the clean pattern's summary was kept, in the same folio or the next check.
import { describe, expect, it } from "vitest";
import { checkFolio } from "../../src/check/invariants.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import { oneFolio } from "./seeded_steps.ts";

/** A 2 MiB folio, not optimised, with its tail vmemmap pages 1..3 made fill pages of its own tail bytes. */
function filledFolio() {
  const { k, c, head, perPage, frames } = oneFolio();
  // A plain tail's struct page (vmemmap page 1 holds nothing but plain tails).
  const slot = c.shadow.memmap.readStructPage(head + perPage).slice();
  for (const f of frames) k.frames.setPattern(f, { kind: "fill", slot });
  c.mirror.refresh();
  const check = () => checkFolio(c, { headPfn: head, order: 9 });
  /** Vmemmap page i's frame made a fill page of `bytes`. */
  const refill = (i: number, bytes: Uint8Array) => {
    k.frames.setPattern(frames[i - 1], { kind: "fill", slot: bytes });
    c.mirror.refresh();
  };
  /** The pfns of vmemmap page i. */
  const pfnsOf = (i: number) => [head + i * perPage, head + (i + 1) * perPage - 1];
  return { k, c, head, slot, frames, check, refill, pfnsOf };
}

/** slot with its compound word pointing one struct page past the head (a wrong head). */
function wrongHead(slot: Uint8Array): Uint8Array {
  const b = slot.slice();
  const v = new DataView(b.buffer);
  v.setBigUint64(PAGE_OFF.compoundInfo, v.getBigUint64(PAGE_OFF.compoundInfo, true) + 64n, true);
  return b;
}

/** slot with PG_head set (a fake head). */
function fakeHead(slot: Uint8Array): Uint8Array {
  const b = slot.slice();
  const v = new DataView(b.buffer);
  v.setUint32(PAGE_OFF.flags, v.getUint32(PAGE_OFF.flags, true) | (1 << PG.head), true);
  return b;
}

function named(found: Array<{ invariant: string; pfn?: number }>, [a, b]: number[]) {
  return found
    .filter((v) => v.pfn !== undefined && v.pfn >= a && v.pfn <= b)
    .map((v) => v.invariant);
}

describe("checkFolio() over fill pages", () => {
  it("finds nothing where every fill page holds the folio's tail bytes", () => {
    const { k, frames, check } = filledFolio();
    // The pages this file is about: held as one fill pattern.
    for (const f of frames) expect(k.frames.patternShapeOf(f)?.kind).toBe("fill");
    expect(new Set(frames.map((f) => k.frames.patternShapeOf(f))).size).toBe(1);
    expect(check()).toEqual([]);
  });

  it("finds a wrong compound word in a fill page after the clean pattern was summarised", () => {
    const { slot, check, refill, pfnsOf } = filledFolio();
    expect(check()).toEqual([]);
    refill(2, wrongHead(slot));
    const found = check();
    expect(named(found, pfnsOf(2))).toContain("compound_head");
    expect(named(found, pfnsOf(1))).toEqual([]);
    expect(named(found, pfnsOf(3))).toEqual([]);
  });

  it("finds fake heads in a fill page, in the same pass as a clean one", () => {
    const { slot, check, refill, pfnsOf } = filledFolio();
    refill(3, fakeHead(slot));
    const found = check();
    expect(named(found, pfnsOf(3))).toContain("fake_head");
    expect(named(found, pfnsOf(1))).toEqual([]);
  });

  it("reads a page again once it is given the clean bytes back", () => {
    const { slot, check, refill } = filledFolio();
    refill(1, wrongHead(slot));
    expect(check().length).toBeGreaterThan(0);
    refill(1, slot);
    expect(check()).toEqual([]);
  });
});
