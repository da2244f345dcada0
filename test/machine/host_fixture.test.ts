// The `host` machine read from fixture trees (HostPaths.root) of hosts unlike this one: a CPU
// without 1 GiB pages, and the view of a user without CAP_SYS_ADMIN. Expected values come from
// the kernel's rules and the fixture's own numbers, worked out in the comments:
//   arch/x86/mm/hugetlbpage.c  arch_hugetlb_valid_size(): PUD_SIZE only with X86_FEATURE_GBPAGES;
//                              gigantic_pages_init(): the PUD hstate only with it
//   mm/hugetlb.c               hugepagesz_setup(): pr_err "HugeTLB: unsupported hugepagesz=%s";
//                              hugepages_setup(): pr_warn "HugeTLB: hugepages=%s does not follow
//                              a valid hugepagesz, ignoring"; default_hugepagesz_setup(): pr_err
//                              "HugeTLB: unsupported default_hugepagesz=%s"
//   kernel/resource.c          r_show(): addresses print as 0 without CAP_SYS_ADMIN
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ENOENT, KernelError } from "../../src/include/errno.ts";
import {
  hostCpuFeatures,
  hostHugepageSizesKb,
  hostMachine,
  type HostPaths,
} from "../../src/live/host.ts";
import { MachineError } from "../../src/machine/layout.ts";
import { bootModel } from "../../src/model.ts";
import { buildReport } from "../../src/report/report.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";

// An 8 GiB PC: e820 RAM 0x1000-0x9fbff, 1 MiB-2 GiB, 4 GiB-10 GiB.
//   pfns [1, 0x9f) [0x100, 0x80000) [0x100000, 0x280000)
//   zones: DMA   [1, 4096)         present (0x9f - 1) + (4096 - 0x100) = 158 + 3840 = 3998
//          DMA32 [4096, 0x100000)  present 0x80000 - 4096 = 520192 (spanned 1044480)
//          Normal [0x100000, 0x280000) present = spanned = 1572864
//   128 MiB memory blocks: 0-15 (0-2 GiB) and 32-79 (4-10 GiB): 64 present sections.
const RAM_PFNS = [
  { startPfn: 1, endPfn: 0x9f },
  { startPfn: 0x100, endPfn: 0x80000 },
  { startPfn: 0x100000, endPfn: 0x280000 },
];
const ZONES = [
  { type: "DMA", startPfn: 1, endPfn: 4096 },
  { type: "DMA32", startPfn: 4096, endPfn: 0x100000 },
  { type: "Normal", startPfn: 0x100000, endPfn: 0x280000 },
];
const IOMEM_ROOT = [
  "00000000-00000fff : Reserved",
  "00001000-0009fbff : System RAM",
  "0009fc00-0009ffff : Reserved",
  "000f0000-000fffff : Reserved",
  "00100000-7fffffff : System RAM",
  "fec00000-fec003ff : Reserved",
  "100000000-27fffffff : System RAM",
  "",
].join("\n");
// What a user without CAP_SYS_ADMIN reads from the same kernel.
const IOMEM_USER = IOMEM_ROOT.replace(/^[0-9a-f]+-[0-9a-f]+/gm, "00000000-00000000");
// The firmware's e820 map: RAM from 0 (the kernel reserves the first page afterwards).
const FIRMWARE_MEMMAP = [
  ["0x0", "0x9fbff", "System RAM"],
  ["0x9fc00", "0x9ffff", "Reserved"],
  ["0xf0000", "0xfffff", "Reserved"],
  ["0x100000", "0x7fffffff", "System RAM"],
  ["0x100000000", "0x27fffffff", "System RAM"],
];
const ZONEINFO = `Node 0, zone      DMA
  pages free     3840
        min      8
  spanned  4095
  present  3998
  managed  3840
  start_pfn:           1
Node 0, zone    DMA32
  pages free     500000
  spanned  1044480
  present  520192
  managed  510000
  start_pfn:           4096
Node 0, zone   Normal
  pages free     1500000
  spanned  1572864
  present  1572864
  managed  1550000
  start_pfn:           1048576
Node 0, zone  Movable
  pages free     0
  spanned  0
  present  0
  managed  0
  start_pfn:           0
`;
// A CPU of the usual kind without 1 GiB pages: pse, pse36, no pdpe1gb.
const CPUINFO_NO_GB = `processor\t: 0
vendor_id\t: GenuineIntel
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx rdtscp lm constant_tsc
`;

