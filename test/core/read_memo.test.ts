// The read memo (src/mm/memmap.ts readMemo): a struct page read from the vmemmap page the last
// read went to takes that page's words as they were found, while no TLB entry was dropped
// (pgtable.ts tlbGen) and no frame changed (frames.ts gen). A model with it and one without
// it (every other fast path on in both) take the same seeded pool writes, with and without the
// TLB flushes HVO owes (mutation skip-tlb-flush: stale translations, which both must use as
// the kernel would); after every write both read compound_head(), PageHead(), PageTail() and
// folio_order() of the same pfns, the first of them the pfn read last before the write (so a
// memo that outlived the write would answer it), and must give the same answers with the
// same number of struct page reads. Then two changes no pool write makes on its own: a frame
// replaced under the page last read, and a stale translation flushed with nothing else
// changed. Seeded (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import type { Mutation } from "../../src/kernel.ts";
import { FastPaths } from "../../src/mm/fast_paths.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { HVO, P1G, P2M, type Write } from "../pool_writes.ts";

const GiB = 2 ** 30;
const SEED = 0x3e30;

function boot(design: Design, memo: boolean, mutations: Mutation[] = []): Model {
  const paths = new FastPaths();
  paths.readMemo = memo;
  return bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design, {
    paths,
    mutations,
  });
}

/** The pfns of every folio the pool holds now, some of each (every one of a 2 MiB folio). */
function folioPfns(m: Model): number[] {
  const out: number[] = [];
  for (const [head, info] of m.pool.folios) {
    const nr = 2 ** info.h.order;
    // A 1 GiB folio: its first and last vmemmap pages whole, and a pfn every 61 between.
    const step = nr > 512 ? 61 : 1;
    for (let i = 0; i < nr; i += i < 64 || i >= nr - 64 ? 1 : step) out.push(head + i);
  }
  return out;
}

/**
 * What a reader of the memmap learns of pfns, in order: compound_head(), PageHead(),
 * PageTail(), then folio_order() of the head. The pfn's own struct page is read last (the
 * head's order first), so that the memo is left on the pfn's vmemmap page.
 */
function observe(m: Model, pfns: readonly number[]): number[] {
  const c = m.k.compound;
  const out: number[] = [];
  for (const pfn of pfns) {
    const order = c.folioOrder(c.compoundHead(pfn));
    out.push(c.compoundHead(pfn), c.pageHead(pfn) ? 1 : 0, c.pageTail(pfn) ? 1 : 0, order);
  }
  return out;
}

const write = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constant(P2M), fc.nat(120)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant(P1G), fc.nat(2)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant(HVO), fc.nat(1)) },
) as fc.Arbitrary<Write>;

describe("the read memo answers as a translation and a frame lookup per read would", () => {
  const cases: { design: Design; mutations: Mutation[] }[] = [
    { design: "legacy", mutations: [] },
    { design: "seed", mutations: [] },
    { design: "mainline", mutations: [] },
    { design: "legacy", mutations: ["skip-tlb-flush"] },
    { design: "mainline", mutations: ["skip-tlb-flush"] },
  ];
  for (const { design, mutations } of cases)
    it(`${design}${mutations.length ? ` (${mutations.join(", ")})` : ""}: the same answers and reads after every pool write`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(write, fc.nat()), { minLength: 6, maxLength: 10 }),
          (plan) => {
            const models = [boot(design, true, mutations), boot(design, false, mutations)];
            for (const m of models) {
              m.write(HVO, "1");
              m.write(P2M, "40");
              m.settle();
            }
            // Both models' pfns are the same (the same writes); the probe is read last.
            let probe = -1;
            for (const [[file, n], pick] of plan) {
              const seen = models.map((m) => {
                const pfns = folioPfns(m);
                // The probe first: a memo left by the read before the write would answer it.
                const got = probe >= 0 ? observe(m, [probe]) : [];
                try {
                  m.write(file, String(n));
                } catch {
                  // Refused (EBUSY...): alike in both.
                }
                m.settle();
                for (const x of observe(m, probe >= 0 ? [probe] : [])) got.push(x);
                for (const x of observe(m, pfns)) got.push(x);
                return { got, reads: m.k.memmap.reads };
              });
              expect(seen[0].got, `after ${file} = ${n}`).toEqual(seen[1].got);
              expect(seen[0].reads).toBe(seen[1].reads);
              const pfns = folioPfns(models[0]);
              if (pfns.length === 0) continue;
              probe = pfns[pick % pfns.length];
              // The probe read last before the next write, in both.
              for (const m of models) observe(m, [probe]);
            }
          },
        ),
        { seed: SEED, numRuns: 3 },
      );
    });

  it.each(["legacy", "mainline"] as Design[])(
    "%s: a frame replaced under the page read last reads as the new frame",
    (design) => {
      const models = [boot(design, true), boot(design, false)];
      const seen = models.map((m) => {
        m.write(P2M, "4");
        m.settle();
        const head = [...m.pool.folios.keys()][0];
        // A tail past the folio's fields: its stores, held back until a read, are made by this
        // one, and the page is read from its words from then on.
        const got = observe(m, [head + 10]);
        // The head's vmemmap page zeroed under the memo (copy_page() of a zero page, as a
        // model change can make without a flush: the translation stands).
        const backing = m.k.memmap.backing(head + 10);
        if (backing === null) throw new Error("the head's vmemmap page is not mapped");
        m.k.frames.zeroFrame(backing.frame);
        got.push(...observe(m, [head + 10]));
        return { got, head };
      });
      // A tail of an order-9 folio, then a zeroed struct page: its own head, no flags, order 0.
      const h = seen[0].head;
      expect(seen[0].got).toEqual([h, 0, 1, 9, h + 10, 0, 0, 0]);
      expect(seen[1].got).toEqual(seen[0].got);
    },
  );

  it.each(["legacy", "seed", "mainline"] as Design[])(
    "%s: a stale translation read, then flushed with nothing else changed, reads as the page tables say",
    (design) => {
      const models = [boot(design, true), boot(design, false)];
      const seen = models.map((m) => {
        const { k } = m;
        m.write(HVO, "1");
        m.write(P2M, "4");
        m.settle();
        const head = Math.max(...m.pool.folios.keys());
        // A tail in the folio's second vmemmap page (which HVO remapped), read: the TLB holds
        // its translation.
        const tail = head + 64 + 5;
        const got = observe(m, [tail]);
        // Its PTE pointed at the vmemmap page of free memory at 2 GiB, without a flush (as a
        // kernel that forgets one would leave it): the TLB's translation is stale.
        const other = k.memmap.backing(2 ** 19);
        const leaf = k.pgt.lookup(k.memmap.vaddrOf(tail));
        if (other === null || leaf === null || leaf.huge) throw new Error("no PTE to move");
        k.pgt.setPte(leaf.tablePfn, leaf.idx, other.frame, false);
        const stale = k.pgt.staleTlbEntries().length;
        got.push(...observe(m, [tail]));
        // The flush, nothing else: the next read walks to the moved PTE.
        k.pgt.flushTlbAll();
        got.push(...observe(m, [tail]));
        return { got, head, tail, stale };
      });
      const { head, tail, stale } = seen[0];
      expect(stale).toBe(1);
      // A tail of the 2 MiB folio, through the stale translation still one; after the flush
      // the struct page of a free page (2 GiB + 69), which names no head: its own.
      expect(seen[0].got).toEqual([head, 0, 1, 9, head, 0, 1, 9, tail, 0, 0, 0]);
      expect(seen[1].got).toEqual(seen[0].got);
    },
  );
});
