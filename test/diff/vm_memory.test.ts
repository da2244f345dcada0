// Memory blocks on Linux 7.2 in a QEMU guest against the model of the same guest
// (vmMachineSpec(), mainline design): the blocks' files at boot, then every block offlined from
// the top down and onlined again - without huge pages, and with HVO on and a pool of 400 2 MiB
// pages that offlining dissolves. The guest is disposable, so unlike the host it may lose
// memory. Expected values are what 7.2 answered. The model takes what the guest's kernel holds
// after boot from its first look (MemFree, and the free pages of its Unmovable blocks in
// /proc/pagetypeinfo), so that HVO's vmemmap pages land in the kernel's own blocks on both sides
// and not in a block the sweep offlines.
//
// Needs QEMU, busybox-static, zstd, gcc and the Debian 7.2 kernel; skips with the reason
// elsewhere.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KernelError } from "../../src/include/errno.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import {
  guestFreeUnmovablePages,
  calibratedToGuest,
  vmMachineSpec,
} from "../../src/live/vm/machine.ts";
import { type BootedVm, openVm, shutdown } from "../../src/live/vm/run.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { vmPiecesUnavailable } from "../vm/pieces.ts";

const MEM = "/sys/devices/system/memory";
const NR = "/proc/sys/vm/nr_hugepages";
const FILES = ["state", "online", "phys_index", "phys_device", "removable", "valid_zones"];

let unavailable: string | null = null;
let vm: BootedVm | null = null;
/**
 * The model of the guest, calibrated from the guest's first look after boot as `hvo diff` does
 * (guestOtherUsedPages()): the pages the rest of the kernel holds, and the free pages its
 * unmovable blocks keep (/proc/pagetypeinfo), where the kernel's next unmovable pages (HVO's
 * vmemmap) go instead of a block that could be offlined.
 */
let spec: MachineSpec = vmMachineSpec({ memoryBytes: 2 * 2 ** 30, nodes: 1 });

beforeAll(async () => {
  unavailable = await vmPiecesUnavailable("test/diff/vm_memory");
  if (unavailable) return;
  vm = await openVm({ memory: "2G", nodes: 1 });
  const meminfo = await guestRead("/proc/meminfo");
  const vmstat = await guestRead("/proc/vmstat");
  const field = (text: string, re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : null;
  };
  spec = calibratedToGuest(spec, {
    MemFree_kB: field(meminfo, /MemFree:\s+(\d+)/),
    nr_memmap_pages: field(vmstat, /^nr_memmap_pages (\d+)$/m),
    nr_memmap_boot_pages: field(vmstat, /^nr_memmap_boot_pages (\d+)$/m),
    Hugetlb_kB: field(meminfo, /Hugetlb:\s+(\d+)/),
  });
  const spare = guestFreeUnmovablePages(spec, await guestRead("/proc/pagetypeinfo"));
  if (spec.otherUsedPages && spare) spec = { ...spec, otherFreeUnmovablePages: spare };
}, 600_000);

afterAll(async () => {
  if (vm) await shutdown(vm);
});

async function guestRead(path: string): Promise<string> {
  const r = await (vm as BootedVm).ch.request("read", { path });
  return r.ok && r.rc === 0 ? String(r.text) : `error ${r.code}`;
}

async function guestWrite(path: string, value: string): Promise<string> {
  const r = await (vm as BootedVm).ch.request("write", { path, value });
  return r.rc === 0 ? "ok" : String(r.code);
}

function modelWrite(m: Model, path: string, value: string): string {
  try {
    m.write(path, value);
    m.settle();
    return "ok";
  } catch (e) {
    if (e instanceof KernelError) return e.code;
    throw e;
  }
}

const memTotal = (text: string) => Number(/MemTotal:\s+(\d+)/.exec(text)?.[1]);

interface BlockRow {
  block: string;
  offline: string;
  memTotalDrop: number;
  zonesOffline: string;
  dissolved: number;
  online: string;
}

