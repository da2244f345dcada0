// Boot as Linux 7.2 boots, on the model alone (no QEMU): memmap_init() runs after the boot-time
// HVO population (mm/mm_init.c free_area_init()), writes through the tail PTEs of a pre-HVO'd
// 1 GiB folio into the zone's shared tail page, and with CONFIG_DEFERRED_STRUCT_PAGE_INIT only
// the first section of a node's last zone is initialised early (defer_init()). The numbers
// below are arithmetic on the `pc` guest's layout (src/live/vm/machine.ts: RAM [0, 3 GiB - 128
// KiB) and [4, 7) GiB, ZONE_NORMAL from pfn 0x100000) and the kernel's rules; the guest itself
// is compared in test/vm/boot72.test.ts and docs/findings.md §5, §7.
import { describe, expect, it } from "vitest";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { vmMachineSpec } from "../../src/live/vm/machine.ts";
import { firstDeferredPfn } from "../../src/mm/memmap.ts";
import { bootModel } from "../../src/model.ts";
import { parseMeminfo, parseVmstat } from "../../src/scenario/observe.ts";

const GiB = 2 ** 30;
const VMEMMAP_BASE = 0xffffea0000000000n;
/** PAGES_PER_SECTION on x86_64: 128 MiB / 4 KiB. */
const PAGES_PER_SECTION = 32768;
/** The first pfn of ZONE_NORMAL: 4 GiB. */
const NORMAL = 0x100000;

const guest = (cmdline: string, nodes = 1) =>
  bootModel(vmMachineSpec({ memoryBytes: 6 * GiB, nodes, cmdline }), "mainline");

/** &page->lru of pfn: vmemmap + 64 * pfn + 8. */
const lruOf = (pfn: number) => VMEMMAP_BASE + BigInt(pfn) * 64n + 8n;

describe("defer_init(): what memmap_init() leaves to the deferred pass", () => {
  it("the node's last zone stops at the first section boundary after PAGES_PER_SECTION pfns", () => {
    const spec = vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 1 });
    const node = spec.nodes[0];
    const normal = node.zones.find((z) => z.type === "Normal");
    const dma32 = node.zones.find((z) => z.type === "DMA32");
    if (!normal || !dma32) throw new Error("the 6 GiB guest has DMA32 and Normal");
    // Normal starts section-aligned at 4 GiB: 32768 pfns early, deferred from 0x108000.
    expect(firstDeferredPfn(node, normal, PAGES_PER_SECTION)).toBe(NORMAL + PAGES_PER_SECTION);
    // DMA32 ends below the node's end: initialised whole.
    expect(firstDeferredPfn(node, dma32, PAGES_PER_SECTION)).toBeNull();
  });

  it("on two nodes, node 0's last zone is DMA32 (it ends at 3 GiB - 128 KiB)", () => {
    const spec = vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 2 });
    const n0 = spec.nodes[0];
    const dma32 = n0.zones.find((z) => z.type === "DMA32");
    if (!dma32) throw new Error("node 0 has DMA32");
    // DMA32 from 16 MiB (pfn 0x1000): 32768 pfns, then the next section boundary, 0x10000.
    expect(firstDeferredPfn(n0, dma32, PAGES_PER_SECTION)).toBe(0x10000);
  });
});

