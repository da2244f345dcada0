// The page-table walk remembers the table it read its last entry from and starts the next walk
// inside that table's span there (src/mm/pgtable.ts; a paging-structure cache, not the TLB).
// Whatever is written to the tables in between, and through whichever of two instances over the
// same frames, a walk must find what a walk from the root finds (walk(), which never uses the
// memory). Seeded sequences (fast-check, fixed seed): walks, and entry writes at every level
// of the path to a vmemmap page (present bit cleared, pointed elsewhere, put back).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";

const GiB = 2 ** 30;
const SEED = 1106;

function setup() {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), "mainline");
  // HVO'd 2 MiB folios: split PMDs, so the walks end at PTE tables as well as at PMD leaves.
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "20");
  model.settle();
  const k = model.k;
  const heads = [...model.pool.folios.keys()];
  return { k, first: Math.floor((heads[0] * 64) / 4096) };
}

type Op =
  | { kind: "walk"; who: 0 | 1; v: number }
  | { kind: "write"; who: 0 | 1; v: number; level: number; how: "clear" | "move" | "undo" };

describe("the walk that starts at the table it read last finds what a walk from the root finds", () => {
  it("after entry writes at every level, through either of two instances", () => {
    const { k, first } = setup();
    const levels = k.pgt.levels;
    const vArb = fc.integer({ min: first - 600, max: first + 1200 });
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("walk" as const),
        who: fc.constantFrom(0 as const, 1 as const),
        v: vArb,
      }),
      fc.record({
        kind: fc.constant("write" as const),
        who: fc.constantFrom(0 as const, 1 as const),
        v: vArb,
        level: fc.integer({ min: 1, max: levels - 1 }),
        how: fc.constantFrom("clear" as const, "move" as const, "undo" as const),
      }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const pts = [0, 1].map(
          () => new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase),
        );
        const undo: Array<() => void> = [];
        try {
          for (const op of ops) {
            const pt = pts[op.who];
            const vaddr = k.vmemmapBase + BigInt(op.v) * 4096n;
            if (op.kind === "walk") {
              expect(pt.walkPage(op.v)).toEqual(pt.walk(vaddr));
              continue;
            }
            if (op.how === "undo") {
              undo.pop()?.();
              continue;
            }
            const s = pt.slot(op.level, vaddr);
            if (!s) continue;
            const old = pt.get(s.tablePfn, s.idx);
            if (old === 0n) continue;
            // x86_64: bit 0 present; bits 12.. the pfn (moved by one frame: another table or page).
            pt.set(s.tablePfn, s.idx, op.how === "clear" ? old & ~1n : old + 4096n);
            undo.push(() => pt.set(s.tablePfn, s.idx, old));
          }
          // Both instances, every page of the range, against walks from the root.
          for (const pt of pts)
            for (let v = first - 600; v <= first + 1200; v += 7) {
              const vaddr = k.vmemmapBase + BigInt(v) * 4096n;
              expect(pt.walkPage(v)).toEqual(pt.walk(vaddr));
            }
        } finally {
          while (undo.length > 0) undo.pop()?.();
        }
      }),
      { seed: SEED, numRuns: 60, verbose: 1 },
    );
  });
});
