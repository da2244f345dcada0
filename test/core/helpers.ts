// Small machines for core tests, built from the presets.
import { machinePreset } from "../../src/arch/index.ts";
import { type Design, Kernel } from "../../src/kernel.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";

export const GiB = 2 ** 30;

export function spec(preset = "x86_64", gib = 4, nodes = 1): MachineSpec {
  return machinePreset(preset, { memoryBytes: gib * GiB, nodes });
}

export function boot(s: MachineSpec, design: Design = "mainline"): Kernel {
  return new Kernel(s, { design }).boot();
}
