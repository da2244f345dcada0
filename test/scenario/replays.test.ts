// Our own recordings replayed on the model: the 26-scenario suite recorded on the live 6.18
// kernel (legacy design) of the machine scenarios/machines/recording-host.yaml describes, and the
// shared scenarios recorded on Linux 7.2 in a QEMU guest of 8 GiB (mainline design). Every field
// FORMAT.md calls exact must agree. The machine is the one the recordings were made on, never
// this host: the replays give the same answer for any user on any host.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { parseMachineFile } from "../../src/machine/load.ts";
import { bootModel } from "../../src/model.ts";
import { compareToRecording, formatDifference } from "../../src/scenario/compare.ts";
import { parseRecording, parseScenarioFile } from "../../src/scenario/format.ts";
import { runModel } from "../../src/scenario/run_model.ts";
import {
  RECORDING_HOST,
  SUITE,
  SUITE_RECORDING,
  sharedRecordingsPath,
  sharedScenariosPath,
  VM72_RECORDING,
} from "./shared.ts";

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

const recordingHost = parseMachineFile(readFileSync(RECORDING_HOST, "utf8"), RECORDING_HOST);

describe("the machine file of the recording host", () => {
  it("is the 24 GiB machine the recordings report (MemTotal within the kernel's own share)", () => {
    // present pages: (0x9f000 - 0x1000 + 0xc0000000 - 0x100000 + 0x640000000 - 0x100000000) / 4096
    const present = recordingHost.nodes
      .flatMap((n) => n.ranges)
      .reduce((s, r) => s + r.endPfn - r.startPfn, 0);
    expect(present).toBe(158 + 786176 + 5505024);
    const rec = parseRecording(JSON.parse(readFileSync(SUITE_RECORDING, "utf8")));
    // MemTotal is what the buddy manages: a little below the present memory, never above it.
    expect(rec.machine.MemTotal_kB).toBeLessThanOrEqual(present * 4);
    expect(rec.machine.MemTotal_kB).toBeGreaterThan(present * 4 * 0.97);
    expect(recordingHost.cmdline).toBe(rec.cmdline?.replace(/ rcupdate\.\S+| rdinit=.*$/g, ""));
  });
});

describe("the project's suite, recorded on the live 6.18 kernel", () => {
  it("replays on the model (recording-host, legacy) with every exact field equal", () => {
    const { rec, result, diffs } = replay(SUITE, SUITE_RECORDING, recordingHost, "legacy");
    expect(diffs.map(formatDifference)).toEqual([]);
    expect(Object.keys(rec.scenarios).length).toBeGreaterThanOrEqual(20);
    expect(Object.keys(result.scenarios).sort()).toEqual(Object.keys(rec.scenarios).sort());
  }, 120_000);
});

// SPEC §3: the counters a user sees do not depend on the design (the shared tails are counted
// by no counter), so the live 6.18 recordings hold for seed and mainline too.
describe("the shared 6.18 recordings under every design", () => {
  for (const design of ["seed", "mainline"]) {
    it(`replay on the model (recording-host, ${design}) with every exact field equal`, () => {
      const { diffs } = replay(sharedScenariosPath, sharedRecordingsPath, recordingHost, design);
      expect(diffs.map(formatDifference)).toEqual([]);
    }, 120_000);
  }
});

describe("the shared scenarios, recorded on Linux 7.2 in an 8 GiB VM", () => {
  it("replay on the model (x86_64, 8 GiB, mainline) with every exact field equal", () => {
    const { rec, diffs } = replay(
      sharedScenariosPath,
      VM72_RECORDING,
      machinePreset("x86_64", { memoryBytes: 8 * 2 ** 30 }),
      "mainline",
    );
    expect(rec.kernel).toMatch(/^Linux version 7\.2/);
    expect(diffs.map(formatDifference)).toEqual([]);
  }, 120_000);
});
