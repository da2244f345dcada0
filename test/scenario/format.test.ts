import { describe, expect, it } from "vitest";
import {
  FormatError,
  hstateDeltaKey,
  hstateKey,
  hstateName,
  parseRecording,
  parseResult,
  parseScenarioFile,
  sizeToKb,
} from "../../src/scenario/format.ts";
import {
  haveShared,
  readJson,
  SUITE,
  SUITE_RECORDING,
  sharedRecordingsPath,
  sharedScenariosPath,
} from "./shared.ts";

function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FormatError);
    return (e as Error).message;
  }
  throw new Error("expected a FormatError");
}

const file = (steps: unknown[]) => ({
  format: "hvo-scenario/1",
  scenarios: [{ id: "X", steps }],
});

describe("hvo-scenario/1", () => {
  it.skipIf(!haveShared)("parses the shared scenarios", () => {
    const f = parseScenarioFile(readJson(sharedScenariosPath));
    expect(f.scenarios.length).toBe(10);
    expect(f.scenarios.map((s) => s.id)).toContain("S02_2M_HVO_grow_shrink");
  });

  it("parses our own suite", () => {
    const f = parseScenarioFile(readJson(SUITE));
    expect(f.scenarios.length).toBeGreaterThanOrEqual(20);
  });

  it("names the bad field", () => {
    expect(errorOf(() => parseScenarioFile(file([{ op: "nr", size: "3X", value: 1 }])))).toMatch(
      /scenarios\[0\]\.steps\[0\]\.size: /,
    );
    expect(errorOf(() => parseScenarioFile(file([{ op: "grow", size: "2M" }])))).toMatch(
      /scenarios\[0\]\.steps\[0\]\.op: /,
    );
    expect(
      errorOf(() =>
        parseScenarioFile(file([{ op: "map", id: "A", size: "2M", n: 1, noreserv: 1 }])),
      ),
    ).toMatch(/scenarios\[0\]\.steps\[0\]: unknown field\(s\) noreserv/);
    expect(errorOf(() => parseScenarioFile(file([{ op: "map", id: "A", size: "2M" }])))).toMatch(
      /scenarios\[0\]\.steps\[0\]\.n: /,
    );
    expect(errorOf(() => parseScenarioFile({ format: "hvo-scenario/2", scenarios: [] }))).toMatch(
      /^not a valid hvo-scenario\/1: format: /,
    );
    expect(
      errorOf(() =>
        parseScenarioFile({
          format: "hvo-scenario/1",
          scenarios: [
            { id: "A", steps: [] },
            { id: "A", steps: [] },
          ],
        }),
      ),
    ).toMatch(/scenarios\[1\]\.id: duplicate scenario id "A"/);
  });

  it("accepts string values for writes the kernel should refuse", () => {
    const f = parseScenarioFile(file([{ op: "nr", size: "2M", value: " 5" }]));
    expect(f.scenarios[0].steps[0]).toEqual({ op: "nr", size: "2M", value: " 5" });
  });
});

describe("hstate names", () => {
  it("names every preset's sizes like the recordings (h2M, h1G, nr2M)", () => {
    expect(hstateName(2048)).toBe("2M");
    expect(hstateName(1048576)).toBe("1G");
    expect(hstateName(64)).toBe("64K");
    expect(hstateName(32768)).toBe("32M");
    expect(hstateName(524288)).toBe("512M");
    expect(hstateName(16 * 1024 * 1024)).toBe("16G");
    expect(hstateKey(2048)).toBe("h2M");
    expect(hstateDeltaKey(1048576)).toBe("nr1G");
    expect(sizeToKb("2M")).toBe(2048);
    expect(sizeToKb("1G")).toBe(1048576);
    expect(sizeToKb("2048kB")).toBe(2048);
    expect(sizeToKb("64K")).toBe(64);
    expect(sizeToKb("2X")).toBeNull();
  });
});

describe("hvo-recording/1 and hvo-result/1", () => {
  it.skipIf(!haveShared)("parses the shared live recordings", () => {
    const r = parseRecording(readJson(sharedRecordingsPath));
    expect(r.rounds).toBe(3);
    expect(Object.keys(r.scenarios).length).toBe(10);
    const s = r.scenarios.S10_surplus_2M_reserved_at_mmap;
    expect(s.runs[0].steps[3].pfns?.length).toBe(8);
    expect(s.runs[0].final_reset?.writes[0].code).toBe("EINVAL");
  });

  it("parses our own live recording", () => {
    const r = parseRecording(readJson(SUITE_RECORDING));
    expect(r.rounds).toBe(3);
    expect(Object.keys(r.scenarios).length).toBeGreaterThanOrEqual(20);
  });

  it("names the bad field of a result", () => {
    const bad = {
      format: "hvo-result/1",
      machine: "host",
      design: "legacy",
      scenarios: { S: { steps: [{ i: 0, step: { op: "hvo", value: 1 }, rc: 2 }] } },
    };
    expect(errorOf(() => parseResult(bad))).toMatch(/scenarios\.S\.steps\[0\]\.rc: /);
  });
});
