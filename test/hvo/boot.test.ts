// Boot-time HVO of memblock gigantic pages (CONFIG_SPARSEMEM_VMEMMAP_PREINIT, x86_64), through
// the pool: legacy and seed populate at hugetlb_vmemmap_init_early(), mainline at _init_late().
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { type Design, Kernel } from "../../src/kernel.ts";
import { HugetlbPool } from "../../src/mm/hugetlb.ts";
import { createHugetlbVmemmap } from "../../src/mm/hugetlb_vmemmap.ts";
import { HUGE_BOOTMEM_HVO } from "../../src/mm/hugetlb_vmemmap_api.ts";
import { DESIGNS, GiB, pteOf, rawPgHead } from "./helpers.ts";

function bootPool(design: Design, gib: number, nodes: number, cmdline: string) {
  const k = new Kernel(machinePreset("x86_64", { memoryBytes: gib * GiB, nodes, cmdline }), {
    design,
  });
  const hvo = createHugetlbVmemmap(k);
  const pool = new HugetlbPool(k, hvo);
  k.hooks.push(pool.bootHooks());
  let flags: number[] = [];
  k.hooks.push({
    populateSection: () => {
      // Seen during sparse_init, before gather empties the list.
      flags = (k.sub.huge_boot_pages as Array<{ flags: number }>).map((m) => m.flags);
      return false;
    },
  });
  k.boot();
  return { k, hvo, pool, flags: () => flags };
}

const CMD = "hugetlb_free_vmemmap=on hugepagesz=1G hugepages=2";
// x86_64, 8 GiB: RAM in [0, 3 GiB) and [4 GiB, 9 GiB): 24 + 40 = 64 sections of 512 memmap pages.
const SECTIONS = 64;

describe("pre-HVO of 1 GiB bootmem pages", () => {
  for (const design of DESIGNS) {
    it(`${design}: each costs 1 boot memmap page instead of 4096, and is a correct optimised folio`, () => {
      const { k, hvo, pool, flags } = bootPool(design, 8, 1, CMD);
      expect(flags().every((f) => (f & HUGE_BOOTMEM_HVO) !== 0)).toBe(true);
      expect(k.vmstat.nrMemmapBootPages).toBe(SECTIONS * 512 - 2 * 8 * 512 + 2);
      expect(k.vmstat.nrMemmapPages).toBe(0);
      const heads = [...pool.folios.keys()];
      expect(heads).toHaveLength(2);
      for (const head of heads) {
        expect(hvo.isOptimized(head)).toBe(true);
        for (let i = 0; i < 2 ** 18; i += 97) expect(k.compound.compoundHead(head + i)).toBe(head);
        expect(k.compound.compoundHead(head + 2 ** 18 - 1)).toBe(head);
        expect(rawPgHead(k, head + 64)).toBe(design === "legacy");
      }
      if (design !== "legacy") expect(hvo.sharedTails().map((t) => t.order)).toEqual([18]);
      expect(k.fakeHeadKey).toBe(design === "legacy" ? 2 : 0);
      // Restoring one gives it a full memmap from the buddy.
      expect(hvo.restoreFolio(18, heads[0])).toBe(0);
      expect(k.vmstat.nrMemmapPages).toBe(4095);
    });
  }

  it("legacy and seed: the gather-time wrprotect ends at start + pages_per_huge_page BYTES: only vmemmap pages 1..63 are RO", () => {
    for (const design of DESIGNS.filter((d) => d !== "mainline")) {
      const { k, pool, hvo } = bootPool(design, 8, 1, CMD);
      const [a, b] = [...pool.folios.keys()];
      // 2^18 bytes past the head struct page is vmemmap page 2^18 / 4096 = 64.
      for (let p = 1; p < 64; p++) expect(pteOf(k, a + p * 64).writable).toBe(false);
      for (const p of [64, 65, 1000, 4095]) expect(pteOf(k, a + p * 64).writable).toBe(true);
      // So a store there does not fault; in seed and mainline it lands in the shared tail,
      // which every 1 GiB folio of the node/zone maps.
      const victim = a + 64 * 64 + 5;
      k.memmap.writeU64(victim, 32, 0x1234n);
      const sameSlot = b + 64 * 64 + 5;
      expect(k.memmap.readU64(sameSlot, 32)).toBe(design === "legacy" ? 0n : 0x1234n);
      expect(hvo.isOptimized(a)).toBe(true);
    }
  });

  it("mainline: all 4095 tail vmemmap pages are RO, as Linux 7.2 maps them (the fixed end)", () => {
    const { k, pool } = bootPool("mainline", 8, 1, CMD);
    const [a] = [...pool.folios.keys()];
    // 262144 struct pages x 64 bytes = 16 MiB of vmemmap = 4096 pages: page 0 RW, 1..4095 RO.
    expect(pteOf(k, a).writable).toBe(true);
    for (const p of [1, 63, 64, 65, 1000, 4095]) expect(pteOf(k, a + p * 64).writable).toBe(false);
    expect(() => k.memmap.writeU64(a + 64 * 64 + 5, 32, 0x1234n)).toThrow(/read-only/);
  });

  it("mainline: the boot tail belongs to the zone, and is initialised by the late initcall", () => {
    const { k, hvo } = bootPool("mainline", 8, 2, CMD);
    const tails = hvo.sharedTails();
    expect(tails.length).toBeGreaterThan(0);
    for (const t of tails) {
      expect(t.zone).toBe("Normal");
      // init_compound_tail(): _mapcount -1, node bits, GENMASK(63, 24) | 1.
      expect(k.frames.readU32(t.pfn, 48)).toBe(0xffffffff);
      expect(Number(k.frames.readU64(t.pfn, 0) >> 54n)).toBe(t.nid);
      expect(k.frames.readU64(t.pfn, 8)).toBe(0xffffffffff000001n);
    }
  });

  it("HVO off at boot: no pre-HVO, full memmap", () => {
    const { k, pool, hvo } = bootPool("legacy", 8, 1, "hugepagesz=1G hugepages=2");
    expect(k.vmstat.nrMemmapBootPages).toBe(SECTIONS * 512);
    expect(pool.folios.size).toBe(2);
    for (const head of pool.folios.keys()) expect(hvo.isOptimized(head)).toBe(false);
  });

  it("seed: restore of a node-1 folio allocates on node 0 (page_to_nid() of the zeroed boot tail)", () => {
    for (const design of ["seed", "mainline"] as const) {
      const { k, hvo, pool } = bootPool(design, 8, 2, CMD);
      const head = [...pool.folios.keys()].find((h) => k.pfnToNid(h) === 1);
      expect(head).toBeDefined();
      const before = new Set(k.buddy.allocations.keys());
      expect(hvo.restoreFolio(18, head as number)).toBe(0);
      const nids = new Set<number>();
      for (const [p, a] of k.buddy.allocations)
        if (!before.has(p) && a.use === "vmemmap") nids.add(a.nid);
      // v3's boot tail is zeroed and gets only prep_compound_tail(): its flags say node 0.
      // v7's init_compound_tail() sets the zone's node.
      expect([...nids]).toEqual(design === "seed" ? [0] : [1]);
    }
  });
});
