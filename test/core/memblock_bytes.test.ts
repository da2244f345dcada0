// memblock's byte-sized allocations (mm/memblock.c memblock_alloc_try_nid(): top-down, in
// bytes, so small allocations share pages): Memblock.allocBytes() against what Linux 7.2.13
// printed with `memblock=debug` on the 6 GiB `pc` guest, whose RAM ends at 0x1c0000000 (the
// kernel's own allocations of setup_arch() and sparse_init(), in the kernel's order).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { vmMachineSpec } from "../../src/live/vm/machine.ts";
import { Memblock } from "../../src/mm/memblock.ts";

const spec = vmMachineSpec({ memoryBytes: 6 * 2 ** 30, nodes: 1 });

describe("Memblock.allocBytes(): the guest's boot allocations, address by address", () => {
  it("page tables, NODE_DATA, small tables, e820 copies, section roots and usage maps; then a page below them", () => {
    const mb = new Memblock(spec.nodes, 4096);
    const got = (spec.bootAllocations ?? []).map((a) =>
      mb.allocBytes(a.bytes, a.align, a.nid, "kernel"),
    );
    // The guest's `__memblock_reserve:` lines, first address of each, in order.
    expect(got.map((a) => a.toString(16))).toEqual(
      [
        0x1bffff000, 0x1bfffe000, 0x1bffd2f80, 0x1bffd2f00, 0x1bffd2e80, 0x1bffd2c80, 0x1bffd2c00,
        0x1bffd2b80, 0x1bffd2b00, 0x1bffd2a80, 0x1bffd2a00, 0x1bffd2980, 0x1bffd2900, 0x1bffd28c0,
        0x1bffd2880, 0x1bffd2840, 0x1bffca840, 0x1bffc9840, 0x1bffc87c0,
      ].map((a) => a.toString(16)),
    );
    // A page-sized allocation cannot use the free low 0x7c0 bytes of the page at 0x1bffc8000:
    // the guest's first vmemmap table page is 0x1bffc7000.
    expect(mb.alloc(1, 1, 0, "pagetable") * 4096).toBe(0x1bffc7000);
    // A small one can: 0x1bffc8740 - 123 rounded down to 64 (the guest's next 123-byte
    // allocation, after the memmap's, is at 0x1bffc8740).
    expect(mb.allocBytes(123, 64, -1, "kernel")).toBe(0x1bffc8740);
  });

  it("a small allocation that does not fit below a shared page's used part goes to the free gap under it", () => {
    const node = { ...spec.nodes[0], ranges: [{ startPfn: 0x100, endPfn: 0x104 }] };
    const mb = new Memblock([node], 4096);
    // 100 bytes at the top page's end, 64-aligned: 0x104000 - 100 = 0x103f9c, down to 0x103f80.
    expect(mb.allocBytes(100, 64, 0, "kernel")).toBe(0x103f80);
    // 4000 bytes: not below 0x103f80 inside that page (0x103f80 - 4000 < 0x103000), so across
    // into the page below: 0x103f80 - 4000 = 0x102fe0, aligned down to 64: 0x102fc0.
    expect(mb.allocBytes(4000, 64, 0, "kernel")).toBe(0x102fc0);
    // Pages 0x102 and 0x103 are reserved now: 0x101 is the highest whole page left, then only
    // 0x100, too small for two.
    expect(mb.alloc(1, 1, 0, "kernel")).toBe(0x101);
    expect(() => mb.alloc(2, 1, 0, "kernel")).toThrow(/cannot allocate/);
  });
});

// memblock_alloc_try_nid() of whole pages, by its definition: the highest start aligned to
// `align` whose pages all lie in one range of the node and are all unreserved. A page map of
// the node against Memblock.alloc() over random reserves, allocations and frees.
describe("Memblock.alloc(): the highest aligned free run, whatever was reserved and freed", () => {
  const ranges = [
    { startPfn: 3, endPfn: 70 },
    { startPfn: 80, endPfn: 81 },
    { startPfn: 96, endPfn: 200 },
  ];
  const node = { nid: 0, ranges, zones: [] };
  type Op =
    | { op: "alloc"; n: number; align: number }
    | { op: "reserve"; at: number; n: number }
    | { op: "free"; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("alloc" as const),
      n: fc.integer({ min: 1, max: 40 }),
      align: fc.constantFrom(1, 2, 4, 8, 16),
    }),
    fc.record({
      op: fc.constant("reserve" as const),
      at: fc.integer({ min: 0, max: 199 }),
      n: fc.integer({ min: 1, max: 12 }),
    }),
    fc.record({ op: fc.constant("free" as const), pick: fc.nat() }),
  );

  it("agrees with a page map after every step", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const mb = new Memblock([node], 4096);
        const taken = new Uint8Array(200);
        const blocks: Array<[number, number]> = [];
        const present = (p: number) => ranges.some((r) => p >= r.startPfn && p < r.endPfn);
        const fits = (s: number, n: number) =>
          ranges.some((r) => s >= r.startPfn && s + n <= r.endPfn) &&
          taken.subarray(s, s + n).every((t) => t === 0);
        for (const o of ops) {
          if (o.op === "alloc") {
            let want = -1;
            for (let s = Math.floor((200 - o.n) / o.align) * o.align; s >= 0; s -= o.align)
              if (fits(s, o.n)) {
                want = s;
                break;
              }
            if (want < 0) {
              expect(() => mb.alloc(o.n, o.align, 0, "kernel")).toThrow(/cannot allocate/);
              continue;
            }
            expect(mb.alloc(o.n, o.align, 0, "kernel")).toBe(want);
            taken.fill(1, want, want + o.n);
            blocks.push([want, want + o.n]);
          } else if (o.op === "reserve") {
            const end = Math.min(o.at + o.n, 200);
            let ok = true;
            for (let p = o.at; p < end; p++) ok &&= present(p) && taken[p] === 0;
            if (!ok || !fits(o.at, end - o.at)) continue;
            mb.reserve(o.at, end, "kernel", 0);
            taken.fill(1, o.at, end);
            blocks.push([o.at, end]);
          } else if (blocks.length > 0) {
            const [s, e] = blocks.splice(o.pick % blocks.length, 1)[0];
            mb.unreserveRange(s, e);
            taken.fill(0, s, e);
          }
        }
      }),
      { seed: 0x3eb10c, numRuns: 400 },
    );
  });
});

