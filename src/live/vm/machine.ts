// The QEMU guest that `hvo vm` boots (src/live/vm/qemu.ts: the default `pc` machine, i440fx,
// SeaBIOS loading the kernel through PVH), as a model MachineSpec, so that the model can run a
// scenario on the same machine as the real kernel in the VM. Nothing here is guessed: every
// number below was read from booted guests (Linux 7.2.13, QEMU 7.2) through openVm():
//
//   /proc/iomem of the guest (pc machine; RAM = -m, split over -numa nodes)
//     00001000-0009fbff System RAM   pfn 0 is reserved, the EBDA and 640K-1M hole above
//     00100000-<low-128K> System RAM  SeaBIOS keeps the last 128 KiB below `lowmem` (Reserved)
//     <lowmem>-febfffff  PCI hole
//     100000000-...      System RAM  what did not fit below 4 GiB
//   `lowmem` (QEMU hw/i386/pc_piix.c pc_init1()): max_ram_below_4g is 3.5 GiB by default; a
//   machine with at least that much RAM is cut at 3 GiB (gigabyte_align), a smaller one has
//   all its RAM below 4 GiB. Seen: 2G -> 7ffdffff, 3582M -> dfddffff, 3584M/4G/6G -> bffdffff
//   plus the rest from 4 GiB.
//   Nodes (hw/i386/acpi-build.c build_srat()): node n owns RAM offsets [n*per, (n+1)*per) in
//   the order low RAM then high RAM; an offset at or above lowmem lives at 4 GiB + (offset -
//   lowmem). Seen (/proc/zoneinfo): 4G/2 nodes -> node 1 DMA32 from pfn 0x80000, Normal from
//   0x100000; 6G/2 -> node 0 ends at 0xbffe0, node 1 is [4G, 7G); 6G/3 -> node 2 from 0x140000.
//   Zones: mm/mm_init.c's spans over x86's MAX_DMA_PFN / MAX_DMA32_PFN (src/machine/layout.ts
//   zonesForNode), equal to the guests' start_pfn and spanned.
//   nr_memmap_boot_pages before HVO: present sections x 512 (6G: 24576, 4G: 16384, 2G: 8192).
//
// Only the `pc` machine is described: it is what the runner boots (q35 places lowmem by other
// rules, 2 GiB or 2.75 GiB, and is not used here).

import { x86_64Arch, x86_64ZoneLimits } from "../../arch/x86_64.ts";
import { buildNodes, GiB, MachineError, MiB } from "../../machine/layout.ts";
import type { MachineSpec, PfnRange } from "../../machine/spec.ts";
import { Memblock } from "../../mm/memblock.ts";
import { virtMachineSpec } from "./machine_virt.ts";
import type { GuestArch } from "./pieces.ts";
import { BASE_CMDLINE } from "./qemu.ts";

const PAGE = 4096;
/** pc_piix.c: the default max_ram_below_4g. */
const MAX_RAM_BELOW_4G = 0xe0000000;
/** pc_piix.c with gigabyte_align: lowmem for machines with at least MAX_RAM_BELOW_4G of RAM. */
const GIGABYTE_ALIGNED_LOWMEM = 0xc0000000;
/** What SeaBIOS reserves at the top of low RAM for its tables (the guests' e820). */
const SEABIOS_HIGH_TABLE = 128 * 1024;
/** The e820 RAM below 640K, 0x1000-0x9fbff, as whole pages (PFN_UP / PFN_DOWN): pfns 1..0x9e. */
const LOW_RAM: PfnRange = { startPfn: 1, endPfn: Math.floor(0x9fc00 / PAGE) };
const ONE_MIB_PFN = MiB / PAGE;
const FOUR_GIB_PFN = (4 * GiB) / PAGE;
/**
 * What stays PG_reserved of Debian 7.2.13's kernel image after boot (read from the guest's struct
 * pages through /proc/kcore; PVH loads it at 16 MiB, no KASLR): text, rodata, data up to the
 * init sections, bss, and 17 pages above it. The text/rodata and rodata/data gaps, the init
 * sections and the unused tail of bss are freed by then (free_kernel_image_pages(),
 * free_initmem()). /proc/iomem: code 0x1000000-0x22ca8df, rodata 0x2400000-0x3162fff, data
 * 0x3200000-0x355b8ff, bss 0x3e50000-0x41fffff.
 */
