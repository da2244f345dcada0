// Random changes to an AllocationMap (src/mm/page_alloc.ts) for its property tests: records set
// at one of a few pfns, deleted, given another use, and order-0 runs placed apart, above them.
import fc from "fast-check";
import { FRAME_USES, type FrameUse } from "../../src/mm/page_alloc.ts";

/** The single records' pfns are below this; runs start above it, 8 pfns apart. */
export const PFNS = 40;
export const useArb = fc.constantFrom(...FRAME_USES);

export type MapOp =
  | { op: "set"; pfn: number; use: FrameUse; order: number }
  | { op: "delete"; pfn: number }
  | { op: "setUse"; pfn: number; use: FrameUse }
  /** cut: a page of the run to take out of it afterwards (when below n). */
  | { op: "run"; start: number; n: number; use: FrameUse; cut: number };

/** The four changes, weighted. */
export function mapOpArb(w: {
  set: number;
  delete: number;
  setUse: number;
  run: number;
}): fc.Arbitrary<MapOp> {
  const pfnArb = fc.nat(PFNS - 1);
  return fc.oneof(
    {
      weight: w.set,
      arbitrary: fc.record({
        op: fc.constant("set" as const),
        pfn: pfnArb,
        use: useArb,
        order: fc.nat(3),
      }),
    },
    { weight: w.delete, arbitrary: fc.record({ op: fc.constant("delete" as const), pfn: pfnArb }) },
    {
      weight: w.setUse,
      arbitrary: fc.record({ op: fc.constant("setUse" as const), pfn: pfnArb, use: useArb }),
    },
    {
      weight: w.run,
      arbitrary: fc.record({
        op: fc.constant("run" as const),
        start: fc.nat(PFNS - 1).map((x) => PFNS + x * 8),
        n: fc.integer({ min: 1, max: 6 }),
        use: useArb,
        cut: fc.nat(7),
      }),
    },
  );
}
