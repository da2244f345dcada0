// /sys/devices/system/memory on the model: the blocks a machine has, their files, and what
// offlining and onlining a block does to the HugeTLB pool, the page allocator and
// /proc/kpageflags. Expected values come from the machine's layout (arithmetic shown), from
// drivers/base/memory.c and mm/memory_hotplug.c, and from the live 6.18 kernel where noted.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { allInvariants } from "../../src/check/invariants.ts";
import { KernelError } from "../../src/include/errno.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { memoryBlockSizeBytes } from "../../src/mm/memory_hotplug.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

const GiB = 2 ** 30;
const MEM = "/sys/devices/system/memory";
const NR = "/proc/sys/vm/nr_hugepages";
/** 128 MiB blocks of 4 KiB pages. */
const BLOCK_PAGES = 2 ** 27 / 2 ** 12;

function machine(memoryBytes = 4 * GiB): Model {
  return bootModel(machinePreset("x86_64", { memoryBytes, nodes: 1 }), "mainline");
}

function errnoOf(f: () => void): string | null {
  try {
    f();
    return null;
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

function memTotalKb(m: Model): number {
  return Number(/MemTotal:\s+(\d+)/.exec(m.read("/proc/meminfo"))?.[1]);
}

function kpf(m: Model, pfn: number): bigint {
  return new DataView(m.readBinary("/proc/kpageflags", pfn * 8, 8).buffer).getBigUint64(0, true);
}

const KPF_HUGE = 1n << 17n;
const KPF_HEAD = 1n << 15n;

/** HugeTLB heads kpageflags shows in block `id` (independent of the pool's own lists). */
function hugeHeadsIn(m: Model, id: number): number {
  let n = 0;
  for (let pfn = id * BLOCK_PAGES; pfn < (id + 1) * BLOCK_PAGES; pfn += 512) {
    const w = kpf(m, pfn);
    if (w & KPF_HUGE && w & KPF_HEAD) n++;
  }
  return n;
}

/**
 * The Normal block with the most huge pages among those holding nothing the kernel cannot
 * move (no memblock reservation, no allocation but HugeTLB folios): the subject of a test.
 */
function offlinable(m: Model): number {
  let best = -1;
  for (let b = 32; b < 40; b++) {
    const lo = b * BLOCK_PAGES;
    const hi = lo + BLOCK_PAGES;
    if (m.k.memblock.reserved.some((r) => r.startPfn < hi && r.endPfn > lo)) continue;
    let kernel = false;
    for (const [pfn, a] of m.k.buddy.allocations)
      if (pfn >= lo && pfn < hi && a.use !== "hugetlb") kernel = true;
    if (kernel) continue;
    if (best < 0 || hugeHeadsIn(m, b) > hugeHeadsIn(m, best)) best = b;
  }
  expect(best).toBeGreaterThanOrEqual(0);
  return best;
}

/** A 4 GiB machine with HVO on and a pool of n 2 MiB pages; a block that holds some of them. */
function hvoPool(n: number): { m: Model; id: number; inBlock: number } {
  const m = machine();
  m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  m.write(NR, String(n));
  m.settle();
  const id = offlinable(m);
  const inBlock = hugeHeadsIn(m, id);
  expect(inBlock).toBeGreaterThan(0);
  return { m, id, inBlock };
}

describe("the memory blocks of a machine", () => {
  it("a 4 GiB x86_64 machine: 128 MiB blocks 0-23 below the 3 GiB hole and 32-39 above 4 GiB", () => {
    const m = machine();
    // 3 GiB / 128 MiB = 24 blocks below the hole, 1 GiB / 128 MiB = 8 from 4 GiB (block 32).
    expect(m.read(`${MEM}/block_size_bytes`)).toBe("8000000\n");
    const ids = [...Array(24).keys(), ...Array.from({ length: 8 }, (_, i) => 32 + i)];
    expect(m.hotplug.ids()).toEqual(ids);
    expect(m.vfs.exists(`${MEM}/memory24/state`)).toBe(false);
    // Block 0 holds ZONE_DMA (below 16 MiB) and the start of ZONE_DMA32.
    expect(m.read(`${MEM}/memory0/valid_zones`)).toBe("none\n");
    expect(m.read(`${MEM}/memory1/valid_zones`)).toBe("DMA32\n");
    expect(m.read(`${MEM}/memory32/valid_zones`)).toBe("Normal\n");
    expect(m.read(`${MEM}/memory32/phys_index`)).toBe("00000020\n");
    expect(m.read(`${MEM}/memory32/state`)).toBe("online\n");
    expect(m.read(`${MEM}/memory32/online`)).toBe("1\n");
    expect(m.read(`${MEM}/memory32/removable`)).toBe("1\n");
    expect(m.read(`${MEM}/auto_online_blocks`)).toBe("offline\n");
  });

  it("block sizes: x86_64 128 MiB below 64 GiB and 2 GiB above; the section size elsewhere", () => {
    const m128 = () => machine(128 * GiB).read(`${MEM}/block_size_bytes`);
    const size = (preset: string, memoryBytes: number) =>
      memoryBlockSizeBytes(machinePreset(preset, { memoryBytes, nodes: 1 }));
    expect(size("x86_64", 32 * GiB)).toBe(2 ** 27);
    expect(size("x86_64", 128 * GiB)).toBe(2 * GiB);
    expect(m128()).toBe("80000000\n");
    expect(size("arm64-4k", 8 * GiB)).toBe(2 ** 27);
    expect(size("arm64-64k", 8 * GiB)).toBe(2 ** 29);
    expect(size("riscv64", 8 * GiB)).toBe(2 ** 27);
    expect(size("loongarch64", 8 * GiB)).toBe(2 ** 29);
  });
});

describe("writes to the memory-block files", () => {
  it("answer with the live kernel's errnos", () => {
    const m = machine();
    const w = (p: string, v: string) => errnoOf(() => m.write(`${MEM}/${p}`, v));
    // Already online: device_online() returns 1, state_store() makes it EINVAL (live).
    expect(w("memory32/state", "online")).toBe("EINVAL");
    expect(w("memory32/state", "online_kernel\n")).toBe("EINVAL");
    expect(w("memory32/state", "online_movable")).toBe("EINVAL");
    expect(w("memory32/state", "ONLINE")).toBe("EINVAL");
    expect(w("memory32/state", "1")).toBe("EINVAL");
    // online_store(): kstrtobool(), success when already in that state (live: e, T, on).
    for (const v of ["1", "e", "T", "on", "y"]) expect(w("memory32/online", v)).toBe(null);
    expect(w("memory32/online", "x")).toBe("EINVAL");
    expect(w("memory32/online", "2")).toBe("EINVAL");
    expect(w("auto_online_blocks", "bogus")).toBe("EINVAL");
    expect(w("memory32/phys_index", "1")).toBe("EACCES");
    expect(w("block_size_bytes", "1")).toBe("EACCES");
    expect(w("memory24/state", "offline")).toBe("ENOENT");
    // memory_block_offline(): a block across two zones has no zone.
    expect(w("memory0/state", "offline")).toBe("EINVAL");
    expect(m.read(`${MEM}/memory32/state`)).toBe("online\n");
  });

  it("auto_online_blocks takes the four policies", () => {
    const m = machine();
    for (const v of ["online", "online_kernel", "online_movable", "offline"]) {
      m.write(`${MEM}/auto_online_blocks`, `${v}\n`);
      expect(m.read(`${MEM}/auto_online_blocks`)).toBe(`${v}\n`);
    }
  });
});

describe("offlining and onlining a block", () => {
  it("dissolves its free huge pages, leaves MemTotal and kpageflags, and comes back", () => {
    const { m, id, inBlock } = hvoPool(256);
    const total = memTotalKb(m);
    // A free page of another block, to compare with the block's pages once back.
    const other = (id === 39 ? 38 : 39) * BLOCK_PAGES + 7;
    m.write(`${MEM}/memory${id}/state`, "offline\n");
    m.settle();
    expect(m.read(`${MEM}/memory${id}/state`)).toBe("offline\n");
    expect(m.read(`${MEM}/memory${id}/online`)).toBe("0\n");
    expect(m.read(`${MEM}/memory${id}/valid_zones`)).toBe("Normal Movable\n");
    expect(Number(m.read(NR))).toBe(256 - inBlock);
    // 128 MiB = 131072 kB leave the managed pages.
    expect(memTotalKb(m)).toBe(total - 131072);
    // kpage_read(): no online page, 0 (live 6.18: a hole reads 0 too).
    for (const pfn of [id * BLOCK_PAGES, id * BLOCK_PAGES + 4097, (id + 1) * BLOCK_PAGES - 1])
      expect(kpf(m, pfn)).toBe(0n);
    expect(allInvariants(m)).toEqual([]);

    m.write(`${MEM}/memory${id}/state`, "online");
    expect(m.read(`${MEM}/memory${id}/state`)).toBe("online\n");
    expect(memTotalKb(m)).toBe(total);
    expect(kpf(m, id * BLOCK_PAGES + 4097)).toBe(kpf(m, other));
    expect(allInvariants(m)).toEqual([]);
    // The pages are the buddy's again: the pool can grow back into them.
    m.write(NR, "256");
    m.settle();
    expect(Number(m.read(NR))).toBe(256);
    expect(allInvariants(m)).toEqual([]);
  });

  it("is EBUSY, changing nothing, while a huge page in the block is in use", () => {
    const m = machine();
    m.write(NR, "1");
    const head = [...m.pool.folios.keys()][0];
    const id = Math.floor(head / BLOCK_PAGES);
    new ModelSession(m).step({
      op: "map",
      id: "m0",
      size: "2M",
      n: 1,
      touch: 1,
      noreserve: 0,
      shared: 0,
    });
    const before = m.read("/proc/meminfo");
    expect(errnoOf(() => m.write(`${MEM}/memory${id}/state`, "offline"))).toBe("EBUSY");
    expect(m.read(`${MEM}/memory${id}/state`)).toBe("online\n");
    expect(m.read("/proc/meminfo")).toBe(before);
  });

  it("is EBUSY for a block that holds boot memory the kernel keeps (the memmap)", () => {
    const m = machine();
    const r = m.k.memblock.reserved.find((x) => x.use === "vmemmap");
    expect(r).toBeDefined();
    const id = Math.floor((r as { startPfn: number }).startPfn / BLOCK_PAGES);
    expect(errnoOf(() => m.write(`${MEM}/memory${id}/state`, "offline"))).toBe("EBUSY");
  });

  it("fails with ENOMEM when HVO cannot restore a folio's vmemmap, the block staying online", () => {
    const { m, id, inBlock } = hvoPool(64);
    m.k.faults.add({ site: "alloc_vmemmap_page_list", fromNth: 1 });
    expect(errnoOf(() => m.write(`${MEM}/memory${id}/state`, "offline"))).toBe("ENOMEM");
    expect(m.read(`${MEM}/memory${id}/state`)).toBe("online\n");
    // The first folio could not be restored: it was put back, nothing was dissolved.
    expect(hugeHeadsIn(m, id)).toBe(inBlock);
    expect(Number(m.read(NR))).toBe(64);
    expect(allInvariants(m)).toEqual([]);
  });
});

describe("memory failure (CONFIG_MEMORY_FAILURE)", () => {
  const H = `${MEM}/hard_offline_page`;
  const S = `${MEM}/soft_offline_page`;
  const corrupted = (m: Model) =>
    Number(/HardwareCorrupted:\s+(\d+) kB/.exec(m.read("/proc/meminfo"))?.[1]);
  const addr = (pfn: number) => `0x${(pfn * 4096).toString(16)}`;

  it("a free huge page is dissolved and its raw page taken off; marked pages answer EHWPOISON", () => {
    const m = machine();
    m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
    m.write(NR, "8");
    const head = [...m.pool.folios.keys()][0];
    const w = (f: string, v: string) => errnoOf(() => m.write(f, v));
    expect(w(H, addr(head + 5))).toBe(null);
    expect(Number(m.read(NR))).toBe(7);
    expect(corrupted(m)).toBe(4);
    // KPF_HWPOISON (bit 19) on the raw page, which no longer is the buddy's.
    expect((kpf(m, head + 5) >> 19n) & 1n).toBe(1n);
    expect(m.k.buddy.isFree(head + 5)).toBe(false);
    expect(w(H, addr(head + 5))).toBe("EHWPOISON");
    // Another page of the dissolved folio is a free buddy page now: taken off too.
    expect(w(H, addr(head + 2))).toBe(null);
    expect(corrupted(m)).toBe(8);
    // soft_offline_page of a page already poisoned: 0, nothing more.
    expect(w(S, addr(head + 2))).toBe(null);
    expect(corrupted(m)).toBe(8);
    expect(allInvariants(m)).toEqual([]);
  });

  it("the kernel's own pages are marked but stay (EBUSY; soft offline EIO); parse and range errors", () => {
    const m = machine();
    const w = (f: string, v: string) => errnoOf(() => m.write(f, v));
    expect(w(S, addr(0))).toBe("EIO");
    expect(w(H, addr(0))).toBe("EBUSY");
    expect(corrupted(m)).toBe(4);
    expect(w(H, addr(0))).toBe("EHWPOISON");
    // Past the end of memory (5 GiB on this machine): not the kernel's.
    expect(w(H, addr(0x200000))).toBe("EBUSY");
    expect(w(S, addr(0x200000))).toBe("ENXIO");
    expect(w(H, "abc")).toBe("EINVAL");
    expect(w(H, " 0x1000")).toBe("EINVAL");
    expect(corrupted(m)).toBe(4);
    expect(errnoOf(() => m.read(H))).toBe("EACCES");
    // kstrtoull(buf, 0): decimal, hexadecimal and octal name the same page (pfn 1, free: soft
    // offline takes it once, then finds it poisoned).
    expect([w(S, "4096"), w(S, "0x1000"), w(S, "010000")]).toEqual([null, null, null]);
    expect(corrupted(m)).toBe(8);
  });

  it("a pfn of an offlined block: ENXIO, EIO; a block offlined with a poisoned page stays offline", () => {
    const m = machine();
    const id = offlinable(m);
    const w = (f: string, v: string) => errnoOf(() => m.write(f, v));
    // A free page of the block, poisoned: offlining skips it, onlining is refused.
    expect(w(H, addr(id * BLOCK_PAGES + 9))).toBe(null);
    expect(w(`${MEM}/memory${id}/state`, "offline")).toBe(null);
    expect(w(H, addr(id * BLOCK_PAGES + 3))).toBe("ENXIO");
    expect(w(S, addr(id * BLOCK_PAGES + 3))).toBe("EIO");
    expect(w(`${MEM}/memory${id}/state`, "online")).toBe("EHWPOISON");
    expect(allInvariants(m)).toEqual([]);
  });

  it("a kernel built without it (this machine's host preset) has neither file nor counter", () => {
    const spec = {
      ...machinePreset("x86_64", { memoryBytes: 4 * GiB, nodes: 1 }),
      memoryFailure: false,
    };
    const m = bootModel(spec, "mainline");
    expect(m.vfs.exists(H)).toBe(false);
    expect(m.read("/proc/meminfo")).not.toMatch(/HardwareCorrupted/);
  });
});