const KERNEL_IMAGE_RESERVED: PfnRange[] = [
  { startPfn: 0x1000, endPfn: 0x22cb },
  { startPfn: 0x2400, endPfn: 0x3163 },
  { startPfn: 0x3200, endPfn: 0x39b9 },
  { startPfn: 0x3e4f, endPfn: 0x4005 },
  { startPfn: 0x4200, endPfn: 0x4211 },
];
/**
 * The size of the project's own x86_64 initramfs (src/live/vm/initramfs.ts) as this project's
 * hosts build it (Debian's busybox-static, gcc -O2 -static; the cpio has fixed mtimes, so the same
 * inputs give the same archive): 3810816 bytes, 0x3a2600, which the guest's kernel frees as
 * "Freeing initrd memory: 3724K". Another host's busybox or gcc can give another size: the VM
 * runner records the size of the one it booted (the result's guest.initrd_bytes).
 */
export const DEFAULT_INITRD_BYTES = 3810816;
/**
 * QEMU's x86 loader (hw/i386/x86.c x86_load_linux(), PVH and bzImage alike) puts the initrd at the
 * highest page-aligned address below initrd_max = below_4g_mem_size - acpi_data_size - 1, where
 * the pc machine's acpi_data_size is 0x20000 + 0x8000 (the ACPI tables SeaBIOS puts at the top of
 * low RAM). Seen on the 6 GiB guests: lowmem 0xc0000000, ramdisk [0xbfc35000, 0xbffd8000).
 */
const PC_ACPI_DATA_SIZE = 0x28000;

/** Where QEMU loads an initrd of `bytes` on a `pc` guest with `memoryBytes` of RAM, in pfns. */
export function qemuPcInitrd(memoryBytes: number, bytes: number): PfnRange {
  const initrdMax = qemuPcLowmemBytes(memoryBytes) - PC_ACPI_DATA_SIZE - 1;
  if (!Number.isInteger(bytes) || bytes <= 0 || bytes >= initrdMax)
    throw new MachineError(`vm: an initrd of ${bytes} bytes does not fit below ${initrdMax + 1}`);
  const start = Math.floor((initrdMax - bytes) / PAGE) * PAGE;
  // early_reserve_initrd(): only the end is rounded, PAGE_ALIGN(image + size).
  return { startPfn: start / PAGE, endPfn: Math.ceil((start + bytes) / PAGE) };
}

/** SECTION_SIZE_BITS 27: a node must own whole sections for the model (one nid per section). */
const SECTION_BYTES = 2 ** 27;
/**
 * init_top_pgt, the kernel's top-level page table: a page-aligned page of the image's .data
 * (phys 0x3200000 on). Debian's vmlinux has no symbols, so which page is not known; nothing the
 * tests compare reads it, and it is not taken from the top of memory as the model's default is.
 */
const ROOT_PAGE_TABLE_PFN = 0x3200;

/**
 * The kernel's own memblock allocations that come before the memmap's, as the guests' boot log
 * with `memblock=debug` lists them (Linux 7.2.13, pc machine; 6 GiB on 1 and 2 nodes): byte
 * sizes, SMP_CACHE_BYTES (64) alignment, top-down. setup_arch(): two page-table pages of the
 * direct map (alloc_low_pages()), NODE_DATA of each node on its node (sizeof(pg_data_t) =
 * 176256), three small tables (73, 75 and 512 bytes), a copy of each e820 entry
 * (firmware_map_add_early(), 104 bytes each), three of 32 bytes; sparse_init(): the mem_section
 * roots (32768 bytes), the first root's page of mem_sections (4096 bytes, on the node of the
 * first memory), and each node's section usage maps (88 bytes per present section). The last
 * three come after hugetlb_bootmem_alloc() in the kernel; the 1 GiB-aligned boot pages cannot
 * take their place (the top GiB holds NODE_DATA already), so listing them first places both alike.
 */
