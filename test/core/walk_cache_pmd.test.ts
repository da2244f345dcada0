// The page-table walk also remembers the PMD-level table it passed last (src/mm/pgtable.ts
// leafOf()): a write to a table at the PMD level or below (a vmemmap PMD split: set() told the
// level) cannot change which PMD-level table a walk reaches, so that memory outlives it; a write
// above the PMD level, or one whose level set() is not told, forgets it. Whatever is written in
// between, told its level or not, and through whichever of two instances over the same frames, a
// walk must find what a walk from the root finds (walk(), which never uses the memory). Seeded
// sequences (fast-check, fixed seed) on x86_64 with 5-level paging (the PMD level is 3):
// walks, and entry writes at every level of the path to a vmemmap page. The PMD-level slots HVO's
// remap walks ask for (slot(), which with pmdSlots starts from the same memory) must be those of
// an instance that walks from the root for each.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KernelPageTables } from "../../src/mm/pgtable.ts";
import { walkModel } from "./walk_model.ts";

type Op =
  | { kind: "walk"; who: 0 | 1; v: number }
  | { kind: "slot"; who: 0 | 1; v: number }
  | {
      kind: "write";
      who: 0 | 1;
      v: number;
      level: number;
      how: "clear" | "move" | "undo";
      told: boolean;
    };

describe("the walk that starts at a remembered PMD-level table finds what a walk from the root finds", () => {
  for (const la57 of [true, false])
    it(`${la57 ? "5" : "4"}-level paging: entry writes at every level, told their level or not, two instances`, () => {
      const { model, first } = walkModel(la57);
      const k = model.k;
      const levels = k.pgt.levels;
      expect(levels).toBe(la57 ? 5 : 4);
      // Pages over several PMD-level tables' spans (one PMD table maps 512 * 512 pages).
      const lo = first - 600;
      const hi = first + 600;
      const far = first + 512 * 512 + 5;
      const vArb = fc.oneof(
        fc.integer({ min: lo, max: hi }),
        fc.integer({ min: far, max: far + 50 }),
      );
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        {
          weight: 3,
          arbitrary: fc.record({
            kind: fc.constantFrom("walk" as const, "slot" as const),
            who: fc.constantFrom(0 as const, 1 as const),
            v: vArb,
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            kind: fc.constant("write" as const),
            who: fc.constantFrom(0 as const, 1 as const),
            v: vArb,
            level: fc.integer({ min: 1, max: levels - 1 }),
            how: fc.constantFrom("clear" as const, "move" as const, "undo" as const),
            told: fc.boolean(),
          }),
        },
      );
      let fromPmd = 0;
      let slots = 0;
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
          const pts = [0, 1].map(
            () => new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase),
          );
          const fromRoot = new KernelPageTables(
            k.spec.arch,
            k.frames,
            k.pgt.rootPfn,
            k.vmemmapBase,
          );
          fromRoot.paths.pmdSlots = false;
          const undo: Array<() => void> = [];
          const check = (pt: KernelPageTables, v: number) => {
            const vaddr = k.vmemmapBase + BigInt(v) * 4096n;
            expect(pt.walkPage(v), `page ${v}`).toEqual(pt.walk(vaddr));
          };
          const checkSlot = (pt: KernelPageTables, v: number) => {
            const vaddr = k.vmemmapBase + BigInt(v) * 4096n;
            expect(pt.slot(levels - 2, vaddr), `PMD slot of page ${v}`).toEqual(
              fromRoot.slot(levels - 2, vaddr),
            );
          };
          try {
            for (const op of ops) {
              const pt = pts[op.who];
              const vaddr = k.vmemmapBase + BigInt(op.v) * 4096n;
              if (op.kind === "walk") {
                check(pt, op.v);
                continue;
              }
              if (op.kind === "slot") {
                checkSlot(pt, op.v);
                slots++;
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
              // Told only while every pointer is as the kernel left it (a frame reached
              // through a moved one may be a table of another level: the caller's word is
              // its knowledge, as vmemmap_split_pmd()'s of its PMD).
              const lv = op.told && undo.length === 0 ? op.level : -1;
              if (lv >= levels - 2) fromPmd++;
              // x86_64: bit 0 present; bits 12.. the pfn (moved by one frame: another table or page).
              pt.set(s.tablePfn, s.idx, op.how === "clear" ? old & ~1n : old + 4096n, lv);
              undo.push(() => pt.set(s.tablePfn, s.idx, old));
            }
            for (const pt of pts) {
              for (let v = lo; v <= hi; v += 7) check(pt, v);
              for (let v = far; v <= far + 50; v += 3) check(pt, v);
              for (let v = lo; v <= hi; v += 97) checkSlot(pt, v);
              checkSlot(pt, far);
            }
          } finally {
            while (undo.length > 0) undo.pop()?.();
          }
        }),
        { seed: 2207, numRuns: 60, verbose: 1 },
      );
      // Writes told they were at the PMD level or below ran (those keep the memory).
      expect(fromPmd).toBeGreaterThan(0);
      expect(slots).toBeGreaterThan(0);
    });
});
