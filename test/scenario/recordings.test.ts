// The acceptance test of issue 3: every shared live 6.18 recording (scenarios/shared/, the
// project's copy of ../shared/scenarios) replayed on the model of the machine that made them
// (scenarios/machines/recording-host.yaml) with the legacy design matches the recorded exact
// fields (compare.ts). Not `--machine host`: the answer must not depend on who runs it where.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseMachineFile } from "../../src/machine/load.ts";
import { bootModel } from "../../src/model.ts";
import { compareToRecording, formatDifference } from "../../src/scenario/compare.ts";
import { parseRecording, parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";
import { RECORDING_HOST, readJson, sharedRecordingsPath, sharedScenariosPath } from "./shared.ts";

describe("shared recordings on the model (recording-host, legacy)", () => {
  it("match in every exact field", () => {
    const sf = parseScenarioFile(readJson(sharedScenariosPath));
    const rec = parseRecording(readJson(sharedRecordingsPath));
    const spec = parseMachineFile(readFileSync(RECORDING_HOST, "utf8"), RECORDING_HOST);
    const result = runModel(bootModel(spec, "legacy"), sf, { machine: spec.name });
    const diffs = compareToRecording(rec, result, { reportMissing: false });
    expect(diffs.map(formatDifference)).toEqual([]);
    expect(Object.keys(result.scenarios).length).toBe(Object.keys(rec.scenarios).length);
    expect(Object.keys(result.scenarios).length).toBe(10);
  }, 120_000);
});
