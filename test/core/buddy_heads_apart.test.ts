// mm/page_alloc.c alloc_contig_range() of a gigantic range in never-allocated MAX_PAGE_ORDER
// blocks: each block leaves its free list (__ClearPageBuddy() and list_del() on its head's struct
// page). The model takes the blocks of the range in one pass (PageAllocator takeLazyRun()) and
// clears the heads' marks together (Kernel clearBuddyHeadsApart()), translating the heads'
// vmemmap pages, one per head and a constant number apart, in one loop
// (KernelPageTables.translateStrideWords(), which takes the later pages of a huge leaf from the
// first one's walk). Compared here with block by block (takeLazy() and markBuddyHead() of each,
// a translate() per head):
//   - the page tables: translateStrideWords() against translate() of each page on a second TLB
//     over the same tables (capacity 600: sweeps happen in the middle of a pass), over 2 MiB PMD
//     leaves, split PMDs of HVO'd folios and holes, with PTEs changed without a flush (stale
//     entries a sweep must keep): the same words, the same entries held after each step;
//   - the model: two models take the same seeded pool steps (1 GiB folios grown and shrunk,
//     2 MiB folios between them, HVO on and off) and after each must agree on every struct
//     page's bytes, the frames, the free lists, the counters, memmap.writes and every TLB entry.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";
import { stepModels } from "../model_digest.ts";
import { buddyState, H1G, H2M, HVO, type Step, stepArb } from "./gigantic_steps.ts";

const GiB = 2 ** 30;

/** Every TLB entry over vmemmap pages [lo, hi): page, frame, writable. */
function held(t: KernelPageTables, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let v = lo; v < hi; v++) {
    const e = t.tlbEntry(v);
    if (e) out.push(v, e.frame, e.writable ? 1 : 0);
  }
  return out;
}

type PgtStep =
  | { op: "stride"; vpn: number; n: number; stride: number }
  /** The PTE of vpn points one frame up, no flush (a stale entry where a TLB holds it). */
  | { op: "flip"; vpn: number };

describe("translateStrideWords() is translate() of each page in turn", () => {
  for (const design of ["legacy", "mainline"] as const)
    for (const hugeLeaves of [true, false])
      it(`${design}, hugeLeaves ${hugeLeaves}: same words, same TLB entries, sweeps and stale entries`, () => {
        const md = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
        md.write(HVO, "1");
        md.write(H2M, "60");
        md.settle();
        const k = md.k;
        const heads = [...md.pool.folios.keys()].sort((x, y) => x - y);
        // 64-byte struct pages in 4 KiB: a folio's head is in vmemmap page pfn / 64. Pages below
        // the HVO'd folios are mapped by 2 MiB PMDs (512 pages a leaf); the folios' by PTEs.
        const first = Math.floor(heads[0] / 64);
        const last = Math.floor(heads[heads.length - 1] / 64) + 8;
        const lo = Math.max(0, first - 4096);
        const hi = last + 4096;
        const stepArb2: fc.Arbitrary<PgtStep> = fc.oneof(
          {
            weight: 5,
            arbitrary: fc.record({
              op: fc.constant("stride" as const),
              vpn: fc.integer({ min: lo, max: hi }),
              n: fc.integer({ min: 1, max: 300 }),
              stride: fc.integer({ min: 1, max: 40 }),
            }),
          },
          {
            weight: 2,
            arbitrary: fc.record({
              op: fc.constant("flip" as const),
              vpn: fc.integer({ min: first, max: last }),
            }),
          },
        );
        let sweeps = 0;
        let stale = 0;
        fc.assert(
          fc.property(fc.array(stepArb2, { minLength: 1, maxLength: 12 }), (steps) => {
            const make = () =>
              new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase, 600);
            const a = make();
            a.paths.hugeLeaves = hugeLeaves;
            const b = make();
            const undo: (() => void)[] = [];
            try {
              for (const s of steps) {
                if (s.op === "stride") {
                  const before = a.tlbSize;
                  const got = [
                    ...a.translateStrideWords(s.vpn, s.n, s.stride, new Float64Array(s.n)),
                  ];
                  // translate() of each: its tlbWord() (frame + 1, negated read-only; 0 none).
                  const want = Array.from({ length: s.n }, (_, i) => {
                    const t = b.translate(s.vpn + i * s.stride);
                    return t === null ? 0 : t.writable ? t.frame + 1 : -(t.frame + 1);
                  });
                  expect(got).toEqual(want);
                  // Fewer entries after the pass than before it: a sweep dropped some.
                  if (a.tlbSize < before) sweeps++;
                } else {
                  // Held by both TLBs, then stale.
                  a.translateStrideWords(s.vpn, 1, 1, new Float64Array(1));
                  b.translate(s.vpn);
                  const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(s.vpn) * 4096n);
                  if (leaf && !leaf.huge) {
                    const old = k.pgt.get(leaf.tablePfn, leaf.idx);
                    k.pgt.set(leaf.tablePfn, leaf.idx, old + (1n << 12n));
                    undo.push(() => k.pgt.set(leaf.tablePfn, leaf.idx, old));
                  }
                }
                expect(a.tlbSize, "entries held").toBe(b.tlbSize);
                expect(held(a, lo, hi + 40 * 300), "TLB entries").toEqual(
                  held(b, lo, hi + 40 * 300),
                );
                stale += a.staleTlbEntries().length;
              }
            } finally {
              for (const u of undo.reverse()) u();
            }
          }),
          { seed: 4242, numRuns: 25 },
        );
        // The cases that matter ran: passes with a sweep in them, entries kept stale.
        expect(sweeps).toBeGreaterThan(0);
        expect(stale).toBeGreaterThan(0);
      });
});

