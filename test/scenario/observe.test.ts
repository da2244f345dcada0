import { describe, expect, it } from "vitest";
import { type After, parseRecording } from "../../src/scenario/format.ts";
import {
  changedAfterStepReturned,
  delta,
  flattenAfter,
  observe,
  parseNodeList,
  parseZoneManaged,
} from "../../src/scenario/observe.ts";
import { haveShared, readJson, SUITE_RECORDING, sharedRecordingsPath } from "./shared.ts";

// File texts in the kernel's formats (fs/proc/meminfo.c, mm/vmstat.c, mm/hugetlb_sysfs.c).
function x86Files(o: { nr2M: number; free2M: number; nr1G: number; hvo: number }) {
  const f: Record<string, string> = {
    "/proc/meminfo": [
      "MemTotal:       24700992 kB",
      "MemFree:        23611420 kB",
      "PageTables:         5152 kB",
      `HugePages_Total:   ${String(o.nr2M).padStart(5)}`,
      `HugePages_Free:    ${String(o.free2M).padStart(5)}`,
      "HugePages_Rsvd:        3",
      "HugePages_Surp:        1",
      "Hugepagesize:       2048 kB",
      `Hugetlb:        ${String(o.nr2M * 2048 + o.nr1G * 1048576).padStart(8)} kB`,
      "",
    ].join("\n"),
    "/proc/vmstat": "nr_free_pages 5\nnr_memmap_pages 40560\nnr_memmap_boot_pages 57744\n",
    "/proc/zoneinfo": [
      "Node 0, zone      DMA",
      "  pages free     3840",
      "        managed  3840",
      "Node 0, zone   Normal",
      "  pages free     2232738",
      "        spanned  5505024",
      "        present  5505024",
      "        managed  2563696",
      "Node 0, zone  Movable",
      "  pages free     0",
      "        managed  0",
      "",
    ].join("\n"),
    "/proc/sys/vm/hugetlb_optimize_vmemmap": `${o.hvo}\n`,
    "/sys/devices/system/node/online": "0\n",
  };
  const hs = [
    { kB: 2048, nr: o.nr2M, free: o.free2M },
    { kB: 1048576, nr: o.nr1G, free: o.nr1G },
  ];
  for (const h of hs) {
    const d = `/sys/kernel/mm/hugepages/hugepages-${h.kB}kB`;
    const n = `/sys/devices/system/node/node0/hugepages/hugepages-${h.kB}kB`;
    f[`${d}/nr_hugepages`] = `${h.nr}\n`;
    f[`${d}/free_hugepages`] = `${h.free}\n`;
    f[`${d}/resv_hugepages`] = h.kB === 2048 ? "3\n" : "0\n";
    f[`${d}/surplus_hugepages`] = h.kB === 2048 ? "1\n" : "0\n";
    f[`${d}/nr_overcommit_hugepages`] = h.kB === 2048 ? "4\n" : "0\n";
    f[`${n}/nr_hugepages`] = `${h.nr}\n`;
    f[`${n}/free_hugepages`] = `${h.free}\n`;
    f[`${n}/surplus_hugepages`] = h.kB === 2048 ? "1\n" : "0\n";
  }
  f["/sys/kernel/mm/hugepages/hugepages-1048576kB/demote_size"] = "2048kB\n";
  f["/sys/devices/system/node/node0/hugepages/hugepages-1048576kB/demote_size"] = "2048kB\n";
  return (p: string) => f[p] ?? null;
}

