// memblock's byte-sized allocations (mm/memblock.c memblock_alloc_try_nid(): top-down, in
// bytes, so small allocations share pages): Memblock.allocBytes() against what Linux 7.2.13
// printed with `memblock=debug` on the 6 GiB `pc` guest, whose RAM ends at 0x1c0000000 (the
// kernel's own allocations of setup_arch() and sparse_init(), in the kernel's order).
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
