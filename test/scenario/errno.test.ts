// errno is positive everywhere a user sees it (docs/FORMAT.md): in hvo-result/1 step records,
// in the closing reset's failed writes, in `hvo run --json`. The kernel returns -EINVAL inside;
// a process sees errno 22. The numbers are those of include/uapi/asm-generic/errno-base.h and
// errno.h; which call gets which errno is what the live kernel answered (docs/kernel-files.md)
// or what mmap(2) documents.
import { DESIGN_FACTS } from "../../src/mm/hvo_designs.ts";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { parseResult } from "../../src/scenario/format.ts";
import { tempDir } from "../tmp.ts";

const ENOENT = 2;
const ENOMEM = 12;
const EINVAL = 22;
const EHWPOISON = 133;

const HP = "/sys/kernel/mm/hugepages";
/** A free page's physical address on the x86_64 preset's 4 GiB (pfn 0x80000, at 2 GiB). */
const ADDR = "0x80000000";

const SCENARIO = {
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "errnos",
      steps: [
        { op: "nr", size: "2M", value: "abc" }, // kstrtoul: EINVAL
        { op: "write", path: `${HP}/hugepages-4096kB/nr_hugepages`, value: 1 }, // no such hstate
        { op: "map", id: "m", size: "2M", n: 1 }, // an empty pool: the reservation fails
        { op: "mount", dir: "/mnt/e", opts: "pagesize=4M" }, // no such page size
        { op: "touch", id: "m" }, // the map failed: not the kernel's answer, no errno
        { op: "write", path: "/sys/devices/system/memory/hard_offline_page", value: ADDR },
        { op: "write", path: "/sys/devices/system/memory/hard_offline_page", value: ADDR },
      ],
    },
  ],
};

/** Every `errno` field anywhere in a JSON value, with its path. */
function errnoFields(v: unknown, path = "$"): Array<[string, unknown]> {
  if (Array.isArray(v)) return v.flatMap((x, i) => errnoFields(x, `${path}[${i}]`));
  if (v === null || typeof v !== "object") return [];
  return Object.entries(v).flatMap(([k, x]) =>
    k === "errno" ? [[`${path}.${k}`, x] as [string, unknown]] : errnoFields(x, `${path}.${k}`),
  );
}

describe("errno is positive in what hvo prints", () => {
  const dir = tempDir("hvo-errno-");
  const file = join(dir, "errnos.json");
  writeFileSync(file, JSON.stringify(SCENARIO));

  for (const design of ["legacy", "mainline"] as const) {
    it(`hvo run --json, ${design}: each failure's errno as a process sees it`, async () => {
      const io = captureIo();
      expect(await main(["run", file, "--json", "--design", design], io)).toBe(0);
      const json = JSON.parse(io.stdout());
      const result = parseResult(json); // the schema itself rejects a negative errno
      const steps = result.scenarios.errnos.steps;
      expect(steps.map((s) => [s.rc, s.errno, s.code])).toEqual([
        [-1, EINVAL, "EINVAL"],
        [-1, ENOENT, "ENOENT"],
        [-1, ENOMEM, "ENOMEM"],
        [-1, EINVAL, "EINVAL"],
        [-1, 0, "NO_SUCH_ID"],
        [0, 0, null], // a free page taken off the buddy
        [-1, EHWPOISON, "EHWPOISON"], // already marked
      ]);
      // The reset's failed writes too: on 6.18 (legacy) overcommit of the 1 GiB hstate is
      // EINVAL, whatever the value; 6.19+ accepts it (gigantic overcommit; the 7.2 guest's
      // final_reset in scenarios/vm-7.2.recording.json lists no failed write). Nothing anywhere
      // below zero.
      const all = errnoFields(json);
      if (!DESIGN_FACTS[design].pool.giganticOvercommit)
        expect(all.length).toBeGreaterThan(steps.length);
      else expect(all.length).toBe(steps.length);
      expect(all.filter(([, e]) => typeof e !== "number" || e < 0)).toEqual([]);
    });
  }
});