function guestBootAllocations(
  perNode: PfnRange[][],
  e820Entries: number,
): NonNullable<MachineSpec["bootAllocations"]> {
  const CACHE = 64;
  const out: NonNullable<MachineSpec["bootAllocations"]> = [
    { bytes: PAGE, align: PAGE, nid: -1 },
    { bytes: PAGE, align: PAGE, nid: -1 },
  ];
  for (let nid = 0; nid < perNode.length; nid++)
    out.push({ bytes: 176256, align: CACHE, nid, nodeData: true });
  for (const bytes of [73, 75, 512]) out.push({ bytes, align: CACHE, nid: -1 });
  for (let i = 0; i < e820Entries; i++) out.push({ bytes: 104, align: CACHE, nid: -1 });
  for (let i = 0; i < 3; i++) out.push({ bytes: 32, align: CACHE, nid: -1 });
  out.push({ bytes: 32768, align: CACHE, nid: -1 });
  out.push({ bytes: PAGE, align: CACHE, nid: 0 });
  const sectionPages = SECTION_BYTES / PAGE;
  perNode.forEach((ranges, nid) => {
    const sections = new Set<number>();
    for (const r of ranges)
      for (let s = Math.floor(r.startPfn / sectionPages); s * sectionPages < r.endPfn; s++)
        sections.add(s);
    out.push({ bytes: 88 * sections.size, align: CACHE, nid });
  });
  return out;
}

export interface VmMachineOptions {
  /** RAM of the guest (QEMU -m), bytes. */
  memoryBytes: number;
  /** -numa nodes, RAM split evenly (default 1). */
  nodes?: number;
  /** The shape's extra command line; the guest's is BASE_CMDLINE followed by it. */
  cmdline?: string;
  /**
   * The guest's architecture (default x86_64, the `pc` machine); arm64 is the `virt` machine
   * (machine_virt.ts) with `pageSize` 4096 or 16384.
   */
  arch?: GuestArch;
  pageSize?: number;
  /**
   * The size of the initramfs the guest boots with, bytes (x86_64): default DEFAULT_INITRD_BYTES,
   * the project's own; 0 for none.
   */
  initrdBytes?: number;
}

/** The guest's below-4G RAM size (QEMU's below_4g_mem_size). */
export function qemuPcLowmemBytes(memoryBytes: number): number {
  return memoryBytes >= MAX_RAM_BELOW_4G ? GIGABYTE_ALIGNED_LOWMEM : memoryBytes;
}

/** Guest-physical pfn of a RAM offset (QEMU maps RAM above lowmem from 4 GiB). */
function offsetToPfn(offsetBytes: number, lowmemBytes: number): number {
  return offsetBytes < lowmemBytes
    ? offsetBytes / PAGE
    : FOUR_GIB_PFN + (offsetBytes - lowmemBytes) / PAGE;
}

/** The e820 System RAM ranges of a `pc` guest with `memoryBytes` of RAM, in pfns. */
export function qemuPcRam(memoryBytes: number): PfnRange[] {
  const lowmem = qemuPcLowmemBytes(memoryBytes);
  const ranges: PfnRange[] = [{ ...LOW_RAM }];
  const lowEnd = (lowmem - SEABIOS_HIGH_TABLE) / PAGE;
  if (lowEnd > ONE_MIB_PFN) ranges.push({ startPfn: ONE_MIB_PFN, endPfn: lowEnd });
  if (memoryBytes > lowmem)
    ranges.push({ startPfn: FOUR_GIB_PFN, endPfn: FOUR_GIB_PFN + (memoryBytes - lowmem) / PAGE });
  return ranges;
}

