// Observations: the `after` object of a recording, computed from the raw texts of the files a
// user reads (fs/proc/meminfo.c, mm/vmstat.c, mm/hugetlb_sysfs.c / mm/hugetlb.c's
// hugetlb_sysctl handlers, mm/hugetlb_vmemmap.c's hugetlb_optimize_vmemmap sysctl).
//
// Pure: it only sees file texts through `read`, so the live runner (over hvoexec's `obs` dump)
// and the model (over its virtual files) compute the very same fields the same way.
import type { After, Delta, HstateObs } from "./format.ts";
import { hstateDeltaKey, hstateKey } from "./names.ts";

/** Reads a file's whole text; null when the file does not exist or cannot be read. */
export type ReadFile = (path: string) => string | null;

export interface ObserveOptions {
  /** The hstates to report, in kB; default: every size of CANDIDATE_HSTATES_KB that exists. */
  hstatesKb?: number[];
  /** The nodes to report per hstate; default: /sys/devices/system/node/online, else node0... */
  nodes?: number[];
}

/**
 * Every huge page size of every architecture preset we know (x86_64 2M/1G, arm64 4K/16K/64K
 * cont-PTE/PMD/PUD sizes, riscv64 Svnapot, loongarch64, powerpc): an hstate exists when its
 * sysfs directory has an nr_hugepages file.
 */
export const CANDIDATE_HSTATES_KB: readonly number[] = [
  64, 2048, 16384, 32768, 524288, 1048576, 16777216, 67108864, 536870912,
];

export const HUGEPAGES_DIR = "/sys/kernel/mm/hugepages";
export const NODE_DIR = "/sys/devices/system/node";
export const HVO_SYSCTL = "/proc/sys/vm/hugetlb_optimize_vmemmap";

export function hstateDir(kB: number): string {
  return `${HUGEPAGES_DIR}/hugepages-${kB}kB`;
}

export function nodeHstateDir(node: number, kB: number): string {
  return `${NODE_DIR}/node${node}/hugepages/hugepages-${kB}kB`;
}

/** "Key:   123 kB" lines of /proc/meminfo -> { Key: 123 }. */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9_()]+):\s+(-?\d+)/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** "key value" lines of /proc/vmstat. */
export function parseVmstat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+)\s+(-?\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** managed pages per zone name, summed over nodes, in /proc/zoneinfo's order. */
export function parseZoneManaged(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  let zone: string | null = null;
  for (const line of text.split("\n")) {
    const z = /^Node\s+\d+,\s+zone\s+(\S+)/.exec(line);
    if (z) {
      zone = z[1];
      if (!(zone in out)) out[zone] = 0;
      continue;
    }
    const m = /^\s+managed\s+(\d+)/.exec(line);
    if (m && zone !== null) out[zone] += Number(m[1]);
  }
  return out;
}

/** "0", "0-3", "0,2-3" (a kernel nodemask list) -> [0], [0,1,2,3], [0,2,3]. */
export function parseNodeList(text: string): number[] {
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    if (!part) continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return [];
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    for (let n = lo; n <= hi; n++) out.push(n);
  }
  return out;
}

function readInt(read: ReadFile, path: string): number | null {
  const t = read(path);
  if (t === null) return null;
  const m = /^\s*(-?\d+)/.exec(t);
  return m ? Number(m[1]) : null;
}

function readWord(read: ReadFile, path: string): string | null {
  const t = read(path);
  return t === null ? null : t.trim();
}

/** The hstates (kB, ascending) whose sysfs directory exists. */
export function discoverHstates(read: ReadFile): number[] {
  return CANDIDATE_HSTATES_KB.filter((kB) => read(`${hstateDir(kB)}/nr_hugepages`) !== null);
}

/** The nodes, from /sys/devices/system/node/online or by probing node0, node1, ... */
export function discoverNodes(read: ReadFile, hstatesKb: readonly number[]): number[] {
  const online = read(`${NODE_DIR}/online`);
  if (online !== null) {
    const nodes = parseNodeList(online);
    if (nodes.length) return nodes;
  }
  const probe = hstatesKb[0];
  if (probe === undefined) return [];
  const out: number[] = [];
  for (let n = 0, misses = 0; misses < 8 && n < 1024; n++) {
    if (read(`${nodeHstateDir(n, probe)}/nr_hugepages`) !== null) {
      out.push(n);
      misses = 0;
    } else {
      misses++;
    }
  }
  return out;
}

function observeHstate(read: ReadFile, kB: number, nodes: readonly number[]): HstateObs {
  const dir = hstateDir(kB);
  const h: HstateObs = {
    nr: readInt(read, `${dir}/nr_hugepages`),
    free: readInt(read, `${dir}/free_hugepages`),
    surplus: readInt(read, `${dir}/surplus_hugepages`),
    resv: readInt(read, `${dir}/resv_hugepages`),
    overcommit: readInt(read, `${dir}/nr_overcommit_hugepages`),
  };
  for (const n of nodes) {
    const nd = nodeHstateDir(n, kB);
    h[`node${n}_nr`] = readInt(read, `${nd}/nr_hugepages`);
    h[`node${n}_free`] = readInt(read, `${nd}/free_hugepages`);
    h[`node${n}_surplus`] = readInt(read, `${nd}/surplus_hugepages`);
  }
  const demote = readWord(read, `${dir}/demote_size`);
  if (demote !== null) h.demote_size = demote;
  return h;
}

