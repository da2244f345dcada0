// translateRange() (one page-table walk per leaf, src/mm/pgtable.ts) against translate() of each
// vmemmap page in turn: the same translations, the same TLB afterwards (size and stale
// entries), over vmemmap mapped by 2 MiB PMD leaves, by split PMDs (HVO'd folios: PTEs that
// point at shared and read-only frames), across holes, and with a stale entry left by a PTE
// changed without a flush. Seeded ranges (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import type { Design } from "../../src/kernel.ts";
import { bootModel } from "../../src/model.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";

const GiB = 2 ** 30;

function setup(design: Design) {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "40");
  model.settle();
  const k = model.k;
  const heads = [...model.pool.folios.keys()];
  return { k, heads };
}

describe("translateRange() is translate() of each page, one walk per leaf", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`${design}: same translations and the same TLB, split and unsplit PMDs, holes, a stale entry`, () => {
      const { k, heads } = setup(design);
      const first = Math.floor((heads[0] * 64) / 4096);
      const capacity = 64;
      const vpnArb = fc.integer({ min: Math.max(0, first - 3000), max: first + 6000 });
      fc.assert(
        fc.property(
          fc.array(fc.tuple(vpnArb, fc.integer({ min: 1, max: 1200 })), {
            minLength: 1,
            maxLength: 6,
          }),
          fc.boolean(),
          (ranges, stale) => {
            const a = new KernelPageTables(
              k.spec.arch,
              k.frames,
              k.pgt.rootPfn,
              k.vmemmapBase,
              capacity,
            );
            const b = new KernelPageTables(
              k.spec.arch,
              k.frames,
              k.pgt.rootPfn,
              k.vmemmapBase,
              capacity,
            );
            let restore: (() => void) | null = null;
            if (stale) {
              // Both TLBs hold the translation of `first`; then its PTE changes, unflushed.
              a.translate(first + 1);
              b.translate(first + 1);
              const leaf = a.lookup(k.vmemmapBase + BigInt(first + 1) * 4096n);
              if (leaf && !leaf.huge) {
                const old = a.get(leaf.tablePfn, leaf.idx);
                a.set(leaf.tablePfn, leaf.idx, old ^ (1n << 12n));
                restore = () => a.set(leaf.tablePfn, leaf.idx, old);
              }
            }
            try {
              for (const [v, n] of ranges) {
                const got = a.translateRange(v, n);
                const want = Array.from({ length: n }, (_, i) => b.translate(v + i));
                expect(got).toEqual(want);
                expect(a.tlbSize).toBe(b.tlbSize);
                expect(a.staleTlbEntries().map((s) => s.vpn)).toEqual(
                  b.staleTlbEntries().map((s) => s.vpn),
                );
              }
              if (restore) expect(a.staleTlbEntries().length).toBeGreaterThan(0);
            } finally {
              restore?.();
            }
          },
        ),
        { seed: 7, numRuns: 40 },
      );
    });
  }
});
