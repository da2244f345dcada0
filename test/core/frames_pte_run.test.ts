// KernelPageTables.setPteRun() (src/mm/pgtable.ts): a PTE table filled as vmemmap_split_pmd()
// fills it, held as one run of words in the frame store, must hold exactly the bytes of the
// same entries written one setPte() at a time (the x86_64 entry: pfn << 12, PAGE_KERNEL or
// PAGE_KERNEL_RO bits, NX), and count the same writes; including runs whose pfns cross the
// 2^20 boundary (where the low half of the entry wraps into the high half) and the top of the
// 40-bit pfn field, and the single-entry rewrites HVO makes afterwards.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;

describe("a PTE table written as one run reads as the entries written one by one", () => {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), "mainline");
  const k = model.k;
  const table = () => {
    const t = k.allocPageTablePage("test");
    if (t === null) throw new Error("no page-table page");
    return t;
  };
  const n = k.pgt.entriesPerTable;
  for (const first of [0, 9000, 2 ** 20 - 100, 2 ** 32 - 7, 2 ** 40 - n]) {
    for (const writable of [true, false]) {
      it(`pfns ${first}.. ${writable ? "PAGE_KERNEL" : "PAGE_KERNEL_RO"}, then rewritten as HVO does`, () => {
        const a = table();
        const b = table();
        const w0 = k.pgt.pteWrites;
        k.pgt.setPteRun(a, 0, n, first, writable);
        const w1 = k.pgt.pteWrites;
        for (let i = 0; i < n; i++) k.pgt.setPte(b, i, first + i, writable);
        expect(w1 - w0).toBe(n);
        expect(k.pgt.pteWrites - w1).toBe(n);
        expect(Buffer.from(k.frames.view(a)).equals(Buffer.from(k.frames.snapshot(b)))).toBe(true);
        // Entry 0 one page writable, the rest another read-only, then pages top-down writable.
        for (const t of [a, b]) {
          k.pgt.setPte(t, 0, 777, true);
          for (let i = 1; i < n; i++) k.pgt.setPte(t, i, 778, false);
        }
        expect(Buffer.from(k.frames.view(a)).equals(Buffer.from(k.frames.snapshot(b)))).toBe(true);
        for (const t of [a, b]) for (let i = 1; i < n; i++) k.pgt.setPte(t, i, 5_000_000 - i, true);
        expect(Buffer.from(k.frames.view(a)).equals(Buffer.from(k.frames.snapshot(b)))).toBe(true);
        // The walk's decoding of every entry agrees as well.
        for (let i = 0; i < n; i += 37) {
          expect(k.pgt.entry(a, i, k.pgt.levels - 1)).toBe(true);
          const ea = { ...k.pgt.e };
          k.pgt.entry(b, i, k.pgt.levels - 1);
          expect(ea).toEqual(k.pgt.e);
        }
        expect(k.frames.heldAsRuns(a)).toBe(true);
      });
    }
  }
});
