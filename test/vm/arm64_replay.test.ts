// The arm64 guests' recordings replayed on the model, where QEMU is not needed: Debian's 7.2.13
// arm64 (4K) and arm64-16k kernels ran scenarios/vm-arm64/*.json under QEMU (hvo vm --record,
// the files next to them), and the model of the same guest (vmMachineSpec, arm64 virt, the
// mainline design, calibrated from the recording's first observation as hvo diff does) must
// report the same exact fields, kpageflags included. Re-record with
//   hvo vm scenarios/vm-arm64/FILE.json --kernel debian-7.2:FLAVOUR --record \
//     scenarios/vm-arm64/FILE.FLAVOUR.recording.json
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { differences, runModelLikeVm } from "../../src/cli/commands/diff.ts";
import { formatDifference } from "../../src/scenario/compare.ts";
import { parseRecording, parseScenarioFile } from "../../src/scenario/format.ts";
import { recordedRound } from "./pieces.ts";

const DIR = path.resolve(import.meta.dirname, "../../scenarios/vm-arm64");

const CASES = ["pmd_grow_shrink_toggle", "hstates"].flatMap((file) =>
  ["arm64", "arm64-16k"].map((flavour) => ({ file, flavour })),
);

describe("arm64 guests' recordings replayed on the model of the guest", () => {
  for (const { file, flavour } of CASES) {
    it(`${file} on debian-7.2:${flavour}: no difference in the exact fields`, async () => {
      const raw = JSON.parse(readFileSync(path.join(DIR, `${file}.json`), "utf8"));
      const rec = parseRecording(
        JSON.parse(readFileSync(path.join(DIR, `${file}.${flavour}.recording.json`), "utf8")),
      );
      expect(rec.machine.vm).toBe(`vm:debian-7.2:${flavour}`);
      expect(rec.kernel).toContain(`7.2.13+deb14-${flavour} `);
      const real = recordedRound(rec);
      const scenarios = real.scenarios;
      const { result: model, specs } = await runModelLikeVm(parseScenarioFile(raw), real);
      // The model booted the guest's machine: arm64 virt with the recording's page size.
      for (const spec of specs.values())
        expect([spec.arch.name, 2 ** spec.arch.pageShift]).toEqual([
          "arm64",
          rec.machine.page_size,
        ]);
      expect(differences(real, model, rec).map(formatDifference)).toEqual([]);
      // Something was compared: every step of every scenario, the toggles ENOENT on both.
      for (const [id, s] of Object.entries(model.scenarios)) {
        expect([id, s.steps.length]).toEqual([id, scenarios[id].steps.length]);
        for (const [i, st] of s.steps.entries())
          if (st.step.op === "hvo")
            expect([id, i, st.code, scenarios[id].steps[i].code]).toEqual([
              id,
              i,
              "ENOENT",
              "ENOENT",
            ]);
      }
    });
  }
});