/**
 * The guest's architecture and page size from a VM run's result: its `guest` field (runVm), else
 * its machine name (vm:debian-7.2:arm64-16k), else x86_64.
 */
export function guestOfVmResult(real: {
  machine?: string;
  guest?: { arch: GuestArch; page_size: number; initrd_bytes?: number };
}): { arch: GuestArch; pageSize: number; initrdBytes?: number } {
  if (real.guest)
    return {
      arch: real.guest.arch,
      pageSize: real.guest.page_size,
      // Recorded since the runner knows it; older results leave the default.
      ...(real.guest.initrd_bytes !== undefined ? { initrdBytes: real.guest.initrd_bytes } : {}),
    };
  const m = /^vm:debian-\d+\.\d+:(arm64(?:-16k)?)$/.exec(real.machine ?? "");
  if (m) return { arch: "arm64", pageSize: m[1] === "arm64" ? 4096 : 16384 };
  return { arch: "x86_64", pageSize: 4096 };
}

/** The model machine of the guest `hvo vm` boots with this shape. */
export function vmMachineSpec(opts: VmMachineOptions): MachineSpec {
  if (opts.arch === "arm64") return virtMachineSpec({ ...opts, pageSize: opts.pageSize ?? 4096 });
  const { memoryBytes } = opts;
  const nrNodes = opts.nodes ?? 1;
  if (!Number.isInteger(memoryBytes) || memoryBytes % MiB !== 0 || memoryBytes < 256 * MiB)
    throw new MachineError(`vm: memory must be whole MiB and at least 256M (${memoryBytes})`);
  if (!Number.isInteger(nrNodes) || nrNodes < 1 || nrNodes > 8)
    throw new MachineError(`vm: nodes must be 1 to 8 (${nrNodes})`);
  if (memoryBytes % nrNodes !== 0)
    throw new MachineError(`vm: ${memoryBytes} bytes do not split evenly over ${nrNodes} nodes`);
  const per = memoryBytes / nrNodes;
  if (nrNodes > 1 && per % SECTION_BYTES !== 0)
    throw new MachineError(
      `vm: each node's memory (${per / MiB}M) must be a multiple of 128M, a memory section`,
    );
  const lowmem = qemuPcLowmemBytes(memoryBytes);
  const ram = qemuPcRam(memoryBytes);
  const perNode: PfnRange[][] = [];
  for (let n = 0; n < nrNodes; n++) {
    // The node's RAM offsets as guest-physical ranges: below lowmem, then from 4 GiB.
    const parts: PfnRange[] = [];
    const lo = n * per;
    const hi = (n + 1) * per;
    if (lo < lowmem)
      parts.push({ startPfn: offsetToPfn(lo, lowmem), endPfn: Math.min(hi, lowmem) / PAGE });
    if (hi > lowmem)
      parts.push({
        startPfn: offsetToPfn(Math.max(lo, lowmem), lowmem),
        endPfn: offsetToPfn(hi - PAGE, lowmem) + 1,
      });
    const mine: PfnRange[] = [];
    for (const p of parts)
      for (const r of ram) {
        const s = Math.max(p.startPfn, r.startPfn);
        const e = Math.min(p.endPfn, r.endPfn);
        if (e > s) mine.push({ startPfn: s, endPfn: e });
      }
    if (mine.length === 0) throw new MachineError(`vm: node ${n} has no RAM`);
    perNode.push(mine);
  }
  const extra = (opts.cmdline ?? "").trim();
  const initrdBytes = opts.initrdBytes ?? DEFAULT_INITRD_BYTES;
  return {
    name: `vm-pc-${memoryBytes / MiB}M${nrNodes > 1 ? `-${nrNodes}n` : ""}`,
    arch: x86_64Arch(),
    structPageSize: 64,
    nodes: buildNodes(perNode, x86_64ZoneLimits()),
    cmdline: [BASE_CMDLINE, extra].filter(Boolean).join(" "),
    // x86 keeps the first 1 MiB reserved (arch/x86/kernel/setup.c, since 5.13), then its image.
    reservedAtBoot: [LOW_RAM, ...KERNEL_IMAGE_RESERVED],
    // The e820 table: RAM below 640K, the EBDA to 1M, low RAM, SeaBIOS's 128K, the BIOS ROM at
    // 0xfffc0000, RAM above 4G where there is some, and QEMU's reserved range at 0xfd00000000.
    bootAllocations: guestBootAllocations(perNode, 6 + (memoryBytes > lowmem ? 1 : 0)),
    rootPageTablePfn: ROOT_PAGE_TABLE_PFN,
    ...(initrdBytes > 0 ? { initrd: qemuPcInitrd(memoryBytes, initrdBytes) } : {}),
  };
}

