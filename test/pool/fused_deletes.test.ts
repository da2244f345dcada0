// A fused shrink (hugetlb.ts HugetlbPool fuseShrink) leaves the pool's map of folios as the
// removal and free of one folio at a time leaves it: its entries of the folios freed go at its
// end, the map emptied in one go where they were all of it. Two models run side by side
// (test/pool/side_by_side.ts), the fused shrink on and off: shrinks to empty and to part of the
// pool, with 1 GiB folios in the map beside the 2 MiB ones, on one node and two.
import { describe, it } from "vitest";
import type { Model } from "../../src/model.ts";
import { compareSideBySide, plans, type Step } from "./side_by_side.ts";

const fuseShrink = (m: Model, on: boolean): void => {
  m.k.paths.fuseShrink = on;
};

describe("a fused shrink leaves the pool's folios as one folio at a time does", () => {
  // Shrinks to part of the pool and to empty, a 1 GiB folio beside 2 MiB ones.
  const fixed: Step[] = [300, 120, 0, [1], 200, 50, [0], 260, 0];
  for (const nodes of [1, 2])
    it(`x86_64, legacy, ${nodes} node(s)`, () => {
      compareSideBySide(fuseShrink, "legacy", nodes, [fixed, ...plans(0xf0115, 1)]);
    });
});
