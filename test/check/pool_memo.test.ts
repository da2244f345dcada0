// poolCounters() after every step reads each pool folio's head struct page (refcount 0 and
// HPG_freed: the folio is free) only when a frame-store or page-table write happened since it
// last read them (CheckContext.writes, counted by the checker's write watch); otherwise it keeps
// the verdicts it had. That must change nothing: the free counts it observes equal a fresh read
// after every step of seeded runs, on every design, and a write to a free folio's head struct
// page between two passes is seen by the second.
import { describe, expect, it } from "vitest";
import { checkContext, poolCounters, poolOf } from "../../src/check/invariants.ts";
import { observePool } from "../../src/check/pool_ref.ts";
import { bootCheckModel, checkMachineSpec } from "../../src/check/run.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { DESIGNS } from "../../src/kernel.ts";
import type { HugetlbPool } from "../../src/mm/hugetlb.ts";
import { checkModel, machine, runSeed } from "./seeded_steps.ts";

describe("poolCounters(): free verdicts kept between writes", () => {
  for (const design of DESIGNS)
    it(`${design}: the kept verdicts equal a fresh read after every step (seeds 1, 2; 200 ops)`, () => {
      for (const seed of [1, 2]) {
        const run = checkModel(design);
        const k = run.model.k;
        const c = checkContext(k);
        const pool = poolOf(k) as HugetlbPool;
        let kept = 0;
        let writesBefore = c.writes;
        runSeed(design, seed, 200, run, (i, step) => {
          poolCounters(k);
          if (c.writes === writesBefore && pool.folios.size > 0) kept++;
          c.mirror.refresh();
          const fresh = observePool(k, pool, (vpn) => c.mirror.frameOf(vpn));
          const memo = observePool(k, pool, (vpn) => c.mirror.frameOf(vpn), undefined, {
            memo: c.poolFree ?? { writes: -1, free: new Map() },
            writes: c.writes,
          });
          expect(memo, `seed ${seed} step ${i} (${step.op})`).toEqual(fresh);
          writesBefore = c.writes;
        });
        // Steps that wrote nothing with folios in the pool: the kept verdicts were used.
        expect(kept, `seed ${seed}`).toBeGreaterThan(0);
      }
    });

  for (const design of DESIGNS)
    it(`${design}: a free folio whose head refcount is written between two passes is seen`, () => {
      const model = bootCheckModel(checkMachineSpec(machine), design, null);
      model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
      model.settle();
      const k = model.k;
      expect(poolCounters(k)).toEqual([]);
      // Nothing written: the same (empty) verdict from the kept reads.
      expect(poolCounters(k)).toEqual([]);
      const c = checkContext(k);
      const pool = poolOf(k) as HugetlbPool;
      const head = [...pool.folios.keys()][0];
      // The head's refcount word, through the frame that backs it: 1 instead of 0 (a free folio
      // whose struct page no longer says free).
      const off = head * k.spec.structPageSize + PAGE_OFF.refcount;
      const vpn = Math.floor(off / k.pageSize);
      const frame = c.mirror.frameOf(vpn);
      expect(k.frames.readU32(frame, off - vpn * k.pageSize)).toBe(0);
      k.frames.writeU32(frame, off - vpn * k.pageSize, 1);
      const name = pool.folios.get(head)?.h.name;
      const nid = k.pfnToNid(head);
      // The folios' struct pages show 3 free pages, the counter 4.
      expect(poolCounters(k)).toContainEqual({
        invariant: "pool_counters",
        detail: `${name}: free_hugepages against the folios whose struct page says free`,
        expected: "3",
        actual: "4",
      });
      expect(poolCounters(k).map((v) => v.detail)).toContain(
        `${name}: node${nid} free list against the folios whose struct page says free`,
      );
    });
});
