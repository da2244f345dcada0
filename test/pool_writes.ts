// Seeded plans of pool writes for the differential tests that run a model on its fast paths
// against one on their plain forms (test/core/fast_paths, test/core/frames_held_stores): the
// sysfs and sysctl files they write, the writes themselves, and an arbitrary of sequences.
import fc from "fast-check";
import type { Model } from "../src/model.ts";

export const P2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
export const P1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";
export const HVO = "/proc/sys/vm/hugetlb_optimize_vmemmap";

/** A write of n to a file. */
export type Write = [string, number];

/** The writes in order, each settled; a refused write (EBUSY...) is refused alike by both
 * models, and the digests compared after it tell. */
export function runWrites(m: Model, writes: readonly Write[]): void {
  for (const [file, n] of writes) {
    try {
      m.write(file, String(n));
    } catch {
      // Refused: the same in the other model.
    }
    m.settle();
  }
}

/**
 * Four to six sequences of one to five writes: 2 MiB pools up to max2M (weight 6), 1 GiB pools
 * up to 2 (weight 2), the HVO sysctl (weight hvoWeight). Models are compared after each sequence.
 */
export function writePlan(max2M: number, hvoWeight: number): fc.Arbitrary<Write[][]> {
  const write = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(fc.constant(P2M), fc.nat(max2M)) },
    { weight: 2, arbitrary: fc.tuple(fc.constant(P1G), fc.nat(2)) },
    { weight: hvoWeight, arbitrary: fc.tuple(fc.constant(HVO), fc.nat(1)) },
  ) as fc.Arbitrary<Write>;
  return fc.array(fc.array(write, { minLength: 1, maxLength: 5 }), { minLength: 4, maxLength: 6 });
}
