// hvo compare --designs: which designs are compared, and in which column order; the default is
// legacy, seed and mainline (Linux 7.2), so the three-column output stays as it was.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { tempDir } from "../tmp.ts";

const SCENARIO = {
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "grow",
      steps: [
        { op: "hvo", value: 1 },
        { op: "nr", size: "2M", value: 2 },
      ],
    },
  ],
};

function file(): string {
  const path = join(tempDir("hvo-compare-designs-"), "s.json");
  writeFileSync(path, JSON.stringify(SCENARIO));
  return path;
}

describe("hvo compare --designs", () => {
  it("default: legacy, seed, mainline, in that order", async () => {
    const io = captureIo();
    expect(await main(["compare", file(), "--json"], io)).toBe(0);
    const j = JSON.parse(io.stdout());
    expect(j.order).toEqual(["legacy", "seed", "mainline"]);
    expect(Object.keys(j.designs).sort()).toEqual(["legacy", "mainline", "seed"]);
  });

  it("7.2 beside 7.1: two columns, in the order given", async () => {
    const io = captureIo();
    expect(await main(["compare", file(), "--designs", "mainline-7.1,mainline"], io)).toBe(0);
    const header = io.stdout().split("\n")[0].trim().split(/\s+/);
    expect(header).toEqual(["mainline-7.1", "mainline"]);
  });

  it("an unknown design is a usage error naming it", async () => {
    const io = captureIo();
    expect(await main(["compare", file(), "--designs", "mainline,7.3"], io)).toBe(2);
    expect(io.stderr()).toMatch(/--designs: "7\.3" is not a design/);
    expect(io.stderr()).not.toMatch(/at .*\.ts:\d+/);
  });
});
