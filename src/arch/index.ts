// The machine presets: one per architecture and page size, each a realistic one-node machine
// that callers may resize (memory, NUMA nodes), reconfigure (struct page size) or boot with
// another command line. The per-arch files hold the numbers and their kernel sources.

import {
  type ArchPresetDef,
  buildNodes,
  MachineError,
  rangesPages,
  splitIntoNodes,
} from "../machine/layout.ts";
import type { CpuFeatures, MachineSpec, StructPageSize } from "../machine/spec.ts";
import { arm64_4kPreset, arm64_16kPreset, arm64_64kPreset } from "./arm64.ts";
import { loongarch64Preset } from "./loongarch64.ts";
import { riscv64Preset } from "./riscv64.ts";
import { x86_64Preset } from "./x86_64.ts";

const PRESETS: readonly ArchPresetDef[] = [
  x86_64Preset,
  arm64_4kPreset,
  arm64_16kPreset,
  arm64_64kPreset,
  riscv64Preset,
  loongarch64Preset,
];

/** The built-in preset names, default first. */
export function presetNames(): string[] {
  return PRESETS.map((p) => p.preset);
}

export function presetDef(name: string): ArchPresetDef {
  const def = PRESETS.find((p) => p.preset === name);
  if (!def) {
    throw new MachineError(`unknown machine preset "${name}" (known: ${presetNames().join(", ")})`);
  }
  return def;
}

export interface PresetOverrides {
  /** RAM of the whole machine, laid out as the preset lays out its default size. */
  memoryBytes?: number;
  /** NUMA nodes sharing the memory evenly, split at section boundaries (default 1). */
  nodes?: number;
  /** sizeof(struct page): 64 by default. */
  structPageSize?: StructPageSize;
  cmdline?: string;
  /** CPU features that differ from the preset's (x86_64: {gbpages: false}). */
  cpu?: Partial<CpuFeatures>;
  /** Page-table levels where the arch has a choice (x86_64: 4 by default, or 5 for LA57). */
  pagingLevels?: number;
}

/**
 * The page-table depth of a machine of preset `def`: `given`, checked against the depths the
 * arch offers, or undefined for the arch's default. An arch with one fixed depth refuses any.
 */
export function resolvePagingLevels(
  def: ArchPresetDef,
  given: number | undefined,
): number | undefined {
  if (given === undefined) return undefined;
  if (!def.pagingLevels) {
    throw new MachineError(
      `pagingLevels: ${def.preset} has a fixed page-table depth (only x86_64 chooses 4 or 5)`,
    );
  }
  if (!def.pagingLevels.includes(given)) {
    throw new MachineError(
      `pagingLevels: ${def.preset} has ${def.pagingLevels.join("-level and ")}-level paging (${given})`,
    );
  }
  return given;
}

/**
 * The CPU features of a booted machine: its own, or its arch preset's when the spec was built
 * without any (a MachineSpec made by hand, the QEMU guest); undefined on an arch without any.
 */
export function machineCpu(spec: MachineSpec): CpuFeatures | undefined {
  if (spec.cpu) return { ...spec.cpu };
  const def = PRESETS.find((p) => p.preset === spec.arch.preset);
  return def?.defaultCpu ? { ...def.defaultCpu } : undefined;
}

/**
 * The CPU of a machine of preset `def`: the preset's features overridden by `given`. An arch
 * without CPU features refuses any (no feature of another arch applies to it).
 */
export function resolveCpu(
  def: ArchPresetDef,
  given: Partial<CpuFeatures> | undefined,
): CpuFeatures | undefined {
  const named = Object.keys(given ?? {});
  if (!def.defaultCpu) {
    if (named.length > 0) {
      throw new MachineError(
        `cpu: ${def.preset} has no CPU feature ${named.map((n) => `"${n}"`).join(", ")} (only x86_64 has gbpages)`,
      );
    }
    return undefined;
  }
  const cpu: CpuFeatures = { ...def.defaultCpu };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === undefined) continue;
    if (!(k in cpu)) {
      throw new MachineError(
        `cpu: unknown CPU feature "${k}" (known: ${Object.keys(cpu).join(", ")})`,
      );
    }
    if (typeof v !== "boolean") throw new MachineError(`cpu.${k}: must be true or false`);
    (cpu as unknown as Record<string, boolean>)[k] = v;
  }
  return cpu;
}

export const STRUCT_PAGE_SIZES: readonly StructPageSize[] = [56, 64, 72, 80];

export function machinePreset(name: string, overrides: PresetOverrides = {}): MachineSpec {
  const def = presetDef(name);
  const structPageSize = overrides.structPageSize ?? 64;
  if (!STRUCT_PAGE_SIZES.includes(structPageSize)) {
    throw new MachineError(`structPageSize: must be 56, 64, 72 or 80 (${structPageSize})`);
  }
  const memoryBytes = overrides.memoryBytes ?? def.defaultMemoryBytes;
  const ranges = def.layout(memoryBytes);
  const cpu = resolveCpu(def, overrides.cpu);
  const pagingLevels = resolvePagingLevels(def, overrides.pagingLevels);
  const arch = def.arch({ structPageSize, firstPfn: ranges[0].startPfn, cpu, pagingLevels });
  const maxPfn = 2 ** (arch.maxPhysmemBits - arch.pageShift);
  if (ranges[ranges.length - 1].endPfn > maxPfn) {
    throw new MachineError(
      `memory: ${memoryBytes} bytes end beyond MAX_PHYSMEM_BITS ${arch.maxPhysmemBits} of ${name}`,
    );
  }
  const pagesPerSection = 2 ** (arch.sectionShift - arch.pageShift);
  const perNode = splitIntoNodes(ranges, overrides.nodes ?? 1, pagesPerSection);
  const nodes = buildNodes(perNode, def.zoneLimits(ranges));
  if (rangesPages(ranges) === 0) throw new MachineError(`memory: ${name} has no memory`);
  const spec: MachineSpec = {
    name,
    arch,
    structPageSize,
    nodes,
    cmdline: overrides.cmdline ?? def.defaultCmdline,
  };
  if (cpu) spec.cpu = cpu;
  return spec;
}
