// The vmemmap page list of the HVO paths (hugetlb_vmemmap.c's list_head of pages, PageList) is
// kept as runs of consecutive pfns: a batch of 65,000 1 GiB folios puts 266 million pages on
// it. Against the plain form of a list_head (an array, head first) on seeded random sequences
// of list_add(), list_del(), taking the head, and draining in pieces (or in runs cut where
// the pieces end): the same pages in the same order after every operation. addRun() (the remap walk's list_add() of a run of PTEs'
// pages) must equal its adds one by one, and takeHeadRun() (a restore's pages for a run of
// PTEs) its takeHead()s.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PageList } from "../../src/mm/hugetlb_vmemmap.ts";

type Op =
  | { op: "add"; pfn: number }
  | { op: "addRun"; pfn: number; n: number; dir: 1 | -1 }
  | { op: "addRunAtOnce"; pfn: number; n: number; step: number }
  | { op: "takeHeadRun"; max: number }
  | { op: "del"; pick: number }
  | { op: "takeHead" }
  | { op: "drain"; max: number }
  | { op: "drainRuns"; max: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), pfn: fc.integer({ min: 0, max: 40 }) }),
  fc.record({
    op: fc.constant("addRun" as const),
    pfn: fc.integer({ min: 0, max: 40 }),
    n: fc.integer({ min: 1, max: 9 }),
    dir: fc.constantFrom(1 as const, -1 as const),
  }),
  fc.record({
    op: fc.constant("addRunAtOnce" as const),
    pfn: fc.integer({ min: 0, max: 40 }),
    n: fc.integer({ min: 0, max: 9 }),
    step: fc.constantFrom(1, -1, 0, 2),
  }),
  fc.record({ op: fc.constant("takeHeadRun" as const), max: fc.integer({ min: 0, max: 9 }) }),
  fc.record({ op: fc.constant("del" as const), pick: fc.nat(50) }),
  fc.record({ op: fc.constant("takeHead" as const) }),
  fc.record({ op: fc.constant("drain" as const), max: fc.integer({ min: 1, max: 7 }) }),
  fc.record({ op: fc.constant("drainRuns" as const), max: fc.integer({ min: 1, max: 7 }) }),
);

describe("PageList (runs) against a plain list_head", () => {
  it("the same pages in the same order after every operation (seed 20261206)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        const list = new PageList();
        // Head first, as list_for_each_entry() walks it.
        let ref: number[] = [];
        for (const o of ops) {
          if (o.op === "add") {
            list.add(o.pfn);
            ref.unshift(o.pfn);
          } else if (o.op === "addRun") {
            const pfns = Array.from({ length: o.n }, (_, i) => o.pfn + o.dir * i);
            list.addAll(pfns);
            for (const p of pfns) ref.unshift(p);
          } else if (o.op === "addRunAtOnce") {
            list.addRun(o.pfn, o.step, o.n);
            for (let i = 0; i < o.n; i++) ref.unshift(o.pfn + o.step * i);
          } else if (o.op === "takeHeadRun") {
            const got = list.takeHeadRun(o.max);
            // At most max pages, at least one where there is one, one step apart (+1 or -1):
            // the pages takeHead() would give, in that order.
            expect(got).toBeLessThanOrEqual(o.max);
            if (o.max > 0 && ref.length > 0) expect(got).toBeGreaterThan(0);
            if (got > 1) expect(Math.abs(list.runStep)).toBe(1);
            const taken = Array.from({ length: got }, (_, i) => list.runHead + list.runStep * i);
            expect(taken).toEqual(ref.slice(0, got));
            ref.splice(0, got);
          } else if (o.op === "del") {
            // list_del() of a page on the list (or of one that is not: nothing happens); the
            // list holds each page once in the kernel, the first one from the head goes here.
            const pfn = ref.length ? ref[o.pick % ref.length] : o.pick;
            list.del(pfn);
            const i = ref.indexOf(pfn);
            if (i >= 0) ref.splice(i, 1);
          } else if (o.op === "takeHead") {
            expect(list.takeHead()).toBe(ref.shift());
          } else if (o.op === "drainRuns") {
            // Runs of pages one step apart (+1 or -1; 0 for one page), never across the end of
            // one of drain()'s pieces of max pages: the same pages in the same order.
            const got: number[] = [];
            list.drainRuns(o.max, (head, step, n) => {
              expect(n).toBeGreaterThan(0);
              expect(n > 1 ? Math.abs(step) : step).toBe(n > 1 ? 1 : 0);
              expect(Math.floor(got.length / o.max)).toBe(Math.floor((got.length + n - 1) / o.max));
              for (let i = 0; i < n; i++) got.push(head + step * i);
            });
            expect(got).toEqual(ref);
            ref = [];
          } else {
            const pieces = [...list.drain(o.max)];
            for (const p of pieces) expect(p.length).toBeLessThanOrEqual(o.max);
            expect(pieces.flat()).toEqual(ref);
            ref = [];
          }
          expect([...list]).toEqual(ref);
          expect(list.length).toBe(ref.length);
        }
      }),
      { seed: 20261206, numRuns: 400, verbose: fc.VerbosityLevel.Verbose },
    );
  });

  it("a 1 GiB folio's 4095 pages in a row are one run, drained in order", () => {
    const list = new PageList();
    // As a remap walk adds them: vmemmap page 1 .. 4095 of the folio, frames ascending.
    for (let i = 1; i < 4096; i++) list.add(0x100000 + i);
    expect(list.length).toBe(4095);
    const pieces = [...list.drain(1000)];
    expect(pieces.map((p) => p.length)).toEqual([1000, 1000, 1000, 1000, 95]);
    // From the head on: the last page added first.
    expect(pieces[0][0]).toBe(0x100000 + 4095);
    expect(pieces[4][94]).toBe(0x100001);
    expect(list.length).toBe(0);
  });
});
