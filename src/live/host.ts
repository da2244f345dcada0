// The `host` preset: this machine's memory layout, read from /proc and /sys (Node only), on top
// of the x86_64 preset. What the kernel populated at boot is what we reproduce:
//   present ranges  /proc/iomem "System RAM" (the e820 ranges memblock got). Without
//                   CAP_SYS_ADMIN the kernel prints every address of /proc/iomem as zero
//                   (kernel/resource.c r_show()), so any other user gets them from the
//                   firmware's e820 map in /sys/firmware/memmap (drivers/firmware/memmap.c,
//                   world-readable) or, lacking it, the memory blocks of /sys/devices/system/
//                   memory, clipped to the zone spans of /proc/zoneinfo (the kernel reserves
//                   pfn 0 after the firmware map was taken) and checked page for page against
//                   the zones' present counts. What cannot be derived is a MachineError.
//   nodes           /sys/devices/system/node/node<N>/memory<M> links
//   zones           /proc/zoneinfo start_pfn and spanned per node and zone
//   command line    /proc/cmdline
//   page size       KernelPageSize in /proc/self/smaps
//   CPU features    /proc/cpuinfo flags (pdpe1gb: X86_FEATURE_GBPAGES, the 1 GiB hstate)
// The expectation for nr_memmap_boot_pages comes from hostPresentSections(), which reads the
// live layout and never the model.

import { readdirSync, readFileSync } from "node:fs";
import { x86_64Arch } from "../arch/x86_64.ts";
import { MachineError, presentSections, rangesPages } from "../machine/layout.ts";
import type { MachineSpec, NodeSpec, PfnRange, ZoneSpec, ZoneType } from "../machine/spec.ts";

export interface HostPaths {
  /** Root of the filesystem to read, "/" normally; tests may point at a fixture tree. */
  root: string;
}

const DEFAULT: HostPaths = { root: "/" };

function read(paths: HostPaths, file: string): string {
  return readFileSync(`${paths.root.replace(/\/$/, "")}${file}`, "utf8");
}

function tryRead(paths: HostPaths, file: string): string | null {
  try {
    return read(paths, file);
  } catch {
    return null;
  }
}

function list(paths: HostPaths, dir: string): string[] {
  try {
    return readdirSync(`${paths.root.replace(/\/$/, "")}${dir}`);
  } catch {
    return [];
  }
}

export function hostPageSizeBytes(paths: HostPaths = DEFAULT): number {
  const smaps = tryRead(paths, "/proc/self/smaps");
  const m = smaps ? /KernelPageSize:\s+(\d+) kB/.exec(smaps) : null;
  return m ? Number(m[1]) * 1024 : 4096;
}

/** System RAM ranges from /proc/iomem, in pfns (PFN_UP(start) .. PFN_DOWN(end + 1)); null if unreadable or zeroed (not root). */
export function hostIomemRam(paths: HostPaths = DEFAULT, pageBytes = 4096): PfnRange[] | null {
  const text = tryRead(paths, "/proc/iomem");
  if (!text) return null;
  const ranges: PfnRange[] = [];
  for (const line of text.split("\n")) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) : System RAM$/.exec(line);
    if (!m) continue;
    const start = BigInt(`0x${m[1]}`);
    const end = BigInt(`0x${m[2]}`) + 1n;
    const page = BigInt(pageBytes);
    const s = Number((start + page - 1n) / page);
    const e = Number(end / page);
    if (e > s) ranges.push({ startPfn: s, endPfn: e });
  }
  // Without CAP_SYS_ADMIN the kernel prints 00000000-00000000 for every entry.
  if (ranges.length === 0) return null;
  return ranges.sort((a, b) => a.startPfn - b.startPfn);
}

/**
 * "System RAM" entries of the firmware's memory map, /sys/firmware/memmap/<N>/{start,end,type}
 * (CONFIG_FIRMWARE_MEMMAP; readable by every user), in pfns; null when absent. This is the map
 * before the kernel's own edits (x86 reserves the first page, for one), so callers clip it.
 */