// memblock works in bytes (mm/memblock.c memblock_find_in_range_node(): each free range between
// reserved regions, highest first; the highest address aligned down from its end that leaves
// the size inside it). A byte map of the node against Memblock.allocBytes() and alloc() over
// random small and page-sized allocations, reserves and frees of whole-page blocks: small
// allocations share pages, and the free low part of a shared page is used by a later small one
// whatever lies below it. Pages of 64 bytes keep the map small.
describe("Memblock.allocBytes(): the highest aligned free bytes, whatever was allocated around them", () => {
  const PB = 64;
  const ranges = [
    { startPfn: 3, endPfn: 40 },
    { startPfn: 50, endPfn: 51 },
    { startPfn: 60, endPfn: 100 },
  ];
  const node = { nid: 0, ranges, zones: [] };
  const END = 100 * PB;
  type Op =
    | { op: "bytes"; bytes: number; align: number }
    | { op: "pages"; n: number; align: number }
    | { op: "reserve"; at: number; n: number }
    | { op: "free"; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant("bytes" as const),
      bytes: fc.integer({ min: 1, max: 150 }),
      align: fc.constantFrom(8, 16, 32, 64, 128),
    }),
    fc.record({
      op: fc.constant("pages" as const),
      n: fc.integer({ min: 1, max: 6 }),
      align: fc.constantFrom(1, 2, 4),
    }),
    fc.record({
      op: fc.constant("reserve" as const),
      at: fc.integer({ min: 0, max: 99 }),
      n: fc.integer({ min: 1, max: 4 }),
    }),
    fc.record({ op: fc.constant("free" as const), pick: fc.nat() }),
  );

  it("agrees with a byte map after every step", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 60 }), (ops) => {
        const mb = new Memblock([node], PB);
        const used = new Uint8Array(END);
        // Whole-page blocks (pages, reserves), which may be freed: [first pfn, end pfn).
        const blocks: Array<[number, number]> = [];
        const fits = (a: number, n: number) =>
          ranges.some((r) => a >= r.startPfn * PB && a + n <= r.endPfn * PB) &&
          used.subarray(a, a + n).every((u) => u === 0);
        // The reference: the highest aligned address whose bytes lie in one range, all free.
        const highest = (n: number, align: number): number => {
          for (let a = Math.floor((END - n) / align) * align; a >= 0; a -= align)
            if (fits(a, n)) return a;
          return -1;
        };
        for (const o of ops) {
          if (o.op === "bytes") {
            const want = highest(o.bytes, o.align);
            if (want < 0) {
              expect(() => mb.allocBytes(o.bytes, o.align, 0, "kernel")).toThrow(/cannot allocate/);
              continue;
            }
            expect(mb.allocBytes(o.bytes, o.align, 0, "kernel")).toBe(want);
            used.fill(1, want, want + o.bytes);
          } else if (o.op === "pages") {
            const want = highest(o.n * PB, o.align * PB);
            if (want < 0) {
              expect(() => mb.alloc(o.n, o.align, 0, "kernel")).toThrow(/cannot allocate/);
              continue;
            }
            expect(mb.alloc(o.n, o.align, 0, "kernel") * PB).toBe(want);
            used.fill(1, want, want + o.n * PB);
            blocks.push([want / PB, want / PB + o.n]);
          } else if (o.op === "reserve") {
            const end = Math.min(o.at + o.n, 100);
            if (!fits(o.at * PB, (end - o.at) * PB)) continue;
            mb.reserve(o.at, end, "kernel", 0);
            used.fill(1, o.at * PB, end * PB);
            blocks.push([o.at, end]);
          } else if (blocks.length > 0) {
            const [s, e] = blocks.splice(o.pick % blocks.length, 1)[0];
            mb.unreserveRange(s, e);
            used.fill(0, s * PB, e * PB);
          }
        }
      }),
      { seed: 0x3eb10d, numRuns: 400 },
    );
  });
});