describe("a TLB full of stale entries fills one page per sweep, a run as page by page", () => {
  it("mainline: translateRange() and translateStrideWords() against translate() of each", () => {
    const md = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), "mainline");
    md.write(HVO, "1");
    md.write(H2M, "4");
    md.settle();
    const k = md.k;
    const head = Math.min(...md.pool.folios.keys());
    // The folio's vmemmap pages, mapped by PTEs of its split PMD (512 pages a table).
    const first = Math.floor(head / 64);
    const make = () => new KernelPageTables(k.spec.arch, k.frames, k.pgt.rootPfn, k.vmemmapBase, 8);
    const a = make();
    const b = make();
    const words = (t: KernelPageTables, v: number, n: number) =>
      Array.from({ length: n }, (_, i) => {
        const x = t.translate(v + i);
        return x === null ? 0 : x.writable ? x.frame + 1 : -(x.frame + 1);
      });
    // Eight pages held by both, then their PTEs point one frame up, no flush: eight stale
    // entries, as many as the TLB holds; no sweep can make room.
    expect(words(a, first, 8)).toEqual(words(b, first, 8));
    const undo: (() => void)[] = [];
    try {
      for (let v = first; v < first + 8; v++) {
        const leaf = k.pgt.lookup(k.vmemmapBase + BigInt(v) * 4096n);
        expect(leaf?.huge).toBe(false);
        if (!leaf) continue;
        const old = k.pgt.get(leaf.tablePfn, leaf.idx);
        k.pgt.set(leaf.tablePfn, leaf.idx, old + (1n << 12n));
        undo.push(() => k.pgt.set(leaf.tablePfn, leaf.idx, old));
      }
      expect(a.staleTlbEntries().length).toBe(8);
      // 20 more pages in a run (below the folio: a 2 MiB PMD leaf; then the PTEs after the 8):
      // each fill finds the TLB full, sweeps, keeps the 8 and fills anyway.
      for (const v of [first - 600, first + 8]) {
        expect([...a.translateRangeWords(v, 20, new Float64Array(20))]).toEqual(words(b, v, 20));
        expect(a.tlbSize).toBe(b.tlbSize);
        expect(held(a, first - 600, first + 600)).toEqual(held(b, first - 600, first + 600));
      }
      const got = [...a.translateStrideWords(first + 40, 20, 3, new Float64Array(20))];
      expect(got).toEqual(Array.from({ length: 20 }, (_, i) => words(b, first + 40 + 3 * i, 1)[0]));
      expect(a.tlbSize).toBe(b.tlbSize);
      // Every fill found the TLB full: its sweep dropped the clean entries and kept the 8 stale
      // ones, then the page was filled: 8 + 1 held.
      expect(a.staleTlbEntries().length).toBe(8);
      expect(a.tlbSize).toBe(8 + 1);
    } finally {
      for (const u of undo.reverse()) u();
    }
  });
});

