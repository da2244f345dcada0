// What `hvo check` finds in the faithful models of the designs' code (issue 5: findings, with
// their replays). Each replay is the sequence fast-check minimised, on the 4 GiB 2-node x86_64
// check machine; `hvo check --replay FILE` runs the same.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { nodeSurplus } from "../../src/check/invariants.ts";
import { replayRun } from "../../src/check/run.ts";
import type { Design } from "../../src/kernel.ts";
import type { HvoCore } from "../../src/mm/hugetlb_vmemmap.ts";
import type { Model } from "../../src/model.ts";
import { parseScenarioFile, type Step } from "../../src/scenario/format.ts";

function replay(design: Design, cmdline: string, steps: Step[]) {
  const file = { format: "hvo-scenario/1", scenarios: [{ id: "finding", steps }] };
  return replayRun({
    ...parseScenarioFile(file),
    "x-check": { preset: "x86_64", memory: "4G", nodes: 2, cmdline, design },
  });
}

describe("seed (v3): the shared tail page is not zeroed", () => {
  // v3 allocates the shared tail with alloc_pages_node() without __GFP_ZERO and writes only the
  // fields prep_compound_tail() sets (research/series.md §1.3); whatever the page held before
  // stays. A page that was vmemmap before holds struct pages: their lru.prev differs from slot
  // to slot, and a head among them leaves PG_head in the tail. Mainline zeroes the page and
  // runs init_compound_tail(): neither happens there.
  it("tails of one order are not byte-identical: struct page 1 differs from struct page 0", () => {
    const steps: Step[] = [
      { op: "hvo", value: 1 },
      { op: "nr", size: "1G", value: 1 },
      { op: "demote", value: 1 },
    ];
    const seed = replay("seed", "hugetlb_free_vmemmap=on", steps);
    expect(seed.violations[0]).toMatchObject({ invariant: "tails_identical", step: 2 });
    expect(replay("mainline", "hugetlb_free_vmemmap=on", steps).violations).toEqual([]);
  });

  it("a fake head comes back: a tail of an optimised 1 GiB folio reads PG_head", () => {
    // Two rounds of optimise and restore: a run-time head vmemmap page (unmovable, as the
    // shared tail is) is freed by the second optimise and is the next page the allocator hands
    // out to an unmovable request. (Which page that is depends on the order a shrink frees its
    // folios in: the kernel's, first taken first freed, docs/rules.md; the counts were found
    // again for it.)
    const steps: Step[] = [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 8 },
      { op: "nr_node", size: "2M", value: 3, node: 0 },
      { op: "nr", size: "2M", value: 0 },
      { op: "nr", size: "2M", value: 5 },
      { op: "nr_node", size: "1G", value: 1, node: 0 },
    ];
    const seed = replay("seed", "hugetlb_free_vmemmap=on", steps);
    const kinds = seed.violations.map((v) => v.invariant);
    expect(kinds).toContain("fake_head");
    const fake = seed.violations.find((v) => v.invariant === "fake_head");
    // The raw struct page: flags with PG_head (bit 6: 0x40 in the first byte), the mask word
    // of order 18 (GENMASK(63, 24) | 1) right after it.
    expect(fake?.actual).toMatch(/^40[0-9a-f]{14} 010000ffffffffff /);
    expect(replay("mainline", "hugetlb_free_vmemmap=on", steps).violations).toEqual([]);
  });
});

