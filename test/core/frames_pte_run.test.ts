// KernelPageTables.setPteRun() (src/mm/pgtable.ts): a PTE table filled as vmemmap_split_pmd()
// fills it, held as one run of words in the frame store, must hold exactly the bytes of the
// same entries written one setPte() at a time (the x86_64 entry: pfn << 12, PAGE_KERNEL or
// PAGE_KERNEL_RO bits, NX), and count the same writes; including runs whose pfns cross the
// 2^20 boundary (where the low half of the entry wraps into the high half) and the top of the
// 40-bit pfn field, and the single-entry rewrites HVO makes afterwards.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PteRuns } from "../../src/mm/pgtable.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;

// One model for both groups: each test writes page-table pages of its own.
const k = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), "mainline").k;
/** A fresh page-table page (pte_alloc_one_kernel()). */
const table = (): number => {
  const t = k.allocPageTablePage("test");
  if (t === null) throw new Error("no page-table page");
  return t;
};

describe("a PTE table written as one run reads as the entries written one by one", () => {
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

// setPteRun() with a step (0: one page n times, as HVO maps the shared tail; -1: pages handed
// out top-down, as a restore maps them) against setPte() one at a time; and pteRuns(), the
// remap walk's reader, against entry() of every PTE: the runs cover the range in order, and
// entry i of a run maps its pfn + i * step with its protection.
describe("PTE runs with a step, and pteRuns() reading them back", () => {
  const n = k.pgt.entriesPerTable;
  const last = k.pgt.levels - 1;
  const runs = new PteRuns(80);
  /** Every entry of [idx, idx + nr) as pteRuns() says, or null where it says -1. */
  const viaRuns = (t: number, idx: number, nr: number) => {
    const r = k.pgt.pteRuns(t, idx, nr, runs);
    if (r < 0) return null;
    const out: string[] = [];
    let at = idx;
    for (let j = 0; j < r; j++) {
      expect(runs.first[j]).toBe(at);
      for (let i = 0; i < runs.len[j]; i++)
        out.push(`${runs.pfn[j] + i * runs.step[j]}:${runs.writable[j] === 1}`);
      at += runs.len[j];
    }
    expect(at).toBe(idx + nr);
    return out;
  };
  const viaEntries = (t: number, idx: number, nr: number) =>
    Array.from({ length: nr }, (_, i) => {
      expect(k.pgt.entry(t, idx + i, last)).toBe(true);
      return `${k.pgt.e.pfn}:${k.pgt.e.writable}`;
    });

  for (const step of [0, -1, 1, 3]) {
    for (const pfn of [778, 2 ** 20 + 5, 2 ** 34 + 100]) {
      it(`step ${step} from pfn ${pfn}: the bytes and counts of setPte(), read back as runs`, () => {
        const a = table();
        const b = table();
        // A split table first (one run), then HVO's rewrite from entry 1 on.
        for (const t of [a, b]) k.pgt.setPteRun(t, 0, n, 9000, true);
        const w0 = k.pgt.pteWrites;
        k.pgt.setPteRun(a, 1, n - 1, pfn, false, step);
        const w1 = k.pgt.pteWrites;
        for (let i = 1; i < n; i++) k.pgt.setPte(b, i, pfn + (i - 1) * step, false);
        expect(w1 - w0).toBe(n - 1);
        expect(k.pgt.pteWrites - w1).toBe(n - 1);
        expect(Buffer.from(k.frames.view(a)).equals(Buffer.from(k.frames.snapshot(b)))).toBe(true);
        expect(k.frames.heldAsRuns(a)).toBe(true);
        // Entry 0 RW at 9000, then the run: two runs (one when they join), read as entry() reads.
        expect(viaRuns(a, 0, n)).toEqual(viaEntries(a, 0, n));
        expect(viaRuns(a, 5, 40)).toEqual(viaEntries(a, 5, 40));
        // A table held as bytes is not read as runs: the walk goes PTE by PTE there.
        k.frames.writableView(b);
        expect(k.frames.heldAsRuns(b)).toBe(false);
        expect(viaRuns(b, 0, n)).toBeNull();
      });
    }
  }

  it("a none entry in the range: no runs (the walk's PTE-by-PTE path reports it)", () => {
    const a = table();
    k.pgt.setPteRun(a, 0, 100, 4242, true);
    expect(viaRuns(a, 0, 100)).not.toBeNull();
    expect(viaRuns(a, 50, 51)).toBeNull();
  });
});
