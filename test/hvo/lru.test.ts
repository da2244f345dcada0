// The free lists as a debugger reads them from struct pages: page->lru (buddy_list) links the
// heads of free buddy blocks on zone->free_area[order].free_list[migratetype], folio->lru the
// heads of HugeTLB folios on hstate->hugepage_freelists[nid] / hugepage_activelist
// (include/linux/list.h, mm/page_alloc.c, mm/hugetlb.c). A walk from the list head through the
// lru words read from the vmemmap must give the lists' entries in their order, after any
// sequence of pool, HVO and buddy operations (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import type { Kernel } from "../../src/kernel.ts";
import { FREE_LIST_LAYOUT, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE } from "../../src/mm/buddy_lru.ts";
import type { FolioList, Hstate } from "../../src/mm/hugetlb.ts";
import { HSTATE_LAYOUT, HSTATES_VADDR } from "../../src/mm/hugetlb_lru.ts";
import { LIST_POISON1, LIST_POISON2, type ListHead } from "../../src/mm/list.ts";
import { GFP_KERNEL, type Zone } from "../../src/mm/page_alloc.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";

const GiB = 2 ** 30;
const SEED = 1212;

/** &page->lru of pfn: vmemmap_base + 64 * pfn + 8 (x86_64, 64-byte struct page). */
const lruAddr = (k: Kernel, pfn: number) => k.memmap.vaddrOf(pfn) + 8n;
const word = (k: Kernel, pfn: number, off: number) => k.memmap.readU64(pfn, off);

/**
 * list_for_each() from `head` as the bytes have it: the first entry is the candidate whose
 * lru.prev is the list head (the head's own words live in struct zone / struct hstate, not in
 * the vmemmap), then lru.next until it comes back to the head; every entry's prev must be the
 * entry before it. Returns the heads in list order, or a description of the first broken link.
 */
function walk(k: Kernel, head: bigint, candidates: Iterable<number>): number[] | string {
  const firsts = [...candidates].filter((p) => word(k, p, PAGE_OFF.lruPrev) === head);
  if (firsts.length > 1) return `${firsts.length} entries have lru.prev = the list head`;
  const out: number[] = [];
  if (firsts.length === 0) return out;
  let prev = head;
  let p = firsts[0];
  for (;;) {
    if (word(k, p, PAGE_OFF.lruPrev) !== prev)
      return `pfn ${p}: lru.prev 0x${word(k, p, PAGE_OFF.lruPrev).toString(16)}, want 0x${prev.toString(16)}`;
    out.push(p);
    if (out.length > 1 << 22) return "no end";
    const next = word(k, p, PAGE_OFF.lruNext);
    if (next === head) return out;
    const off = next - k.memmap.vaddrOf(0) - 8n;
    if (off < 0n || off % 64n !== 0n) return `pfn ${p}: lru.next 0x${next.toString(16)} is no lru`;
    prev = lruAddr(k, p);
    p = Number(off / 64n);
  }
}

/** The model's free list of (zone, order, migratetype), in order: what the bytes must say. */
function modelList(k: Kernel, zone: Zone, order: number, mt: number): number[] {
  return (k.buddy.lru as NonNullable<typeof k.buddy.lru>).listOrder(zone, order, mt);
}

function checkBuddyLists(k: Kernel): void {
  const lru = k.buddy.lru;
  if (lru === null) throw new Error("no lru");
  const heads = [...k.buddy.freeBlocks()].flatMap(({ start, nrPages }) => {
    // A lazy range is many MAX_PAGE_ORDER blocks.
    const out: number[] = [];
    const max = 2 ** k.buddy.maxOrder;
    for (let p = start; p < start + nrPages; p += Math.min(nrPages, max)) out.push(p);
    return out;
  });
  for (const zone of k.buddy.zones) {
    const inZone = heads.filter((p) => zone.contains(p));
    for (let order = 0; order <= k.buddy.maxOrder; order++) {
      const ofOrder = inZone.filter((p) => k.buddy.headOrder(p) === order);
      for (const mt of [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE]) {
        const h: ListHead = lru.listHead(zone, order, mt);
        const want = modelList(k, zone, order, mt);
        expect(walk(k, h.addr, ofOrder), h.what).toEqual(want);
      }
    }
  }
}

