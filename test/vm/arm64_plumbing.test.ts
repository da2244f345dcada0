// The arm64 VM plumbing that needs no QEMU: naming the kernel, picking its Debian package,
// recognising an arm64 Image and its page size, the virt machine's QEMU command line, and the
// model of the guest (RAM from 1 GiB, NUMA split, zones, VA and vmemmap of the running kernel).
import { describe, expect, it } from "vitest";
import { guestOfVmResult, vmMachineSpec } from "../../src/live/vm/machine.ts";
import {
  arm64ImagePageSize,
  parseDebianKernelSpec,
  pickKernelPackage,
  VmSetupError,
} from "../../src/live/vm/pieces.ts";
import { qemuArgs } from "../../src/live/vm/qemu.ts";

describe("--kernel debian-X.Y[:flavour]", () => {
  it("names amd64 (the default), arm64 and arm64-16k, and refuses others", () => {
    expect(parseDebianKernelSpec("debian-7.2")).toEqual({ series: "7.2", flavour: "amd64" });
    expect(parseDebianKernelSpec("debian-7.2:arm64-16k")).toEqual({
      series: "7.2",
      flavour: "arm64-16k",
    });
    expect(parseDebianKernelSpec("/boot/Image")).toBeNull();
    expect(() => parseDebianKernelSpec("debian-7.2:arm64-64k")).toThrow(VmSetupError);
    expect(() => parseDebianKernelSpec("debian-7.2:arm64-64k")).toThrow(/arm64-16k/);
  });

  it("picks the unsigned image of the flavour, not cloud, rt or the other page size", () => {
    const names = [
      "linux-binary-unsigned-7.2.13+deb14-arm64",
      "linux-binary-unsigned-7.2.13+deb14-arm64-16k",
      "linux-binary-unsigned-7.2.13+deb14-cloud-arm64",
      "linux-binary-unsigned-7.2.13+deb14-rt-arm64",
      "linux-binary-unsigned-7.2.9+deb14-arm64-16k",
      "linux-binary-7.2.13+deb14-arm64",
    ];
    expect(pickKernelPackage(names, "7.2", "arm64")).toBe(
      "linux-binary-unsigned-7.2.13+deb14-arm64",
    );
    expect(pickKernelPackage(names, "7.2", "arm64-16k")).toBe(
      "linux-binary-unsigned-7.2.13+deb14-arm64-16k",
    );
    expect(pickKernelPackage(names, "7.2", "amd64")).toBeNull();
  });
});

describe("an arm64 Image (Documentation/arch/arm64/booting.rst)", () => {
  /** The 64-byte header: magic "ARM\x64" at 0x38, flags at 0x18 (bits 1-2: page size). */
  const image = (pageCode: number): Uint8Array => {
    const b = new Uint8Array(64);
    const dv = new DataView(b.buffer);
    dv.setUint32(0x38, 0x644d5241, true);
    dv.setBigUint64(0x18, BigInt(pageCode << 1), true); // bit 0 clear: little-endian
    return b;
  };
  it("reads the page size from the flags: 1 = 4K, 2 = 16K, 3 = 64K, 0 = unspecified", () => {
    expect(arm64ImagePageSize(image(1))).toBe(4096);
    expect(arm64ImagePageSize(image(2))).toBe(16384);
    expect(arm64ImagePageSize(image(3))).toBe(65536);
    expect(arm64ImagePageSize(image(0))).toBeNull();
  });
  it("is not an x86 bzImage or anything without the magic", () => {
    const b = image(1);
    b[0x38] = 0;
    expect(arm64ImagePageSize(b)).toBeNull();
    expect(arm64ImagePageSize(new Uint8Array(10))).toBeNull();
  });
});

describe("the virt machine's QEMU command line", () => {
  const base = {
    kernel: "Image",
    initrd: "i.cpio",
    socket: "s",
    consoleLog: "c",
    arch: "arm64" as const,
  };
  it("is virt with a CPU without LPA2, the PL011 console, nokaslr, and -numa per node", () => {
    const args = qemuArgs({ ...base, shape: { memory: "4G", nodes: 2, cmdline: "hugepages=4" } });
    const joined = args.join(" ");
    expect(joined).toContain("-M virt -cpu max,lpa2=off,pauth-impdef=on");
    expect(joined).toContain("-numa node,nodeid=1,cpus=1,memdev=mem1");
    expect(joined).not.toContain("pdpe1gb");
    expect(args[args.indexOf("-append") + 1]).toBe(
      "console=ttyAMA0 quiet panic=-1 rdinit=/init nokaslr hugepages=4",
    );
  });
});

