// hvo inspect: struct pages read through the model's vmemmap, checked against bytes built here
// from the x86_64 struct page layout (include/linux/mm_types.h) and the kernel's definitions:
// set_page_links() (node in the top 10 bits, zone in the 3 below: CONFIG_NODES_SHIFT=10,
// ZONES_SHIFT=3), INIT_LIST_HEAD(&page->lru), _mapcount = -1, TAIL_MAPPING = 0x400 +
// POISON_POINTER_DELTA (0xdead000000000000), PG_head = bit 6, and the two tail encodings.
import { describe, expect, test } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { Kernel } from "../../src/kernel.ts";
import { inspectPfn } from "../../src/report/inspect.ts";

const VMEMMAP_BASE = 0xffffea0000000000n; // __VMEMMAP_BASE_L4
const ZONE_NORMAL = 2n;
const NODE0_NORMAL_FLAGS = ZONE_NORMAL << (64n - 10n - 3n); // 0x0010000000000000
const PG_HEAD = 1n << 6n;
const TAIL_MAPPING = 0xdead000000000400n;

function vaddr(pfn: number): bigint {
  return VMEMMAP_BASE + BigInt(pfn) * 64n;
}

/** 64 bytes of struct page, little-endian words. */
function structPage(w: {
  flags: bigint;
  w8: bigint;
  w16: bigint;
  mapping?: bigint;
  priv?: bigint;
  mapcount?: number;
  refcount?: number;
}): string {
  const b = new DataView(new ArrayBuffer(64));
  b.setBigUint64(0, w.flags, true);
  b.setBigUint64(8, w.w8, true);
  b.setBigUint64(16, w.w16, true);
  b.setBigUint64(24, w.mapping ?? 0n, true);
  b.setBigUint64(40, w.priv ?? 0n, true);
  b.setUint32(48, (w.mapcount ?? -1) >>> 0, true);
  b.setUint32(52, (w.refcount ?? 0) >>> 0, true);
  return [...new Uint8Array(b.buffer)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

// 4 GiB: the first pfn of ZONE_NORMAL on the x86_64 preset, free after boot.
const PFN = 0x100000;
/** The page after it: inside the same free block, not its head. */
const PLAIN = PFN + 1;

function boot(design: "legacy" | "seed" | "mainline" = "mainline"): Kernel {
  return new Kernel(machinePreset("x86_64"), { design }).boot();
}

describe("a plain free page on a fresh boot", () => {
  const d = inspectPfn(boot(), PLAIN);
  test("reads as memmap_init() left it: links, empty lru, _mapcount -1, _refcount 0", () => {
    const lru = vaddr(PLAIN) + 8n;
    expect(d.raw).toBe(structPage({ flags: NODE0_NORMAL_FLAGS, w8: lru, w16: lru }));
    expect(d.flags).toBe("0x0010000000000000");
    expect(d.node).toBe(0);
    expect(d.zone).toBe("Normal");
    expect(d.compound_info).toBe(`0x${lru.toString(16)}`);
    expect(d.head_pfn).toBe(PLAIN);
    expect(d.is_head || d.is_tail).toBe(false);
    expect(d.fields.mapcount).toBe(-1);
  });
  test("its vmemmap is a writable 2 MiB PMD leaf of a boot vmemmap frame nobody else maps", () => {
    expect(d.vaddr).toBe(`0x${vaddr(PLAIN).toString(16)}`);
    expect(d.mapping).toMatchObject({ level: "pmd", writable: true });
    // PAGE_KERNEL_LARGE = 0x80000000000001e3: the low bits of the entry
    expect(BigInt(d.mapping.entry) & 0xfffn).toBe(0x1e3n);
    expect(Number((BigInt(d.mapping.entry) >> 12n) & ((1n << 40n) - 1n))).toBe(
      d.frame - (d.frame % 512),
    );
    expect(d.frame_shared).toBe(false);
    expect(d.fake_head).toBe(false);
  });
  test("the head of a free block has PG_buddy in page_type, the block's order in private, its free-list links in lru", () => {
    // 4 GiB is aligned to MAX_PAGE_ORDER (10 on x86_64): memblock_free_all() frees it as one
    // order-10 block; __SetPageBuddy() puts PGTY_buddy (0xf0) in page_type's top byte. Boot
    // memory joins the lists' tails in ascending order: lru.next is the next block's lru, and
    // the first block of ZONE_NORMAL has the list head for lru.prev:
    // &NODE_DATA(0)->node_zones[2].free_area[10].free_list[MIGRATE_MOVABLE] = NODE_DATA + 2 *
    // 1856 + 256 + 10 * 104 + 16 (7.2.13's struct zone), NODE_DATA where the model puts it
    // (docs/struct-page-lru.md): 8 KiB + 176256 bytes below the node's end (17 GiB here), on a
    // 64-byte boundary, in the direct map at 0xffff888000000000.
    const nodeEnd = 0x440000000n;
    const nodeData = 0xffff888000000000n + ((nodeEnd - 8192n - 176256n) / 64n) * 64n;
    const h = inspectPfn(boot(), PFN);
    expect(h.raw).toBe(
      structPage({
        flags: NODE0_NORMAL_FLAGS,
        w8: vaddr(PFN + 1024) + 8n,
        w16: nodeData + 2n * 1856n + 256n + 10n * 104n + 16n,
        priv: 10n,
        mapcount: 0xf0000000 | 0,
      }),
    );
  });
  test("a reserved page has PG_reserved (bit 13) and _refcount 1", () => {
    const r = inspectPfn(boot(), 0x9f); // the EBDA below 640 KiB: a hole inside a present section
    expect(BigInt(r.flags) & (1n << 13n)).toBe(1n << 13n);
    expect(r.fields.refcount).toBe(1);
  });
});

describe("a compound page of order 9 on a fresh boot", () => {
  for (const design of ["mainline", "legacy"] as const) {
    const k = boot(design);
    k.compound.prepCompoundPage(PFN, 9);
    test(`${design}: the head has PG_head and the folio fields of page 1 (order 9, _nr_pages 512)`, () => {
      const h = inspectPfn(k, PFN);
      expect(BigInt(h.flags)).toBe(NODE0_NORMAL_FLAGS | PG_HEAD);
      expect(h.flag_names).toContain("head");
      expect(h.is_head).toBe(true);
      expect(h.folio).toMatchObject({ order: 9, nr_pages: 512 });
    });
    test(`${design}: tail 65 holds TAIL_MAPPING and the ${design === "legacy" ? "head pointer | 1" : "mask 0xffffffffffff8001"}`, () => {
      const t = inspectPfn(k, PFN + 65);
      const w8 = design === "legacy" ? vaddr(PFN) | 1n : 0xffffffffffff8001n;
      expect(t.compound_info).toBe(`0x${w8.toString(16).padStart(16, "0")}`);
      expect(t.raw).toBe(
        structPage({
          flags: NODE0_NORMAL_FLAGS,
          w8,
          w16: vaddr(PFN + 65) + 8n,
          mapping: TAIL_MAPPING,
        }),
      );
      expect(t.head_pfn).toBe(PFN);
      expect(t.is_tail).toBe(true);
      expect(t.compound_info_head_vaddr).toBe(`0x${vaddr(PFN).toString(16)}`);
      expect(t.fake_head).toBe(false);
    });
  }
});

describe("hvo inspect on the command line", () => {
  async function run(args: string[]) {
    const io = captureIo();
    const status = await main(["inspect", ...args], io);
    return { status, out: io.stdout(), err: io.stderr() };
  }
  test("--json has the issue's fields", async () => {
    const r = await run(["--pfn", String(PFN), "--json"]);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.out);
    for (const k of [
      "pfn",
      "vaddr",
      "raw",
      "flags",
      "compound_info",
      "head_pfn",
      "mapping",
      "frame",
      "frame_shared",
    ]) {
      expect(d).toHaveProperty(k);
    }
    expect(d.pfn).toBe(PFN);
    expect(typeof d.vaddr).toBe("string");
    expect(d.raw).toHaveLength(128);
    expect(typeof d.mapping.writable).toBe("boolean");
  });
  test("hex pfns are accepted and the text names the frame", async () => {
    const r = await run(["--pfn", "0x100000"]);
    expect(r.status).toBe(0);
    expect(r.out).toContain("pfn 0x100000");
    expect(r.out).toContain("PMD entry");
  });
  test("a pfn that is not a number is a usage error (exit 2)", async () => {
    const r = await run(["--pfn", "12abc"]);
    expect(r.status).toBe(2);
    expect(r.err).toContain("not a page frame number");
  });
  test("a pfn beyond the machine is a usage error", async () => {
    const r = await run(["--pfn", String(2 ** 40)]);
    expect(r.status).toBe(2);
    expect(r.err).toContain("beyond the machine");
  });
  test("a pfn in the PCI hole (3-4 GiB, no present section) has no memmap", async () => {
    const r = await run(["--pfn", String((3 * 2 ** 30) / 4096)]);
    expect(r.status).toBe(2);
    expect(r.err).toContain("hole");
  });
  test("--pfn is required", async () => {
    const r = await run([]);
    expect(r.status).toBe(2);
  });
});

describe("a 2 MiB hugetlb folio after HVO", async () => {
  const { bootWithPool } = await import("../../src/report/state.ts");
  function optimisedFolio(design: "legacy" | "seed" | "mainline") {
    const m = bootWithPool(machinePreset("x86_64"), design);
    m.hvo.enabled = true;
    const h = m.pool.hstateOfOrder(9)!;
    m.pool.nrHugepagesStore(h, 1, null);
    const head = h.hugepageFreelists[0].head;
    return { k: m.k, head };
  }

  for (const design of ["legacy", "seed", "mainline"] as const) {
    const { k, head } = optimisedFolio(design);
    test(`${design}: the head is a hugetlb folio head, its vmemmap page 0 a writable PTE of its own`, () => {
      const d = inspectPfn(k, head);
      expect(d.is_head).toBe(true);
      expect(d.fields.page_type).toBe("hugetlb");
      expect(d.folio).toMatchObject({ order: 9, nr_pages: 512, hugetlb: true });
      expect(d.folio!.hpg_flags).toContain("vmemmap_optimized");
      expect(d.mapping).toMatchObject({ level: "pte", writable: true });
      // legacy: pages 1..7 alias the head page, so its frame is mapped 8 times
      expect(d.frame_shared).toBe(design === "legacy");
    });
    test(`${design}: struct page 64 is read-only and ${design === "legacy" ? "a fake head" : "a plain tail"}`, () => {
      const d = inspectPfn(k, head + 64);
      expect(d.mapping).toMatchObject({ level: "pte", writable: false });
      expect(d.frame_shared).toBe(true);
      expect(d.head_pfn).toBe(head);
      if (design === "legacy") {
        // the bytes of struct page 0: PG_head set, not a tail word
        expect(d.fake_head).toBe(true);
        expect(BigInt(d.flags) & PG_HEAD).toBe(PG_HEAD);
        expect(d.frame).toBe(inspectPfn(k, head).frame);
      } else {
        expect(d.fake_head).toBe(false);
        expect(d.compound_info).toBe("0xffffffffffff8001");
        expect(d.fields.mapping_is_tail_mapping).toBe(true);
        expect(d.frame_use).toBe("shared_tail");
      }
    });
  }
});