describe("observe", () => {
  it("reads every field as the recordings spell it", () => {
    const a = observe(x86Files({ nr2M: 16, free2M: 12, nr1G: 1, hvo: 1 }));
    expect(a).toEqual({
      nr_memmap_pages: 40560,
      nr_memmap_boot_pages: 57744,
      memmap_sum: 40560 + 57744,
      hvo: 1,
      HugePages_Total: 16,
      HugePages_Free: 12,
      HugePages_Rsvd: 3,
      HugePages_Surp: 1,
      Hugetlb_kB: 16 * 2048 + 1048576,
      MemFree_kB: 23611420,
      PageTables_kB: 5152,
      zone_managed: { DMA: 3840, Normal: 2563696, Movable: 0 },
      h2M: {
        nr: 16,
        free: 12,
        surplus: 1,
        resv: 3,
        overcommit: 4,
        node0_nr: 16,
        node0_free: 12,
        node0_surplus: 1,
      },
      h1G: {
        nr: 1,
        free: 1,
        surplus: 0,
        resv: 0,
        overcommit: 0,
        node0_nr: 1,
        node0_free: 1,
        node0_surplus: 0,
        demote_size: "2048kB",
      },
    });
    // Same key order as the recordings: h2M before h1G.
    expect(Object.keys(a).slice(-2)).toEqual(["h2M", "h1G"]);
  });

  it("names other presets' hstates by size and reports missing files as null", () => {
    const files: Record<string, string> = { "/sys/devices/system/node/online": "0-1\n" };
    for (const kB of [64, 2048, 32768, 1048576])
      files[`/sys/kernel/mm/hugepages/hugepages-${kB}kB/nr_hugepages`] = "0\n";
    files["/sys/devices/system/node/node1/hugepages/hugepages-2048kB/nr_hugepages"] = "7\n";
    const a = observe((p) => files[p] ?? null);
    expect(Object.keys(a).filter((k) => /^h\d/.test(k))).toEqual(["h64K", "h2M", "h32M", "h1G"]);
    const h2 = (a as unknown as Record<string, Record<string, unknown>>).h2M;
    expect(h2.nr).toBe(0);
    expect(h2.free).toBeNull();
    expect(h2.node1_nr).toBe(7);
    expect(h2.node0_nr).toBeNull();
    expect("demote_size" in h2).toBe(false);
    expect(a.memmap_sum).toBeNull();
    expect(a.zone_managed).toBeNull();
    const d = delta(a, a);
    expect(Object.keys(d)).toEqual([
      "nr_memmap_pages",
      "nr_memmap_boot_pages",
      "memmap_sum",
      "nr64K",
      "nr2M",
      "nr32M",
      "nr1G",
      "Hugetlb_kB",
      "MemFree_kB",
      "PageTables_kB",
    ]);
    expect(d.nr2M).toBe(0);
    expect(d.memmap_sum).toBeNull();
  });

  it("parses node lists and sums zones over nodes", () => {
    expect(parseNodeList("0\n")).toEqual([0]);
    expect(parseNodeList("0-2,5\n")).toEqual([0, 1, 2, 5]);
    expect(
      parseZoneManaged(
        "Node 0, zone   Normal\n        managed  10\nNode 1, zone   Normal\n        managed  5\n",
      ),
    ).toEqual({ Normal: 15 });
  });

  it("reports what settling moved, counters only", () => {
    const first = observe(x86Files({ nr2M: 16, free2M: 16, nr1G: 0, hvo: 1 }));
    const settled = observe(x86Files({ nr2M: 8, free2M: 8, nr1G: 0, hvo: 1 }));
    const c = changedAfterStepReturned(first, settled);
    expect(c["h2M.nr"]).toEqual([16, 8]);
    expect(c.HugePages_Total).toEqual([16, 8]);
    expect(c.MemFree_kB).toBeUndefined();
  });
});

/** Recomputes every recorded delta from the recorded observations. */
function checkDeltas(rec: ReturnType<typeof parseRecording>) {
  let checked = 0;
  for (const sc of Object.values(rec.scenarios))
    for (const run of sc.runs) {
      let prev: After = run.initial;
      for (const st of run.steps) {
        expect(delta(prev, st.after)).toEqual(st.delta);
        prev = st.after;
        checked++;
      }
      if (run.final_reset)
        expect(delta(prev, run.final_reset.after)).toEqual(run.final_reset.delta);
    }
  return checked;
}

describe("delta against the live recordings", () => {
  it.skipIf(!haveShared)("recomputes every delta of the shared recordings", () => {
    expect(checkDeltas(parseRecording(readJson(sharedRecordingsPath)))).toBe(189);
  });

  it("recomputes every delta of our recording", () => {
    expect(checkDeltas(parseRecording(readJson(SUITE_RECORDING)))).toBeGreaterThan(100);
  });

  it.skipIf(!haveShared)("flattens observations into the names compare.ts uses", () => {
    const rec = parseRecording(readJson(sharedRecordingsPath));
    const flat = flattenAfter(rec.scenarios.S16_demote_1G_HVO_on.runs[0].steps[2].after);
    // One of two 1G pages demoted into 512 x 2M (FORMAT.md S16, live kernel).
    expect(flat["h2M.nr"]).toBe(512);
    expect(flat["h1G.nr"]).toBe(1);
    expect(flat["h1G.demote_size"]).toBe("2048kB");
    expect(flat["zone_managed.DMA"]).toBe(3840);
  });
});
