// hvo vm FILE: the scenario file on a real kernel (Debian's Linux 7.2 by default, or the
// user's own) booted under QEMU, reported as hvo-result/1 like hvo live.
import fs from "node:fs";
import { HvoexecError } from "../../live/hvoexec.ts";
import { loadScenarioJson, recordVm, runVm, type VmResult } from "../../live/vm/run.ts";
import { fetchArm64Busybox, resolveKernel, VmSetupError } from "../../live/vm/pieces.ts";
import { parseMemoryMiB } from "../../live/vm/qemu.ts";
import { FormatError } from "../../scenario/names.ts";
import { formatResult } from "../../scenario/text.ts";
import { type Io, UsageError } from "../io.ts";
import { rawWithoutReset } from "../scenario_arg.ts";

/** Options of `hvo vm` (src/cli/register/vm.ts). */
export interface VmFlags {
  /** false with --no-reset. */
  reset?: boolean;
  kernel: string;
  memory?: string;
  nodes?: string;
  cmdline?: string;
  json?: boolean;
  install?: boolean;
  only?: string[];
  record?: string;
  rounds: string;
  fetchKernel?: boolean;
}

export function formatVmResult(r: VmResult): string {
  const lines: string[] = [`${r.machine}  ${r.kernel ?? ""}`];
  for (const t of r.timings) {
    const shape = `${t.shape.memory}, ${t.shape.nodes} node(s)${t.shape.cmdline ? `, ${t.shape.cmdline}` : ""}`;
    lines.push(`boot ${(t.bootMs / 1000).toFixed(1)} s  [${shape}]`);
  }
  return formatResult(r, lines.join("\n"));
}

/**
 * The guest's shape from --memory, --nodes and --cmdline (hvo vm, and hvo diff --against vm:),
 * each checked (a bad one is a UsageError naming its flag); what is not given is left to the
 * run's default.
 */
export function guestShape(f: { memory?: string; nodes?: string; cmdline?: string }): {
  memory?: string;
  nodes?: number;
  cmdline?: string;
} {
  const shape: { memory?: string; nodes?: number; cmdline?: string } = {};
  if (f.memory !== undefined) {
    try {
      parseMemoryMiB(f.memory);
    } catch {
      // The user's mistake, not a VM that could not be had.
      throw new UsageError(`--memory ${f.memory}: not a memory size (like 6G or 4096M)`);
    }
    shape.memory = f.memory;
  }
  if (f.nodes !== undefined) {
    const n = Number(f.nodes);
    if (!Number.isInteger(n) || n < 1 || n > 8)
      throw new UsageError(`--nodes ${f.nodes}: a number from 1 to 8`);
    shape.nodes = n;
  }
  if (f.cmdline !== undefined) shape.cmdline = f.cmdline;
  return shape;
}

export async function vmAction(io: Io, file: string | undefined, flags: VmFlags): Promise<void> {
  const progress = (line: string) => io.err(`hvo vm: ${line}\n`);
  try {
    if (flags.fetchKernel) {
      const k = await resolveKernel(flags.kernel, {
        install: true,
        log: (s) => progress(s.trimEnd()),
      });
      // An arm64 guest also needs Debian's arm64 busybox for its initramfs.
      if (k.arch === "arm64")
        await fetchArm64Busybox({ install: true, log: (s) => progress(s.trimEnd()) });
      io.out(`${k.name}: ${k.image}${k.package ? ` (${k.package} ${k.packageVersion})` : ""}\n`);
      return;
    }
    if (!file) throw new UsageError("hvo vm needs a scenario FILE");
    const shape = guestShape(flags);
    const raw = rawWithoutReset(loadScenarioJson(file), flags.reset);
    const opts = {
      kernel: flags.kernel,
      shape,
      install: flags.install,
      only: flags.only,
      progress,
    };
    if (flags.record) {
      const rounds = Number(flags.rounds);
      if (!Number.isInteger(rounds) || rounds < 1)
        throw new UsageError(`--rounds ${flags.rounds}: a positive number`);
      const rec = await recordVm(raw, rounds, opts);
      fs.writeFileSync(flags.record, `${JSON.stringify(rec, null, 1)}\n`);
      progress(`wrote ${flags.record}`);
      return;
    }
    const result = await runVm(raw, opts);
    io.out(flags.json ? `${JSON.stringify(result, null, 1)}\n` : formatVmResult(result));
  } catch (e) {
    if (e instanceof VmSetupError || e instanceof FormatError || e instanceof HvoexecError)
      throw new UsageError(e.message);
    throw e;
  }
}