interface Fixture {
  iomem: string;
  firmwareMemmap: boolean;
  cpuinfo: string;
  hugepageKb: number[];
  cmdline: string;
  /** Memory blocks that are offline (their online file reads 0). */
  offline?: number[];
  zoneinfo?: string;
}

const made: string[] = [];

function fixture(f: Fixture): HostPaths {
  const root = mkdtempSync(join(tmpdir(), "hvo-host-"));
  made.push(root);
  const put = (path: string, text: string) => {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  put("/proc/iomem", f.iomem);
  put("/proc/zoneinfo", f.zoneinfo ?? ZONEINFO);
  put("/proc/cpuinfo", f.cpuinfo);
  put("/proc/cmdline", `${f.cmdline}\n`);
  put("/proc/meminfo", "MemTotal:        8000000 kB\nMemFree:         7000000 kB\n");
  put("/proc/vmstat", "nr_memmap_pages 0\nnr_memmap_boot_pages 32768\n");
  put("/proc/self/smaps", "KernelPageSize:        4 kB\n");
  put("/sys/devices/system/memory/block_size_bytes", "8000000\n");
  for (const b of [...Array(16).keys(), ...Array.from({ length: 48 }, (_, i) => 32 + i)]) {
    put(`/sys/devices/system/memory/memory${b}/online`, f.offline?.includes(b) ? "0\n" : "1\n");
    mkdirSync(join(root, `/sys/devices/system/memory/memory${b}/node0`));
  }
  for (const kB of f.hugepageKb) {
    put(`/sys/kernel/mm/hugepages/hugepages-${kB}kB/nr_hugepages`, "0\n");
  }
  if (f.firmwareMemmap) {
    FIRMWARE_MEMMAP.forEach(([start, end, type], i) => {
      put(`/sys/firmware/memmap/${i}/start`, `${start}\n`);
      put(`/sys/firmware/memmap/${i}/end`, `${end}\n`);
      put(`/sys/firmware/memmap/${i}/type`, `${type}\n`);
    });
  }
  return { root };
}

afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

const CPUINFO_GB = `${CPUINFO_NO_GB.trimEnd()} pdpe1gb\n`;

const noGbRoot = (cmdline = "ro quiet"): HostPaths =>
  fixture({
    iomem: IOMEM_ROOT,
    firmwareMemmap: true,
    cpuinfo: CPUINFO_NO_GB,
    hugepageKb: [2048],
    cmdline,
  });

/** The same host with a CPU that has 1 GiB pages: the control. */
const gbRoot = (cmdline = "ro quiet"): HostPaths =>
  fixture({
    iomem: IOMEM_ROOT,
    firmwareMemmap: true,
    cpuinfo: CPUINFO_GB,
    hugepageKb: [2048, 1048576],
    cmdline,
  });

function errnoOf(fn: () => unknown): number | null {
  try {
    fn();
  } catch (e) {
    if (e instanceof KernelError) return e.errno;
    throw e;
  }
  return null;
}

const H1G = "/sys/kernel/mm/hugepages/hugepages-1048576kB";
const H2M = "/sys/kernel/mm/hugepages/hugepages-2048kB";

describe("a host whose CPU has no 1 GiB pages (no pdpe1gb)", () => {
  it("is read as a CPU without GBPAGES, with the kernel's layout", () => {
    const paths = noGbRoot();
    expect(hostCpuFeatures(paths)).toEqual({ gbpages: false });
    const spec = hostMachine(paths);
    expect(spec.cpu).toEqual({ gbpages: false });
    expect(spec.nodes).toHaveLength(1);
    expect(spec.nodes[0].ranges).toEqual(RAM_PFNS);
    expect(spec.nodes[0].zones).toEqual(ZONES);
  });

  it("without a flags line in /proc/cpuinfo, goes by the kernel's own hstates", () => {
    // No flags to read (an unusual kernel): the hugepages-1048576kB directory exists exactly
    // when the kernel found GBPAGES.
    for (const [kbs, gbpages] of [
      [[2048], false],
      [[2048, 1048576], true],
    ] as const) {
      const paths = fixture({
        iomem: IOMEM_ROOT,
        firmwareMemmap: true,
        cpuinfo: "processor\t: 0\n",
        hugepageKb: [...kbs],
        cmdline: "ro",
      });
      expect(hostCpuFeatures(paths)).toBeNull();
      expect(hostMachine(paths).cpu).toEqual({ gbpages });
    }
  });

  it("boots with the 2 MiB hstate only, as the host's sysfs lists", () => {
    const paths = noGbRoot();
    const m = bootModel(hostMachine(paths), "mainline");
    expect(hostHugepageSizesKb(paths)).toEqual([2048]);
    expect(m.pool.hstatesBySize().map((h) => h.sizeKb)).toEqual(hostHugepageSizesKb(paths));
    expect(m.vfs.exists(`${H2M}/nr_hugepages`)).toBe(true);
    expect(m.vfs.exists(H1G)).toBe(false);
    expect(m.read("/proc/meminfo")).toMatch(/^Hugepagesize:\s+2048 kB$/m);
  });

  it("reports exactly the host's hstates", () => {
    const paths = noGbRoot();
    const r = buildReport(hostMachine(paths), { design: "mainline", measure: false });
    expect(r.hstates.map((h) => h.size_kb)).toEqual(hostHugepageSizesKb(paths));
    expect(r.platform.cpu).toEqual({ gbpages: false });
  });

  it("ignores hugepagesz=1G and its hugepages= with the kernel's messages", () => {
    const paths = noGbRoot("ro hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=3");
    const m = bootModel(hostMachine(paths), "legacy");
    expect(m.k.log).toContainEqual({ level: "err", text: "HugeTLB: unsupported hugepagesz=1G" });
    expect(m.k.log).toContainEqual({
      level: "warn",
      text: "HugeTLB: hugepages=2 does not follow a valid hugepagesz, ignoring",
    });
    // The 2M request after it stands: 3 pages of 2048 kB.
    const meminfo = m.read("/proc/meminfo");
    expect(meminfo).toMatch(/^HugePages_Total:\s+3$/m);
    expect(meminfo).toMatch(/^Hugetlb:\s+6144 kB$/m);
    // Control: the same command line on a CPU with GBPAGES gets its two 1 GiB pages.
    const withGb = bootModel(
      hostMachine(gbRoot("ro hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=3")),
      "legacy",
    );
    expect(withGb.read(`${H1G}/nr_hugepages`)).toBe("2\n");
    expect(withGb.k.log.map((l) => l.text)).not.toContain("HugeTLB: unsupported hugepagesz=1G");
  });

  it("refuses default_hugepagesz=1G and keeps 2 MiB as the default size", () => {
    const m = bootModel(hostMachine(noGbRoot("default_hugepagesz=1G hugepages=4")), "mainline");
    expect(m.k.log).toContainEqual({
      level: "err",
      text: "HugeTLB: unsupported default_hugepagesz=1G",
    });
    expect(m.k.log).toContainEqual({
      level: "warn",
      text: "HugeTLB: hugepages=4 does not follow a valid hugepagesz, ignoring",
    });
    const meminfo = m.read("/proc/meminfo");
    expect(meminfo).toMatch(/^Hugepagesize:\s+2048 kB$/m);
    expect(meminfo).toMatch(/^HugePages_Total:\s+0$/m);
  });

  it("answers a write to the 1 GiB files with ENOENT (2), as the live kernel's VFS does", () => {
    const m = bootModel(hostMachine(noGbRoot()), "mainline");
    expect(errnoOf(() => m.write(`${H1G}/nr_hugepages`, "1"))).toBe(ENOENT);
    expect(errnoOf(() => m.write(`${H1G}/nr_overcommit_hugepages`, "1"))).toBe(ENOENT);
    expect(
      errnoOf(() =>
        m.write(`/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/nr_hugepages`, "1"),
      ),
    ).toBe(ENOENT);
    expect(errnoOf(() => m.write(`${H2M}/nr_hugepages`, "1"))).toBeNull();
  });

  it("gives a scenario step on 1G the step result rc -1, errno ENOENT", () => {
    const m = bootModel(hostMachine(noGbRoot()), "mainline");
    const file = parseScenarioFile({
      format: "hvo-scenario/1",
      scenarios: [
        {
          id: "one-gig",
          steps: [
            { op: "nr", size: "1G", value: 1 },
            { op: "nr", size: "2M", value: 2 },
          ],
        },
      ],
    });
    const steps = runModel(m, file).scenarios["one-gig"].steps;
    expect(steps[0]).toMatchObject({ rc: -1, errno: ENOENT, code: "ENOENT" });
    expect(steps[1]).toMatchObject({ rc: 0, errno: 0 });
  });
});

describe("the host as a user without CAP_SYS_ADMIN sees it", () => {
  const user = (firmwareMemmap: boolean): HostPaths =>
    fixture({
      iomem: IOMEM_USER,
      firmwareMemmap,
      cpuinfo: CPUINFO_GB,
      hugepageKb: [2048, 1048576],
      cmdline: "ro",
    });

  it("gets the same layout as root from the firmware map and /proc/zoneinfo", () => {
    const spec = hostMachine(user(true));
    expect(spec.nodes[0].ranges).toEqual(RAM_PFNS);
    expect(spec.nodes[0].zones).toEqual(ZONES);
    expect(spec.cpu).toEqual({ gbpages: true });
  });

  it("boots cleanly, with the memmap of 64 present sections", () => {
    const m = bootModel(hostMachine(user(true)), "legacy");
    // 64 sections x (32768 struct pages x 64 B / 4096 B) = 64 x 512 = 32768 pages.
    expect(m.k.vmstat.nrMemmapBootPages).toBe(64 * 512);
    expect(m.pool.hstatesBySize().map((h) => h.sizeKb)).toEqual([2048, 1048576]);
  });

  it("leaves out an offlined memory block, as the zone's present count does", () => {
    // Block 79 is pfns [79 x 32768, 80 x 32768) = [0x278000, 0x280000): offline_pages() takes
    // its 32768 pages off ZONE_NORMAL's present count (1572864 - 32768 = 1540096) and, the block
    // being the zone's top, shrinks the zone's span by as much (shrink_zone_span()).
    const spec = hostMachine(
      fixture({
        iomem: IOMEM_USER,
        firmwareMemmap: true,
        cpuinfo: CPUINFO_GB,
        hugepageKb: [2048, 1048576],
        cmdline: "ro",
        offline: [79],
        zoneinfo: ZONEINFO.replace(
          "spanned  1572864\n  present  1572864",
          "spanned  1540096\n  present  1540096",
        ),
      }),
    );
    expect(spec.nodes[0].ranges).toEqual([
      { startPfn: 1, endPfn: 0x9f },
      { startPfn: 0x100, endPfn: 0x80000 },
      { startPfn: 0x100000, endPfn: 0x278000 },
    ]);
    expect(spec.nodes[0].zones[2]).toEqual({
      type: "Normal",
      startPfn: 0x100000,
      endPfn: 0x278000,
    });
  });

  it("says plainly what it cannot read when only the memory blocks are left", () => {
    // Blocks are 128 MiB: they cover pfn 0 and the 640 KiB-1 MiB hole, so zone DMA would hold
    // 4095 pages where the kernel counts 3998: no guessing, a one-line MachineError.
    let err: unknown = null;
    try {
      hostMachine(user(false));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MachineError);
    const msg = (err as Error).message;
    expect(msg).not.toContain("\n");
    expect(msg).toContain("/proc/iomem");
    expect(msg).toContain("zone DMA 4095 present pages where /proc/zoneinfo says 3998");
  });
});