export function hostFirmwareMemmapRam(
  paths: HostPaths = DEFAULT,
  pageBytes = 4096,
): PfnRange[] | null {
  const dir = "/sys/firmware/memmap";
  const entries = list(paths, dir).filter((e) => /^\d+$/.test(e));
  if (entries.length === 0) return null;
  const page = BigInt(pageBytes);
  const ranges: PfnRange[] = [];
  for (const e of entries) {
    const type = tryRead(paths, `${dir}/${e}/type`)?.trim();
    const start = tryRead(paths, `${dir}/${e}/start`)?.trim();
    const end = tryRead(paths, `${dir}/${e}/end`)?.trim();
    if (type === undefined || start === undefined || end === undefined) return null;
    if (type !== "System RAM") continue;
    if (!/^0x[0-9a-f]+$/i.test(start) || !/^0x[0-9a-f]+$/i.test(end)) return null;
    // start..end inclusive: PFN_UP(start) .. PFN_DOWN(end + 1).
    const s = Number((BigInt(start) + page - 1n) / page);
    const en = Number((BigInt(end) + 1n) / page);
    if (en > s) ranges.push({ startPfn: s, endPfn: en });
  }
  if (ranges.length === 0) return null;
  return mergeRanges(ranges);
}

/** Sorted, with touching or overlapping ranges joined. */
function mergeRanges(ranges: readonly PfnRange[]): PfnRange[] {
  const out: PfnRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.startPfn - b.startPfn)) {
    const last = out[out.length - 1];
    if (last && r.startPfn <= last.endPfn) last.endPfn = Math.max(last.endPfn, r.endPfn);
    else out.push({ ...r });
  }
  return out;
}

/** The parts of `a` that lie inside `b` (both sorted and disjoint). */
function intersectRanges(a: readonly PfnRange[], b: readonly PfnRange[]): PfnRange[] {
  const out: PfnRange[] = [];
  for (const x of a) {
    for (const y of b) {
      const s = Math.max(x.startPfn, y.startPfn);
      const e = Math.min(x.endPfn, y.endPfn);
      if (e > s) out.push({ startPfn: s, endPfn: e });
    }
  }
  return mergeRanges(out);
}

/**
 * The CPU features that decide what the model may offer: x86_64 registers the 1 GiB hstate only
 * with X86_FEATURE_GBPAGES (arch/x86/mm/hugetlbpage.c), shown as "pdpe1gb" in /proc/cpuinfo.
 * null when /proc/cpuinfo has no flags line (not x86, or unreadable).
 */
export function hostCpuFeatures(paths: HostPaths = DEFAULT): { gbpages: boolean } | null {
  const text = tryRead(paths, "/proc/cpuinfo");
  const m = text ? /^flags\s*:(.*)$/m.exec(text) : null;
  if (!m) return null;
  return { gbpages: m[1].split(/\s+/).includes("pdpe1gb") };
}

/** The hstates the running kernel has, in kB, ascending: /sys/kernel/mm/hugepages/hugepages-<kB>kB. */
export function hostHugepageSizesKb(paths: HostPaths = DEFAULT): number[] {
  return list(paths, "/sys/kernel/mm/hugepages")
    .map((d) => /^hugepages-(\d+)kB$/.exec(d))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]))
    .sort((a, b) => a - b);
}

export interface MemoryBlock {
  index: number;
  online: boolean;
  nid: number;
}

/** /sys/devices/system/memory: the memory blocks, their state and node; null when absent. */
export function hostMemoryBlocks(
  paths: HostPaths = DEFAULT,
): { blockSizeBytes: number; blocks: MemoryBlock[] } | null {
  const size = tryRead(paths, "/sys/devices/system/memory/block_size_bytes");
  if (!size) return null;
  const blockSizeBytes = Number.parseInt(size.trim(), 16);
  const blocks: MemoryBlock[] = [];
  for (const name of list(paths, "/sys/devices/system/memory")) {
    const m = /^memory(\d+)$/.exec(name);
    if (!m) continue;
    const dir = `/sys/devices/system/memory/${name}`;
    const online = (tryRead(paths, `${dir}/online`) ?? "1").trim() === "1";
    const nodeLink = list(paths, dir).find((e) => /^node\d+$/.test(e));
    blocks.push({ index: Number(m[1]), online, nid: nodeLink ? Number(nodeLink.slice(4)) : 0 });
  }
  blocks.sort((a, b) => a.index - b.index);
  return { blockSizeBytes, blocks };
}

/**
 * The number of present memory sections of this machine, from the live layout: online memory
 * blocks times sections per block (SECTION_SIZE_BITS 27 on x86_64). Each got
 * PAGES_PER_SECTION * 64 / 4096 = 512 pages of memmap from memblock at boot.
 */
