// The report's per-hstate arithmetic against Documentation/mm/vmemmap_dedup.rst:
//   struct_size = HugeTLB_Size / PAGE_SIZE * sizeof(struct page) / PAGE_SIZE   (vmemmap pages)
//   HVO keeps one of them (HUGETLB_VMEMMAP_RESERVE_SIZE = PAGE_SIZE) and frees the rest,
//   when sizeof(struct page) is a power of two and struct_size > 1 page.
import { describe, expect, test } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { allHstateArithmetic, memmapArithmetic } from "../../src/report/hstates.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

/** vmemmap_dedup.rst's formula, written out. */
function structSizePages(hugeBytes: number, pageBytes: number, structPageBytes: number): number {
  return ((hugeBytes / pageBytes) * structPageBytes) / pageBytes;
}

function byName(
  preset: string,
  design: "legacy" | "seed" | "mainline" = "mainline",
  structPageSize?: 56 | 64 | 72 | 80,
) {
  const spec = machinePreset(preset, structPageSize ? { structPageSize } : {});
  return new Map(allHstateArithmetic(spec, design).map((h) => [h.name, h]));
}

describe("x86_64 (vmemmap_dedup.rst: 7 pages per 2 MiB, 4095 per 1 GiB)", () => {
  const h = byName("x86_64");
  test("a 2 MiB folio has 512 struct pages in 8 vmemmap pages and HVO frees 7", () => {
    const two = h.get("2M")!;
    expect(two.order).toBe(9);
    expect(two.size_kb).toBe(2048);
    expect(two.struct_pages).toBe((2 * MiB) / (4 * KiB));
    expect(two.vmemmap_pages).toBe(structSizePages(2 * MiB, 4 * KiB, 64));
    expect(two.vmemmap_pages).toBe(8);
    expect(two.optimizable).toBe(true);
    expect(two.freed_per_folio).toBe(8 - 1);
    // report_hugepages(): "HugeTLB: 28 KiB vmemmap can be freed for a 2.00 MiB page"
    expect(two.freed_kb_per_folio).toBe(28);
  });
  test("a 1 GiB folio has 4096 vmemmap pages and HVO frees PAGE_SIZE/8*8 - 1 = 4095", () => {
    const one = h.get("1G")!;
    expect(one.order).toBe(18);
    expect(one.vmemmap_pages).toBe(structSizePages(GiB, 4 * KiB, 64));
    expect(one.vmemmap_pages).toBe(4096); // 262144 struct pages x 64 B / 4 KiB
    expect(one.freed_per_folio).toBe((4096 / 8) * 8 - 1);
    expect(one.freed_kb_per_folio).toBe(16380);
    expect(one.gigantic).toBe(true);
  });
  test("mask-encoded tails store GENMASK(63, order + 6) | 1 (SPEC 1.2)", () => {
    expect(h.get("2M")!.tail_compound_info).toBe("0xffffffffffff8001");
    expect(h.get("1G")!.tail_compound_info).toBe("0xffffffffff000001");
  });
  test("shared tail slots are order - VMEMMAP_TAIL_MIN_ORDER (7 with 4 KiB pages): 2 and 11", () => {
    expect(h.get("2M")!.shared_tail_slot).toBe(9 - 7);
    expect(h.get("1G")!.shared_tail_slot).toBe(18 - 7);
  });
  test("legacy keeps the pointer encoding and has no shared tail slot", () => {
    const l = byName("x86_64", "legacy");
    expect(l.get("2M")!.tail_compound_info).toBe("head | 1");
    expect(l.get("2M")!.shared_tail_slot).toBeNull();
    expect(l.get("2M")!.freed_per_folio).toBe(7);
  });
});

describe("other presets, the same formula (research/legacy.md 5.1)", () => {
  test("arm64 4K: 64K folios' 1024 bytes of struct pages fit in one page; 32M frees 127", () => {
    const h = byName("arm64-4k");
    expect(h.get("64K")!.optimizable).toBe(false);
    expect(h.get("64K")!.why_not).toBe("fits_in_one_page");
    expect(h.get("64K")!.vmemmap_bytes).toBe(16 * 64);
    expect(h.get("64K")!.freed_per_folio).toBe(0);
    expect(h.get("32M")!.freed_per_folio).toBe(structSizePages(32 * MiB, 4 * KiB, 64) - 1);
    expect(h.get("32M")!.freed_per_folio).toBe(127);
  });
  test("arm64 16K: 2M not optimisable, 32M frees 7, 1G frees 255", () => {
    const h = byName("arm64-16k");
    expect(h.get("2M")!.why_not).toBe("fits_in_one_page");
    expect(h.get("32M")!.freed_per_folio).toBe(structSizePages(32 * MiB, 16 * KiB, 64) - 1);
    expect(h.get("32M")!.freed_per_folio).toBe(7);
    expect(h.get("1G")!.freed_per_folio).toBe(255);
  });
  test("arm64 64K: 2M not optimisable, 512M frees 7, 16G frees 255", () => {
    const h = byName("arm64-64k");
    expect(h.get("2M")!.why_not).toBe("fits_in_one_page");
    expect(h.get("512M")!.freed_per_folio).toBe(7);
    expect(h.get("16G")!.freed_per_folio).toBe(structSizePages(16 * GiB, 64 * KiB, 64) - 1);
  });
  test("a 72-byte struct page is not a power of two: no HVO, pointer-encoded tails", () => {
    const h = byName("x86_64", "mainline", 72);
    const two = h.get("2M")!;
    expect(two.optimizable).toBe(false);
    expect(two.why_not).toBe("struct_page_not_pow2");
    expect(two.freed_per_folio).toBe(0);
    expect(two.tail_compound_info).toBe("head | 1");
  });
});

describe("memmap of the whole machine", () => {
  test("x86_64 16 GiB: present sections x 512 pages (128 MiB sections, 2 MiB of memmap each)", () => {
    const m = memmapArithmetic(machinePreset("x86_64"));
    // The preset lays 16 GiB out as 3 GiB below the PCI hole and 13 GiB from 4 GiB on:
    // sections 0..23 and 32..135.
    const sections = (3 * GiB) / (128 * MiB) + (13 * GiB) / (128 * MiB);
    expect(m.present_sections).toBe(sections);
    expect(m.memmap_pages_per_section).toBe((((128 * MiB) / (4 * KiB)) * 64) / (4 * KiB));
    expect(m.boot_memmap_pages).toBe(sections * 512);
  });
});
