// Sizes by role and "reset": false on the live kernel (docs/FORMAT.md): the driver resolves PMD
// and PUD to this x86_64 kernel's 2048kB and 1048576kB hstates, skips CONT_PTE by name (no
// contiguous-bit huge pages on x86_64), starts without the reset, and the model of the host
// (legacy, as the live 6.18) agrees in every exact field. Needs Linux, root, HugeTLB and a C
// compiler; skips with the reason elsewhere. Runs under the live lock; the runner restores the
// machine (pools 0, overcommit 0, hugetlb_optimize_vmemmap 0).
import { describe, expect, it } from "vitest";
import { have1GHstate, liveTestUnavailable } from "../live/pieces.ts";
import { diffLive } from "../../src/cli/commands/diff.ts";
import { formatDifference } from "../../src/scenario/compare.ts";
import { parseScenarioFile } from "../../src/scenario/format.ts";

const whyNot = liveTestUnavailable();
if (whyNot) console.warn(`test/diff/live_roles: skipped: ${whyNot}`);
const have1G = have1GHstate();

const sf = parseScenarioFile({
  format: "hvo-scenario/1",
  scenarios: [
    {
      id: "roles",
      reset: false,
      steps: [
        { op: "hvo", value: 1 },
        { op: "nr", size: "PMD", value: 4 },
        { op: "map", id: "a", size: "PMD", n: 2 },
        { op: "release", id: "a" },
        { op: "nr", size: "PMD", value: 0 },
        { op: "nr", size: "PUD", value: 1 },
        { op: "nr", size: "PUD", value: 0 },
        { op: "map", id: "c", size: "CONT_PTE", n: 1 },
        { op: "release", id: "c" },
        { op: "hvo", value: 0 },
      ],
    },
  ],
});

describe.skipIf(whyNot !== null)("roles on the live kernel vs the model (host, legacy)", () => {
  it("PMD is 2M, PUD 1G (where the CPU has it), CONT_PTE skipped by name; every exact field equal", async () => {
    const out = await diffLive(sf, { design: "legacy" });
    expect(out.diffs.map(formatDifference)).toEqual([]);
    const steps = out.real.scenarios.roles.steps;
    // 4 folios of 2 MiB with HVO on: 7 vmemmap pages freed each (8 per folio, the head kept).
    expect(steps[1].after.h2M.nr).toBe(4);
    expect(steps[1].delta.memmap_sum).toBe(-4 * 7);
    expect(steps[1].resolved_step).toEqual({ op: "nr", size: "2M", value: 4 });
    if (have1G) expect(steps[5].after.h1G.nr).toBe(1);
    else expect(steps[5].skipped).toBe("PUD (1G): this kernel has no 1048576kB hstate");
    expect(steps[7].skipped).toBe(
      "CONT_PTE: x86_64 has no contiguous-bit huge pages (arm64 has them)",
    );
    expect(steps[8].skipped).toMatch(/^map c was skipped \(CONT_PTE: /);
    // The closing reset ran (the runner restores the machine after it as well).
    expect(out.real.scenarios.roles.final_reset?.clean).toBe(true);
  }, 120_000);
});
