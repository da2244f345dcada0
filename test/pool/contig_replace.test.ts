// alloc_contig_pages() and free 2 MiB HugeTLB pages in the way of a 1 GiB allocation
// (mm/page_alloc.c alloc_contig_frozen_pages(), mm/hugetlb.c replace_free_hugepage_folios()).
// Linux 7.2 scans the zonelist twice: first for ranges with no HugeTLB page at all, then, if a
// range was passed over for one, again treating ranges whose HugeTLB folios are smaller than
// the request as candidates: pfn_range_valid_contig() accepts them, the range is isolated, each
// free folio in it is replaced (alloc_and_dissolve_hugetlb_folio(): a new folio of the same size
// on the same node, enqueued in its place, and the old one freed to the buddy allocator inside
// the isolated range), and the range is taken. 6.18 refuses any range with a HugeTLB page
// (`if (PageHuge(page)) return false`).
//
// The machine is the 6 GiB guest `hvo vm` boots (RAM [0, 3 GiB - 128 KiB) and [4, 7) GiB) with
// `hugepagesz=1G hugepages=1`: the boot page sits at 5 GiB, past the early-initialised first
// section of ZONE_NORMAL, so its shared tail is clean and its 2 MiB pieces free without "Bad
// page state" (docs/findings.md 5). After demoting it, the 1 GiB pool is grown as far as it
// goes: both kernels take every range with nothing in it first; then 7.2 also takes [5, 6) GiB.
import { describe, expect, it } from "vitest";
import { vmMachineSpec } from "../../src/live/vm/machine.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;
const PFN_GiB = GiB / 4096;
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB";

function demoteThenGrow(design: "mainline" | "legacy") {
  const m = bootModel(
    vmMachineSpec({
      memoryBytes: 6 * GiB,
      cmdline: "hugepagesz=1G hugepages=1 hugetlb_free_vmemmap=on",
    }),
    design,
  );
  // demote splits the 5 GiB page into 512 free 2 MiB pages that fill [5, 6) GiB.
  m.write(`${H1G}/demote`, "1");
  m.settle();
  const pool = m.k.sub.hugetlb as { folios: Map<number, { h: { order: number } }> };
  const small = () => [...pool.folios].filter(([, f]) => f.h.order === 9).map(([p]) => p);
  expect(small()).toHaveLength(512);
  expect(small().every((p) => p >= 5 * PFN_GiB && p < 6 * PFN_GiB)).toBe(true);
  // More than the machine can give: the pool grows until alloc_contig_pages() fails.
  m.write(`${H1G}/nr_hugepages`, "6");
  m.settle();
  const big = [...m.k.buddy.allocations]
    .filter(([, a]) => a.use === "hugetlb" && a.order === 18)
    .map(([p]) => p / PFN_GiB)
    .sort((x, y) => x - y);
  return { m, small, big };
}

describe("alloc_contig_pages(): free 2 MiB HugeTLB pages in the way of a 1 GiB page", () => {
  it("7.2 takes every free range, then moves the 2 MiB pages off [5, 6) GiB and takes it too; 6.18 does not", () => {
    const legacy = demoteThenGrow("legacy");
    const mainline = demoteThenGrow("mainline");
    expect(legacy.big).not.toContain(5);
    expect(legacy.small().every((p) => p >= 5 * PFN_GiB && p < 6 * PFN_GiB)).toBe(true);
    // One page more, at 5 GiB, the others where 6.18 put them.
    expect(mainline.big).toEqual([...legacy.big, 5].sort((x, y) => x - y));
    expect(mainline.m.read(`${H1G}/nr_hugepages`).trim()).toBe(String(legacy.big.length + 1));
    // The 2 MiB pool is as large and as free as before, all of it elsewhere now: each page was
    // replaced, none lost (no "Bad page state", every old page back in the buddy allocator).
    expect(mainline.m.read(`${H2M}/nr_hugepages`).trim()).toBe("512");
    expect(mainline.m.read(`${H2M}/free_hugepages`).trim()).toBe("512");
    expect(mainline.small().filter((p) => p >= 5 * PFN_GiB && p < 6 * PFN_GiB)).toEqual([]);
    expect(mainline.m.k.printk.since(0).filter((l) => /Bad page state/.test(l.text))).toEqual([]);
  });
});
