// kernel.ts initStructPages() renders a run of consecutive struct pages as memmap_init() and the
// buddy leave them, with the zone, boot reservation, present range and node/zone links looked up
// once per run (frames.ts render() calls it for the 64 struct pages of a vmemmap page). It must
// write exactly the bytes of initStructPage() called once per struct page:
//   - property (fixed seed): runs of random length starting at random pfns, most of them near a
//     boundary where one of those lookups changes (zone and node edges, holes, memblock
//     reservations: the kernel's own, the vmemmap's with bootmem section info, boot-time HugeTLB
//     pages), asFree or as boot left them, on machines whose buddy has free heads of many orders
//     and blocks that left the boot free lists: x86_64 and arm64 with 16 KiB pages, legacy and
//     mainline. Each run is rendered into a page of non-zero bytes both ways (so a store that one
//     way makes and the other skips shows), from the same lookup caches.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import type { Design, Kernel } from "../../src/kernel.ts";
import { findPfnRange, type StructPageSize } from "../../src/machine/spec.ts";
import { bootModel, type Model } from "../../src/model.ts";

const GiB = 2 ** 30;
const SEED = 7311;
const P2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
// Boot-time HugeTLB pages (memblock-allocated, not PG_reserved) besides the runtime pool.
const CMDLINE = "hugepagesz=2M hugepages=24";

function boot(preset: string, design: Design, structPageSize: StructPageSize): Model {
  const spec = machinePreset(preset, {
    memoryBytes: 6 * GiB,
    nodes: 3,
    cmdline: CMDLINE,
    structPageSize,
  });
  const m = bootModel(spec, design);
  // Free heads of every order: a pool grown, then shrunk to a scattered part of it.
  const big = preset === "x86_64" ? 900 : 60;
  const write = (n: number) => {
    m.write(P2M, String(n));
    m.settle();
  };
  write(big);
  for (let i = 0; i < 30; i++) write(Math.max(0, big - Math.ceil(big / 40) * i - (i % 3)));
  return m;
}

/** Every pfn where the answer of a per-run lookup may change. */
function boundaries(k: Kernel): number[] {
  const out = new Set<number>();
  for (const n of k.spec.nodes) {
    for (const r of n.ranges) out.add(r.startPfn).add(r.endPfn);
    for (const z of n.zones) out.add(z.startPfn).add(z.endPfn);
  }
  for (const r of k.memblock.reserved) out.add(r.startPfn).add(r.endPfn);
  return [...out].sort((a, b) => a - b);
}

describe("initStructPages(first, n) = n x initStructPage()", () => {
  // A struct page of 80 bytes (not dividing the page: render() goes per struct page, but the
  // run form must still hold) besides the usual 64.
  const cases: Array<[string, Design, StructPageSize]> = [
    ["x86_64", "legacy", 64],
    ["x86_64", "mainline", 64],
    ["x86_64", "mainline", 80],
    ["arm64-16k", "legacy", 64],
    ["arm64-16k", "mainline", 64],
  ];
  for (const [preset, design, structPageSize] of cases) {
    it(`${preset} ${design} (struct page ${structPageSize} bytes): same bytes for random runs`, () => {
      const { k } = boot(preset, design, structPageSize);
      const sps = k.spec.structPageSize;
      const edges = boundaries(k);
      const end = edges[edges.length - 1];
      // Short runs (up to two vmemmap pages' worth), and long ones across PMD blocks (2048
      // struct pages: four PMD blocks of x86_64's 2 MiB, one of arm64-16k's 32 MiB).
      const maxN = Math.floor((2 * k.pageSize) / sps);
      const longN = 2048;
      const a = new Uint8Array(longN * sps + 64);
      const b = new Uint8Array(a.length);
      const va = new DataView(a.buffer);
      const vb = new DataView(b.buffer);
      // What the runs met, so that the test shows it covers each kind of struct page.
      const seen = { reserved: 0, sections: 0, free: 0, heads: 0, poisoned: 0, noZone: 0, gaps: 0 };
      const present = k.spec.nodes
        .flatMap((nd) => nd.ranges)
        .sort((x, y) => x.startPfn - y.startPfn);
      const run = fc.record({
        first: fc.oneof(
          fc.tuple(fc.constantFrom(...edges), fc.integer({ min: -maxN, max: maxN })),
          fc.tuple(fc.constant(0), fc.nat(end + maxN)),
        ),
        n: fc.oneof(fc.integer({ min: 1, max: maxN }), fc.integer({ min: 1, max: longN })),
        off: fc.nat(64),
        asFree: fc.boolean(),
        // A pfn asked about first: the lookups' one-entry caches as some earlier read left them.
        prime: fc.nat(end),
        junk: fc.integer({ min: 1, max: 255 }),
      });
      fc.assert(
        fc.property(run, ({ first: [base, delta], n, off, asFree, prime, junk }) => {
          const first = Math.max(0, base + delta);
          a.fill(junk);
          b.fill(junk);
          k.initStructPage(prime, a, va, 0, false);
          a.fill(junk);
          for (let i = 0; i < n; i++) k.initStructPage(first + i, a, va, off + i * sps, asFree);
          k.initStructPage(prime, b, vb, 0, false);
          b.fill(junk);
          k.initStructPages(first, n, b, vb, off, asFree);
          for (let i = 0; i < n; i++) {
            const o = off + i * sps;
            const ref = va.getUint32(o + PAGE_OFF.refcount, true);
            if (ref === 2) seen.sections++;
            else if (ref === 1) seen.reserved++;
            else seen.free++;
            if (va.getUint32(o + PAGE_OFF.mapcount, true) !== 0xffffffff) seen.heads++;
            if (va.getUint32(o + PAGE_OFF.lruNext + 4, true) === 0xdead0000) seen.poisoned++;
            // Outside every zone, or a hole inside one (x86_64's below 1 MiB and below 4 GiB).
            if (k.pfnZone(first + i) === null) seen.noZone++;
            else if (findPfnRange(present, first + i) === null) seen.gaps++;
          }
          if (Buffer.compare(a, b) !== 0) {
            let i = 0;
            while (a[i] === b[i]) i++;
            const pfn = first + Math.floor((i - off) / sps);
            throw new Error(
              `first ${first} n ${n} asFree ${asFree}: byte ${i} (pfn ${pfn}, offset ` +
                `${(i - off) % sps}) is ${b[i]} in the run, ${a[i]} per struct page`,
            );
          }
        }),
        { seed: SEED, numRuns: 1500, verbose: 1 },
      );
      // The runs met every kind of struct page the rendering distinguishes.
      expect(seen.reserved).toBeGreaterThan(0);
      expect(seen.free).toBeGreaterThan(0);
      expect(seen.heads).toBeGreaterThan(0);
      expect(seen.noZone).toBeGreaterThan(0);
      if (preset === "x86_64" && structPageSize === 64) {
        // x86_64 alone notes bootmem section info in PMD-mapped vmemmap (kernel.ts).
        expect(seen.sections).toBeGreaterThan(0);
        expect(seen.poisoned).toBeGreaterThan(0);
        expect(seen.gaps).toBeGreaterThan(0);
      }
    });
  }
});
