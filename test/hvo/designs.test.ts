// The designs as released kernels (mm/hvo_designs.ts): Linux 7.2 (`mainline`) and 7.1
// (`mainline-7.1`) differ in what vmemmap_restore_pte() copies and in the rollback of a failed
// optimise. Expected bytes follow the two kernels' code, written out at each test:
//   7.2 vmemmap_restore_pte(): copy_page(dst, page the PTE maps), and in a rollback (the walk
//       carries vmemmap_tail) PTEs that do not map the shared tail are left alone;
//   7.1: every slot of a restored page is a copy of the folio's struct page
//       PAGE_SIZE / sizeof(struct page) - 1, and the rollback walks the head PTE too.
// And no module outside the design module compares design names.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { DESIGNS, DESIGN_FACTS, usesMaskEncoding } from "../../src/mm/hvo_designs.ts";
import { HVO_DESIGNS } from "../../src/mm/hugetlb_vmemmap.ts";
import {
  bootHvo,
  firstDiff,
  firstDiffButLruPrev,
  makeFolio,
  pteOf,
  rollBackHalfDone1G,
  vmemmapBytes,
  x86,
} from "./helpers.ts";

const PAGE = 4096;
const SPS = 64;
const PER = PAGE / SPS;

describe("Linux 7.2 (mainline): the rollback keeps the head PTE and restores tails from the shared tail", () => {
  it("1 GiB, split fails at the 2nd PMD: the head is intact, the tails are plain tails, nothing leaks", () => {
    const { k, hvo, head, before, after, v0 } = rollBackHalfDone1G("mainline");
    expect(hvo.isOptimized(head)).toBe(false);
    expect(hvo.counters.rollbacks).toBe(1);
    // PTE 0 keeps the new head page, a copy_page() of the old one: exact.
    expect(firstDiff(after.subarray(0, PAGE), before.subarray(0, PAGE))).toBe(-1);
    // PTEs 1..511 are copies of the shared tail: init_compound_tail() wrote the fields a tail
    // has after memmap_init() and prep_compound_tail(); only lru.prev (memmap_init()'s self
    // pointer, 0 in the zeroed shared tail) differs.
    expect(firstDiffButLruPrev(after, before, SPS)).toBe(-1);
    expect(k.compound.pageHead(head)).toBe(true);
    for (let p = 0; p < 4096; p += 37) expect(pteOf(k, head + p * PER).writable).toBe(true);
    // 512 old pages walked onto the list; 511 go back (PTEs 1..511), the old head page is freed
    // (a boot page: nr_memmap_boot_pages - 1); the new head stays mapped (nr_memmap_pages + 1).
    expect(k.vmstat.nrMemmapPages - v0.nrMemmapPages).toBe(1);
    expect(k.vmstat.nrMemmapBootPages - v0.nrMemmapBootPages).toBe(-1);
    expect(hvo.counters.vmemmapPagesFreed).toBe(1);
  });

  it("mainline-7.1 loses the head in the same rollback (the head reads as a tail)", () => {
    const { k, hvo, head } = rollBackHalfDone1G("mainline-7.1");
    expect(hvo.counters.rollbacks).toBe(1);
    expect(k.compound.pageHead(head)).toBe(false);
    expect(k.compound.pageTail(head)).toBe(true);
  });
});

