// `hvo inspect --after SCENARIO_FILE`: the struct page after a scenario ran (closing reset skipped).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../tmp.ts";
import { describe, expect, test } from "vitest";
import { inspectAction } from "../../src/cli/commands/inspect.ts";
import { captureIo, UsageError } from "../../src/cli/io.ts";

const dir = tempDir("hvo-inspect-");
const scenario = join(dir, "grow.json");
writeFileSync(
  scenario,
  JSON.stringify({
    format: "hvo-scenario/1",
    scenarios: [
      {
        id: "grow",
        steps: [
          { op: "hvo", value: 1 },
          { op: "nr", size: "2M", value: 1 },
        ],
      },
    ],
  }),
);

async function inspectJson(args: { pfn: string; design: string; after?: string }) {
  const io = captureIo();
  await inspectAction(io, { ...args, json: true });
  return JSON.parse(io.stdout());
}

describe("hvo inspect --after", () => {
  // The pool's first 2 MiB folio: find it from the head the scenario left, via a tail's head_pfn.
  test("legacy: struct page 64 of the optimised folio is a fake head on a shared, read-only frame", async () => {
    const fresh = await inspectJson({ pfn: "0", design: "legacy", after: scenario });
    expect(fresh.pfn).toBe(0);
    // Scan the top of memory for the folio the pool took (the buddy hands out high pfns first).
    let head = -1;
    for (let pfn = 0x43fe00; pfn >= 0x400000 && head < 0; pfn -= 512) {
      const d = await inspectJson({ pfn: String(pfn), design: "legacy", after: scenario });
      if (d.folio?.hugetlb) head = pfn;
    }
    expect(head).toBeGreaterThan(0);
    const t = await inspectJson({ pfn: String(head + 64), design: "legacy", after: scenario });
    expect(t.fake_head).toBe(true);
    expect(t.head_pfn).toBe(head);
    expect(t.mapping).toMatchObject({ level: "pte", writable: false });
    expect(t.frame_shared).toBe(true);
  });

  test("a scenario file that is not hvo-scenario/1 is a usage error", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ format: "nope" }));
    await expect(inspectAction(captureIo(), { pfn: "0x100000", after: bad })).rejects.toThrow(
      UsageError,
    );
    // A file that is not there is a usage error naming the option too (was a bare ENOENT).
    await expect(
      inspectAction(captureIo(), { pfn: "0x100000", after: join(dir, "missing.json") }),
    ).rejects.toThrow(/^--after: cannot read scenario file/);
  });
});
