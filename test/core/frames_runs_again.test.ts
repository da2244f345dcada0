// A page the frame store holds as bytes and that a long store of words leaves as a few runs is
// held as runs again (k.paths.runsAgain, frames.ts FrameStore.runsAgain()), against the same
// page kept as bytes. In the store: seeded sequences of stores (single words, and runs of words
// a constant step apart, short and long) into two PTE tables, one with the fast path and one
// without, must read the same after every store, word by word and as runs. In a model: 2 MiB
// folios with HVO on leave their PTE tables as bytes (two runs or more per folio, 64 folios a
// table); 1 GiB folios grown and shrunk over the same memory rewrite those tables whole. After
// every step, every vmemmap PTE word, struct page, free list, allocation, counter and the log
// must be the same as on a model where the tables stay bytes.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { PteRuns } from "../../src/mm/pgtable.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { modelDigest, stepModels } from "../model_digest.ts";

const GiB = 2 ** 30;
const TWO32 = 2 ** 32;

describe("a page held as runs again reads as the page kept as bytes", () => {
  const k = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), "legacy").k;
  const table = (): number => {
    const t = k.allocPageTablePage("test");
    if (t === null) throw new Error("no page-table page");
    return t;
  };
  const words = k.pageSize / 8;
  const half = fc.integer({ min: 0, max: TWO32 - 1 });
  /** A store: one word, or a run of words from word on, n long, base + i * delta (mod 2^64). */
  const store = fc.record({
    word: fc.integer({ min: 0, max: words - 1 }),
    n: fc.oneof(
      fc.constant(1),
      fc.integer({ min: 2, max: 40 }),
      fc.integer({ min: 100, max: words }),
    ),
    lo: fc.oneof(half, fc.constant(TWO32 - 4096)),
    hi: fc.oneof(fc.constant(0x80000000), half),
    dlo: fc.oneof(fc.constant(0), fc.constant(4096), fc.constant(TWO32 - 4096), half),
    dhi: fc.oneof(fc.constant(0), fc.constant(TWO32 - 1), half),
  });

  it("seeded stores into two tables, one with the fast path, read the same after each", () => {
    let heldAgain = 0;
    fc.assert(
      fc.property(fc.array(store, { minLength: 1, maxLength: 60 }), (stores) => {
        const fast = table();
        const plain = table();
        // Both start as bytes: more runs than a page keeps as runs.
        for (const t of [fast, plain])
          for (let w = 0; w < words; w += 2) k.frames.writeU64Parts(t, w * 8, w * 7919, w);
        for (const s of stores) {
          const n = Math.min(s.n, words - s.word);
          for (const [t, on] of [
            [fast, true],
            [plain, false],
          ] as [number, boolean][]) {
            k.paths.runsAgain = on;
            k.frames.setWordRun(t, s.word, n, s.lo, s.hi, s.dlo, s.dhi);
          }
          k.paths.runsAgain = true;
          expect(
            Buffer.from(k.frames.view(fast)).equals(Buffer.from(k.frames.snapshot(plain))),
          ).toBe(true);
          // Word by word through the reads the page walk makes.
          for (let w = 0; w < words; w++) {
            const lo = k.frames.readU64Lo(fast, w * 8);
            const hi = k.frames.hi;
            expect([lo, hi]).toEqual([k.frames.readU64Lo(plain, w * 8), k.frames.hi]);
          }
          expect(k.frames.heldAsRuns(plain)).toBe(false);
          if (k.frames.heldAsRuns(fast)) {
            heldAgain++;
            // As runs: the same words from every run the store hands out.
            const out = new PteRuns(80);
            const nr = k.frames.wordRunsIn(fast, 0, words, out.words);
            expect(nr).toBeGreaterThan(0);
            for (let r = 0; r < nr; r++) {
              const o = r * 6;
              for (let i = 0; i < out.words[o + 1]; i++) {
                const l = out.words[o + 2] + i * out.words[o + 4];
                const carry = Math.floor(l / TWO32);
                const w = out.words[o] + i;
                expect(l - carry * TWO32).toBe(k.frames.readU64Lo(plain, w * 8));
                expect((out.words[o + 3] + i * out.words[o + 5] + carry) % TWO32).toBe(k.frames.hi);
              }
            }
          }
        }
      }),
      { seed: 20261206, numRuns: 40 },
    );
    // The property went through the fast path, not only around it.
    expect(heldAgain).toBeGreaterThan(0);
  });
});

describe("1 GiB folios over PTE tables 2 MiB folios left as bytes", () => {
  const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
  const LARGE = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
  const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";

  function model(design: Design, on: boolean): Model {
    const m = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB }), design);
    m.k.paths.runsAgain = on;
    return m;
  }

  /** The PTE tables of the vmemmap held as runs of words. */
  function tablesAsRuns(m: Model): number {
    const { k } = m;
    const perTable = k.pgt.entriesPerTable * (k.pageSize / k.spec.structPageSize);
    let end = 0;
    for (const n of k.spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
    let n = 0;
    for (let pfn = 0; pfn < end; pfn += perTable) {
      const leaf = k.pgt.lookup(k.memmap.vaddrOf(pfn));
      if (leaf && k.frames.heldAsRuns(leaf.tablePfn)) n++;
    }
    return n;
  }

  for (const design of ["legacy", "mainline"] as Design[]) {
    it(`${design}: the same state after every step`, () => {
      const ms = [model(design, true), model(design, false)];
      const steps: [string, string][] = [
        [SWITCH, "1"],
        // Nearly all of memory: the 1 GiB folios below reuse the 2 MiB folios' memmap.
        [SMALL, "1900"],
        [SMALL, "0"],
        [LARGE, "2"],
        [LARGE, "0"],
        [SMALL, "300"],
        [LARGE, "1"],
        [SMALL, "0"],
        [LARGE, "0"],
      ];
      for (const [path, value] of steps) {
        stepModels(ms, path, value);
        expect(modelDigest(ms[0], { pools: [SMALL, LARGE] }), `${value} > ${path}`).toEqual(
          modelDigest(ms[1], { pools: [SMALL, LARGE] }),
        );
      }
      // The 1 GiB restores rewrote tables the plain model keeps as bytes.
      expect(tablesAsRuns(ms[0])).toBeGreaterThan(tablesAsRuns(ms[1]));
    });
  }
});
