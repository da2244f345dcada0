// The arm64 QEMU guest that `hvo vm --kernel debian-7.2:arm64[-16k]` boots (src/live/vm/qemu.ts:
// `-M virt -cpu max,lpa2=off`, the kernel Image loaded directly, no firmware) as a model
// MachineSpec. Every number below was read from booted guests (Debian's 7.2.13 arm64 and
// arm64-16k kernels, QEMU 7.2) through openVm():
//
//   /proc/iomem (hw/arm/virt.c VIRT_MEM): one System RAM range from 0x40000000, -m long
//     (2G: 40000000-bfffffff); with -numa nodes the RAM is split in order, node n owning
//     [1G + n*per, 1G + (n+1)*per) (the device tree's memory nodes carry numa-node-id).
//   /proc/zoneinfo: ZONE_DMA from pfn 0x40000 (4K) / 0x10000 (16K) up to 4 GiB, ZONE_DMA32
//     empty, ZONE_Normal above 4 GiB (arch/arm64/mm/init.c zone_sizes_init(): the DMA zone
//     limit is 32 bits when neither the device tree nor ACPI restricts it, and ZONE_DMA32 ends
//     at the same place): the arm64 presets' zoneLimits.
//   hstates (/sys/kernel/mm/hugepages): 4K: 64K, 2M, 32M, 1G; 16K: 2M, 32M, 1G; default 2M
//     (4K) and 32M (16K), as the presets.
//   /proc/sys/vm/hugetlb_optimize_vmemmap: absent (ENOENT) on both: Debian's arm64 configs
//     have no CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP (arm64 does not select
//     ARCH_WANT_OPTIMIZE_HUGETLB_VMEMMAP), so no HVO, whatever the command line says.
//   vmstat nr_memmap_boot_pages after boot: RAM / page size * 64 / page size (2G 16K: 512;
//     2G 4K: 8192), nr_memmap_pages 0.
//   CmaTotal 65536 kB: Debian's CONFIG_CMA_SIZE_MBYTES reserves 64 MiB of CMA below 4 GiB, part
//     of the pages held after boot as the model sees them (HugeTLB never allocates from CMA
//     pageblocks: its gfp mask is not movable).
// Both kernels are built for 52-bit VAs; the CPU has no LPA2 (-cpu max,lpa2=off), so they run
// with VA_BITS_MIN: 48 bits with 4K pages (4 levels, as the arm64-4k preset), 47 with 16K pages
// (3 levels: 46:36, 35:25, 24:14; the arm64-16k preset assumes 48 and 4). pfn_to_page(first RAM
// pfn), read back with hvokcore's ksyms: 0xfffffdffc0000000 (4K, the preset's VMEMMAP_START) and
// 0xffffffbfc0000000 (16K; the 48-bit preset says 0xffffff7fc0000000). The vmemmap is mapped
// with PMD blocks (4K: 2M blocks) and with base pages (16K), frames taken top-down.

import { arm64Arch } from "../../arch/arm64.ts";
import { arm64_16kPreset, arm64_4kPreset } from "../../arch/arm64.ts";
import { buildNodes, GiB, MachineError, MiB } from "../../machine/layout.ts";
import type { MachineSpec, PfnRange } from "../../machine/spec.ts";
import { BASE_CMDLINE_ARM64 } from "./qemu.ts";

/** hw/arm/virt.c: RAM starts at 1 GiB. */
export const VIRT_RAM_BASE = GiB;

export interface VirtMachineOptions {
  memoryBytes: number;
  nodes?: number;
  cmdline?: string;
  /** The kernel's base page size: 4096 or 16384. */
  pageSize: number;
}

/** The model machine of the arm64 `virt` guest of this shape. */
export function virtMachineSpec(opts: VirtMachineOptions): MachineSpec {
  const { memoryBytes, pageSize } = opts;
  const nrNodes = opts.nodes ?? 1;
  const granule = pageSize === 4096 ? "4k" : pageSize === 16384 ? "16k" : null;
  if (granule === null)
    throw new MachineError(`vm: arm64 guests have 4K or 16K pages here (${pageSize})`);
  if (!Number.isInteger(memoryBytes) || memoryBytes % MiB !== 0 || memoryBytes < 256 * MiB)
    throw new MachineError(`vm: memory must be whole MiB and at least 256M (${memoryBytes})`);
  if (!Number.isInteger(nrNodes) || nrNodes < 1 || nrNodes > 8)
    throw new MachineError(`vm: nodes must be 1 to 8 (${nrNodes})`);
  const per = memoryBytes / nrNodes;
  // SECTION_SIZE_BITS 27 with 4K and 16K pages: a node must own whole sections for the model.
  if (per % 2 ** 27 !== 0)
    throw new MachineError(
      `vm: each node's memory (${per / MiB}M) must be a multiple of 128M, a memory section`,
    );
  const base = VIRT_RAM_BASE / pageSize;
  const perNode: PfnRange[][] = [];
  for (let n = 0; n < nrNodes; n++)
    perNode.push([
      { startPfn: base + (n * per) / pageSize, endPfn: base + ((n + 1) * per) / pageSize },
    ]);
  const preset = granule === "4k" ? arm64_4kPreset : arm64_16kPreset;
  const all = perNode.flat();
  // Debian's arm64 kernels have no HVO (see above): the arch without it.
  // 52-bit kernels on a CPU without LPA2: 48-bit VAs with 4K pages, 47-bit with 16K.
  const arch = {
    ...arm64Arch(granule, 64, base, granule === "16k" ? 47 : 48),
    optimizeHugetlbVmemmap: false,
    hvoHypothetical: undefined,
  };
  const extra = (opts.cmdline ?? "").trim();
  return {
    name: `vm-virt-${granule}-${memoryBytes / MiB}M${nrNodes > 1 ? `-${nrNodes}n` : ""}`,
    arch,
    structPageSize: 64,
    nodes: buildNodes(perNode, preset.zoneLimits(all)),
    cmdline: [BASE_CMDLINE_ARM64, extra].filter(Boolean).join(" "),
  };
}