function checkHugetlbLists(m: Model): void {
  for (const h of m.pool.hstates) {
    const lists: FolioList[] = [h.hugepageActivelist, ...h.hugepageFreelists];
    const pool = [...m.pool.folios.keys()];
    for (const l of lists) {
      const head = (l.lru as NonNullable<FolioList["lru"]>).head;
      expect(walk(m.k, head.addr, pool), head.what).toEqual([...l]);
    }
  }
}

type Op =
  | { kind: "nr"; size: "2M" | "1G"; value: number }
  | { kind: "hvo"; on: boolean }
  | { kind: "alloc"; order: number }
  | { kind: "free"; pick: number }
  | { kind: "demote" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("nr" as const),
    size: fc.constant("2M" as const),
    value: fc.integer({ min: 0, max: 40 }),
  }),
  fc.record({
    kind: fc.constant("nr" as const),
    size: fc.constant("1G" as const),
    value: fc.integer({ min: 0, max: 1 }),
  }),
  fc.record({ kind: fc.constant("hvo" as const), on: fc.boolean() }),
  fc.record({ kind: fc.constant("alloc" as const), order: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant("demote" as const) }),
);

const HP = "/sys/kernel/mm/hugepages";

function apply(m: Model, op: Op, held: Array<[number, number]>): void {
  const tryWrite = (p: string, v: string) => {
    try {
      m.write(p, v);
    } catch {
      // ENOMEM, EBUSY...: the lists must be right whatever the kernel refused.
    }
    m.settle();
  };
  if (op.kind === "nr")
    tryWrite(
      `${HP}/hugepages-${op.size === "2M" ? "2048" : "1048576"}kB/nr_hugepages`,
      `${op.value}`,
    );
  else if (op.kind === "hvo") tryWrite("/proc/sys/vm/hugetlb_optimize_vmemmap", op.on ? "1" : "0");
  else if (op.kind === "demote") tryWrite(`${HP}/hugepages-1048576kB/demote`, "1");
  else if (op.kind === "alloc") {
    const pfn = m.k.buddy.allocPagesNode(0, GFP_KERNEL, op.order, "test:lru", "kernel");
    if (pfn !== null) held.push([pfn, op.order]);
  } else if (held.length > 0) {
    const [[pfn, order]] = held.splice(op.pick % held.length, 1);
    m.k.buddy.freePages(pfn, order);
  }
}