export function hostPresentSections(paths: HostPaths = DEFAULT): number | null {
  const mb = hostMemoryBlocks(paths);
  if (!mb) return null;
  const sectionBytes = 2 ** 27;
  const perBlock = Math.max(1, mb.blockSizeBytes / sectionBytes);
  return mb.blocks.filter((b) => b.online).length * perBlock;
}

export interface ZoneInfo {
  nid: number;
  type: string;
  startPfn: number;
  spanned: number;
  present: number;
  managed: number;
}

/** /proc/zoneinfo, the populated zones (spanned > 0) of every node. */
export function hostZoneinfo(paths: HostPaths = DEFAULT): ZoneInfo[] {
  const text = tryRead(paths, "/proc/zoneinfo");
  return text ? parseZoneinfo(text) : [];
}

/** The populated zones (spanned > 0) of a /proc/zoneinfo text (a host's or a guest's). */
export function parseZoneinfo(text: string): ZoneInfo[] {
  const zones: ZoneInfo[] = [];
  let cur: ZoneInfo | null = null;
  for (const line of text.split("\n")) {
    const head = /^Node (\d+), zone\s+(\S+)/.exec(line);
    if (head) {
      cur = {
        nid: Number(head[1]),
        type: head[2],
        startPfn: 0,
        spanned: 0,
        present: 0,
        managed: 0,
      };
      zones.push(cur);
      continue;
    }
    if (!cur) continue;
    const kv = /^\s+(start_pfn:|spanned|present|managed)\s+(\d+)/.exec(line);
    if (!kv) continue;
    const v = Number(kv[2]);
    if (kv[1] === "start_pfn:") cur.startPfn = v;
    else if (kv[1] === "spanned") cur.spanned = v;
    else if (kv[1] === "present") cur.present = v;
    else cur.managed = v;
  }
  return zones.filter((z) => z.spanned > 0);
}

function kv(text: string | null, key: string): number | null {
  if (!text) return null;
  const m = new RegExp(`^${key}[:\\s]+(\\d+)`, "m").exec(text);
  return m ? Number(m[1]) : null;
}

const ZONE_NAMES: Record<string, ZoneType> = {
  DMA: "DMA",
  DMA32: "DMA32",
  Normal: "Normal",
  Movable: "Movable",
};

/**
 * The present ranges as a user without CAP_SYS_ADMIN can know them: the firmware's RAM (or the
 * online memory blocks) clipped to the spans of the populated zones, accepted only when every
 * zone then holds exactly the present pages /proc/zoneinfo gives it.
 */
function unprivilegedRanges(
  paths: HostPaths,
  pageBytes: number,
  zoneinfo: readonly ZoneInfo[],
): PfnRange[] {
  const why = "/proc/iomem shows zeroed addresses to users without CAP_SYS_ADMIN";
  const firmware = hostFirmwareMemmapRam(paths, pageBytes);
  const blocks = hostMemoryBlocks(paths);
  const per = blocks ? blocks.blockSizeBytes / pageBytes : 0;
  // Offlined blocks leave their zone's present count: only online blocks are present memory.
  const online =
    blocks && blocks.blocks.length > 0
      ? mergeRanges(
          blocks.blocks
            .filter((b) => b.online)
            .map((b) => ({ startPfn: b.index * per, endPfn: (b.index + 1) * per })),
        )
      : null;
  if (!firmware && !online) {
    throw new MachineError(
      `host: cannot read the memory layout: ${why}, and neither /sys/firmware/memmap nor /sys/devices/system/memory is readable (run as root, or describe the machine in a machine file)`,
    );
  }
  let ranges: PfnRange[];
  let source: string;
  if (firmware) {
    ranges = online ? intersectRanges(firmware, online) : firmware;
    source = "/sys/firmware/memmap";
  } else {
    ranges = online!;
    source = "/sys/devices/system/memory";
  }
  if (zoneinfo.length === 0) {
    throw new MachineError(
      `host: cannot read the memory layout: ${why}, and /proc/zoneinfo lists no zone (run as root, or describe the machine in a machine file)`,
    );
  }
  const spans = mergeRanges(
    zoneinfo.map((z) => ({ startPfn: z.startPfn, endPfn: z.startPfn + z.spanned })),
  );
  ranges = intersectRanges(ranges, spans);
  for (const z of zoneinfo) {
    const span = { startPfn: z.startPfn, endPfn: z.startPfn + z.spanned };
    const got = rangesPages(intersectRanges(ranges, [span]));
    if (got !== z.present) {
      throw new MachineError(
        `host: cannot read the memory layout: ${why}, and ${source} gives node ${z.nid} zone ${z.type} ${got} present pages where /proc/zoneinfo says ${z.present} (run as root, or describe the machine in a machine file)`,
      );
    }
  }
  return ranges;
}

