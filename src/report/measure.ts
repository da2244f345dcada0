// Runs the report's pool in the model: boot, enable HVO (vm.hugetlb_optimize_vmemmap = 1),
// grow each hstate's pool with an nr_hugepages write, and read the counters back, as a user
// would on a real machine. Each size runs on its own freshly booted machine when the sizes
// are alternatives (the default pool), on one machine when the user gave a pool.
//
// The default pool is measured on at most MEASURE_CAP folios per size, and not at all for
// gigantic sizes (optimising one 1 GiB folio costs the model about 0.1 s), so that a first
// `hvo report` prints within a second; the per-folio numbers do not depend on the pool's size
// (bar the first shared tail and PMD split), and `--pool SIZE:N` measures exactly N.
// The counters come from the model's /proc/vmstat, /proc/meminfo and sysfs files; shared tails
// and page-table pages, which no file shows, from the allocator's records.

import type { Design, Kernel } from "../kernel.ts";
import type { MachineSpec } from "../machine/spec.ts";
import type { HugetlbPool } from "../mm/hugetlb.ts";
import type { HvoCore } from "../mm/hugetlb_vmemmap.ts";
import type { HstateArithmetic } from "./hstates.ts";
import { type FolioPicture, walkFolioVmemmap } from "./picture.ts";
import type { PoolRequest } from "./pool.ts";
import { type BootedModel, bootWithPool } from "./state.ts";
import { hex } from "./units.ts";

/** Folios measured per size for the default pool: buddy-allocated and gigantic. */
export const MEASURE_CAP = { buddy: 64, gigantic: 0 };

export interface MeasuredHstate {
  name: string;
  asked: number;
  /** nr_hugepages read back */
  got: number;
  /** (nr_memmap_pages + nr_memmap_boot_pages) after minus before */
  memmap_delta: number;
  /** -got x freed_per_folio: what vmemmap_dedup.rst's arithmetic says */
  expected_memmap_delta: number;
  /** shared tail pages published (seed: per node and order, mainline: per zone and order) */
  shared_tail_pages: number;
  /** page-table pages allocated (vmemmap PMD splits) */
  pagetable_pages: number;
  /** MemFree change in pages (the pool's pages taken, the freed vmemmap given back) */
  memfree_delta_pages: number;
  hugepages_total: number | null;
}

export interface MeasuredPool {
  /** the pool measured is smaller than the one priced (default pool, capped) */
  capped: boolean;
  hstates: MeasuredHstate[];
  pictures: FolioPicture[];
  notes: string[];
}

/** Whether the model has a HugeTLB pool and HVO to run. */
export function modelHasPool(): boolean {
  return true;
}

interface Snapshot {
  memmap: number;
  pagetables: number;
  memFreeKb: number;
}

function kv(text: string, key: string): number {
  const m = new RegExp(`^${key}:?\\s+(\\d+)`, "m").exec(text);
  if (!m) throw new RangeError(`the model's files have no ${key}`);
  return Number(m[1]);
}

function snapshot(m: BootedModel): Snapshot {
  m.model.settle();
  const vmstat = m.model.read("/proc/vmstat");
  let pagetables = 0;
  for (const a of m.k.buddy.allocations.values())
    if (a.use === "pagetable") pagetables += 2 ** a.order;
  return {
    memmap: kv(vmstat, "nr_memmap_pages") + kv(vmstat, "nr_memmap_boot_pages"),
    pagetables,
    memFreeKb: kv(m.model.read("/proc/meminfo"), "MemFree"),
  };
}

function sharedTails(hvo: HvoCore): number {
  let n = 0;
  for (const v of hvo.vmemmapTails.values()) if (v) n++;
  return n;
}

/** One folio of the hstate from the pool's free lists (the most recently added). */
function someFolio(pool: HugetlbPool, order: number): number | null {
  const h = pool.hstateOfOrder(order);
  if (!h) return null;
  for (const list of h.hugepageFreelists) if (list.head !== -1) return list.head;
  return null;
}

