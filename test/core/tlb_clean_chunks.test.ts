// The TLB's sweep when it is full (src/mm/pgtable.ts evictClean()) drops every entry that equals
// a fresh walk and keeps the stale ones. With cleanChunks, a chunk of entries all filled while
// the frame store's pgtGen and extGen() stood as they stand at the sweep goes without a walk:
// no frame any walk reads an entry from has changed since (frames.ts noteTable(),
// tableWrite()), and no store went through a view handed out earlier, so each entry equals what
// a walk gives now. Two TLBs over one model's page tables, one with the path and one without,
// take the same seeded lookups while the tables change under them without a flush: through
// KernelPageTables.set() (another instance's, as the model's own writes are), through a raw
// store into the table's frame, through a view of the frame taken before the lookups (a kept
// view, as compound.ts and hugetlb.ts store through one), and by the model's own HVO optimise
// and restore of 1 GiB and 2 MiB folios. After each step they must hold the same entries with
// the same translations. Seeded (fast-check, fixed seed).
import fc from "fast-check";
import { describe, expect, it, vi } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";
import { FastPaths } from "../../src/mm/fast_paths.ts";
import { KernelPageTables } from "../../src/mm/pgtable.ts";

const GiB = 2 ** 30;
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages";

type Step =
  | { op: "range"; vpn: number; n: number }
  /** The PTE of vpn changed without a flush: by set(), a raw store, or a kept view. */
  | { op: "set" | "raw" | "kept"; vpn: number }
  /** A pool write: the model's own HVO changes the tables (flushing its own TLB only). */
  | { op: "pool"; path: string; value: string };

describe("a sweep drops a chunk filled while no table changed unwalked: the same TLB as walking it", () => {
  for (const design of ["legacy", "mainline"] as const)
    it(`${design}: same entries and translations after every step, stale ones kept`, () => {
      const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 2 }), design);
      model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      model.write(H1G, "1");
      model.write(H2M, "60");
      model.settle();
      const k = model.k;
      const heads = [...model.pool.folios.keys()].sort((x, y) => x - y);
      // 64-byte struct pages: the head of pfn sits in vmemmap page pfn * 64 / 4096.
      const lo = Math.max(0, Math.floor((heads[0] * 64) / 4096) - 1024);
      const hi = Math.floor((heads[heads.length - 1] * 64) / 4096) + 4096;
      const vpnArb = fc.integer({ min: lo, max: hi });
      const stepArb: fc.Arbitrary<Step> = fc.oneof(
        {
          weight: 6,
          arbitrary: fc.record({
            op: fc.constant("range" as const),
            vpn: vpnArb,
            n: fc.integer({ min: 1, max: 1500 }),
          }),
        },
        {
          weight: 3,
          arbitrary: fc.record({ op: fc.constantFrom("set", "raw", "kept" as const), vpn: vpnArb }),
        },
        {
          weight: 1,
          arbitrary: fc.oneof(
            fc
              .integer({ min: 0, max: 2 })
              .map((n): Step => ({ op: "pool", path: H1G, value: `${n}` })),
            fc
              .integer({ min: 0, max: 120 })
              .map((n): Step => ({ op: "pool", path: H2M, value: `${n}` })),
          ),
        },
      );
      const leafAt = (v: number) => k.pgt.lookup(k.vmemmapBase + BigInt(v) * 4096n);
      const held = (t: KernelPageTables) => {
        const out: number[] = [];
        for (let v = lo; v <= hi + 1500; v++) {
          const e = t.tlbEntry(v);
          if (e) out.push(v, e.frame, e.writable ? 1 : 0);
        }
        return out;
      };
      let sweeps = 0;
      let walksSaved = 0;
      fc.assert(
        fc.property(fc.array(stepArb, { minLength: 2, maxLength: 14 }), (steps) => {
          // 600 entries: sweeps come often. Every other fast path as the model's.
          const make = (clean: boolean) => {
            const paths = new FastPaths();
            paths.cleanChunks = clean;
            const t = new KernelPageTables(
              k.spec.arch,
              k.frames,
              k.pgt.rootPfn,
              k.vmemmapBase,
              600,
            );
            t.paths = paths;
            return t;
          };
          const a = make(true);
          const b = make(false);
          // The sweep's walks (leafOf() is private: reached by name).
          type Walker = { leafOf: (vpn: number) => boolean };
          const wa = vi.spyOn(a as unknown as Walker, "leafOf");
          const wb = vi.spyOn(b as unknown as Walker, "leafOf");
          const both = (v: number, n: number) =>
            expect(a.translateRange(v, n)).toEqual(b.translateRange(v, n));
          const undo: (() => void)[] = [];
          try {
            for (const s of steps) {
              const before = a.tlbSize;
              if (s.op === "range") both(s.vpn, s.n);
              else if (s.op === "pool") {
                model.write(s.path, s.value);
                model.settle();
              } else {
                const leaf = leafAt(s.vpn);
                if (leaf && !leaf.huge) {
                  const off = leaf.idx * 8;
                  const old = k.pgt.get(leaf.tablePfn, leaf.idx);
                  const moved = old ^ (1n << 12n);
                  if (s.op === "set") {
                    both(s.vpn - 40, 80);
                    k.pgt.set(leaf.tablePfn, leaf.idx, moved);
                  } else if (s.op === "raw") {
                    both(s.vpn - 40, 80);
                    k.frames.writeU64(leaf.tablePfn, off, moved);
                  } else {
                    // A view of the table's frame taken first, the lookups, then a store through
                    // it, counted as compound.ts and hugetlb.ts count theirs.
                    const v = k.frames.writableViewAt(leaf.tablePfn, off, off + 8);
                    both(s.vpn - 40, 80);
                    v.setUint32(off, Number(moved & 0xffffffffn), true);
                    k.frames.gen++;
                  }
                  undo.push(() => k.frames.writeU64(leaf.tablePfn, off, old));
                  // Pages two tables on (a sweep while the chunk of vpn holds only entries filled
                  // before the change), then the rest of the table and beyond.
                  both(s.vpn + 1024, 700);
                  both(s.vpn - (s.vpn % 512), 1200);
                  // Put back (unflushed too) before the model's own steps walk the table.
                  (undo.pop() as () => void)();
                  both(s.vpn - 600, 1200);
                }
              }
              if (a.tlbSize < before) sweeps++;
              expect(a.tlbSize, "entries held").toBe(b.tlbSize);
              expect(held(a), "TLB entries: vmemmap page, frame, writable").toEqual(held(b));
            }
          } finally {
            for (const u of undo.reverse()) u();
          }
          walksSaved += wb.mock.calls.length - wa.mock.calls.length;
        }),
        { seed: 20261207, numRuns: 20 },
      );
      expect(sweeps).toBeGreaterThan(0);
      // The path ran: the sweeps of the TLB with it walked less.
      expect(walksSaved).toBeGreaterThan(0);
    });
});