describe("legacy, seed and 7.1: boot-time HVO write-protects only part of a 1 GiB folio's tails", () => {
  // __hugetlb_vmemmap_optimize_folios() for pre-HVO'd boot folios write-protects
  // [spfn, spfn + pages_per_huge_page(h)): 262144 bytes of a 16 MiB vmemmap, the first 64 of its
  // 4096 pages. Fixed upstream ("use hugetlb_vmemmap_size(h) for the write-protect range",
  // Fixes: 752fe17af693 "mm/hugetlb: add pre-HVO framework"); the model reproduces the code
  // before that fix in legacy, seed and mainline-7.1. Mainline (7.2) has it, as Linux 7.2 shows
  // (test/diff/vm.test.ts).
  for (const design of ["legacy", "seed", "mainline-7.1"] as const) {
    it(`${design}: the tail vmemmap pages from struct page 4096 on stay writable`, () => {
      const ex = replay(design, "hugetlb_free_vmemmap=on hugepagesz=1G hugepages=1", []);
      const v = ex.violations[0];
      expect(v).toMatchObject({ invariant: "vmemmap_mapping", step: -1 });
      // 262144 bytes / 64 bytes per struct page = 4096: the first writable tail is head + 4096.
      expect(v.detail).toMatch(
        /folio (\d+): optimised, but the tail vmemmap page of (\d+) is writable/,
      );
      const [, head, pfn] = /folio (\d+).* of (\d+)/.exec(v.detail) ?? [];
      expect(Number(pfn) - Number(head)).toBe(262144 / 64);
    });
  }
});

describe("7.1: the rollback of a failed optimise overwrites the head; 7.2 has the fix", () => {
  // 7.1's vmemmap_remap_free() rolls back every walked PTE, PTE 0 included, filling each page with
  // copies of struct page 63: the head struct page becomes a tail. 7.2 ("mm/hugetlb_vmemmap: fix
  // incorrect vmemmap restore in rollback", Fixes: c0b495b91a47) keeps the head PTE and restores
  // only the PTEs that map the shared tail. The replay injects the ENOMEM that causes the rollback.
  const file = JSON.parse(
    readFileSync(
      new URL(
        "../../scenarios/findings/rollback-overwrites-head-mainline-7.1.json",
        import.meta.url,
      ),
      "utf8",
    ),
  );
  const run = (design: Design) =>
    replayRun({ ...parseScenarioFile(file), "x-check": { ...file["x-check"], design } });
  it("mainline-7.1: the folio's head reads as a tail at the step the replay names", () => {
    expect(file["x-check"].design).toBe("mainline-7.1");
    const ex = run("mainline-7.1");
    expect(ex.violations[0]).toMatchObject({
      invariant: "page_head_tail",
      step: file["x-check"].step,
    });
    expect(((ex.model as Model).vmemmap as HvoCore).counters.rollbacks).toBeGreaterThan(0);
  });
  it("mainline (7.2): the same steps and faults find nothing", () => {
    const ex = run("mainline");
    expect(ex.violations).toEqual([]);
    // Not for want of a rollback: the injected ENOMEM made 7.2 roll back too.
    expect(ex.faultsInjected).toBeGreaterThan(0);
    expect(((ex.model as Model).vmemmap as HvoCore).counters.rollbacks).toBeGreaterThan(0);
  });
});

