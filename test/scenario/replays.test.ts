// Our own recordings replayed on the model: the 26-scenario suite recorded on this machine's
// live 6.18 kernel (legacy design, host layout), and the shared scenarios recorded on Linux 7.2
// in a QEMU guest of 8 GiB (mainline design). Every field FORMAT.md calls exact must agree.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";
import { compareToRecording, formatDifference } from "../../src/scenario/compare.ts";
import { parseRecording, parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const SHARED = `${ROOT}../shared/scenarios/scenarios.json`;

function replay(
  scenarios: string,
  recording: string,
  spec: Parameters<typeof bootModel>[0],
  design: string,
) {
  const sf = parseScenarioFile(JSON.parse(readFileSync(scenarios, "utf8")));
  const rec = parseRecording(JSON.parse(readFileSync(recording, "utf8")));
  const result = runModel(bootModel(spec, design), sf, { machine: spec.name });
  return { rec, result, diffs: compareToRecording(rec, result, { reportMissing: false }) };
}

let hostSpec: Parameters<typeof bootModel>[0] | null = null;
try {
  const { hostMachine } = await import("../../src/live/host.ts");
  hostSpec = hostMachine();
} catch {
  hostSpec = null;
}

describe.skipIf(!hostSpec)("the project's suite, recorded on the live 6.18 kernel", () => {
  it("replays on the model (host, legacy) with every exact field equal", () => {
    const { rec, result, diffs } = replay(
      `${ROOT}scenarios/suite.json`,
      `${ROOT}scenarios/suite.recording.json`,
      hostSpec!,
      "legacy",
    );
    expect(diffs.map(formatDifference)).toEqual([]);
    expect(Object.keys(rec.scenarios).length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(result.scenarios).sort()).toEqual(Object.keys(rec.scenarios).sort());
  }, 120_000);
});

// SPEC §3: the counters a user sees do not depend on the design (the shared tails are counted
// by no counter), so the live 6.18 recordings hold for seed and mainline too.
describe.skipIf(!hostSpec || !existsSync(SHARED))(
  "the shared 6.18 recordings under every design",
  () => {
    for (const design of ["seed", "mainline"]) {
      it(`replay on the model (host, ${design}) with every exact field equal`, () => {
        const recording = SHARED.replace("scenarios.json", "recordings.json");
        const { diffs } = replay(SHARED, recording, hostSpec!, design);
        expect(diffs.map(formatDifference)).toEqual([]);
      }, 120_000);
    }
  },
);

describe.skipIf(!existsSync(SHARED))(
  "the shared scenarios, recorded on Linux 7.2 in an 8 GiB VM",
  () => {
    it("replay on the model (x86_64, 8 GiB, mainline) with every exact field equal", () => {
      const { rec, diffs } = replay(
        SHARED,
        `${ROOT}scenarios/vm-7.2.recording.json`,
        machinePreset("x86_64", { memoryBytes: 8 * 2 ** 30 }),
        "mainline",
      );
      expect(rec.kernel).toMatch(/^Linux version 7\.2/);
      expect(diffs.map(formatDifference)).toEqual([]);
    }, 120_000);
  },
);
if (!hostSpec) console.warn("skipped: the host preset is unavailable here");
if (!existsSync(SHARED)) console.warn("skipped: ../shared/scenarios is absent");