/**
 * The pages the guest's kernel and its /init hold after boot, per node, from an observation of
 * the freshly booted guest (a scenario's `initial`): present - MemFree - memmap, shared over the
 * nodes by their present memory, as src/live/host.ts does for this machine. Where they sit
 * matters: the kernel's early allocations take the lowest free blocks of the Normal zone, so a
 * 6 GiB guest finds two free 1 GiB ranges, not three.
 */
export function guestOtherUsedPages(
  spec: MachineSpec,
  initial: {
    MemFree_kB: number | null;
    nr_memmap_pages: number | null;
    nr_memmap_boot_pages: number | null;
    Hugetlb_kB?: number | null;
  },
): number[] | undefined {
  if (initial.MemFree_kB === null) return undefined;
  const present = spec.nodes.map((n) => n.ranges.reduce((s, r) => s + r.endPfn - r.startPfn, 0));
  const total = present.reduce((a, b) => a + b, 0);
  const memmap = (initial.nr_memmap_pages ?? 0) + (initial.nr_memmap_boot_pages ?? 0);
  // Pages in the HugeTLB pool (boot-time ones too) are the model's to allocate, not "other".
  const page = 2 ** spec.arch.pageShift;
  const hugetlb = ((initial.Hugetlb_kB ?? 0) * 1024) / page;
  const used = total - (initial.MemFree_kB * 1024) / page - memmap - hugetlb;
  if (used <= 0) return undefined;
  // The kernel image the model reserves itself (reservedAtBoot) is not the buddy's to take.
  const image = spec.nodes.map((n) =>
    (spec.reservedAtBoot ?? []).reduce(
      (s, r) =>
        s +
        (n.ranges.some((x) => x.startPfn <= r.startPfn && r.endPfn <= x.endPfn)
          ? r.endPfn - r.startPfn
          : 0),
      0,
    ),
  );
  // Nor are the kernel's own boot allocations the model places itself (bootAllocations).
  const boot = bootAllocationPages(spec);
  return present.map((p, i) =>
    Math.max(0, Math.round((used * p) / total) - image[i] - (boot.get(spec.nodes[i].nid) ?? 0)),
  );
}

/** The pages the machine's bootAllocations reserve, per node, placed as boot places them. */
function bootAllocationPages(spec: MachineSpec): Map<number, number> {
  const out = new Map<number, number>();
  if (!spec.bootAllocations?.length) return out;
  const mb = new Memblock(spec.nodes, 2 ** spec.arch.pageShift);
  for (const r of spec.reservedAtBoot ?? []) mb.reserve(r.startPfn, r.endPfn, "kernel", -1);
  if (spec.initrd) mb.reserve(spec.initrd.startPfn, spec.initrd.endPfn, "kernel", -1);
  const before = new Set(mb.reserved.map((r) => r.startPfn));
  for (const a of spec.bootAllocations) mb.allocBytes(a.bytes, a.align, a.nid, "pagetable");
  for (const r of mb.reserved)
    if (r.use === "pagetable" && !before.has(r.startPfn))
      out.set(r.nid, (out.get(r.nid) ?? 0) + r.endPfn - r.startPfn);
  return out;
}

