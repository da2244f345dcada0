// The frame ledger joins a changed range to the one noted just before when they touch or
// overlap (src/check/frame_ledger.ts note()): the union it then walks must still hold every
// frame either range held. A frame put in two states behind the allocator's back, then noted in
// the second of two ranges (after, before, overlapping or repeating the first), is found at the
// next check, as the whole-machine sweep finds it.
import { describe, expect, it } from "vitest";
import { FrameLedger } from "../../src/check/frame_ledger.ts";
import { checkContext, frameTiling } from "../../src/check/invariants.ts";
import { bootCheckModel, checkMachineSpec, defaultCheckMachine } from "../../src/check/run.ts";
import { DESIGNS, type Design, type Kernel } from "../../src/kernel.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

/** Ranges noted around the corrupt frame p (start, nr pairs, in the order noted). */
const CASES: Record<string, (p: number) => Array<[number, number]>> = {
  "the second starts where the first ends": (p) => [
    [p - 3, 3],
    [p, 2],
  ],
  "the second ends where the first starts": (p) => [
    [p + 1, 4],
    [p - 1, 2],
  ],
  "the second overlaps the first's end": (p) => [
    [p - 4, 4],
    [p - 2, 3],
  ],
  "the second overlaps the first's start": (p) => [
    [p + 1, 4],
    [p - 2, 4],
  ],
  "the second holds the first": (p) => [
    [p - 1, 1],
    [p - 2, 6],
  ],
  "the second repeats a frame, then a touching one": (p) => [
    [p - 1, 1],
    [p - 1, 1],
    [p, 1],
  ],
};

/** A booted x86_64 model of the design and a ledger that found it clean. */
function cleanLedger(design: Design): { k: Kernel; ledger: FrameLedger } {
  const spec = checkMachineSpec(defaultCheckMachine("x86_64"));
  const model = bootCheckModel(spec, design, null);
  new ModelSession(model).reset();
  const c = checkContext(model.k);
  const ledger = new FrameLedger(c);
  c.mirror.refresh();
  expect(ledger.check(c.mirror.drainLog().changes)).toEqual([]);
  return { k: model.k, ledger };
}

/**
 * Frame p, free, handed out behind the allocator's back (no listener told): both free and
 * allocated, which the whole-machine sweep sees at once.
 */
function handOutUntold(k: Kernel, p: number): void {
  const allocations = k.buddy.allocations;
  const told = allocations.listeners.splice(0);
  allocations.set(p, { order: 0, use: "kernel", nid: 0 });
  allocations.listeners.push(...told);
  expect(frameTiling(k).map((v) => [v.invariant, v.pfn])).toContainEqual(["frame_state", p]);
}

describe("the frame ledger's joined ranges still cover every frame noted", () => {
  for (const design of DESIGNS)
    for (const [name, ranges] of Object.entries(CASES))
      it(`${design}: ${name}`, () => {
        const { k, ledger } = cleanLedger(design);
        // p: the first frame of a free block with present memory before it, handed out behind
        // the allocator's back (no listener told), so it is both free and allocated. A walk of
        // the ranges steps from block to block: it reaches p exactly when their union holds p.
        const online = k.onlineRanges();
        const inside = (f: number) => online.some((r) => f >= r.startPfn && f < r.endPfn);
        const block = [...k.buddy.freeBlocks()].find(
          (b) => b.nrPages >= 8 && inside(b.start - 4) && inside(b.start),
        );
        expect(block).toBeDefined();
        const p = (block as { start: number }).start;
        handOutUntold(k, p);
        for (const [start, nr] of ranges(p)) for (const l of k.buddy.listeners) l(start, nr);
        const found = ledger.check([]);
        expect(found.map((v) => [v.invariant, v.pfn])).toContainEqual(["frame_state", p]);
      });
});

// The walk steps from a free block to the frame just past its end (tiling()'s block end): a
// frame put in a second state right after a free block, in a range that starts inside that
// block, is found only if the step lands exactly on it. Two free blocks that touch (a smaller
// one below a larger, which the buddy cannot merge: they are not buddies) give such a frame:
// the second block's first.
describe("the frame ledger's walk reaches the frame right after a free block", () => {
  for (const design of DESIGNS)
    it(`${design}: a frame both free and allocated just past a free block`, () => {
      const { k, ledger } = cleanLedger(design);
      const blocks = [...k.buddy.freeBlocks()];
      const startOf = new Set(blocks.map((b) => b.start));
      const below = blocks.find((b) => startOf.has(b.start + b.nrPages));
      expect(below).toBeDefined();
      const { start, nrPages } = below as { start: number; nrPages: number };
      const p = start + nrPages;
      handOutUntold(k, p);
      // One range, from the lower block's first frame through p.
      for (const l of k.buddy.listeners) l(start, nrPages + 1);
      const found = ledger.check([]);
      expect(found.map((v) => [v.invariant, v.pfn])).toContainEqual(["frame_state", p]);
    });
});
