// The model as other commands use it: one booted machine with the HugeTLB pool, HVO of the
// chosen design, hugetlbfs, a process's mappings and the virtual files (init/main.c's boot plus
// the initcalls of mm/hugetlb.c and mm/hugetlb_vmemmap.c). Browser-safe.

import { type Design, DESIGNS, Kernel, type Mutation } from "./kernel.ts";
import type { MachineSpec } from "./machine/spec.ts";
import { Hugetlbfs } from "./fs/hugetlbfs.ts";
import { Vfs } from "./fs/vfs.ts";
import type { Faults } from "./mm/fault_inject.ts";
import { HugetlbPool } from "./mm/hugetlb.ts";
import { createHugetlbVmemmap } from "./mm/hugetlb_vmemmap.ts";
import type { HugetlbVmemmap } from "./mm/hugetlb_vmemmap_api.ts";
import { MemoryHotplug } from "./mm/memory_hotplug.ts";
import { HugetlbMm } from "./mm/process.ts";
import type { FastPaths } from "./mm/fast_paths.ts";

export interface ModelOptions {
  faults?: Faults;
  /** Deliberate bugs for the checker (src/kernel.ts MUTATIONS). */
  mutations?: Iterable<Mutation>;
  /** Another HVO implementation (tests); default createHugetlbVmemmap(k) of the design. */
  vmemmap?: (k: Kernel) => HugetlbVmemmap;
  /** CONFIG_DEBUG_VM (src/mm/debug_vm.ts); default the design's kernel config (off). */
  debugVm?: boolean;
  /** Kernel.resched: called at cond_resched() points, from the start of boot (the CLI's watch). */
  resched?: () => void;
  /** The fast paths' switches (src/mm/fast_paths.ts) from the start of boot; default all on. */
  paths?: FastPaths;
}

export interface Model {
  k: Kernel;
  pool: HugetlbPool;
  vmemmap: HugetlbVmemmap;
  hugetlbfs: Hugetlbfs;
  mm: HugetlbMm;
  /** Memory blocks and their offline/online (/sys/devices/system/memory). */
  hotplug: MemoryHotplug;
  vfs: Vfs;
  /** Runs deferred work (free_hpage_work) to completion: the counters settle. */
  settle(): void;
  read(path: string): string;
  write(path: string, text: string): void;
  readBinary(path: string, offset: number, length: number): Uint8Array;
}

export class UnknownDesignError extends Error {
  constructor(design: string) {
    super(`unknown design "${design}" (known: ${DESIGNS.join(", ")})`);
    this.name = "UnknownDesignError";
  }
}

export function isDesign(d: string): d is Design {
  return (DESIGNS as readonly string[]).includes(d);
}

/** Boots `spec` with the HVO design and returns the model. */
export function bootModel(
  spec: MachineSpec,
  design: Design | string = "mainline",
  opts: ModelOptions = {},
): Model {
  if (!isDesign(design)) throw new UnknownDesignError(design);
  const k = new Kernel(spec, {
    design,
    faults: opts.faults,
    hooks: [],
    mutations: opts.mutations,
    debugVm: opts.debugVm,
    paths: opts.paths,
  });
  k.resched = opts.resched ?? null;
  const vmemmap = (opts.vmemmap ?? createHugetlbVmemmap)(k);
  const pool = new HugetlbPool(k, vmemmap);
  k.hooks.push(pool.bootHooks());
  k.boot();
  const hugetlbfs = new Hugetlbfs(pool);
  const mm = new HugetlbMm(pool, hugetlbfs);
  const settle = () => pool.flushFreeHpageWork();
  const hotplug = new MemoryHotplug(k, pool);
  const vfs = new Vfs({ k, pool, vmemmap, settle, hotplug });
  return {
    k,
    pool,
    vmemmap,
    hugetlbfs,
    mm,
    hotplug,
    vfs,
    settle,
    read: (p) => vfs.read(p),
    write: (p, t) => vfs.write(p, t),
    readBinary: (p, o, l) => vfs.readBinary(p, o, l),
  };
}