describe("free lists through the lru words of struct pages", () => {
  it("right after boot, every buddy free list walks as the allocator's lists (2 nodes)", () => {
    const spec = machinePreset("x86_64", { memoryBytes: 2 * GiB, nodes: 2, cmdline: "" });
    const m = bootModel(spec, "mainline");
    checkBuddyLists(m.k);
    // Boot memory went to the tails of the lists in ascending pfn order (memblock_free_all()
    // with FPI_TO_TAIL): the MAX_PAGE_ORDER list of each zone ascends by 1024 pages where its
    // memory is contiguous.
    const z = m.k.buddy.zones.find((x) => x.type === "Normal" || x.type === "DMA32") as Zone;
    const list = modelList(m.k, z, 10, MIGRATE_MOVABLE);
    expect(list.length).toBeGreaterThan(10);
    const mid = list[Math.floor(list.length / 2)];
    expect(word(m.k, mid, PAGE_OFF.lruNext)).toBe(lruAddr(m.k, mid + 1024));
    expect(word(m.k, mid, PAGE_OFF.lruPrev)).toBe(lruAddr(m.k, mid - 1024));
  });

  it("list heads sit at struct zone's and struct hstate's offsets (7.2.13's BTF)", () => {
    const spec = machinePreset("x86_64", { memoryBytes: 2 * GiB, nodes: 1, cmdline: "" });
    const m = bootModel(spec, "mainline");
    const lru = m.k.buddy.lru as NonNullable<typeof m.k.buddy.lru>;
    const [dma32] = m.k.buddy.zones.filter((z) => z.type === "DMA32");
    const [dma] = m.k.buddy.zones.filter((z) => z.type === "DMA");
    // node_zones[ZONE_DMA32] is one struct zone (1856 bytes) after node_zones[ZONE_DMA];
    // free_area[o].free_list[mt] is at 256 + 104 * o + 16 * mt inside it.
    expect(lru.listHead(dma32, 3, MIGRATE_MOVABLE).addr - lru.listHead(dma, 0, 0).addr).toBe(
      1856n + 104n * 3n + 16n,
    );
    expect(FREE_LIST_LAYOUT.freeAreaOff).toBe(256);
    // The first MAX_PAGE_ORDER block of DMA32 links back to its list head.
    const first = modelList(m.k, dma32, 10, MIGRATE_MOVABLE)[0];
    expect(word(m.k, first, PAGE_OFF.lruPrev)).toBe(lru.listHead(dma32, 10, MIGRATE_MOVABLE).addr);
    // hstates[1] is the 2 MiB hstate (x86_64 registers 1 GiB first): its node 0 free list.
    m.write(`${HP}/hugepages-2048kB/nr_hugepages`, "3");
    m.settle();
    const h2 = m.pool.hstates[1] as Hstate;
    expect(h2.order).toBe(9);
    const freelist = [...h2.hugepageFreelists[0]];
    expect(freelist).toHaveLength(3);
    const listHead = HSTATES_VADDR + 32912n + 112n;
    expect(HSTATE_LAYOUT.freelistsOff).toBe(112);
    expect(word(m.k, freelist[0], PAGE_OFF.lruPrev)).toBe(listHead);
    expect(word(m.k, freelist[2], PAGE_OFF.lruNext)).toBe(listHead);
    // enqueue_hugetlb_folio() list_move()s to the head: the list is newest first.
    expect(word(m.k, freelist[0], PAGE_OFF.lruNext)).toBe(lruAddr(m.k, freelist[1]));
  });

  it("list_del() leaves LIST_POISON1/2; a folio alone on its list links to the list head both ways", () => {
    const spec = machinePreset("x86_64", { memoryBytes: 2 * GiB, nodes: 1, cmdline: "" });
    const m = bootModel(spec, "mainline");
    m.write(`${HP}/hugepages-2048kB/nr_hugepages`, "2");
    m.settle();
    const h2 = m.pool.hstates[1] as Hstate;
    const [, oldest] = [...h2.hugepageFreelists[0]];
    // Shrinking takes the head of the free list (remove_pool_hugetlb_folio()).
    m.write(`${HP}/hugepages-2048kB/nr_hugepages`, "1");
    m.settle();
    expect([...h2.hugepageFreelists[0]]).toEqual([oldest]);
    const listHead = HSTATES_VADDR + 32912n + 112n;
    expect(word(m.k, oldest, PAGE_OFF.lruNext)).toBe(listHead);
    expect(word(m.k, oldest, PAGE_OFF.lruPrev)).toBe(listHead);
    // include/linux/poison.h with CONFIG_ILLEGAL_POINTER_VALUE=0xdead000000000000 (Debian's
    // 7.2 config): LIST_POISON1 = 0x100 + delta, LIST_POISON2 = 0x122 + delta.
    expect(LIST_POISON1).toBe(0xdead000000000000n + 0x100n);
    expect(LIST_POISON2).toBe(0xdead000000000000n + 0x122n);
    // The folio is taken off its list (dissolve, as memory offline does): list_del().
    m.k.lruWords.unlinked(
      oldest,
      -1,
      -1,
      (h2.hugepageFreelists[0].lru as NonNullable<FolioList["lru"]>).head,
    );
    expect(word(m.k, oldest, PAGE_OFF.lruNext)).toBe(LIST_POISON1);
    expect(word(m.k, oldest, PAGE_OFF.lruPrev)).toBe(LIST_POISON2);
  });

  it("a run-time 1 GiB folio (HVO off): the tails that headed free blocks keep LIST_POISON2", () => {
    // alloc_contig_range() takes the free MAX_PAGE_ORDER blocks of the range off their lists
    // (list_del(): LIST_POISON1/2 in each head's lru); prep_compound_tail() then writes the
    // compound word over lru.next and leaves lru.prev: tail 1024 k holds LIST_POISON2, the
    // others memmap_init()'s self-link. The head is on hstates[0].hugepage_freelists[0] alone.
    const spec = machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1, cmdline: "" });
    const m = bootModel(spec, "mainline");
    m.write(`${HP}/hugepages-1048576kB/nr_hugepages`, "1");
    m.settle();
    const [f] = [...(m.pool.hstates[0] as Hstate).hugepageFreelists[0]];
    expect(word(m.k, f, PAGE_OFF.lruNext)).toBe(HSTATES_VADDR + 112n);
    expect(word(m.k, f, PAGE_OFF.lruPrev)).toBe(HSTATES_VADDR + 112n);
    for (const i of [1024, 2048, 4096, 262144 - 1024])
      expect(word(m.k, f + i, PAGE_OFF.lruPrev)).toBe(LIST_POISON2);
    for (const i of [512, 1023, 1025, 262143])
      expect(word(m.k, f + i, PAGE_OFF.lruPrev)).toBe(lruAddr(m.k, f + i));
  });

  it("with mappings (hugepage_activelist) and surplus pages, every list walks as the model's (seeded)", () => {
    const spec = machinePreset("x86_64", {
      memoryBytes: 3 * GiB,
      nodes: 2,
      cmdline: "hugetlb_free_vmemmap=on",
    });
    const stepArb = fc.oneof(
      fc.record({
        op: fc.constant("nr"),
        size: fc.constant("2M"),
        value: fc.integer({ min: 0, max: 12 }),
      }),
      fc.record({
        op: fc.constant("overcommit"),
        size: fc.constant("2M"),
        value: fc.integer({ min: 0, max: 8 }),
      }),
      fc.record({
        op: fc.constant("map"),
        id: fc.constantFrom("a", "b", "c"),
        size: fc.constant("2M"),
        n: fc.integer({ min: 1, max: 6 }),
      }),
      fc.record({ op: fc.constant("release"), id: fc.constantFrom("a", "b", "c") }),
      fc.record({ op: fc.constant("hvo"), value: fc.integer({ min: 0, max: 1 }) }),
    );
    let active = 0;
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 10 }), (steps) => {
        const m = bootModel(spec, "mainline");
        const file = parseScenarioFile({
          format: "hvo-scenario/1",
          scenarios: [{ id: "s", steps }],
        });
        // The mappings stay until the closing reset releases them: check before it.
        runModel(
          m,
          { ...file, scenarios: [{ ...file.scenarios[0], reset: false }] },
          {
            skipFinalReset: true,
          },
        );
        for (const h of m.pool.hstates) active += h.hugepageActivelist.size;
        checkBuddyLists(m.k);
        checkHugetlbLists(m);
      }),
      { seed: SEED, numRuns: 15, verbose: 1 },
    );
    // Some runs ended with folios in use: the active list was walked with entries.
    expect(active).toBeGreaterThan(0);
  });

  it("after random pool, HVO and buddy operations, every list walks as the model's (seeded)", () => {
    const spec = machinePreset("x86_64", {
      memoryBytes: 3 * GiB,
      nodes: 1,
      cmdline: "hugetlb_free_vmemmap=on",
    });
    let steps = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), (ops) => {
        const m = bootModel(spec, "mainline");
        const held: Array<[number, number]> = [];
        for (const op of ops) {
          apply(m, op, held);
          checkBuddyLists(m.k);
          checkHugetlbLists(m);
          steps++;
        }
      }),
      { seed: SEED, numRuns: 12, verbose: 1 },
    );
    expect(steps).toBeGreaterThan(12);
  });
});