describe("the model of the arm64 guest", () => {
  const GiB = 2 ** 30;
  it("has RAM from 1 GiB split over the nodes in order, DMA below 4 GiB, Normal above", () => {
    const s = vmMachineSpec({ memoryBytes: 4 * GiB, nodes: 2, arch: "arm64", pageSize: 4096 });
    // 4K pages: 1 GiB = pfn 0x40000, 3 GiB = 0xc0000, 4 GiB = 0x100000, 5 GiB = 0x140000.
    expect(s.nodes.map((n) => n.ranges)).toEqual([
      [{ startPfn: 0x40000, endPfn: 0xc0000 }],
      [{ startPfn: 0xc0000, endPfn: 0x140000 }],
    ]);
    expect(
      s.nodes.flatMap((n) =>
        n.zones
          .filter((z) => z.endPfn > z.startPfn)
          .map((z) => [n.nid, z.type, z.startPfn, z.endPfn]),
      ),
    ).toEqual([
      [0, "DMA", 0x40000, 0xc0000],
      [1, "DMA", 0xc0000, 0x100000],
      [1, "Normal", 0x100000, 0x140000],
    ]);
    expect(s.cmdline).toBe("console=ttyAMA0 quiet panic=-1 rdinit=/init nokaslr");
  });

  it("has no HVO, and the running kernel's VA: 48 bits with 4K pages, 47 with 16K", () => {
    const k4 = vmMachineSpec({ memoryBytes: 2 * GiB, arch: "arm64", pageSize: 4096 });
    const k16 = vmMachineSpec({ memoryBytes: 2 * GiB, arch: "arm64", pageSize: 16384 });
    expect([k4.arch.optimizeHugetlbVmemmap, k16.arch.optimizeHugetlbVmemmap]).toEqual([
      false,
      false,
    ]);
    expect(k4.arch.levelShifts).toEqual([39, 30, 21, 12]);
    expect(k16.arch.levelShifts).toEqual([36, 25, 14]);
    // pfn_to_page(DRAM's first pfn) = -1 GiB - 2^(VA_BITS_MIN - 1 - PAGE_SHIFT) * 64.
    const first = (s: typeof k4, pfn: number) => s.arch.vmemmapBase + BigInt(pfn) * 64n;
    expect(first(k4, 0x40000)).toBe((1n << 64n) - (1n << 30n) - (1n << 35n) * 64n);
    expect(first(k16, 0x10000)).toBe((1n << 64n) - (1n << 30n) - (1n << 32n) * 64n);
  });

  it("refuses page sizes the runner does not boot and nodes that split a section", () => {
    expect(() => vmMachineSpec({ memoryBytes: 2 * GiB, arch: "arm64", pageSize: 65536 })).toThrow(
      /4K or 16K/,
    );
    expect(() =>
      vmMachineSpec({ memoryBytes: 2 * GiB + 2 ** 26, nodes: 2, arch: "arm64", pageSize: 4096 }),
    ).toThrow(/128M/);
  });

  it("is chosen from a VM result's guest, else its machine name", () => {
    expect(guestOfVmResult({ machine: "vm:debian-7.2:arm64-16k" })).toEqual({
      arch: "arm64",
      pageSize: 16384,
    });
    expect(guestOfVmResult({ machine: "vm:debian-7.2" })).toEqual({
      arch: "x86_64",
      pageSize: 4096,
    });
    expect(
      guestOfVmResult({ machine: "vm:Image", guest: { arch: "arm64", page_size: 4096 } }),
    ).toEqual({ arch: "arm64", pageSize: 4096 });
  });
});

describe("arm64 page->flags: Debian's CONFIG_NODES_SHIFT=4", () => {
  it("puts node and zone in the top 7 bits, and refuses a 17th node (MAX_NUMNODES 16)", async () => {
    const { machinePreset } = await import("../../src/arch/index.ts");
    const { bootModel } = await import("../../src/model.ts");
    const spec = machinePreset("arm64-4k", { memoryBytes: 32 * 2 ** 30, nodes: 16 });
    const k = bootModel(spec, "mainline").k;
    // The first pfn of node 15: node 15 in bits 63:60, zone Normal (2) in 59:57 (above 4 GiB).
    const pfn = spec.nodes[15].ranges[0].startPfn;
    expect(k.memmap.readU64(pfn, 0) >> 57n).toBe((15n << 3n) | 2n);
    expect(() =>
      bootModel(machinePreset("arm64-4k", { memoryBytes: 34 * 2 ** 30, nodes: 17 }), "mainline"),
    ).toThrow(/CONFIG_NODES_SHIFT=4: at most 16/);
  });
});
