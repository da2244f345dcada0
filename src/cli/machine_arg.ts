// `--machine PRESET|FILE` for every command: a preset by name, `host` (this machine's layout,
// read from /proc and /sys by src/live/host.ts), or a machine file (YAML or JSON) read here
// and parsed by src/machine/load.ts. Also `--design`, which every model command takes.

import { readFileSync, statSync } from "node:fs";
import { machinePreset, presetNames } from "../arch/index.ts";
import { DESIGNS, type Design } from "../kernel.ts";
import { hostMachine } from "../live/host.ts";
import { MachineError } from "../machine/layout.ts";
import { parseMachineFile } from "../machine/load.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { UsageError } from "./io.ts";

export const DEFAULT_MACHINE = "x86_64";
export const DEFAULT_DESIGN: Design = "mainline";

export const MACHINE_HELP = `machine preset (${[...presetNames(), "host"].join(", ")}) or a machine file (YAML/JSON)`;
export const DESIGN_HELP = `HVO design: ${DESIGNS.join(", ")}`;

function looksLikePath(arg: string): boolean {
  return arg.includes("/") || arg.includes("\\") || /\.(ya?ml|json)$/i.test(arg);
}

/** Resolves --machine into a MachineSpec; bad input is a UsageError naming the choices. */
export function resolveMachine(arg: string | undefined): MachineSpec {
  const name = arg ?? DEFAULT_MACHINE;
  try {
    if (presetNames().includes(name)) return machinePreset(name);
    if (name === "host") return hostMachine();
    let isFile = false;
    try {
      isFile = statSync(name).isFile();
    } catch {
      isFile = false;
    }
    if (!isFile) {
      const what = looksLikePath(name) ? `no machine file "${name}"` : `unknown machine "${name}"`;
      throw new UsageError(
        `--machine: ${what}: give a preset (${[...presetNames(), "host"].join(", ")}) or a machine file (YAML or JSON)`,
      );
    }
    return parseMachineFile(readFileSync(name, "utf8"), name);
  } catch (e) {
    if (e instanceof MachineError) throw new UsageError(`--machine: ${e.message}`);
    throw e;
  }
}

/** Resolves --design. */
export function resolveDesign(arg: string | undefined): Design {
  const d = arg ?? DEFAULT_DESIGN;
  if (!(DESIGNS as readonly string[]).includes(d)) {
    throw new UsageError(`--design: "${d}" is not a design (${DESIGNS.join(", ")})`);
  }
  return d as Design;
}
