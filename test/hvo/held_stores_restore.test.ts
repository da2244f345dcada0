// With HVO on, the stores a 2 MiB folio's tails take in its head vmemmap page (compound word,
// mapping, private: held back by the frame store, frames.ts storeWordsLater()) stay held back
// when the head page is copied to a new one (the copy on write of the first store to it) and
// when reset_struct_pages() moves struct pages 4..7 over 0..3 of a restored page
// (frames.ts moveWithin()). Two models, one holding stores back and one making every store at
// once (holdBackStores off), take the same steps; nothing reads the memmap between them until
// every folio is restored by hand, then every vmemmap page, the free lists, allocations,
// counters and log must be the same, and again after the pool is freed.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import type { Design } from "../../src/kernel.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import { bootModel, type Model } from "../../src/model.ts";
import { hugetlbHeads, modelDigest, stepModels } from "../model_digest.ts";

const SMALL = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const SWITCH = "/proc/sys/vm/hugetlb_optimize_vmemmap";
const ORDER_2M = 21 - 12; // a 2 MiB folio of 4 KiB pages
const FOLIOS = 24;

function model(design: Design, holdBack: boolean): Model {
  const m = bootModel(machinePreset("x86_64", { memoryBytes: 2 * 2 ** 30, nodes: 2 }), design);
  m.k.paths.holdBackStores = holdBack;
  return m;
}

const digest = (m: Model) => modelDigest(m, { frames: true, pools: [SMALL] });

/** Counts the frame store's makes of held-back stores (a private method, wrapped). */
function countMakes(m: Model): { made: number } {
  const fr = m.k.frames as unknown as { makePending(id: number): void };
  const c = { made: 0 };
  const orig = fr.makePending.bind(fr);
  fr.makePending = (id: number) => {
    c.made++;
    orig(id);
  };
  return c;
}

describe("held-back tail stores across a head page copy and reset_struct_pages()", () => {
  // Legacy's tails hold the head's address + 1; the series encodes it otherwise (its
  // compound words are compared between the two models only).
  const cases: [Design, boolean][] = [
    ["legacy", true],
    ["seed", false],
  ];
  for (const [design, headPlusOne] of cases) {
    it(`${design}: folios restored by hand, then the pool freed, read as stores made at once`, () => {
      const ms = [model(design, true), model(design, false)];
      const made = countMakes(ms[0]);
      stepModels(ms, SWITCH, "1");
      // The second grow takes vmemmap pages the first restore allocated and freed.
      for (const n of [FOLIOS, 0, FOLIOS]) stepModels(ms, SMALL, String(n));
      let restored = 0;
      for (const m of ms) {
        const hvo = m.vmemmap as HvoCore;
        for (const head of hugetlbHeads(m, ORDER_2M)) {
          expect(hvo.restoreFolio(ORDER_2M, head)).toBe(0);
          restored++;
        }
      }
      expect(restored).toBe(2 * FOLIOS);
      // Nothing read the tails, so nothing was made: the stores were carried, not made.
      expect(made.made).toBe(0);
      // Tails in the restored page's first struct pages (64..67, moved there from 68..71) read
      // their compound word: legacy's is the head's struct page address + 1
      // (include/linux/page-flags.h), and the same in both models.
      const [m0, m1] = ms;
      const head = hugetlbHeads(m0, ORDER_2M)[0];
      for (const tail of [head + 64, head + 67, head + 68, head + 511]) {
        const got = m0.k.memmap.readU64(tail, PAGE_OFF.compoundInfo);
        if (headPlusOne) expect(got, `tail ${tail - head}`).toBe(m0.k.memmap.vaddrOf(head) + 1n);
        expect(got, `tail ${tail - head}`).toBe(m1.k.memmap.readU64(tail, PAGE_OFF.compoundInfo));
      }
      expect(digest(ms[0]), `${design} after restoring`).toEqual(digest(ms[1]));
      stepModels(ms, SMALL, "0");
      expect(digest(ms[0]), `${design} after 0 > nr_hugepages`).toEqual(digest(ms[1]));
    });
  }
});
