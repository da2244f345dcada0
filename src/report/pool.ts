// The pool the report prices: given by the user (`--pool 1G:2,2M:100`) or, by default, the
// largest pool of each size that the freshly booted machine has room for.
//
// "Largest pool that fits", as defined here: for each hstate on its own (not together), the
// number of naturally aligned, entirely free blocks of the folio's size that the buddy
// allocator holds right after boot, per zone, less what the zone's min watermark keeps back
// (__zone_watermark_ok() refuses an allocation that would take the zone below it). That is
// what an `echo <huge> > nr_hugepages` right after boot would aim at; the measured column says
// what the model's pool then actually got.

import type { Kernel } from "../kernel.ts";
import type { PageAllocator, Zone } from "../mm/page_alloc.ts";
import { UsageErrorLike } from "./errors.ts";
import type { HstateArithmetic } from "./hstates.ts";

export interface PoolRequest {
  /** Folios per hstate name ("2M" -> 100). */
  counts: Map<string, number>;
  /** true when the user gave --pool; false for the default (each size alone). */
  explicit: boolean;
}

/** Parses "1G:2,2M:100" against the machine's hstate names. */
export function parsePool(text: string, hstates: readonly HstateArithmetic[]): PoolRequest {
  const counts = new Map<string, number>();
  const names = hstates.map((h) => h.name);
  for (const part of text.split(",")) {
    const item = part.trim();
    if (!item) continue;
    const m = /^([0-9]+[KMG])(?:B|iB)?:([0-9]+)$/i.exec(item);
    if (!m) {
      throw new UsageErrorLike(`--pool: "${item}" is not SIZE:COUNT (like 2M:100 or 1G:2)`);
    }
    const name = m[1].toUpperCase();
    if (!names.includes(name)) {
      throw new UsageErrorLike(
        `--pool: this machine has no ${name} huge pages (its sizes: ${names.join(", ")})`,
      );
    }
    if (counts.has(name)) throw new UsageErrorLike(`--pool: ${name} given twice`);
    const n = Number(m[2]);
    if (!Number.isSafeInteger(n)) throw new UsageErrorLike(`--pool: ${m[2]} is too large`);
    counts.set(name, n);
  }
  if (counts.size === 0) throw new UsageErrorLike(`--pool: empty (give SIZE:COUNT, like 2M:100)`);
  return { counts, explicit: true };
}

/** Per-zone room for folios of one order. */
export interface ZoneRoom {
  nid: number;
  zone: string;
  folios: number;
}

function inLazy(zone: Zone, start: number, end: number): boolean {
  for (const [s, e] of zone.lazy) if (start >= s && end <= e) return true;
  return false;
}

/** Aligned free blocks of 2^order pages in one zone. */
function freeBlocks(buddy: PageAllocator, zone: Zone, order: number): number {
  const nrPages = 2 ** order;
  if (order <= buddy.maxOrder) {
    let n = 0;
    for (let k = order; k <= buddy.maxOrder; k++) n += zone.freeArea[k].count * 2 ** (k - order);
    return n + zone.lazyPages() / nrPages;
  }
  // Gigantic: alloc_contig_pages() looks for a naturally aligned, entirely free range.
  let n = 0;
  for (
    let pfn = Math.ceil(zone.startPfn / nrPages) * nrPages;
    pfn + nrPages <= zone.endPfn;
    pfn += nrPages
  ) {
    if (inLazy(zone, pfn, pfn + nrPages) || buddy.rangeFree(pfn, nrPages)) n++;
  }
  return n;
}

/** Room for folios of `order` in each zone of a booted machine (watermarks respected). */
export function zoneRoom(k: Kernel, order: number): ZoneRoom[] {
  const nrPages = 2 ** order;
  return k.buddy.zones.map((z) => {
    const blocks = freeBlocks(k.buddy, z, order);
    const byWatermark = Math.max(0, Math.floor((z.nrFree - z.watermarkMin) / nrPages));
    return { nid: z.nid, zone: z.type, folios: Math.min(blocks, byWatermark) };
  });
}

/** The default pool: for each hstate alone, the largest number of folios that fit. */
export function defaultPool(k: Kernel, hstates: readonly HstateArithmetic[]): PoolRequest {
  const counts = new Map<string, number>();
  for (const h of hstates)
    counts.set(
      h.name,
      zoneRoom(k, h.order).reduce((a, r) => a + r.folios, 0),
    );
  return { counts, explicit: false };
}
