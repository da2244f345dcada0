// translateRange() (one page-table walk per leaf, src/mm/pgtable.ts) against translate() of each
// vmemmap page in turn: the same translations, the same TLB afterwards (size and stale
// entries), over vmemmap mapped by 2 MiB PMD leaves, by split PMDs (HVO'd folios: PTEs that
// point at shared and read-only frames), across holes, and with a stale entry left by a PTE
// changed without a flush. Seeded ranges (fast-check, fixed seed).
//
// The TLB's sweep of clean entries when it is full (src/mm/pgtable.ts evictClean()) walked a
// leaf at a time over a chunk of pages (walkRangeWords(), sweepByRange), and translateRange()
// filling runs of pages in one loop (TlbTable.fillRun(), fillByRun), both reading PTE tables
// held as runs a run at a time (rangeByRuns), against a walk and a fillWord() per entry, entry
// by entry (FastPaths.plain()). Two TLBs over the same page tables see the same
// translations asked for, with PTEs changed without a flush between them (stale entries a sweep
// must keep), over 2 MiB PMD leaves, PTE tables of HVO'd folios (held as runs of entries) and
// holes: after each step they must hold the same entries with the same translations. Seeded
// (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel } from "../../src/model.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";
import { FastPaths } from "../../src/mm/fast_paths.ts";

const GiB = 2 ** 30;

/** A model with HVO on and nr 2 MiB folios; heads in the pool's order. */
function setup(design: Design, nr = 40) {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", String(nr));
  model.settle();
  const k = model.k;
  const heads = [...model.pool.folios.keys()];
  return { k, heads };
}

/** A second TLB over k's page tables, `capacity` entries, on the fast paths `paths`. */
function tlbOver(k: ReturnType<typeof setup>["k"], paths: FastPaths, capacity = 600) {
  const t = new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase, capacity);
  t.paths = paths;
  return t;
}

/** Every entry a TLB holds for vmemmap pages [lo, hi]: page, frame, writable. */
function heldIn(t: KernelPageTables, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let v = lo; v <= hi; v++) {
    const e = t.tlbEntry(v);
    if (e) out.push(v, e.frame, e.writable ? 1 : 0);
  }
  return out;
}

