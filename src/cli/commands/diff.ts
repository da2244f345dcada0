// hvo diff FILE: the scenario file on the model (--machine, default host; --design, default
// legacy: what the live 6.18 kernel runs) and on the live kernel (src/live/run.ts runLive),
// then a table of every exact field (compare.ts) that differs. Exit status 1 when one does;
// when the live kernel cannot be used the command says why and exits 0 without comparing.
import type { Command } from "commander";
import { compareResults, type Difference } from "../../scenario/compare.ts";
import { runModel } from "../../scenario/run_model.ts";
import { ExitStatus, type Io } from "../io.ts";
import { DESIGN_HELP, MACHINE_HELP } from "../machine_arg.ts";
import { bootFromArgs, loadScenarioFile } from "./run.ts";

function table(diffs: Difference[]): string {
  const rows = diffs.map((d) => [
    d.scenario,
    d.step === null ? "-" : String(d.step),
    d.field,
    JSON.stringify(d.expected),
    JSON.stringify(d.actual),
  ]);
  const head = ["scenario", "step", "field", "live", "model"];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `${r.map((c, i) => c.padEnd(w[i])).join("  ")}\n`;
  return line(head) + rows.map(line).join("");
}

export function register(program: Command, io: Io): void {
  program
    .command("diff")
    .description(
      "run a scenario file on the model and on the live kernel; print the exact fields that differ",
    )
    .argument("<file>", "an hvo-scenario/1 JSON file")
    .option("--machine <m>", MACHINE_HELP, "host")
    .option("--design <d>", DESIGN_HELP, "legacy")
    .option("--only <ids>", "only these scenarios (comma-separated ids)")
    .action(async (file: string, opts: { machine?: string; design?: string; only?: string }) => {
      const sf = loadScenarioFile(file);
      const only = opts.only
        ?.split(",")
        .map((s) => s.trim())
        .filter(Boolean);
      let live: import("../../scenario/format.ts").Result;
      try {
        const mod = await import("../../live/run.ts");
        live = await mod.runLive(sf, { only });
      } catch (e) {
        const msg = (e as Error).message ?? String(e);
        io.err(`hvo diff: the live kernel is not available (${msg}); nothing compared\n`);
        return;
      }
      const model = runModel(bootFromArgs(opts), sf, { only, machine: opts.machine });
      const diffs = compareResults(live, model);
      if (diffs.length === 0) {
        io.out(
          `no differences in the exact fields (${Object.keys(model.scenarios).length} scenarios)\n`,
        );
        return;
      }
      io.out(table(diffs));
      throw new ExitStatus(1);
    });
}