/** The observation of FORMAT.md, field for field as the recordings spell it. */
export function observe(read: ReadFile, opts: ObserveOptions = {}): After {
  const hstatesKb = [...(opts.hstatesKb ?? discoverHstates(read))].sort((a, b) => a - b);
  const nodes = opts.nodes ?? discoverNodes(read, hstatesKb);
  const meminfoText = read("/proc/meminfo");
  const vmstatText = read("/proc/vmstat");
  const zoneinfoText = read("/proc/zoneinfo");
  const meminfo = meminfoText === null ? new Map<string, number>() : parseMeminfo(meminfoText);
  const vmstat = vmstatText === null ? new Map<string, number>() : parseVmstat(vmstatText);
  const mi = (k: string): number | null => meminfo.get(k) ?? null;
  const memmap = vmstat.get("nr_memmap_pages") ?? null;
  const memmapBoot = vmstat.get("nr_memmap_boot_pages") ?? null;
  const after: After = {
    nr_memmap_pages: memmap,
    nr_memmap_boot_pages: memmapBoot,
    memmap_sum: memmap === null || memmapBoot === null ? null : memmap + memmapBoot,
    hvo: readInt(read, HVO_SYSCTL),
    HugePages_Total: mi("HugePages_Total"),
    HugePages_Free: mi("HugePages_Free"),
    HugePages_Rsvd: mi("HugePages_Rsvd"),
    HugePages_Surp: mi("HugePages_Surp"),
    Hugetlb_kB: mi("Hugetlb"),
    MemFree_kB: mi("MemFree"),
    PageTables_kB: mi("PageTables"),
    zone_managed: zoneinfoText === null ? null : parseZoneManaged(zoneinfoText),
  };
  for (const kB of hstatesKb)
    after[hstateKey(kB) as `h${number}M`] = observeHstate(read, kB, nodes);
  return after;
}

/** The hstate keys of an observation ("h2M", "h1G"), ascending by size as observe() adds them. */
export function hstateKeysOf(after: After): string[] {
  return Object.keys(after).filter((k) => /^h[1-9][0-9]*[KMG]$/.test(k));
}

function sub(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined ? null : a - b;
}

/** `after` minus `prev` for the memmap counters, the pool sizes, Hugetlb, MemFree, PageTables. */
export function delta(prev: After, after: After): Delta {
  const d: Delta = {
    nr_memmap_pages: sub(after.nr_memmap_pages, prev.nr_memmap_pages),
    nr_memmap_boot_pages: sub(after.nr_memmap_boot_pages, prev.nr_memmap_boot_pages),
    memmap_sum: sub(after.memmap_sum, prev.memmap_sum),
    Hugetlb_kB: null,
    MemFree_kB: null,
    PageTables_kB: null,
  };
  // Key order as in the recordings: memmap, nr<size>..., Hugetlb_kB, MemFree_kB, PageTables_kB.
  const out: Record<string, number | null> = {
    nr_memmap_pages: d.nr_memmap_pages,
    nr_memmap_boot_pages: d.nr_memmap_boot_pages,
    memmap_sum: d.memmap_sum,
  };
  for (const key of hstateKeysOf(after)) {
    const kB = sizeKbOfKey(key);
    const a = (after as unknown as Record<string, HstateObs>)[key];
    const p = (prev as unknown as Record<string, HstateObs | undefined>)[key];
    out[hstateDeltaKey(kB)] = sub(a?.nr, p?.nr);
  }
  out.Hugetlb_kB = sub(after.Hugetlb_kB, prev.Hugetlb_kB);
  out.MemFree_kB = sub(after.MemFree_kB, prev.MemFree_kB);
  out.PageTables_kB = sub(after.PageTables_kB, prev.PageTables_kB);
  return out as unknown as Delta;
}

function sizeKbOfKey(key: string): number {
  const m = /^h([1-9][0-9]*)([KMG])$/.exec(key);
  if (!m) throw new RangeError(`not an hstate key: ${key}`);
  const mul = m[2] === "G" ? 1024 * 1024 : m[2] === "M" ? 1024 : 1;
  return Number(m[1]) * mul;
}

/**
 * An observation as flat fields: "hvo", "HugePages_Total", "h2M.nr", "h1G.demote_size",
 * "zone_managed.Normal". The names compare.ts and the nondeterministic lists use.
 */
export function flattenAfter(after: After): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(after)) {
    if (v !== null && typeof v === "object") {
      for (const [k2, v2] of Object.entries(v as Record<string, unknown>)) out[`${k}.${k2}`] = v2;
    } else {
      out[k] = v;
    }
  }
  return out;
}

/** Fields that the settling moved: { field: [seen right away, settled] } (counters only). */
export function changedAfterStepReturned(
  first: After,
  settled: After,
): Record<string, [unknown, unknown]> {
  const a = flattenAfter(first);
  const b = flattenAfter(settled);
  const out: Record<string, [unknown, unknown]> = {};
  for (const [k, v] of Object.entries(b)) {
    // The counters settling can move; memmap_sum is derived from two of them.
    if (k === "MemFree_kB" || k === "PageTables_kB" || k === "memmap_sum") continue;
    if (k.startsWith("zone_managed.")) continue;
    if (a[k] !== v) out[k] = [a[k], v];
  }
  return out;
}