describe("memmap_init() through the boot-time HVO mappings (7.2, docs/findings.md §5)", () => {
  it("hugepages=2: the folios sit at 5 and 4 GiB; the shared tail keeps what pfns 0x107fc0..0x107fff wrote", () => {
    const m = guest("hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on");
    const heads = [...m.k.buddy.allocations]
      .filter(([, a]) => a.use === "hugetlb" && a.order === 18)
      .map(([p]) => p)
      .sort((a, b) => a - b);
    expect(heads).toEqual([NORMAL, NORMAL + 0x40000]);
    for (const head of heads)
      for (const k of [0, 1, 63]) {
        // Subpage 64 + k maps slot k of the shared tail; the last early pfn of that slot is
        // 0x107fc0 + k (the highest pfn below 0x108000 that is k modulo 64).
        const pfn = head + 64 + k;
        expect(m.k.memmap.readU64(pfn, PAGE_OFF.lruPrev)).toBe(lruOf(0x107fc0 + k));
        // init_page_count(): 1, and init_compound_tail() leaves it.
        expect(m.k.memmap.readU32(pfn, PAGE_OFF.refcount)).toBe(1);
        expect(m.k.memmap.readU64(pfn, PAGE_OFF.compoundInfo)).toBe(0xffffffffff000001n);
      }
    // Struct pages 1..63 are the folio's own, initialised by hugetlb: refcount 0, lru.prev self.
    expect(m.k.memmap.readU32(NORMAL + 1, PAGE_OFF.refcount)).toBe(0);
    expect(m.k.memmap.readU64(NORMAL + 63, PAGE_OFF.lruPrev)).toBe(lruOf(NORMAL + 63));
  });

  it("hugepages=1: the folio at 5 GiB is all deferred, its shared tail stays as init_compound_tail() made it", () => {
    const m = guest("hugepagesz=1G hugepages=1 hugetlb_free_vmemmap=on");
    const head = NORMAL + 0x40000;
    expect(m.k.buddy.allocations.get(head)?.use).toBe("hugetlb");
    expect(m.k.memmap.readU32(head + 64, PAGE_OFF.refcount)).toBe(0);
    expect(m.k.memmap.readU64(head + 64, PAGE_OFF.lruPrev)).toBe(0n);
  });

  it("freeing the two pages reports Bad page state and loses both: +2 x 4095 vmemmap pages, MemFree down by them", () => {
    const m = guest("hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on");
    const free0 = parseMeminfo(m.read("/proc/meminfo")).get("MemFree") ?? 0;
    const vm0 = parseVmstat(m.read("/proc/vmstat")).get("nr_memmap_pages") ?? 0;
    const seq = m.k.printk.seq;
    m.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0");
    m.settle();
    const lines = m.k.printk.since(seq).map((l) => l.text);
    // The first report is subpage 64 of the folio freed first, the one at 4 GiB (seen on 7.2.13:
    // the first of 60 reports is pfn:100040). mm/hugetlb.c: boot put 5 GiB on the free list
    // first and 4 GiB at its head; set_max_huge_pages() takes 4 GiB then 5 GiB off the head and
    // list_add()s each to page_list (5 GiB first); hugetlb_vmemmap_restore_folios() walks that
    // list and list_move()s each restored folio to the head of non_hvo_folios, which reverses it
    // again; update_and_free_pages_bulk() frees non_hvo_folios in order: 4 GiB first.
    const bad = lines.filter((l) => l.startsWith("BUG: Bad page state"));
    expect(bad[0]).toMatch(/^BUG: Bad page state in process .* pfn:100040$/);
    expect(lines).toContain("page dumped because: nonzero _refcount");
    expect(m.read("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages").trim()).toBe("0");
    const vm1 = parseVmstat(m.read("/proc/vmstat")).get("nr_memmap_pages") ?? 0;
    const free1 = parseMeminfo(m.read("/proc/meminfo")).get("MemFree") ?? 0;
    expect(vm1 - vm0).toBe(2 * 4095);
    // Neither 1 GiB reaches the buddy allocator; the restored vmemmap pages come out of it.
    expect(free1 - free0).toBe(-2 * 4095 * 4);
  });

  it("with init_on_alloc=0 there are no page checks: both pages are freed", () => {
    const m = guest("hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on init_on_alloc=0");
    const free0 = parseMeminfo(m.read("/proc/meminfo")).get("MemFree") ?? 0;
    const seq = m.k.printk.seq;
    m.write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "0");
    m.settle();
    expect(m.k.printk.since(seq).filter((l) => /Bad page state/.test(l.text))).toEqual([]);
    const free1 = parseMeminfo(m.read("/proc/meminfo")).get("MemFree") ?? 0;
    // 2 x (1048576 kB - 4095 x 4 kB), docs/findings.md §5's expected figure.
    expect(free1 - free0).toBe(2 * (1048576 - 4095 * 4));
  });
});

describe("memblock: the kernel's own boot allocations come first, the pre-HVO pages below them", () => {
  // What 7.2.13 printed with `memblock=debug` on the 6 GiB guest (RAM ends at 0x1c0000000):
  // two direct-map page tables (0x1bfffe000..), NODE_DATA (176256 bytes), 73 + 75 + 512 bytes,
  // seven e820 copies of 104, three of 32, the section roots (32768), a page of mem_sections
  // and the usage maps (48 sections x 88 = 4224): the lowest ends at 0x1bffc87c0. Below it, one
  // page each, top-down: the vmemmap's PUD and PMD tables (0x1bffc7000, 0x1bffc6000), then the
  // pre-population of the first folio on huge_boot_pages (list_add(): the one allocated last,
  // 4 GiB): the zone's shared tail 0x1bffc5000, a PTE table, its head page 0x1bffc3000, seven
  // more PTE tables; then 5 GiB's PTE table 0x1bffbb000 and head page 0x1bffba000. The guest's
  // page tables (hvokcore's vmemmap walk) map exactly these.
  const frame = (m: ReturnType<typeof guest>, pfn: number) =>
    (m.k.memmap.backing(pfn)?.frame ?? 0) * 4096;
  it("1 node, hugepages=2: the head pages at 0x1bffc3000 (4 GiB) and 0x1bffba000 (5 GiB), the shared tail at 0x1bffc5000", () => {
    const m = guest("hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on");
    expect(frame(m, NORMAL)).toBe(0x1bffc3000);
    expect(frame(m, NORMAL + 0x40000)).toBe(0x1bffba000);
    expect(frame(m, NORMAL + 64)).toBe(0x1bffc5000);
    expect(frame(m, NORMAL + 0x40000 + 64)).toBe(0x1bffc5000);
  });
  it("2 nodes, hugepages=0:1,1:1: node 1's folio at 5 GiB has its head page at 0x1bffc7000 and its tail at 0x1bffc9000", () => {
    // Node 1 ([4, 7) GiB) holds the top: the same allocations but NODE_DATA(0) and the usage
    // map of node 0 (they go to node 0), and node 1's usage map is 24 x 88 = 2112 bytes, so the
    // lowest ends at 0x1bffca000; then PUD/PMD are node 0's (on node 0) and node 1's pre-HVO
    // starts right below: tail 0x1bffc9000, PTE table 0x1bffc8000, head 0x1bffc7000.
    const m = guest("hugepagesz=1G hugepages=0:1,1:1 hugetlb_free_vmemmap=on", 2);
    expect(frame(m, NORMAL + 0x40000)).toBe(0x1bffc7000);
    expect(frame(m, NORMAL + 0x40000 + 64)).toBe(0x1bffc9000);
  });
});

