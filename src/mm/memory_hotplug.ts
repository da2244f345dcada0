// drivers/base/memory.c and mm/memory_hotplug.c: memory blocks, their sysfs files under
// /sys/devices/system/memory, and offline_pages()/online_pages() as far as the HugeTLB pool
// and the page allocator see them.
//
// A block is sections_per_block sections of memory_block_size_bytes(); it exists when one of
// its sections is present. Offlining a block (writing "offline" to its state) isolates it,
// fails with EBUSY when it holds a page nothing can move (memblock reservations, the kernel's
// own allocations: page tables, vmemmap, shared tails), dissolves its free HugeTLB folios
// (dissolve_free_hugetlb_folios(), which restores their vmemmap first), takes its free pages
// out of the buddy allocator and makes its pfns not online (pfn_to_online_page() is NULL). Its
// memmap stays. Onlining gives the pages back to the buddy at the tail of the lists, with
// struct pages as memmap_init_range() and __free_pages_core() leave them.
//
// Not modelled: migration of pages in use (the kernel migrates in-use HugeTLB folios to other
// memory and retries until a signal; the model answers EBUSY at once), ZONE_MOVABLE onlining
// of blocks outside the Movable zone, memory_notify() listeners, memmap_on_memory.

import { EBUSY, EHWPOISON, EINVAL } from "../include/errno.ts";
import type { Kernel } from "../kernel.ts";
import type { MachineSpec, ZoneType } from "../machine/spec.ts";
import type { HugetlbPool } from "./hugetlb.ts";

export type MemoryBlockState = "online" | "offline";

export interface MemoryBlock {
  /** The block id: the N of memoryN. */
  id: number;
  startPfn: number;
  nrPages: number;
  nid: number;
  state: MemoryBlockState;
  /** HWPoison pages it held when it was offlined (memblk_nr_poison()). */
  poisoned: number;
}

/**
 * memory_block_size_bytes(): x86_64's probe_memory_block_size() (arch/x86/mm/init_64.c) uses
 * the section size (128 MiB) while boot memory ends below 64 GiB, else 2 GiB on bare metal (a
 * guest shifts that down until the end of memory is aligned to it; the model's machines are
 * bare metal); the other architectures use the section size (MIN_MEMORY_BLOCK_SIZE).
 */
export function memoryBlockSizeBytes(spec: MachineSpec): number {
  const section = 2 ** spec.arch.sectionShift;
  if (spec.arch.name !== "x86_64") return section;
  let end = 0;
  for (const n of spec.nodes) for (const r of n.ranges) end = Math.max(end, r.endPfn);
  const endBytes = end * 2 ** spec.arch.pageShift;
  return endBytes < 64 * 2 ** 30 ? section : 2 * 2 ** 30;
}

export class MemoryHotplug {
  readonly blockBytes: number;
  readonly blockPages: number;
  private blockMap: Map<number, MemoryBlock> | null = null;
  /** /sys/devices/system/memory/auto_online_blocks (a policy for hot-added memory: unused). */
  autoOnline: "offline" | "online" | "online_kernel" | "online_movable" = "offline";

  constructor(
    readonly k: Kernel,
    readonly pool: HugetlbPool,
  ) {
    this.blockBytes = memoryBlockSizeBytes(k.spec);
    this.blockPages = this.blockBytes / k.pageSize;
  }

  /**
   * Every block with a present section, by id (made on first use: a 16 TiB arm64 machine has
   * 131072 of them, and most runs never look).
   */
  get blocks(): ReadonlyMap<number, MemoryBlock> {
    if (this.blockMap) return this.blockMap;
    const map = new Map<number, MemoryBlock>();
    for (const s of this.k.sections) {
      const id = Math.floor(s.startPfn / this.blockPages);
      if (!map.has(id))
        map.set(id, {
          id,
          startPfn: id * this.blockPages,
          nrPages: this.blockPages,
          nid: s.nid,
          state: "online",
          poisoned: 0,
        });
    }
    this.blockMap = map;
    return map;
  }

  /** Block ids, ascending. */
  ids(): number[] {
    return [...this.blocks.keys()].sort((a, b) => a - b);
  }

  /**
   * test_pages_in_a_zone(): the one zone every present pfn of the block is in, or null when
   * they are in several.
   */
  blockZone(b: MemoryBlock): ZoneType | null {
    let zone: ZoneType | null = null;
    for (const z of this.k.buddy.zonesByNode[b.nid] ?? []) {
      const lo = Math.max(z.startPfn, b.startPfn);
      const hi = Math.min(z.endPfn, b.startPfn + b.nrPages);
      if (lo >= hi || !this.anyPresent(lo, hi)) continue;
      if (zone !== null) return null;
      zone = z.type;
    }
    return zone;
  }

  private anyPresent(lo: number, hi: number): boolean {
    for (const n of this.k.spec.nodes)
      for (const r of n.ranges) if (r.startPfn < hi && r.endPfn > lo) return true;
    return false;
  }

