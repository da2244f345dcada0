// `--machine PRESET|FILE` for every command: a preset by name, `host` (this machine's layout,
// read from /proc and /sys by src/live/host.ts), `qemu:SIZE[,nodes=N]` (the guest `hvo vm`
// boots, src/live/vm/machine.ts vmMachineSpec), or a machine file (YAML or JSON) read here and
// parsed by src/machine/load.ts. `--cmdline` adds kernel parameters after the machine's own.
// Also `--design`, which every model command takes.

import { readFileSync, statSync } from "node:fs";
import { machinePreset, presetNames } from "../arch/index.ts";
import { DESIGNS, type Design } from "../kernel.ts";
import { hostMachine } from "../live/host.ts";
import { vmMachineSpec } from "../live/vm/machine.ts";
import { DEFAULT_SHAPE, parseMemoryMiB } from "../live/vm/qemu.ts";
import { MachineError } from "../machine/layout.ts";
import type { MachineSpec } from "../machine/spec.ts";
import { UsageError } from "./io.ts";
import { DEFAULT_DESIGN, DEFAULT_MACHINE } from "./machine_help.ts";

// The defaults and help texts are in a light module of their own (what `hvo X --help` loads).
export {
  CMDLINE_HELP,
  DEFAULT_DESIGN,
  DEFAULT_MACHINE,
  DESIGN_HELP,
  MACHINE_HELP,
} from "./machine_help.ts";

/**
 * The QEMU guests the model can be: by `arch=` (default x86_64, the `pc` machine `hvo vm`
 * boots), each turning memory, nodes and the extra command line into the guest's MachineSpec.
 */
const QEMU_MACHINES: Record<
  string,
  (o: { memoryBytes: number; nodes: number; cmdline: string; initrdBytes?: number }) => MachineSpec
> = {
  x86_64: (o) => vmMachineSpec(o),
  // QEMU's `virt` board with Debian's arm64 (4K pages) and arm64-16k kernels.
  arm64: (o) => vmMachineSpec({ ...o, arch: "arm64", pageSize: 4096 }),
  "arm64-16k": (o) => vmMachineSpec({ ...o, arch: "arm64", pageSize: 16384 }),
};

/**
 * `qemu:6G`, `qemu:4G,nodes=2`: the model of the guest `hvo vm --memory 6G --nodes 2` boots,
 * with `cmdline` after the runner's own parameters as the guest gets it. Bad specs are one-line
 * UsageErrors naming the part that is wrong.
 */
export function qemuMachine(arg: string, cmdline = ""): MachineSpec {
  const where = `--machine ${arg}`;
  const [memory, ...opts] = arg.slice("qemu:".length).split(",");
  if (!memory)
    throw new UsageError(`${where}: give the guest's memory, e.g. qemu:${DEFAULT_SHAPE.memory}`);
  let mib: number;
  try {
    mib = parseMemoryMiB(memory);
  } catch {
    throw new UsageError(`${where}: "${memory}" is not a memory size like 6G or 4096M`);
  }
  let nodes = DEFAULT_SHAPE.nodes;
  let arch = "x86_64";
  // initrd=BYTES: the size of the guest's initramfs (default: the project's own, 0: none).
  let initrdBytes: number | undefined;
  for (const o of opts) {
    const m = /^([a-z]+)=(.*)$/.exec(o);
    if (m?.[1] === "nodes" && /^[0-9]+$/.test(m[2])) nodes = Number(m[2]);
    else if (m?.[1] === "initrd" && /^[0-9]+$/.test(m[2])) initrdBytes = Number(m[2]);
    else if (m?.[1] === "initrd")
      throw new UsageError(`${where}: initrd=${m[2]} is not a size in bytes (0: no initrd)`);
    else if (m?.[1] === "arch" && m[2] in QEMU_MACHINES) arch = m[2];
    else if (m?.[1] === "nodes")
      throw new UsageError(`${where}: nodes=${m[2]} is not a number of nodes (1 to 8)`);
    else if (m?.[1] === "arch")
      throw new UsageError(
        `${where}: arch=${m[2]}: the guests are ${Object.keys(QEMU_MACHINES).join(", ")}`,
      );
    else throw new UsageError(`${where}: "${o}" is not nodes=N, arch=A or initrd=BYTES`);
  }
  try {
    return QEMU_MACHINES[arch]({
      memoryBytes: mib * 2 ** 20,
      nodes,
      cmdline,
      ...(initrdBytes !== undefined ? { initrdBytes } : {}),
    });
  } catch (e) {
    if (e instanceof MachineError) throw new UsageError(`${where}: ${e.message}`);
    throw e;
  }
}

/** The machine's own command line with `extra` after it (the kernel takes the last of a repeat). */
function withCmdline(spec: MachineSpec, extra: string | undefined): MachineSpec {
  if (extra === undefined) return spec;
  if (/[\n\r]/.test(extra)) throw new UsageError("--cmdline: one line of kernel parameters");
  const cmdline = [spec.cmdline, extra.trim()].filter(Boolean).join(" ");
  return { ...spec, cmdline };
}

function looksLikePath(arg: string): boolean {
  return arg.includes("/") || arg.includes("\\") || /\.(ya?ml|json)$/i.test(arg);
}

/**
 * Resolves --machine (and --cmdline, parameters after the machine's own) into a MachineSpec;
 * bad input is a UsageError naming the choices. Async because a machine file's parser (yaml and
 * zod) is loaded only when a file is given: a preset or the host costs no startup for it.
 */
export async function resolveMachine(
  arg: string | undefined,
  cmdline?: string,
): Promise<MachineSpec> {
  const name = arg ?? DEFAULT_MACHINE;
  if (cmdline !== undefined && /[\n\r]/.test(cmdline))
    throw new UsageError("--cmdline: one line of kernel parameters");
  if (name.startsWith("qemu:")) return qemuMachine(name, cmdline?.trim() ?? "");
  return withCmdline(await resolveMachineOnly(name), cmdline);
}

async function resolveMachineOnly(name: string): Promise<MachineSpec> {
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
        `--machine: ${what}: give a preset (${[...presetNames(), "host"].join(", ")}), qemu:SIZE[,nodes=N] or a machine file (YAML or JSON)`,
      );
    }
    const text = readFileSync(name, "utf8");
    const { parseMachineFile } = await import("../machine/load.ts");
    return parseMachineFile(text, name);
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