/** Offlines every block from the top down, then onlines those that went, on one side. */
async function sweep(
  ids: number[],
  side: {
    read: (p: string) => Promise<string> | string;
    write: (p: string, v: string) => Promise<string> | string;
  },
): Promise<BlockRow[]> {
  const rows: BlockRow[] = [];
  for (const id of [...ids].reverse()) {
    const p = `${MEM}/memory${id}`;
    const total = memTotal(await side.read("/proc/meminfo"));
    const nr = Number(await side.read(NR));
    const offline = await side.write(`${p}/state`, "offline");
    rows.push({
      block: `memory${id}`,
      offline,
      memTotalDrop: total - memTotal(await side.read("/proc/meminfo")),
      zonesOffline: (await side.read(`${p}/valid_zones`)).trim(),
      dissolved: nr - Number(await side.read(NR)),
      online: "",
    });
  }
  for (const row of rows)
    if (row.offline === "ok") row.online = await side.write(`${MEM}/${row.block}/state`, "online");
  return rows;
}

describe("memory blocks: Linux 7.2 (2 GiB guest) against its model", () => {
  it("has the same blocks, each file reading the same", async (ctx) => {
    if (!vm) return ctx.skip();
    const m = bootModel(spec, "mainline");
    const listing = await vm.ch.request("read", { path: `${MEM}/block_size_bytes` });
    expect(m.read(`${MEM}/block_size_bytes`)).toBe(String(listing.text));
    const diffs: string[] = [];
    for (const id of m.hotplug.ids())
      for (const f of FILES) {
        const p = `${MEM}/memory${id}/${f}`;
        const want = await guestRead(p);
        if (m.read(p) !== want)
          diffs.push(`${p}: 7.2 ${JSON.stringify(want)}, model ${JSON.stringify(m.read(p))}`);
      }
    // The block past the last one does not exist in either.
    const past = `${MEM}/memory${m.hotplug.ids().length}/state`;
    expect(await guestRead(past)).toBe("error ENOENT");
    expect(m.vfs.exists(past)).toBe(false);
    expect(diffs).toEqual([]);
  }, 120_000);

  it("offlines and onlines the same blocks with the same errnos, MemTotal and zones", async (ctx) => {
    if (!vm) return ctx.skip();
    const m = bootModel(spec, "mainline");
    const ids = m.hotplug.ids();
    const guest = await sweep(ids, { read: guestRead, write: guestWrite });
    const model = await sweep(ids, {
      read: (p) => m.read(p),
      write: (p, v) => modelWrite(m, p, v),
    });
    expect(model).toEqual(guest);
    // memory0 spans ZONE_DMA and ZONE_DMA32, the last block ends in a hole: EINVAL in both.
    expect(guest.find((r) => r.block === "memory0")?.offline).toBe("EINVAL");
    // Each block that went took 128 MiB out of MemTotal.
    for (const r of guest.filter((x) => x.offline === "ok")) expect(r.memTotalDrop).toBe(131072);
  }, 300_000);

  it("with HVO on, offlining dissolves the pool's free pages, block by block, with the same errnos", async (ctx) => {
    if (!vm) return ctx.skip();
    const m = bootModel(spec, "mainline");
    const ids = m.hotplug.ids();
    for (const [p, v] of [
      ["/proc/sys/vm/hugetlb_optimize_vmemmap", "1"],
      [NR, "400"],
    ]) {
      expect(await guestWrite(p, v)).toBe("ok");
      expect(modelWrite(m, p, v)).toBe("ok");
    }
    expect(Number(await guestRead(NR))).toBe(400);
    expect(Number(m.read(NR))).toBe(400);
    const guest = await sweep(ids, { read: guestRead, write: guestWrite });
    const model = await sweep(ids, {
      read: (p) => m.read(p),
      write: (p, v) => modelWrite(m, p, v),
    });
    const pick = (rows: BlockRow[]) => rows.map((r) => `${r.block} ${r.offline} ${r.online}`);
    expect(pick(model)).toEqual(pick(guest));
    // A 128 MiB block holds at most 64 huge pages; what each side dissolved is what left its pool.
    for (const side of [guest, model]) {
      for (const r of side) expect(r.dissolved).toBeLessThanOrEqual(64);
      expect(side.filter((r) => r.dissolved === 64).length).toBeGreaterThanOrEqual(5);
    }
    expect(400 - model.reduce((s, r) => s + r.dissolved, 0)).toBe(Number(m.read(NR)));
    expect(400 - guest.reduce((s, r) => s + r.dissolved, 0)).toBe(Number(await guestRead(NR)));
    await guestWrite(NR, "0");
  }, 300_000);

  it("hard_offline_page and soft_offline_page answer alike, marking and dissolving alike", async (ctx) => {
    if (!vm) return ctx.skip();
    const m = bootModel(spec, "mainline");
    const H = `${MEM}/hard_offline_page`;
    const S = `${MEM}/soft_offline_page`;
    for (const [p, v] of [
      ["/proc/sys/vm/hugetlb_optimize_vmemmap", "1"],
      [NR, "8"],
    ]) {
      expect(await guestWrite(p, v)).toBe("ok");
      expect(modelWrite(m, p, v)).toBe("ok");
    }
    // A free huge page on each side whose next 2 MiB is a free huge page too (the steps at
    // h + 512 + 7 need one): the guest's found by mapping all 8 and letting them go.
    const kpf = await vm.ch.request("kpf", { size: "2M", n: 8 });
    const withNext = (pfns: number[]) => {
      const set = new Set(pfns);
      return Math.min(...pfns.filter((p) => set.has(p + 512)));
    };
    const guestHuge = withNext((kpf.pages as Array<{ pfn: number }>).map((p) => Number(p.pfn)));
    const modelHuge = withNext(
      [...m.pool.folios].filter(([, i]) => i.list === "free").map(([pfn]) => pfn),
    );
    expect(Number.isFinite(guestHuge) && Number.isFinite(modelHuge)).toBe(true);
    const addr = (pfn: number) => `0x${(pfn * 4096).toString(16)}`;
    // Block 10 (1.25 GiB) goes offline on both sides first; 4 GiB is past the end of memory.
    expect(await guestWrite(`${MEM}/memory10/state`, "offline")).toBe("ok");
    expect(modelWrite(m, `${MEM}/memory10/state`, "offline")).toBe("ok");
    const steps: Array<[string, (huge: number) => string]> = [
      [H, () => "abc"],
      [H, (h) => ` ${addr(h + 5)}`],
      [H, (h) => addr(h + 5)],
      [H, (h) => `${(h + 5) * 4096}\n`],
      [H, () => addr(0)],
      [H, () => addr(0)],
      [H, () => addr(0x100000)],
      [H, () => addr(10 * 32768 + 3)],
      [H, (h) => addr(h + 2)],
      [S, (h) => addr(h + 512 + 7)],
      [S, (h) => addr(h + 512 + 7)],
      [H, (h) => addr(h + 512 + 7)],
      [S, () => addr(0)],
      [S, () => addr(0x100000)],
      [S, () => addr(10 * 32768 + 3)],
      [S, () => "abc"],
    ];
    const counters = (meminfo: string, nr: string) =>
      `HardwareCorrupted ${/HardwareCorrupted:\s+(\d+)/.exec(meminfo)?.[1]} kB, nr_hugepages ${nr.trim()}`;
    const guest: string[] = [];
    const model: string[] = [];
    for (const [file, value] of steps) {
      const g = await guestWrite(file, value(guestHuge));
      guest.push(
        `${file.slice(MEM.length + 1)} ${g}: ${counters(await guestRead("/proc/meminfo"), await guestRead(NR))}`,
      );
      const mo = modelWrite(m, file, value(modelHuge));
      model.push(
        `${file.slice(MEM.length + 1)} ${mo}: ${counters(m.read("/proc/meminfo"), m.read(NR))}`,
      );
    }
    expect(model).toEqual(guest);
    // The block offlined with no poisoned page comes back on both sides.
    expect(await guestWrite(`${MEM}/memory10/state`, "online")).toBe("ok");
    expect(modelWrite(m, `${MEM}/memory10/state`, "online")).toBe("ok");
  }, 300_000);
});
