// What the differential tests of the buddy's gigantic-folio paths share (buddy_top_run: the
// free of a 1 GiB folio's top-order blocks in one pass; buddy_lazy_take: its range taken from
// lazily freed blocks in one lookup): the pool steps two models take, and the state they must
// agree on after each.
import fc from "fast-check";
import { MIGRATE_MOVABLE } from "../../src/mm/buddy_lru.ts";
import type { Model } from "../../src/model.ts";
import { modelDigest } from "../model_digest.ts";

export const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
export const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
export const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";

/** A write to a file: [path, value]. */
export type Step = [string, string];

/** 1 GiB pools of 0-3, 2 MiB pools of 0-200 (so the top free list is not one run), HVO on/off. */
export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.integer({ min: 0, max: 3 }).map((n): Step => [H1G, String(n)]),
  fc.integer({ min: 0, max: 200 }).map((n): Step => [H2M, String(n)]),
  fc.constantFrom<Step>([HVO, "0"], [HVO, "1"]),
);

/**
 * Everything a user or the kernel could tell apart, and the top-order free lists as the bytes
 * link them; withMemmap false leaves out the vmemmap's bytes (the costly part of the digest).
 */
export function buddyState(md: Model, withMemmap = true): Record<string, unknown> {
  const k = md.k;
  const lru = k.buddy.lru;
  const max = k.spec.arch.maxPageOrder;
  return {
    ...modelDigest(md, { memmap: withMemmap, frames: withMemmap, pools: [H2M, H1G] }),
    writes: k.memmap.writes,
    topLists: k.buddy.zones.map((z) => lru?.listOrder(z, max, MIGRATE_MOVABLE)),
  };
}
