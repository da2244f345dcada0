// The initramfs of the `pc` guest `hvo vm` boots, on the model alone (no QEMU): where QEMU's
// loader puts it, what the kernel's setup_arch() then places below it, and that the kernel gives
// it back after boot. The numbers are arithmetic on QEMU's and the kernel's rules; the guest
// itself is compared in test/vm/boot72.test.ts (the 2-node shape's raw and placement checks).
//
//   QEMU (hw/i386/x86.c x86_load_linux()): initrd_max = below_4g_mem_size - acpi_data_size - 1,
//   the initrd at (initrd_max - size) & ~4095; the pc machine's acpi_data_size is 0x28000.
//   x86 setup_arch(): early_reserve_initrd() reserves [image, PAGE_ALIGN(image + size)) before
//   any memblock allocation; free_initrd_mem() gives it to the buddy after boot.
import { describe, expect, it } from "vitest";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { DEFAULT_INITRD_BYTES, qemuPcInitrd, vmMachineSpec } from "../../src/live/vm/machine.ts";
import { bootModel } from "../../src/model.ts";

const GiB = 2 ** 30;
const PAGE = 4096;
/** x86_64's direct map without KASLR (PAGE_OFFSET). */
const DIRECT_MAP = 0xffff888000000000n;
/** sizeof(struct pglist_data) in Debian's 7.2.13 (BTF), allocated 64-byte aligned. */
const PGLIST_DATA = 176256;
/** PG_reserved (include/linux/page-flags.h, 7.2 on x86_64). */
const PG_RESERVED = 1n << 13n;
const CMDLINE = "hugepagesz=1G hugepages=0:1,1:1 hugetlb_free_vmemmap=on";

/** The project's initramfs on a 6 GiB guest: lowmem is 3 GiB (QEMU's gigabyte_align). */
const INITRD_START = Math.floor((0xc0000000 - 0x28000 - 1 - 3810816) / PAGE) * PAGE;
const INITRD_END = INITRD_START + Math.ceil(3810816 / PAGE) * PAGE;

describe("QEMU's loader: the initrd at the top of low RAM", () => {
  it("the project's initramfs on a 6 GiB guest: [0xbfc35000, 0xbffd8000), the guest's 3724K", () => {
    expect(DEFAULT_INITRD_BYTES).toBe(3810816);
    // The arithmetic above, against what the 6 GiB guests logged (RAMDISK, "Freeing initrd
    // memory: 3724K").
    expect(INITRD_START).toBe(0xbfc35000);
    expect(INITRD_END).toBe(0xbffd8000);
    expect((INITRD_END - INITRD_START) / 1024).toBe(3724);
    const spec = vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 2 });
    expect(spec.initrd).toEqual({ startPfn: INITRD_START / PAGE, endPfn: INITRD_END / PAGE });
    // A 2 GiB guest has all its RAM below 4 GiB: initrd_max follows it.
    const low = Math.floor((2 * GiB - 0x28000 - 1 - 4096) / PAGE);
    expect(qemuPcInitrd(2 * GiB, 4096)).toEqual({ startPfn: low, endPfn: low + 1 });
    // initrd=0: none.
    expect(vmMachineSpec({ memoryBytes: 6 * GiB, initrdBytes: 0 }).initrd).toBeUndefined();
    expect(() => qemuPcInitrd(2 * GiB, 3 * GiB)).toThrow(/does not fit below/);
  });
});

describe("setup_arch() below the initrd, the buddy after it", () => {
  it("2 nodes: NODE_DATA(0) and node 0's memmap blocks sit below the initrd, node 1's stay at 7 GiB", () => {
    const k = bootModel(
      vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 2, cmdline: CMDLINE }),
      "mainline",
    ).k;
    // Node 0 is [0, 3 GiB - 128 KiB): the initrd is its top. NODE_DATA(0) is the highest fit
    // below it (the two page-table pages before it are NUMA_NO_NODE: the top of node 1).
    const nd0 = Math.floor((INITRD_START - PGLIST_DATA) / 64) * 64;
    expect(nd0).toBe(0xbfc09f80);
    expect(k.nodeDataVaddr(0)).toBe(DIRECT_MAP + BigInt(nd0));
    // Node 1 ends at 7 GiB: two pages, then NODE_DATA(1), as without an initrd.
    const nd1 = Math.floor((7 * GiB - 2 * PAGE - PGLIST_DATA) / 64) * 64;
    expect(k.nodeDataVaddr(1)).toBe(DIRECT_MAP + BigInt(nd1));
    // Section 0's 2 MiB memmap block: the first 2 MiB-aligned block below NODE_DATA(0)'s page.
    const block = Math.floor((Math.floor(nd0 / PAGE) * PAGE - 2 ** 21) / 2 ** 21) * 2 ** 21;
    expect(block).toBe(0xbfa00000);
    expect(k.memmap.backing(0)?.frame).toBe(block / PAGE);
  });

  it("1 node: the initrd in low RAM moves nothing (the node's top is at 7 GiB)", () => {
    const withIt = bootModel(
      vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 1, cmdline: CMDLINE.replace("0:1,1:1", "2") }),
      "mainline",
    ).k;
    const without = bootModel(
      vmMachineSpec({
        memoryBytes: 6 * GiB,
        nodes: 1,
        cmdline: CMDLINE.replace("0:1,1:1", "2"),
        initrdBytes: 0,
      }),
      "mainline",
    ).k;
    expect(withIt.nodeDataVaddr(0)).toBe(without.nodeDataVaddr(0));
    for (const pfn of [0, 0x40000, 0x100000, 0x140000, 0x1bfff0])
      expect(withIt.memmap.backing(pfn)?.frame).toBe(without.memmap.backing(pfn)?.frame);
  });

  it("after boot the initrd's pages are free: in the buddy, not PG_reserved, _refcount 0", () => {
    const m = bootModel(
      vmMachineSpec({ memoryBytes: 6 * GiB, nodes: 2, cmdline: CMDLINE }),
      "mainline",
    );
    const start = INITRD_START / PAGE;
    const nr = (INITRD_END - INITRD_START) / PAGE;
    // free_initrd_mem(): every page of it back in the buddy (the 3724K / 4K = 931 pages the guest's
    // "Freeing initrd memory: 3724K" counts), none left in memblock.
    expect(nr).toBe(931);
    expect(m.k.buddy.rangeFree(start, nr)).toBe(true);
    for (const pfn of [start, start + 1, start + nr - 1]) {
      expect(m.k.memblock.isReserved(pfn)).toBe(false);
      expect(m.k.memmap.readU64(pfn, PAGE_OFF.flags) & PG_RESERVED).toBe(0n);
      expect(m.k.memmap.readU32(pfn, PAGE_OFF.refcount)).toBe(0);
    }
  });
});
