// The host preset against this machine's live layout. The expectation for the boot memmap is
// derived from /sys (memory blocks), never from the model.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { memmapPagesPerSection } from "../../src/machine/layout.ts";
import {
  hostIomemRam,
  hostMachine,
  hostPresentSections,
  hostZoneinfo,
  specPresentSections,
} from "../../src/live/host.ts";

const hasMemoryBlocks = existsSync("/sys/devices/system/memory/block_size_bytes");

describe.skipIf(!hasMemoryBlocks)("host preset", () => {
  it("has exactly the present sections the kernel populated", () => {
    const spec = hostMachine();
    const liveSections = hostPresentSections();
    expect(liveSections).not.toBeNull();
    expect(specPresentSections(spec)).toBe(liveSections);
    // Each 128 MiB section's memmap is 128 MiB / 4 KiB * 64 B = 2 MiB = 512 pages.
    expect(memmapPagesPerSection(spec.arch, 64)).toBe(512);
  });

  it("matches nr_memmap_boot_pages while no HVO has touched the boot memmap", () => {
    const vmstat = readFileSync("/proc/vmstat", "utf8");
    const boot = Number(/^nr_memmap_boot_pages (\d+)/m.exec(vmstat)?.[1]);
    const runtime = Number(/^nr_memmap_pages (\d+)/m.exec(vmstat)?.[1]);
    // HVO of boot memmap moves pages from nr_memmap_boot_pages and adds to nr_memmap_pages.
    if (runtime !== 0) return;
    expect(hostPresentSections()! * 512).toBe(boot);
  });

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
    // With /proc/iomem (root) the ranges are memblock's: present counts agree page for page.
    if (hostIomemRam() === null) return;
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
