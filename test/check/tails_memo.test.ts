// checkFolio()'s summary of a vmemmap page held as a "tails" pattern of the frame store (every
// struct page a tail of one compound word) keeps whether the pattern's flags hold PG_head for
// the pattern it read last (src/check/invariants.ts summarizeFrame()): a restored folio's tail
// pages share one pattern, and the store never writes a pattern in place. A page given a pattern
// with other flags must be read afresh: a fake head after clean pages is found, and clean pages
// after a fake head are clean, in one pass and across passes.
import { describe, expect, it } from "vitest";
import { checkFolio, expectedTailWord } from "../../src/check/invariants.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { PG } from "../../src/include/page_flags.ts";
import { oneFolio } from "./seeded_steps.ts";

/** A 2 MiB folio, not optimised, whose tail vmemmap pages 1..3 can be given "tails" patterns. */
function tailsFolio() {
  const { k, c, head, perPage, vpn0, frames } = oneFolio();
  const info = expectedTailWord(k, head, 9);
  // A plain tail's flags word (vmemmap page 1 holds nothing but plain tails).
  const flags = c.shadow.memmap.readU64(head + perPage, PAGE_OFF.flags);
  /** Vmemmap page i made a "tails" page of the folio's word, with PG_head in its flags or not. */
  const give = (i: number, fake: boolean) => {
    const f = fake ? flags | (1n << BigInt(PG.head)) : flags;
    k.frames.setPattern(frames[i - 1], {
      kind: "tails",
      voff: (vpn0 + i) * k.pageSize,
      info,
      flags: f,
    });
    c.mirror.refresh();
  };
  for (const i of [1, 2, 3]) give(i, false);
  const check = () => checkFolio(c, { headPfn: head, order: 9 });
  /** Invariants found at the first pfn of vmemmap page i. */
  const at = (found: Array<{ invariant: string; pfn?: number }>, i: number) =>
    found.filter((v) => v.pfn === head + i * perPage).map((v) => v.invariant);
  return { k, frames, give, check, at };
}

describe("checkFolio() over tails pages", () => {
  it("finds nothing where every tails page is clean", () => {
    const { k, frames, check } = tailsFolio();
    for (const f of frames) expect(k.frames.patternShapeOf(f)?.kind).toBe("tails");
    expect(check()).toEqual([]);
  });

  it("finds a fake head in a tails page read after clean ones", () => {
    const { give, check, at } = tailsFolio();
    expect(check()).toEqual([]);
    give(3, true);
    const found = check();
    expect(at(found, 3)).toContain("fake_head");
    expect(at(found, 1)).toEqual([]);
    expect(at(found, 2)).toEqual([]);
  });

  it("reads clean tails pages after a fake head as clean", () => {
    const { give, check, at } = tailsFolio();
    give(1, true);
    const found = check();
    expect(at(found, 1)).toContain("fake_head");
    expect(at(found, 2)).toEqual([]);
    expect(at(found, 3)).toEqual([]);
    give(1, false);
    expect(check()).toEqual([]);
  });
});
