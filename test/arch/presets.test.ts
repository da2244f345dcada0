// The presets against the kernel's numbers: Documentation/mm/vmemmap_dedup.rst (hstate sizes per
// arch), arch/*/include/asm/sparsemem.h, pgtable*.h, memory.h, Kconfig. Expected values are
// written out from those sources, never read back from the presets.
import { describe, expect, it } from "vitest";
import { machinePreset, presetNames } from "../../src/arch/index.ts";
import {
  maxFolioVmemmapAlignBytes,
  memmapPagesPerSection,
  presentSections,
  vmemmapBaseAligned,
} from "../../src/machine/layout.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

function hstateBytes(name: string): number[] {
  const a = machinePreset(name).arch;
  return a.hstateOrders.map((o) => 2 ** (o + a.pageShift));
}

describe("presets", () => {
  it("lists the six architectures, x86_64 first", () => {
    expect(presetNames()).toEqual([
      "x86_64",
      "arm64-4k",
      "arm64-16k",
      "arm64-64k",
      "riscv64",
      "loongarch64",
    ]);
  });

  it("hstate sizes follow the vmemmap_dedup.rst table", () => {
    expect(hstateBytes("x86_64")).toEqual([2 * MiB, GiB]);
    expect(hstateBytes("arm64-4k")).toEqual([64 * KiB, 2 * MiB, 32 * MiB, GiB]);
    expect(hstateBytes("arm64-16k")).toEqual([2 * MiB, 32 * MiB, GiB]);
    expect(hstateBytes("arm64-64k")).toEqual([2 * MiB, 512 * MiB, 16 * GiB]);
    // arch/riscv/mm/hugetlbpage.c: HPAGE_SIZE and PUD_SIZE (no Svnapot).
    expect(hstateBytes("riscv64")).toEqual([2 * MiB, GiB]);
    // loongarch: HPAGE_SHIFT = 2 * PAGE_SHIFT - 3 = 25.
    expect(hstateBytes("loongarch64")).toEqual([32 * MiB]);
  });

  it("x86_64 has the 1 GiB size only on a CPU with GBPAGES (the preset's CPU has it)", () => {
    // arch/x86/mm/hugetlbpage.c: arch_hugetlb_valid_size() takes PUD_SIZE, and
    // gigantic_pages_init() adds the PUD hstate, only with X86_FEATURE_GBPAGES.
    expect(machinePreset("x86_64").cpu).toEqual({ gbpages: true });
    const noGb = machinePreset("x86_64", { cpu: { gbpages: false } });
    expect(noGb.cpu).toEqual({ gbpages: false });
    expect(noGb.arch.hstateOrders.map((o) => 2 ** (o + noGb.arch.pageShift))).toEqual([2 * MiB]);
    // The default size is PMD_SIZE either way.
    expect(2 ** (noGb.arch.defaultHstateOrder + noGb.arch.pageShift)).toBe(2 * MiB);
    // The other archs have no CPU feature to set, and refuse x86's.
    for (const name of presetNames().slice(1)) {
      expect(machinePreset(name).cpu, name).toBeUndefined();
      expect(() => machinePreset(name, { cpu: { gbpages: false } }), name).toThrow(
        `cpu: ${name} has no CPU feature "gbpages" (only x86_64 has gbpages)`,
      );
    }
  });

  it("the default hstate is the PMD size (HPAGE_SHIFT)", () => {
    const pmd = {
      x86_64: 2 * MiB,
      "arm64-4k": 2 * MiB,
      "arm64-16k": 32 * MiB,
      "arm64-64k": 512 * MiB,
      riscv64: 2 * MiB,
      loongarch64: 32 * MiB,
    };
    for (const [name, bytes] of Object.entries(pmd)) {
      const a = machinePreset(name).arch;
      expect(2 ** (a.defaultHstateOrder + a.pageShift), name).toBe(bytes);
      // The PMD level maps exactly that much.
      expect(a.levelShifts[a.levelShifts.length - 2], name).toBe(Math.log2(bytes));
    }
  });

  it("page sizes, levels, sections, MAX_PAGE_ORDER and MAX_PHYSMEM_BITS", () => {
    const want = {
      x86_64: [12, [39, 30, 21, 12], 27, 10, 46],
      "arm64-4k": [12, [39, 30, 21, 12], 27, 10, 48],
      "arm64-16k": [14, [47, 36, 25, 14], 27, 11, 48],
      "arm64-64k": [16, [42, 29, 16], 29, 13, 48],
      riscv64: [12, [30, 21, 12], 27, 10, 56],
      loongarch64: [14, [36, 25, 14], 29, 11, 48],
    } as const;
    for (const [name, [page, levels, section, maxOrder, physBits]] of Object.entries(want)) {
      const a = machinePreset(name).arch;
      expect(
        [a.pageShift, a.levelShifts, a.sectionShift, a.maxPageOrder, a.maxPhysmemBits],
        name,
      ).toEqual([page, levels, section, maxOrder, physBits]);
    }
  });

  it("PMD-mapped vmemmap, boot-time HVO and ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP", () => {
    const flags = presetNames().map((n) => {
      const a = machinePreset(n).arch;
      return [n, a.vmemmapPmdLeaves, a.vmemmapPreinit, a.optimizeHugetlbVmemmap];
    });
    expect(flags).toEqual([
      ["x86_64", true, true, true],
      ["arm64-4k", true, false, true],
      ["arm64-16k", false, false, true],
      ["arm64-64k", false, false, true],
      ["riscv64", true, false, true],
      ["loongarch64", true, false, true],
    ]);
  });

  it("vmemmap bases (pfn_to_page(0)) from the arch's formulas", () => {
    // x86_64: __VMEMMAP_BASE_L4.
    expect(machinePreset("x86_64").arch.vmemmapBase).toBe(0xffffea0000000000n);
    // arm64-4k: VMEMMAP_START = -1G - 2^35 * 64 = 0xfffffdffc0000000; DRAM at 1 GiB, memstart
    // aligned to 1 GiB: minus 2^18 struct pages * 64 = 16 MiB.
    expect(machinePreset("arm64-4k").arch.vmemmapBase).toBe(0xfffffdffc0000000n - 0x1000000n);
    // arm64-16k: -1G - 2^33 * 64; minus 2^16 * 64 = 4 MiB.
    expect(machinePreset("arm64-16k").arch.vmemmapBase).toBe(0xffffff7fc0000000n - 0x400000n);
    // arm64-64k: -1G - 2^31 * 64; memstart = 1G (512M aligned): minus 2^14 * 64 = 1 MiB.
    expect(machinePreset("arm64-64k").arch.vmemmapBase).toBe(0xffffffdfc0000000n - 0x100000n);
    // riscv64 Sv39: vm-layout.rst vmemmap at 0xffffffc500000000; DRAM at 2 GiB: 2^19 * 64.
    expect(machinePreset("riscv64").arch.vmemmapBase).toBe(0xffffffc500000000n - 0x2000000n);
    // loongarch64: ALIGN(VMALLOC_END, 64M), VMALLOC_END = -2^47 + 2^47 - 32M - 2^40.
    expect(machinePreset("loongarch64").arch.vmemmapBase).toBe(0xffffff0000000000n);
  });

  it("MAX_FOLIO_VMEMMAP_ALIGN is 256 MiB / 64 MiB / 16 MiB for 4K / 16K / 64K pages", () => {
    expect(maxFolioVmemmapAlignBytes(12, 64)).toBe(256n * 1024n * 1024n);
    expect(maxFolioVmemmapAlignBytes(14, 64)).toBe(64n * 1024n * 1024n);
    expect(maxFolioVmemmapAlignBytes(16, 64)).toBe(16n * 1024n * 1024n);
    expect(maxFolioVmemmapAlignBytes(12, 72)).toBe(0n);
    expect(vmemmapBaseAligned(machinePreset("x86_64").arch, 64)).toBe(true);
    expect(vmemmapBaseAligned(machinePreset("loongarch64").arch, 64)).toBe(true);
    // DRAM at 2 GiB with a physical VMEMMAP_ADDR_ALIGN leaves riscv's base 32 MiB aligned only.
    expect(vmemmapBaseAligned(machinePreset("riscv64").arch, 64)).toBe(false);
  });

  it("x86_64 default: 16 GiB, pfn 0 and 640K-1M kept back, the 3-4 GiB PCI hole", () => {
    const m = machinePreset("x86_64");
    expect(m.nodes).toHaveLength(1);
    expect(m.nodes[0].ranges).toEqual([
      { startPfn: 1, endPfn: 0x9f },
      { startPfn: 0x100, endPfn: 0xc0000 },
      { startPfn: 0x100000, endPfn: 0x100000 + (13 * GiB) / 4096 },
    ]);
    expect(m.nodes[0].zones).toEqual([
      { type: "DMA", startPfn: 1, endPfn: 4096 },
      { type: "DMA32", startPfn: 4096, endPfn: 0x100000 },
      { type: "Normal", startPfn: 0x100000, endPfn: 0x100000 + (13 * GiB) / 4096 },
    ]);
    // 16 GiB in 128 MiB sections; each needs 2 MiB of memmap = 512 pages.
    const sections = presentSections(m.nodes[0].ranges, 12, 27);
    expect(sections.size).toBe(128);
    expect(memmapPagesPerSection(m.arch, 64)).toBe(512);
  });

  it("splits memory over nodes; DMA and DMA32 only where low memory is", () => {
    const m = machinePreset("x86_64", { memoryBytes: 64 * GiB, nodes: 4 });
    expect(m.nodes.map((n) => n.nid)).toEqual([0, 1, 2, 3]);
    expect(m.nodes[0].zones.map((z) => z.type)).toEqual(["DMA", "DMA32", "Normal"]);
    for (const n of m.nodes.slice(1)) expect(n.zones.map((z) => z.type)).toEqual(["Normal"]);
    const sizes = m.nodes.map((n) => n.ranges.reduce((s, r) => s + r.endPfn - r.startPfn, 0));
    for (const s of sizes)
      expect(Math.abs(s - (16 * GiB) / 4096)).toBeLessThanOrEqual((128 * MiB) / 4096);
    // Node boundaries fall on 128 MiB sections.
    for (const n of m.nodes.slice(1)) expect(n.ranges[0].startPfn % 32768).toBe(0);
  });

  it("arm64 puts low memory in ZONE_DMA, riscv and loongarch in ZONE_DMA32", () => {
    expect(machinePreset("arm64-4k").nodes[0].zones.map((z) => z.type)).toEqual(["DMA", "Normal"]);
    expect(machinePreset("riscv64").nodes[0].zones.map((z) => z.type)).toEqual(["DMA32", "Normal"]);
    expect(machinePreset("loongarch64").nodes[0].zones.map((z) => z.type)).toEqual([
      "DMA32",
      "Normal",
    ]);
  });

  it("struct page size moves arm64's and riscv's vmemmap start", () => {
    // arm64 VMEMMAP_SIZE scales with sizeof(struct page): -1G - 2^35 * 72, minus 2^18 * 72.
    expect(machinePreset("arm64-4k", { structPageSize: 72 }).arch.vmemmapBase).toBe(
      (1n << 64n) - (1n << 30n) - (1n << 35n) * 72n - (1n << 18n) * 72n,
    );
    // riscv STRUCT_PAGE_MAX_SHIFT = 7 for 72 bytes: an 8 GiB vmemmap below 0xffffffc600000000.
    expect(machinePreset("riscv64", { structPageSize: 72 }).arch.vmemmapBase).toBe(
      0xffffffc400000000n - (1n << 19n) * 72n,
    );
  });

  it("refuses unknown presets and impossible sizes", () => {
    expect(() => machinePreset("sparc64")).toThrow(/unknown machine preset "sparc64"/);
    expect(() => machinePreset("x86_64", { nodes: 200, memoryBytes: 4 * GiB })).toThrow(
      /without memory/,
    );
  });
});