describe("every design: demoting a free surplus page leaves surplus_hugepages above nr_hugepages", () => {
  // A 1 GiB pool page whose vmemmap restore fails while the pool shrinks goes back as a free
  // surplus page (bulk_vmemmap_restore_error(): add_hugetlb_folio(h, folio, true)), so nr 1,
  // free 1, surplus 1. demote_pool_huge_page() then takes it off the free list with
  // remove_hugetlb_folio(src, folio, false): nr and free drop to 0, surplus stays 1.
  const file = JSON.parse(
    readFileSync(
      new URL("../../scenarios/findings/demote-surplus-above-nr.json", import.meta.url),
      "utf8",
    ),
  );
  for (const design of ["legacy", "mainline-7.1", "mainline"] as const)
    it(`${design}: 1 GiB nr_hugepages 0, free_hugepages 0, surplus_hugepages 1; 2 MiB gains 512`, () => {
      const ex = replayRun({
        ...parseScenarioFile(file),
        "x-check": { ...file["x-check"], design },
      });
      expect(ex.violations).toEqual([]);
      expect(ex.faultsInjected).toBeGreaterThan(0);
      const model = ex.model as Model;
      const h = (sz: number) => model.pool.hstates.find((x) => x.name === `hugepages-${sz}kB`);
      // 1 page, restore failed: back as surplus (+1 nr, +1 free, +1 surplus); demoted: -1 nr, -1 free.
      expect([
        h(1048576)?.nrHugePages,
        h(1048576)?.freeHugePages,
        h(1048576)?.surplusHugePages,
      ]).toEqual([0, 0, 1]);
      // 1 GiB / 2 MiB = 512 persistent free 2 MiB pages.
      expect([h(2048)?.nrHugePages, h(2048)?.freeHugePages, h(2048)?.surplusHugePages]).toEqual([
        512, 512, 0,
      ]);
      expect(nodeSurplus(model).map((v) => v.detail)).toContain(
        "hugepages-1048576kB: surplus_hugepages 1 above nr_hugepages 0",
      );
    });
  it("without the failed restore (no faults) the shrink frees the page: nothing to demote", () => {
    const ex = replayRun({
      ...parseScenarioFile(file),
      "x-check": { ...file["x-check"], faults: 0 },
    });
    const model = ex.model as Model;
    // demote_store() finds free_hugepages - resv_hugepages = 0 and demotes nothing.
    expect(ex.violations).toEqual([]);
    expect(nodeSurplus(model)).toEqual([]);
  });
});

describe("the replays of docs/findings.md", () => {
  // Each file is what `hvo check` wrote for the finding; replaying it must still stop at the
  // invariant it names, at the step it names.
  const dir = new URL("../../scenarios/findings/", import.meta.url);
  const files = readdirSync(dir).filter((f) => f.endsWith(".json") && !f.endsWith(".machine.json"));
  it("there are replays", () => {
    expect(files.length).toBeGreaterThanOrEqual(3);
  });
  for (const f of files)
    it(`${f} reproduces its finding`, () => {
      const file = JSON.parse(readFileSync(new URL(f, dir), "utf8"));
      const x = file["x-check"];
      const ex = replayRun({ ...parseScenarioFile(file), "x-check": x });
      if (x.apart === "nodeSurplus") {
        // A pool finding the checker keeps apart: the run is clean, nodeSurplus() reports it.
        expect(ex.violations).toEqual([]);
        expect(ex.stepsRun).toBe(x.step + 1);
        expect(nodeSurplus(ex.model as Model).length).toBeGreaterThan(0);
      } else expect(ex.violations[0]).toMatchObject({ invariant: x.invariant, step: x.step });
    });
});

describe("7.1 and 7.2: a failed boot-time HVO population leaves the folio marked optimised", () => {
  // hugetlb_vmemmap_init_late() falls back to vmemmap_populate() but keeps HUGE_BOOTMEM_HVO;
  // gather_bootmem_prealloc_node() then marks the folio optimised over a full vmemmap whose
  // struct pages from 64 on were never made tails. 6.15 to 7.0 (legacy) and v3 (seed) populate
  // early and drop the flag when that fails.
  const file = JSON.parse(
    readFileSync(
      new URL("../../scenarios/findings/boot-hvo-populate-fails-mainline.json", import.meta.url),
      "utf8",
    ),
  );
  const run = (design: Design) =>
    replayRun({ ...parseScenarioFile(file), "x-check": { ...file["x-check"], design } });
  for (const design of ["mainline", "mainline-7.1"] as const)
    it(`${design}: the tails map no shared tail and are not tails, at boot`, () => {
      const kinds = run(design).violations.map((v) => v.invariant);
      expect(kinds[0]).toBe("vmemmap_mapping");
      expect(kinds).toContain("compound_head");
    });
  for (const design of ["legacy", "seed"] as const)
    it(`${design}: the page is optimised at run time instead; nothing found`, () => {
      expect(run(design).violations).toEqual([]);
    });
});