function grow(
  m: BootedModel,
  h: HstateArithmetic,
  asked: number,
): MeasuredHstate & { head: number | null } {
  const { k, pool, hvo, model } = m;
  const hs = pool.hstateOfOrder(h.order);
  if (!hs) throw new RangeError(`the model has no ${h.name} hstate`);
  const dir = `/sys/kernel/mm/hugepages/hugepages-${h.size_kb}kB`;
  const before = snapshot(m);
  const tailsBefore = sharedTails(hvo);
  const nr = Number(model.read(`${dir}/nr_hugepages`).trim());
  model.write(`${dir}/nr_hugepages`, String(nr + asked));
  const after = snapshot(m);
  const got = Number(model.read(`${dir}/nr_hugepages`).trim()) - nr;
  const meminfo = model.read("/proc/meminfo");
  const isDefault = kv(meminfo, "Hugepagesize") === h.size_kb;
  return {
    name: h.name,
    asked,
    got,
    memmap_delta: after.memmap - before.memmap,
    expected_memmap_delta: -got * h.freed_per_folio,
    shared_tail_pages: sharedTails(hvo) - tailsBefore,
    pagetable_pages: after.pagetables - before.pagetables,
    memfree_delta_pages: ((after.memFreeKb - before.memFreeKb) * 1024) / k.pageSize,
    hugepages_total: isDefault ? kv(meminfo, "HugePages_Total") : null,
    head: someFolio(pool, h.order),
  };
}

function modelPicture(
  h: HstateArithmetic,
  twin: Kernel,
  after: Kernel,
  head: number,
): FolioPicture {
  // The same pfn on a freshly booted twin (boot is deterministic) shows the layout before HVO.
  const notes: string[] = [];
  const runs = walkFolioVmemmap(after, head, h.order);
  const optimised = runs.some((r) => r.role !== "own");
  if (!optimised) notes.push("this folio was not optimised (HVO did not apply)");
  return {
    hstate: h.name,
    order: h.order,
    head_pfn: head,
    vaddr_start: hex(after.memmap.vaddrOf(head)),
    vmemmap_pages: h.vmemmap_pages,
    before: walkFolioVmemmap(twin, head, h.order),
    after: optimised ? runs : null,
    source_before: "model",
    source_after: optimised ? "model" : null,
    notes,
  };
}

export function measurePool(
  spec: MachineSpec,
  design: Design,
  request: PoolRequest,
  hstates: readonly HstateArithmetic[],
  /** a freshly booted machine of the same spec and design, left untouched */
  fresh: Kernel,
): MeasuredPool {
  const out: MeasuredHstate[] = [];
  const pictures: FolioPicture[] = [];
  const notes: string[] = [];
  let capped = false;
  const skipped: string[] = [];
  const sizes = hstates.filter((h) => {
    if ((request.counts.get(h.name) ?? 0) === 0) return false;
    if (!request.explicit && h.gigantic && MEASURE_CAP.gigantic === 0) {
      skipped.push(h.name);
      return false;
    }
    return true;
  });
  let shared: BootedModel | null = null;
  for (const h of sizes) {
    let asked = request.counts.get(h.name) ?? 0;
    if (!request.explicit) {
      const cap = h.gigantic ? MEASURE_CAP.gigantic : MEASURE_CAP.buddy;
      if (asked > cap) {
        asked = cap;
        capped = true;
      }
    }
    // Alternatives each get a fresh machine; a given pool is grown on one machine, size by size.
    if (request.explicit && shared === null) shared = bootWithPool(spec, design);
    const m = request.explicit && shared !== null ? shared : bootWithPool(spec, design);
    m.model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
    const r = grow(m, h, asked);
    const { head, ...line } = r;
    out.push(line);
    if (head !== null && h.vmemmap_pages >= 1) pictures.push(modelPicture(h, fresh, m.k, head));
  }
  if (capped) {
    notes.push(
      `the default pool is measured on at most ${MEASURE_CAP.buddy} folios per size; --pool SIZE:N measures N`,
    );
  }
  if (skipped.length > 0) {
    const eg = `${skipped[0]}:2`;
    notes.push(
      `gigantic sizes (${skipped.join(", ")}) are measured when --pool names them, e.g. --pool ${eg}`,
    );
  }
  return { capped, hstates: out, pictures, notes };
}
