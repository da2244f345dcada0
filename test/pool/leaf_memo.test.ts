// Walks answered from the last huge leaf's walk (pgtable.ts KernelPageTables leafMemo) while a
// grow enqueues fresh folios or a fused shrink frees them, against a walk each time, on two
// models run side by side (test/pool/side_by_side.ts): seeded sequences of pool sizes, the
// pool's folios over several huge leaves of the vmemmap, 1 GiB pools between them, HVO switched
// on (after which the pool holds no leaves) and off, on one node and two, legacy and mainline.
import { describe, it } from "vitest";
import type { Model } from "../../src/model.ts";
import { compareSideBySide, plans, SIDE_BY_SIDE_MACHINES, type Step } from "./side_by_side.ts";

const leafMemo = (m: Model, on: boolean): void => {
  m.k.paths.leafMemo = on;
};

describe("walks answered from the last huge leaf equal a walk each time", () => {
  // The fixed plan first: grows and shrinks with HVO off (every held walk taken), a 1 GiB
  // folio, then HVO on and off.
  const fixed: Step[] = [400, 120, 600, 0, [1], 300, [0], true, 200, false, 400];
  for (const [design, nodes] of SIDE_BY_SIDE_MACHINES)
    it(`x86_64, ${design}, ${nodes} node(s)`, () => {
      compareSideBySide(leafMemo, design, nodes, [fixed, ...plans(0x1eaf, 2)]);
    });
});
