// Scenario sizes by role (docs/FORMAT.md): `PMD`, `PUD`, `CONT_PTE` and `CONT_PMD` name the
// huge page size an architecture maps with that kind of entry, so that one scenario file runs on
// every preset and every kernel. The sizes come from the arch's own constants, as the kernel
// registers its hstates (arch/arm64/mm/hugetlbpage.c hugetlbpage_init(): PUD_SHIFT,
// CONT_PMD_SHIFT, PMD_SHIFT, CONT_PTE_SHIFT; arch/x86/mm/hugetlbpage.c: PMD_SIZE and, with
// GBPAGES, PUD_SIZE); whether the machine has that hstate is a separate question (arm64 16K and
// 64K have a PUD level but no PUD huge pages: pud_sect_supported() is true for 4K pages only).
//
// Also the bookkeeping both runners share for steps that are not run: a step whose role the
// machine lacks is skipped by name, and so are the steps that use what it would have made (a
// map id, a mount). Pure: no Node APIs.

import { machinePreset } from "../arch/index.ts";
import type { ArchSpec } from "../machine/spec.ts";
import type { HstateRole, Step } from "./format.ts";
import { hstateName, isHstateRole, sizeToKb } from "./names.ts";

/** What a role names on one arch: a shift, or why the arch has no such size. */
export type RoleShift = { shift: number } | { none: string };

/**
 * The shift of the huge page a role names on `arch`: PMD and PUD from its page-table levels
 * (the last level above the PTEs, and the one above that; a folded PUD is the top level's
 * size, as PUD_SHIFT is then PGDIR_SHIFT), CONT_PTE and CONT_PMD from arm64's contiguous bit.
 */
export function roleShift(arch: ArchSpec, role: HstateRole): RoleShift {
  const ls = arch.levelShifts;
  switch (role) {
    case "PMD":
      return ls.length >= 2
        ? { shift: ls[ls.length - 2] }
        : { none: `${arch.preset} has no PMD level` };
    case "PUD":
      return ls.length >= 3
        ? { shift: ls[ls.length - 3] }
        : { none: `${arch.preset} has no PUD level` };
    case "CONT_PTE":
    case "CONT_PMD":
      if (!arch.contShifts)
        return { none: `${arch.preset} has no contiguous-bit huge pages (arm64 has them)` };
      return { shift: role === "CONT_PTE" ? arch.contShifts.pte : arch.contShifts.pmd };
  }
}

/** The role's size in kB on `arch` (PMD on x86_64: 2048), or null where the arch has none. */
export function roleSizeKb(arch: ArchSpec, role: HstateRole): number | null {
  const r = roleShift(arch, role);
  return "shift" in r ? 2 ** (r.shift - 10) : null;
}

/** What the roles of a run resolve against: the arch's constants and the hstates it has. */
export interface RoleContext {
  /** The machine's arch; null when the kernel's arch is not one we know (no role resolves). */
  arch: ArchSpec | null;
  /** The hstates the machine or kernel has, in kB. */
  hstatesKb: readonly number[];
  /** "machine" (the model) or "kernel" (live, VM): how the skip reasons speak of it. */
  what: "machine" | "kernel";
}

/** A role resolved: the size name it stands for ("2M"), or why its steps are skipped. */
export type RoleAnswer = { size: string; kB: number } | { skip: string };

export function resolveRole(ctx: RoleContext, role: HstateRole): RoleAnswer {
  if (!ctx.arch) return { skip: `${role}: the roles of this ${ctx.what}'s arch are not known` };
  const r = roleShift(ctx.arch, role);
  if ("none" in r) return { skip: `${role}: ${r.none}` };
  const kB = 2 ** (r.shift - 10);
  const size = hstateName(kB);
  if (!ctx.hstatesKb.includes(kB))
    return { skip: `${role} (${size}): this ${ctx.what} has no ${kB}kB hstate` };
  return { size, kB };
}