/**
 * The guest's machine with the pages its kernel held after boot (guestOtherUsedPages()) taken by
 * the model's "other" allocations: the model `hvo diff` runs, and the tests' model of a guest.
 */
export function calibratedToGuest(
  spec: MachineSpec,
  initial: Parameters<typeof guestOtherUsedPages>[1] | null | undefined,
  pagetypeinfo?: string,
): MachineSpec {
  const other = initial ? guestOtherUsedPages(spec, initial) : undefined;
  if (!other) return spec;
  const blocks = pagetypeinfo === undefined ? undefined : guestUnmovableBlocks(spec, pagetypeinfo);
  return blocks
    ? {
        ...spec,
        otherUsedPages: other,
        otherFreeUnmovablePages: blocks.free,
        otherUnmovablePages: blocks.span,
      }
    : { ...spec, otherUsedPages: other };
}

/**
 * The kernel's unmovable pageblocks after boot, per node, in the zone its unmovable allocations
 * try first (the node's highest of Normal, DMA32, DMA: GFP_KERNEL's zonelist; mm/page_alloc.c
 * __rmqueue() takes the free pages of that zone's Unmovable blocks before it claims a block, and
 * claims in that zone before it tries a lower one): the pages they span ("Number of blocks type"
 * x "Pages per block") and the pages free in them (the Unmovable line of the free counts), from
 * the guest's /proc/pagetypeinfo (mm/vmstat.c pagetypeinfo_showfree(),
 * pagetypeinfo_showblockcount()). Undefined when a node's zone has no such lines.
 */
export function guestUnmovableBlocks(
  spec: MachineSpec,
  pagetypeinfo: string,
): { free: number[]; span: number[] } | undefined {
  const perBlock = Number(/^Pages per block:\s+(\d+)/m.exec(pagetypeinfo)?.[1]);
  if (!Number.isInteger(perBlock) || perBlock <= 0) return undefined;
  const free: number[] = [];
  const span: number[] = [];
  for (const node of spec.nodes) {
    const zone = ["Normal", "DMA32", "DMA"].find((t) => node.zones.some((z) => z.type === t));
    if (!zone) return undefined;
    const head = String.raw`^Node\s+${node.nid},\s*zone\s+${zone}`;
    const counts = new RegExp(String.raw`${head},\s*type\s+Unmovable\s+([\d\s]+)$`, "m").exec(
      pagetypeinfo,
    );
    const blocks = new RegExp(String.raw`${head}\s+(\d+)\s`, "m").exec(pagetypeinfo);
    if (!counts || !blocks) return undefined;
    free.push(
      counts[1]
        .trim()
        .split(/\s+/)
        .reduce((s, c, order) => s + Number(c) * 2 ** order, 0),
    );
    span.push(Number(blocks[1]) * perBlock);
  }
  return { free, span };
}

/**
 * Free pages in the kernel's unmovable pageblocks, per node, from the guest's /proc/pagetypeinfo
 * (mm/vmstat.c pagetypeinfo_showfree(): one line per node, zone and migratetype with a count of
 * free blocks per order): what the model's calibration (otherFreeUnmovablePages) leaves free in
 * the blocks its "other" pages claim. Undefined when the file has no Unmovable line.
 */
export function guestFreeUnmovablePages(
  spec: MachineSpec,
  pagetypeinfo: string,
): number[] | undefined {
  const free = spec.nodes.map(() => 0);
  let seen = false;
  for (const line of pagetypeinfo.split("\n")) {
    const m = /^Node\s+(\d+),\s*zone\s+\S+,\s*type\s+Unmovable\s+([\d\s]+)$/.exec(line.trim());
    if (!m) continue;
    const nid = Number(m[1]);
    if (nid >= free.length) continue;
    seen = true;
    m[2]
      .trim()
      .split(/\s+/)
      .forEach((count, order) => {
        free[nid] += Number(count) * 2 ** order;
      });
  }
  return seen ? free : undefined;
}