describe("sparse_init(): where each section's memmap goes", () => {
  // With PMD leaves, one section's memmap is 32768 x 64 bytes = 2 MiB: one PMD block each.
  const PMD = 2 * 2 ** 20;
  const frameOf = (k: ReturnType<typeof guest>["k"], section: number) => {
    const b = k.memmap.backing(section * PAGES_PER_SECTION);
    if (!b) throw new Error(`section ${section} has no memmap`);
    return b.frame * 4096;
  };
  it("7.2 asks memblock for each block in turn, top-down: section 0 highest, each next 2 MiB below", () => {
    const { k } = guest("");
    const s0 = frameOf(k, 0);
    expect(s0 % PMD).toBe(0);
    for (let s = 1; s < 24; s++) expect(frameOf(k, s)).toBe(s0 - s * PMD);
    // 4 GiB is section 32: 24..31 are the PCI hole (no memmap), so it follows section 23.
    expect(frameOf(k, 32)).toBe(s0 - 24 * PMD);
  });
  it("6.18 takes one buffer for the node and hands it out upwards: section 0 lowest", () => {
    const k = bootModel(vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 1 }), "legacy").k;
    const s0 = frameOf(k, 0);
    for (let s = 1; s < 24; s++) expect(frameOf(k, s)).toBe(s0 + s * PMD);
    expect(frameOf(k, 32)).toBe(s0 + 24 * PMD);
  });
});

describe("the buddy's marks on free pages (__SetPageBuddy(), set_buddy_order())", () => {
  /** PGTY_buddy (0xf0) in the top byte of page_type. */
  const BUDDY = 0xf0000000;
  const typeOf = (k: ReturnType<typeof guest>["k"], pfn: number) =>
    k.memmap.readU32(pfn, PAGE_OFF.pageType) >>> 0;
  const orderOf = (k: ReturnType<typeof guest>["k"], pfn: number) =>
    Number(k.memmap.readU64(pfn, PAGE_OFF.private));
  it("boot: each MAX_PAGE_ORDER block's head, and only its head, is PG_buddy with order 10", () => {
    const { k } = guest("");
    const head = NORMAL + 4 * 1024;
    expect(typeOf(k, head)).toBe(BUDDY);
    expect(orderOf(k, head)).toBe(10);
    expect(typeOf(k, head + 1)).toBe(0xffffffff);
    expect(orderOf(k, head + 1)).toBe(0);
    expect(typeOf(k, head + 512)).toBe(0xffffffff);
  });
  it("an order-0 allocation splits a block: the halves left are heads of orders 0..9; freeing merges them back", () => {
    const { k } = guest("");
    const pfn = k.buddy.allocPagesNode(0, 0, 0, "test", "kernel");
    if (pfn === null) throw new Error("no page");
    const block = pfn - (pfn % 1024);
    // A write to the page's struct page makes its vmemmap page bytes of its own (no longer
    // generated): the marks must then be stored, not computed.
    k.memmap.writeU32(pfn, PAGE_OFF.refcount, 1);
    expect(typeOf(k, pfn)).toBe(0xffffffff);
    // expand(): the upper halves of order 9, 8, ..., 0 are free heads of those orders.
    const heads: [number, number][] = [];
    for (let o = 9; o >= 0; o--) heads.push([pfn + 2 ** o, o]);
    if (pfn !== block) throw new Error(`the allocation is not at the start of its block: ${pfn}`);
    for (const [h, o] of heads) {
      expect(typeOf(k, h)).toBe(BUDDY);
      expect(orderOf(k, h)).toBe(o);
    }
    k.memmap.writeU32(pfn, PAGE_OFF.refcount, 0);
    k.buddy.freePages(pfn, 0);
    // __free_one_page(): each buddy taken off its list loses the marks; the merged head has them.
    for (const [h] of heads) {
      expect(typeOf(k, h)).toBe(0xffffffff);
      expect(orderOf(k, h)).toBe(0);
    }
    expect(typeOf(k, block)).toBe(BUDDY);
    expect(orderOf(k, block)).toBe(10);
  });
});
