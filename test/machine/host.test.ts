// The host preset against this machine's live layout. The expectation for the boot memmap is
// derived from /sys (memory blocks), never from the model. Runs for any user.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { memmapPagesPerSection } from "../../src/machine/layout.ts";
import {
  hostCpuFeatures,
  hostHugepageSizesKb,
  hostMachine,
  hostPresentSections,
  hostZoneinfo,
  specPresentSections,
} from "../../src/live/host.ts";
import { hostSkipReason, skippedBecause } from "./host_skip.ts";

const hostSkip = hostSkipReason();
// HVO that touched the boot memmap moves pages from nr_memmap_boot_pages to nr_memmap_pages:
// the boot count then no longer shows the sections alone.
const vmstat = existsSync("/proc/vmstat") ? readFileSync("/proc/vmstat", "utf8") : "";
const hostFlags = hostCpuFeatures();
const liveHstatesKb = hostHugepageSizesKb();
const runtimeMemmap = Number(/^nr_memmap_pages (\d+)/m.exec(vmstat)?.[1] ?? "0");

describe.skipIf(hostSkip !== null)(`host preset${skippedBecause(hostSkip)}`, () => {
  it("has exactly the present sections the kernel populated", () => {
    const spec = hostMachine();
    const liveSections = hostPresentSections();
    expect(liveSections).not.toBeNull();
    expect(specPresentSections(spec)).toBe(liveSections);
    // Each 128 MiB section's memmap is 128 MiB / 4 KiB * 64 B = 2 MiB = 512 pages.
    expect(memmapPagesPerSection(spec.arch, 64)).toBe(512);
  });

  // A step this host cannot check is skipped with the reason in its name.
  const why = (skip: boolean, reason: string) => (skip ? ` (skipped: ${reason})` : "");

  it.skipIf(runtimeMemmap !== 0)(
    `matches nr_memmap_boot_pages while no HVO has touched the boot memmap${why(runtimeMemmap !== 0, `nr_memmap_pages is ${runtimeMemmap}, HVO or hotplug has run on this host`)}`,
    () => {
      const boot = Number(/^nr_memmap_boot_pages (\d+)/m.exec(vmstat)?.[1]);
      expect(hostPresentSections()! * 512).toBe(boot);
    },
  );

  it.skipIf(hostFlags === null)(
    `has the CPU features of /proc/cpuinfo (pdpe1gb: gbpages)${why(hostFlags === null, "/proc/cpuinfo has no flags line")}`,
    () => {
      expect(hostMachine().cpu).toEqual(hostFlags);
    },
  );

  it.skipIf(liveHstatesKb.length === 0)(
    `has exactly the hstates of /sys/kernel/mm/hugepages${why(liveHstatesKb.length === 0, "the kernel has no HugeTLB")}`,
    () => {
      const spec = hostMachine();
      const kb = spec.arch.hstateOrders.map((o) => 2 ** (o + spec.arch.pageShift) / 1024);
      expect(kb.sort((a, b) => a - b)).toEqual(liveHstatesKb);
    },
  );

  it("zones and nodes come from /proc/zoneinfo and sysfs", () => {
    const spec = hostMachine();
    const live = hostZoneinfo();
    expect(spec.nodes.map((n) => n.nid)).toEqual([...new Set(live.map((z) => z.nid))].sort());
    for (const z of live) {
      const node = spec.nodes[z.nid];
      expect(node.zones).toContainEqual({
        type: z.type,
        startPfn: z.startPfn,
        endPfn: z.startPfn + z.spanned,
      });
    }
    // The ranges are memblock's for any user (root reads /proc/iomem, others the firmware map
    // clipped to the zones): present counts agree page for page.
    for (const node of spec.nodes) {
      for (const z of node.zones) {
        const present = node.ranges.reduce(
          (s, r) =>
            s + Math.max(0, Math.min(r.endPfn, z.endPfn) - Math.max(r.startPfn, z.startPfn)),
          0,
        );
        const liveZone = live.find((l) => l.nid === node.nid && l.type === z.type)!;
        expect(present, `${z.type}`).toBe(liveZone.present);
      }
    }
    expect(spec.cmdline).toBe(readFileSync("/proc/cmdline", "utf8").trim());
    expect(spec.otherUsedPages).toHaveLength(spec.nodes.length);
  });
});
