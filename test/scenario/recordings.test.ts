// THE acceptance test of issue 3: every shared live recording replayed on the model with
// --machine host --design legacy matches the recorded exact fields (compare.ts).
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { bootModel } from "../../src/model.ts";
import { compareToRecording, formatDifference } from "../../src/scenario/compare.ts";
import { parseRecording, parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";

const DIR = new URL("../../../shared/scenarios/", import.meta.url).pathname;
const have = existsSync(`${DIR}recordings.json`) && existsSync(`${DIR}scenarios.json`);
let hostSpec: unknown = null;
try {
  const { hostMachine } = await import("../../src/live/host.ts");
  hostSpec = hostMachine();
} catch {
  hostSpec = null;
}

describe.skipIf(!have || !hostSpec)("shared recordings on the model (host, legacy)", () => {
  it("match in every exact field", () => {
    const sf = parseScenarioFile(JSON.parse(readFileSync(`${DIR}scenarios.json`, "utf8")));
    const rec = parseRecording(JSON.parse(readFileSync(`${DIR}recordings.json`, "utf8")));
    const model = bootModel(hostSpec as Parameters<typeof bootModel>[0], "legacy");
    const result = runModel(model, sf, { machine: "host" });
    const diffs = compareToRecording(rec, result, { reportMissing: false });
    expect(diffs.map(formatDifference)).toEqual([]);
    expect(Object.keys(result.scenarios).length).toBe(Object.keys(rec.scenarios).length);
  }, 120_000);
});
if (!have) console.warn("skipped: ../shared/scenarios is absent");
if (!hostSpec) console.warn("skipped: the host preset is unavailable here");