describe("translateRange() is translate() of each page, one walk per leaf", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: same translations and the same TLB, split and unsplit PMDs, holes, a stale entry`, () => {
      const { k, heads } = setup(design);
      const first = Math.floor((heads[0] * 64) / 4096);
      const capacity = 64;
      const vpnArb = fc.integer({ min: Math.max(0, first - 3000), max: first + 6000 });
      fc.assert(
        fc.property(
          fc.array(fc.tuple(vpnArb, fc.integer({ min: 1, max: 1200 })), {
            minLength: 1,
            maxLength: 6,
          }),
          fc.boolean(),
          (ranges, stale) => {
            const a = new KernelPageTables(
              k.spec.arch,
              k.frames,
              k.pgt.rootPfn,
              k.vmemmapBase,
              capacity,
            );
            const b = new KernelPageTables(
              k.spec.arch,
              k.frames,
              k.pgt.rootPfn,
              k.vmemmapBase,
              capacity,
            );
            let restore: (() => void) | null = null;
            if (stale) {
              // Both TLBs hold the translation of `first`; then its PTE changes, unflushed.
              a.translate(first + 1);
              b.translate(first + 1);
              const leaf = a.lookup(k.vmemmapBase + BigInt(first + 1) * 4096n);
              if (leaf && !leaf.huge) {
                const old = a.get(leaf.tablePfn, leaf.idx);
                a.set(leaf.tablePfn, leaf.idx, old ^ (1n << 12n));
                restore = () => a.set(leaf.tablePfn, leaf.idx, old);
              }
            }
            try {
              for (const [v, n] of ranges) {
                const got = a.translateRange(v, n);
                const want = Array.from({ length: n }, (_, i) => b.translate(v + i));
                expect(got).toEqual(want);
                expect(a.tlbSize).toBe(b.tlbSize);
                expect(a.staleTlbEntries().map((s) => s.vpn)).toEqual(
                  b.staleTlbEntries().map((s) => s.vpn),
                );
              }
              if (restore) expect(a.staleTlbEntries().length).toBeGreaterThan(0);
            } finally {
              restore?.();
            }
          },
        ),
        { seed: 7, numRuns: 40 },
      );
    });
  }
});

type Step =
  | { op: "range"; vpn: number; n: number }
  | { op: "one"; vpn: number }
  /** Pages around vpn looked up, then the PTE of vpn points one frame up, no flush (stale). */
  | { op: "flip"; vpn: number };

describe("the TLB swept and filled a run at a time holds what it holds an entry at a time", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: same entries and translations after every step, stale ones kept`, () => {
      const { k, heads } = setup(design, 60);
      heads.sort((x, y) => x - y);
      // 64-byte struct pages: a folio's head sits in vmemmap page pfn * 64 / 4096.
      const first = Math.floor((heads[0] * 64) / 4096);
      const last = Math.floor((heads[heads.length - 1] * 64) / 4096) + 8;
      const lo = Math.max(0, first - 2048);
      const hi = last + 2048;
      const vpnArb = fc.integer({ min: lo, max: hi });
      const stepArb: fc.Arbitrary<Step> = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            op: fc.constant("range" as const),
            vpn: vpnArb,
            n: fc.integer({ min: 1, max: 1500 }),
          }),
        },
        { weight: 2, arbitrary: fc.record({ op: fc.constant("one" as const), vpn: vpnArb }) },
        {
          weight: 2,
          arbitrary: fc.record({
            op: fc.constant("flip" as const),
            vpn: fc.integer({ min: first, max: last }),
          }),
        },
      );
      /** Every entry the TLB holds in the window the steps look at. */
      const held = (t: KernelPageTables) => heldIn(t, lo, hi + 1500);
      let sweeps = 0;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 1, maxLength: 14 }), (steps) => {
          // 600 entries: sweeps come often, and chunks hold enough entries to go a leaf at a time.
          // Their own fast paths (k's stay on): the sweep, the fills and the runs read.
          const make = (byRange: boolean) =>
            tlbOver(k, byRange ? new FastPaths() : FastPaths.plain());
          const a = make(true);
          const b = make(false);
          const undo: (() => void)[] = [];
          try {
            for (const s of steps) {
              const before = a.tlbSize;
              if (s.op === "range") {
                expect(a.translateRange(s.vpn, s.n)).toEqual(b.translateRange(s.vpn, s.n));
              } else if (s.op === "one") {
                expect(a.translate(s.vpn)).toEqual(b.translate(s.vpn));
              } else {
                // Held by both TLBs, among neighbours (a chunk swept a leaf at a time), then stale.
                expect(a.translateRange(s.vpn - 40, 80)).toEqual(b.translateRange(s.vpn - 40, 80));
                const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(s.vpn) * 4096n);
                if (leaf && !leaf.huge) {
                  const old = k.pgt.get(leaf.tablePfn, leaf.idx);
                  k.pgt.set(leaf.tablePfn, leaf.idx, old + (1n << 12n));
                  undo.push(() => k.pgt.set(leaf.tablePfn, leaf.idx, old));
                }
              }
              // Fewer entries after a lookup than before it: a sweep dropped some.
              if (a.tlbSize < before) sweeps++;
              expect(a.tlbSize, "entries held").toBe(b.tlbSize);
              expect(held(a), "TLB entries: vmemmap page, frame, writable").toEqual(held(b));
            }
          } finally {
            for (const u of undo.reverse()) u();
          }
        }),
        { seed: 11, numRuns: 30 },
      );
      expect(sweeps).toBeGreaterThan(0);
    });
  }
});

describe("a sweep keeps a stale translation under a huge leaf, as under a PTE", () => {
  it("mainline: a 2 MiB PMD leaf moved without a flush, then fills that sweep: the same TLB", () => {
    const { k } = setup("mainline", 8);
    // Vmemmap pages mapped by 2 MiB PMD leaves (512 pages each), five in a row (not split by
    // HVO).
    const huge = (v: number) => k.pgt.lookup(k.vmemmapBase + BigInt(v) * 4096n)?.huge === true;
    let first = 0;
    while (![0, 1, 2, 3, 4].every((i) => huge(first + i * 512))) first += 512;
    const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(first) * 4096n);
    expect(leaf?.huge).toBe(true);
    if (!leaf) return;
    const a = tlbOver(k, new FastPaths());
    const b = tlbOver(k, FastPaths.plain());
    const lo = first - (first % 512);
    const old = k.pgt.get(leaf.tablePfn, leaf.idx);
    try {
      // The leaf's pages held by both, then the leaf maps the next 2 MiB of frames, no flush.
      expect(a.translateRange(lo, 400)).toEqual(b.translateRange(lo, 400));
      k.pgt.set(leaf.tablePfn, leaf.idx, old + (512n << 12n));
      expect(a.staleTlbEntries().length).toBe(400);
      // Pages of the next leaves: each TLB fills up and sweeps; the stale 400 stay.
      for (let v = lo + 512; v < lo + 512 * 5; v += 300) {
        expect(a.translateRange(v, 300)).toEqual(b.translateRange(v, 300));
        expect(a.tlbSize).toBe(b.tlbSize);
      }
      for (let v = lo; v < lo + 512 * 5; v++) expect(a.tlbEntry(v)).toEqual(b.tlbEntry(v));
      expect(a.staleTlbEntries().length).toBe(400);
    } finally {
      k.pgt.set(leaf.tablePfn, leaf.idx, old);
    }
  });
});