/** Reads this machine into a MachineSpec based on the x86_64 preset. */
export function hostMachine(paths: HostPaths = DEFAULT): MachineSpec {
  const pageBytes = hostPageSizeBytes(paths);
  if (pageBytes !== 4096) {
    throw new MachineError(`host: page size ${pageBytes} is not the x86_64 preset's 4096`);
  }
  const cpu = hostCpuFeatures(paths) ?? {
    // No flags line to read: the kernel's own hstates tell whether it found GBPAGES.
    gbpages: hostHugepageSizesKb(paths).includes(1048576),
  };
  const arch = x86_64Arch(cpu);
  const blocks = hostMemoryBlocks(paths);
  const pagesPerBlock = blocks ? blocks.blockSizeBytes / pageBytes : 0;
  const zoneinfo = hostZoneinfo(paths);
  const ranges = hostIomemRam(paths, pageBytes) ?? unprivilegedRanges(paths, pageBytes, zoneinfo);
  // Node of each pfn: its memory block's node link (node 0 when there is no sysfs).
  const nodeOfBlock = new Map<number, number>();
  for (const b of blocks?.blocks ?? []) nodeOfBlock.set(b.index, b.nid);
  const nodeRanges = new Map<number, PfnRange[]>();
  for (const r of ranges) {
    let s = r.startPfn;
    while (s < r.endPfn) {
      const block = pagesPerBlock ? Math.floor(s / pagesPerBlock) : 0;
      const e = pagesPerBlock ? Math.min(r.endPfn, (block + 1) * pagesPerBlock) : r.endPfn;
      const nid = nodeOfBlock.get(block) ?? 0;
      const list = nodeRanges.get(nid) ?? [];
      const last = list[list.length - 1];
      if (last && last.endPfn === s) last.endPfn = e;
      else list.push({ startPfn: s, endPfn: e });
      nodeRanges.set(nid, list);
      s = e;
    }
  }
  const nids = [...nodeRanges.keys()].sort((a, b) => a - b);
  if (nids.some((nid, i) => nid !== i)) {
    throw new MachineError(`host: memory nodes ${nids.join(",")} are not numbered 0..N-1`);
  }
  const nodes: NodeSpec[] = nids.map((nid) => {
    const zones: ZoneSpec[] = zoneinfo
      .filter((z) => z.nid === nid && ZONE_NAMES[z.type])
      .map((z) => ({
        type: ZONE_NAMES[z.type],
        startPfn: z.startPfn,
        endPfn: z.startPfn + z.spanned,
      }));
    return { nid, ranges: nodeRanges.get(nid)!, zones };
  });

  // otherUsedPages: what the rest of the kernel holds, so that the model's MemFree after boot
  // comes out near the live MemFree: present - free - the memmap the model allocates itself.
  const meminfo = tryRead(paths, "/proc/meminfo");
  const vmstat = tryRead(paths, "/proc/vmstat");
  const memFreePages = ((kv(meminfo, "MemFree") ?? 0) * 1024) / pageBytes;
  const memmapPages =
    (kv(vmstat, "nr_memmap_boot_pages") ?? 0) + (kv(vmstat, "nr_memmap_pages") ?? 0);
  const totalPresent = rangesPages(ranges);
  const otherUsedPages = nodes.map((n) => {
    const share = rangesPages(n.ranges) / totalPresent;
    return Math.max(0, Math.round(share * (totalPresent - memFreePages - memmapPages)));
  });

  return {
    name: "host",
    arch,
    cpu,
    structPageSize: 64,
    nodes,
    cmdline: (tryRead(paths, "/proc/cmdline") ?? "").trim(),
    otherUsedPages,
    // CONFIG_MEMORY_FAILURE: its files are there (write-only, so listed, not read).
    memoryFailure: list(paths, "/sys/devices/system/memory").includes("hard_offline_page"),
  };
}

/** Present sections of a MachineSpec's ranges (for comparing with hostPresentSections()). */
export function specPresentSections(spec: MachineSpec): number {
  return presentSections(
    spec.nodes.flatMap((n) => n.ranges),
    spec.arch.pageShift,
    spec.arch.sectionShift,
  ).size;
}