describe("restore of an optimised 2 MiB folio", () => {
  it("7.2: every restored vmemmap page is a byte copy of the shared tail page", () => {
    const { k, hvo } = bootHvo(x86(), "mainline");
    const head = makeFolio(k, 9);
    hvo.optimizeFolio(9, head);
    const [t] = hvo.sharedTails();
    const tail = k.frames.view(t.pfn).slice();
    expect(hvo.restoreFolio(9, head)).toBe(0);
    const after = vmemmapBytes(k, head, 9);
    for (let p = 1; p < 8; p++)
      expect(firstDiff(after.subarray(p * PAGE, (p + 1) * PAGE), tail)).toBe(-1);
  });

  it("7.1: every slot of a restored vmemmap page is a copy of struct page 63", () => {
    const { k, hvo } = bootHvo(x86(), "mainline-7.1");
    const head = makeFolio(k, 9);
    hvo.optimizeFolio(9, head);
    const sp63 = vmemmapBytes(k, head, 9).slice((PER - 1) * SPS, PER * SPS);
    expect(hvo.restoreFolio(9, head)).toBe(0);
    const after = vmemmapBytes(k, head, 9);
    for (let i = PER; i < 512; i++)
      expect(firstDiff(after.subarray(i * SPS, (i + 1) * SPS), sp63)).toBe(-1);
  });

  it("7.1: folios restored one after another each fill with their own struct page 63", () => {
    // Struct page 63 names its folio (its compound word), so each restore fills its pages with
    // bytes no other folio's restored pages hold; the earlier folios' pages stay as they were.
    const { k, hvo } = bootHvo(x86(), "mainline-7.1");
    const heads = [makeFolio(k, 9), makeFolio(k, 9), makeFolio(k, 9)];
    for (const head of heads) hvo.optimizeFolio(9, head);
    const sp63 = heads.map((h) => vmemmapBytes(k, h, 9).slice((PER - 1) * SPS, PER * SPS));
    expect(firstDiff(sp63[0], sp63[1])).not.toBe(-1);
    expect(firstDiff(sp63[1], sp63[2])).not.toBe(-1);
    for (const head of heads) expect(hvo.restoreFolio(9, head)).toBe(0);
    heads.forEach((head, f) => {
      const after = vmemmapBytes(k, head, 9);
      for (let i = PER; i < 512; i++)
        expect(firstDiff(after.subarray(i * SPS, (i + 1) * SPS), sp63[f])).toBe(-1);
    });
  });
});

describe("the design facts", () => {
  it("every design has a strategy object carrying its own facts", () => {
    for (const d of DESIGNS) {
      expect(HVO_DESIGNS[d].name).toBe(d);
      expect(HVO_DESIGNS[d].facts).toBe(DESIGN_FACTS[d]);
    }
  });

  it("compound_info_has_mask(): the series only, and 7.1/7.2 only with HUGETLB_PAGE_OPTIMIZE_VMEMMAP", () => {
    const on = { structPagePow2: true, archHvo: true };
    const noArch = { structPagePow2: true, archHvo: false };
    const odd = { structPagePow2: false, archHvo: true };
    expect(usesMaskEncoding("legacy", on)).toBe(false);
    expect(usesMaskEncoding("seed", noArch)).toBe(true);
    expect(usesMaskEncoding("mainline", noArch)).toBe(false);
    expect(usesMaskEncoding("mainline-7.1", on)).toBe(true);
    for (const d of DESIGNS) expect(usesMaskEncoding(d, odd)).toBe(false);
  });
});

describe("nothing outside the design module compares design names", () => {
  // The design module (mm/hvo_designs.ts, and its strategy objects in mm/hugetlb_vmemmap.ts) and
  // the CLI's option parsing may name designs; everything else asks the facts.
  const root = new URL("../../src/", import.meta.url).pathname;
  const allowed = new Set(["mm/hvo_designs.ts", "mm/hugetlb_vmemmap.ts"]);
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith(".ts")) files.push(p);
    }
  };
  walk(root);
  const names = DESIGNS.map((d) => d.replace(/[.-]/g, "\\$&")).join("|");
  const cmp = new RegExp(`[!=]==?\\s*["'\`](${names})["'\`]|["'\`](${names})["'\`]\\s*[!=]==?`);
  it('no `=== "legacy"` (or any design name) in src outside it', () => {
    expect(files.length).toBeGreaterThan(20);
    const hits: string[] = [];
    for (const f of files) {
      const rel = f.slice(root.length);
      if (allowed.has(rel)) continue;
      readFileSync(f, "utf8")
        .split("\n")
        .forEach((line, i) => {
          if (cmp.test(line) && !line.trim().startsWith("//"))
            hits.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(hits).toEqual([]);
  });
  it("the pattern finds a comparison (the test can fail)", () => {
    expect(cmp.test('if (design === "seed") x();')).toBe(true);
    expect(cmp.test('"mainline-7.1" !== d')).toBe(true);
  });
});