describe("PTE tables held as bytes read through one lookup translate as entry by entry", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: HVO'd and restored folios' tables as bytes, PTEs changed unflushed: the same TLB`, () => {
      // 1,500 HVO'd 2 MiB folios: two runs of PTEs each (head page, shared tail), 128 a table,
      // so their PTE tables are held as 4 KiB of bytes; 700 of them restored (restored pages
      // mapped top-down) keep theirs as bytes too.
      const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
      model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1500");
      model.settle();
      const heads = [...model.pool.folios.keys()];
      model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "800");
      model.settle();
      const k = model.k;
      const vpns = heads.map((h) => Math.floor((h * 64) / 4096)).sort((x, y) => x - y);
      const lo = vpns[0];
      const hi = vpns[vpns.length - 1] + 8;
      const leafAt = (v: number) => k.pgt.lookup(k.vmemmapBase + BigInt(v) * 4096n);
      const bytesTables = new Set<number>();
      for (let v = lo; v < hi; v += 512) {
        const leaf = leafAt(v);
        if (leaf && !leaf.huge && k.frames.ownView(leaf.tablePfn) !== null)
          bytesTables.add(leaf.tablePfn);
      }
      expect(bytesTables.size, "PTE tables held as bytes").toBeGreaterThan(10);
      const vpnArb = fc.integer({ min: lo - 600, max: hi });
      const stepArb = fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({
            op: fc.constant("range" as const),
            vpn: vpnArb,
            n: fc.integer({ min: 1, max: 1500 }),
          }),
        },
        {
          weight: 2,
          arbitrary: fc.record({
            op: fc.constantFrom("flip" as const, "hole" as const),
            vpn: fc.integer({ min: lo, max: hi }),
          }),
        },
      );
      const held = (t: KernelPageTables) => heldIn(t, lo - 600, hi + 1500);
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
          const make = (byView: boolean) => {
            const paths = new FastPaths();
            paths.rangeOwnView = byView;
            return tlbOver(k, paths);
          };
          const a = make(true);
          const b = make(false);
          const undo: (() => void)[] = [];
          try {
            for (const s of steps) {
              if (s.op === "range") {
                expect(a.translateRange(s.vpn, s.n)).toEqual(b.translateRange(s.vpn, s.n));
              } else {
                // A PTE of a table held as bytes changed or cleared without a flush (after both
                // hold it).
                expect(a.translateRange(s.vpn - 40, 80)).toEqual(b.translateRange(s.vpn - 40, 80));
                const leaf = leafAt(s.vpn);
                if (leaf && !leaf.huge) {
                  const old = k.pgt.get(leaf.tablePfn, leaf.idx);
                  // Another frame, or none (a table with a hole reads entry by entry).
                  k.pgt.set(leaf.tablePfn, leaf.idx, s.op === "flip" ? old ^ (3n << 12n) : 0n);
                  undo.push(() => k.pgt.set(leaf.tablePfn, leaf.idx, old));
                  // Then the whole table, most of it not held yet.
                  const t0 = s.vpn - (s.vpn % 512);
                  expect(a.translateRange(t0, 512)).toEqual(b.translateRange(t0, 512));
                }
              }
              expect(a.tlbSize, "entries held").toBe(b.tlbSize);
              expect(held(a), "TLB entries: vmemmap page, frame, writable").toEqual(held(b));
            }
          } finally {
            for (const u of undo.reverse()) u();
          }
        }),
        { seed: 20261206, numRuns: 25 },
      );
    });
  }
});