/**
 * The arch of a kernel as `uname -m` and its page size name it, from our presets: its levels,
 * its PMD and PUD and contiguous sizes are the preset's. null for an arch we have no preset of.
 */
export function archOfKernel(machine: string, pageSize: number): ArchSpec | null {
  const preset =
    machine === "x86_64"
      ? "x86_64"
      : machine === "aarch64" || machine === "arm64"
        ? ({ 4096: "arm64-4k", 16384: "arm64-16k", 65536: "arm64-64k" } as Record<number, string>)[
            pageSize
          ]
        : machine === "riscv64" || machine === "loongarch64"
          ? machine
          : undefined;
  if (!preset) return null;
  const arch = machinePreset(preset).arch;
  return 2 ** arch.pageShift === pageSize ? arch : null;
}

/** `pagesize=ROLE` in mount options. */
const MOUNT_ROLE_RE = /(^|,)pagesize=(PMD|PUD|CONT_PTE|CONT_PMD)(?=,|$)/;

/**
 * A step with its roles replaced by the sizes they name (its `size`, the value of a
 * `demote_size` step, `pagesize=` of a mount): `step` is the step to run, `roles` what each role
 * became. `skip` when a role names no hstate of this machine: the step is not run.
 */
export function resolveStepRoles(
  step: Step,
  ctx: RoleContext,
): { step: Step; roles: Partial<Record<HstateRole, string>>; skip: string | null } {
  const roles: Partial<Record<HstateRole, string>> = {};
  let skip: string | null = null;
  const sub = (role: HstateRole): string | null => {
    const a = resolveRole(ctx, role);
    if ("skip" in a) {
      skip ??= a.skip;
      return null;
    }
    roles[role] = a.size;
    return a.size;
  };
  let out: Step = step;
  if ("size" in step && isHstateRole(step.size)) {
    const size = sub(step.size);
    if (size !== null) out = { ...out, size } as Step;
  }
  if (step.op === "demote_size" && isHstateRole(step.value)) {
    const size = sub(step.value);
    if (size !== null) out = { ...out, value: `${sizeToKb(size)}kB` } as Step;
  }
  if (step.op === "mount" && step.opts !== undefined) {
    const m = MOUNT_ROLE_RE.exec(step.opts);
    if (m) {
      const size = sub(m[2] as HstateRole);
      if (size !== null)
        out = { ...out, opts: step.opts.replace(MOUNT_ROLE_RE, `$1pagesize=${size}`) } as Step;
    }
  }
  return { step: out, roles, skip };
}

/**
 * The steps that depend on a skipped one: a touch or release of a map id whose map was skipped,
 * an umount or unlink under a mount that was skipped. One per scenario run.
 */
export class SkippedSteps {
  private readonly ids = new Map<string, string>();
  private readonly dirs = new Map<string, string>();

  /** Why `step` cannot run because of an earlier skipped step, or null. */
  dependsOnSkipped(step: Step): string | null {
    if ((step.op === "touch" || step.op === "release") && this.ids.has(step.id))
      return `map ${step.id} was skipped (${this.ids.get(step.id)})`;
    const p = step.op === "umount" ? step.dir : step.op === "unlink" ? step.path : null;
    if (p === null) return null;
    for (const [dir, why] of this.dirs)
      if (p.replace(/\/+$/, "") === dir || p.startsWith(`${dir}/`))
        return `the mount on ${dir} was skipped (${why})`;
    return null;
  }

  /** Notes the outcome of a step: skipped (with why) or run. */
  note(step: Step, skipped: string | null): void {
    if (step.op === "map") {
      if (skipped === null) this.ids.delete(step.id);
      else this.ids.set(step.id, skipped);
    }
    if (step.op === "mount") {
      const dir = step.dir.replace(/\/+$/, "");
      if (skipped === null) this.dirs.delete(dir);
      else this.dirs.set(dir, skipped);
    }
  }
}