  /**
   * valid_zones: an online block's zone ("none" when it spans zones); an offline block's
   * default zone followed by the other zones it could be onlined to (ZONE_MOVABLE, with
   * "online_movable" - which the model refuses: its zones do not move).
   */
  validZones(b: MemoryBlock): string {
    const z = this.blockZone(b);
    if (b.state === "online" || z === null) return z ?? "none";
    return z === "Movable" ? "Movable Normal" : `${z} Movable`;
  }

  /** Present pfns of the block (walk_system_ram_range()). */
  private presentPages(b: MemoryBlock): number {
    let n = 0;
    const end = b.startPfn + b.nrPages;
    for (const node of this.k.spec.nodes)
      for (const r of node.ranges)
        n += Math.max(0, Math.min(r.endPfn, end) - Math.max(r.startPfn, b.startPfn));
    return n;
  }

  /**
   * memory_subsys_offline() -> offline_pages(): 0 or -errno. The block is offline after 0;
   * on an error nothing changed, except HugeTLB folios dissolved before the one that failed
   * (as in the kernel).
   */
  offline(b: MemoryBlock): number {
    const k = this.k;
    // memory_block_offline(): no zone (the block spans zones); offline_pages(): holes.
    if (this.blockZone(b) === null) return -EINVAL;
    if (this.presentPages(b) !== b.nrPages) return -EINVAL;
    const start = b.startPfn;
    const end = start + b.nrPages;
    // start_isolate_page_range() / has_unmovable_pages(): reserved or kernel pages.
    for (const r of k.memblock.reserved)
      if (r.startPfn < end && r.endPfn > start && !(r.use === "hugetlb" && k.booted)) return -EBUSY;
    // Every block with a page in the range, in the map's order (the order of `poisoned`, and of
    // the refcount reads through the vmemmap: the first busy block ends the scan).
    const poisoned: number[] = [];
    const movable = k.buddy.allocations.forEachBlockIn(start, end, (pfn, a) => {
      // HWPoison pages are skipped (and counted: the block cannot come back online).
      if (a.use === "hwpoison") {
        poisoned.push(pfn);
        return true;
      }
      // scan_movable_pages() would migrate a folio in use; the model does not migrate.
      return a.use === "hugetlb" && this.pool.isFreeHugetlbFolio(pfn);
    });
    if (!movable) return -EBUSY;
    // The range is isolated while its HugeTLB folios are dissolved: the vmemmap pages their
    // restore allocates come from elsewhere.
    k.buddy.isolated = { startPfn: start, endPfn: end };
    let rc: number;
    try {
      rc = this.pool.dissolveFreeHugetlbFolios(start, end);
    } finally {
      k.buddy.isolated = null;
    }
    if (rc) return rc;
    // test_pages_isolated(), __offline_isolated_pages(): every page is free now.
    const present = k.onlineRanges();
    const isFreeOrPoisoned = (s: number, e: number) => {
      for (let p = s; p < e; ) {
        if (poisoned.includes(p)) {
          p++;
          continue;
        }
        const f = k.buddy.freeBlockAt(p);
        if (!f) return false;
        p = f.start + 2 ** f.order;
      }
      return true;
    };
    for (const r of present) {
      const s = Math.max(r.startPfn, start);
      const e = Math.min(r.endPfn, end);
      if (s < e && !isFreeOrPoisoned(s, e)) return -EBUSY;
    }
    // The poisoned pages leave with the rest (they were managed: memory_failure() keeps them so).
    for (const p of poisoned) {
      k.buddy.allocations.delete(p);
      k.buddy.freeToBuddy(p, 0);
    }
    b.poisoned = poisoned.length;
    k.buddy.offlinePages(start, b.nrPages, present);
    k.setOffline(start, end, true);
    b.state = "offline";
    return 0;
  }

  /** memory_subsys_online() -> online_pages(): 0 or -errno. */
  online(b: MemoryBlock, type: "online" | "online_kernel" | "online_movable"): number {
    const k = this.k;
    // memory_block_online(): a block offlined with poisoned pages stays offline.
    if (b.poisoned > 0) return -EHWPOISON;
    const zone = this.blockZone(b);
    // zone_for_pfn_range(): the model's zones do not move; a block joins the zone it was in.
    if (zone === null) return -EINVAL;
    if (type === "online_movable" && zone !== "Movable") return -EINVAL;
    if (type === "online_kernel" && zone === "Movable") return -EINVAL;
    const start = b.startPfn;
    const end = start + b.nrPages;
    k.setOffline(start, end, false);
    // memmap_init_range(MEMINIT_HOTPLUG) then __free_pages_core(): struct pages of free pages.
    const present = k.onlineRanges();
    for (const r of present) {
      const s = Math.max(r.startPfn, start);
      const e = Math.min(r.endPfn, end);
      if (s < e) k.reinitStructPages(s, e);
    }
    k.buddy.onlinePages(start, b.nrPages, present);
    b.state = "online";
    return 0;
  }
}