function model(design: Design, bulk: boolean, memoryBytes = 4 * GiB, nodes = 2): Model {
  const md = bootModel(machinePreset("x86_64", { memoryBytes, nodes }), design);
  md.k.paths.lazyTakeRun = bulk;
  md.k.paths.headsApart = bulk;
  md.k.paths.hugeLeaves = bulk;
  // Every third never-allocated block's head with its vmemmap page held as its own bytes (read
  // as memmap_init() left it): the marks are then stored, not left to the rendering.
  const k = md.k;
  let i = 0;
  for (const z of k.buddy.zones)
    for (const [s, e] of z.lazy)
      for (let b = s; b < e; b += 1024) if (i++ % 3 === 0) k.memmap.structPageView(b, false);
  return md;
}

/** The model's state as buddyState() has it, and every TLB entry over the whole vmemmap. */
function state(md: Model): Record<string, unknown> {
  const k = md.k;
  const maxPfn = Math.max(...k.buddy.zones.map((z) => z.endPfn));
  const pages = Math.ceil((maxPfn * 64) / 4096);
  return { ...buddyState(md), tlbSize: k.pgt.tlbSize, tlb: held(k.pgt, 0, pages) };
}

describe("a gigantic range's blocks taken from the lazy ones in one pass equal block by block", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`x86_64 4 GiB, 2 nodes, ${design}: bytes, lists, counters and TLB after each seeded step`, () => {
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 6 }), (steps) => {
          const bulk = model(design, true);
          const single = model(design, false);
          const all: Step[] = [
            [HVO, "1"],
            [H1G, "1"],
            ...steps,
            [H1G, "2"],
            [H1G, "0"],
            [H2M, "0"],
          ];
          for (const [i, [path, value]] of all.entries()) {
            stepModels([bulk, single], path, value);
            expect(state(bulk), `step ${i}: ${value} > ${path}`).toEqual(state(single));
          }
        }),
        { seed: 6131, numRuns: 2, verbose: true },
      );
    });

  it("8 GiB, 1 node: a range that starts the lazy blocks while explicit top-order blocks are listed", () => {
    // 1 GiB folios are taken lowest first from Normal ([4 GiB, 8 GiB + the hole)): two, then one
    // freed back (256 explicit MAX_PAGE_ORDER blocks, first on the list), 2 MiB folios claiming
    // some of them, then new 1 GiB folios from the first never-allocated block: each block's
    // list_del() relinks the last explicit block's next (the one-pass path leaves those to the
    // per-block one).
    for (const design of ["mainline"] as const) {
      const bulk = model(design, true, 8 * GiB, 1);
      const single = model(design, false, 8 * GiB, 1);
      const all: Step[] = [
        [H1G, "2"],
        [H1G, "1"],
        [H2M, "20"],
        [H1G, "2"],
        [H1G, "3"],
        [H1G, "0"],
      ];
      for (const [i, [path, value]] of all.entries()) {
        stepModels([bulk, single], path, value);
        expect(state(bulk), `${design} step ${i}: ${value} > ${path}`).toEqual(state(single));
      }
      expect(bulk.read(H1G).trim()).toBe("0");
    }
  });

  it("the one-pass path runs: a fresh 1 GiB folio's 256 blocks in one translateStrideWords()", () => {
    // x86_64: 4 KiB pages, MAX_PAGE_ORDER 10: 1 GiB / 4 MiB = 256 blocks, their heads
    // 1024 * 64 / 4096 = 16 vmemmap pages apart.
    const md = model("mainline", true);
    const pgt = md.k.pgt;
    const orig = pgt.translateStrideWords.bind(pgt);
    const calls: number[][] = [];
    pgt.translateStrideWords = (vpn, n, stride, out) => {
      calls.push([n, stride]);
      return orig(vpn, n, stride, out);
    };
    md.write(H1G, "1");
    md.settle();
    expect(md.read(H1G).trim()).toBe("1");
    expect(calls).toContainEqual([256, 16]);
  });
});
