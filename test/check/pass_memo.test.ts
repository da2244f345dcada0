// The checker's passes that keep their verdicts while nothing they read changed: poolCounters()
// (kept with everything it reads: the pool's and its lists' versions, the frame-store and
// page-table writes, the buddy's and memblock's changes, the mirror's version and every hstate
// counter), the Checker's pool folio list (kept while HugetlbPool.version stands still) and
// sharedTails()'s byte comparison of a shared tail with its own bytes (kept while no write
// happened). A kept verdict must be the one a fresh pass gives: after every step of seeded runs
// on every design, with and without a deliberate bug, and after changes that write no frame.
import { describe, expect, it } from "vitest";
import { Checker } from "../../src/check/checker.ts";
import { checkContext, poolCounters, poolOf, sharedTails } from "../../src/check/invariants.ts";
import { Oops } from "../../src/include/errno.ts";
import { DESIGNS, type Mutation } from "../../src/kernel.ts";
import type { HugetlbPool } from "../../src/mm/hugetlb.ts";
import { checkModel, runSeed } from "./seeded_steps.ts";

/** A model with a Checker attached (its frame ledger counts the allocator's changes). */
function checked(design: (typeof DESIGNS)[number], mutation: Mutation | null = null) {
  const run = checkModel(design, mutation);
  const checker = new Checker(run.model.k);
  return { ...run, k: run.model.k, checker, pool: poolOf(run.model.k) as HugetlbPool };
}

/** poolCounters() without its kept verdict. */
function freshPoolCounters(k: Parameters<typeof poolCounters>[0] & { sub: object }) {
  const c = checkContext(k as never);
  const kept = c.poolMemo;
  c.poolMemo = undefined;
  const out = poolCounters(k);
  c.poolMemo = kept;
  return out;
}

describe("poolCounters(): the verdict kept while nothing it reads changed", () => {
  for (const design of DESIGNS)
    for (const mutation of [null, "surplus-limit-off-by-one", "leak-vmemmap-page"] as const)
      it(`${design}${mutation ? ` with ${mutation}` : ""}: equals a fresh pass after every step (seeds 1, 2; 200 ops)`, () => {
        let kept = 0;
        for (const seed of [1, 2]) {
          const run = checked(design, mutation);
          const { k, checker } = run;
          const c = checkContext(k);
          runSeed(design, seed, 200, run, (i, step) => {
            // The run goes on past findings: kept verdicts with violations in them too.
            checker.check();
            const hit = c.poolMemo !== undefined;
            const got = poolCounters(k);
            if (hit && c.poolMemo !== undefined) kept++;
            expect(got, `seed ${seed} step ${i} (${step.op})`).toEqual(freshPoolCounters(k));
          });
        }
        // The kept verdict was used (most steps write no frame and leave the pool alone).
        expect(kept).toBeGreaterThan(50);
      });

  for (const design of DESIGNS)
    it(`${design}: changes that write no frame are seen (a counter, a list, an allocation)`, () => {
      const { model, k, checker, pool } = checked(design);
      model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
      model.settle();
      expect(checker.check()).toEqual([]);
      const c = checkContext(k);
      const writes = c.writes;
      // Twice: the second from the kept verdict.
      expect(poolCounters(k)).toEqual([]);
      expect(poolCounters(k)).toEqual([]);
      const h = pool.hstates.find(
        (x) => x.name === "hugepages-2048kB",
      ) as HugetlbPool["hstates"][number];
      // A counter: nr_hugepages 5 against 4 folios.
      h.nrHugePages++;
      // No frame written: the hstate counters, not the write count, told the pass to read again.
      expect(c.writes).toBe(writes);
      expect(poolCounters(k).map((v) => v.detail)).toContain(
        `${h.name}: nr_hugepages against the folios in the pool`,
      );
      h.nrHugePages--;
      expect(poolCounters(k)).toEqual([]);
      // A list: a free folio taken off its free list (the list's version moves).
      const head = [...pool.folios.keys()][0];
      const nid = k.pfnToNid(head);
      const list = h.hugepageFreelists[nid];
      list.delete(head);
      const listed = poolCounters(k).map((v) => v.detail);
      expect(listed).toContain(
        `${h.name}: node${nid} free list against the folios whose struct page says free`,
      );
      list.add(head);
      // An allocation: the folio's frames handed to the kernel (the allocator's listeners).
      const beforeUse = c.writes;
      k.buddy.allocations.setUse(head, "kernel");
      // No frame written either: the allocator's change count told the pass.
      expect(c.writes).toBe(beforeUse);
      expect(poolCounters(k).map((v) => v.detail)).toContain(
        `${h.name}: folio ${head} is alloc:kernel order ${h.order}`,
      );
      k.buddy.allocations.setUse(head, "hugetlb");
      expect(poolCounters(k)).toEqual([]);
    });
});

/**
 * A checked model with HVO on and four 2 MiB folios, and a published shared tail f of it made to
 * hold bytes of its own, unshared (its violations so far dropped).
 */
function publishedSharedTail(design: (typeof DESIGNS)[number]) {
  const { model, k, checker } = checked(design);
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
  model.settle();
  expect(checker.check()).toEqual([]);
  const c = checkContext(k);
  const f = [...c.sharedTails.keys()].find((t) => c.mirror.mapCount(t) > 0) as number;
  expect(f, "a published shared tail").toBeDefined();
  k.frames.writeU32(f, 16, k.frames.readU32(f, 16));
  c.sharedTailWrites.splice(0);
  return { k, c, f };
}

describe("the watch sees a store view handed out in place (FrameStore.writableViewAt())", () => {
  for (const design of DESIGNS.filter((d) => d !== "legacy"))
    it(`${design}: a view of a published shared tail's own bytes is a write to it; a null answer is none`, () => {
      const { k, c, f } = publishedSharedTail(design);
      const writes = c.writes;
      // Bytes of its own, unshared: the view is handed out in place, asked to skip generated
      // frames as memmap.ts structPageView() asks.
      expect(k.frames.writableViewAt(f, 0, 64, true)).not.toBeNull();
      expect(c.sharedTailWrites.map((v) => v.detail)).toEqual([
        `writableViewAt() on shared tail frame ${f} after it was published`,
      ]);
      expect(c.writes).toBe(writes + 1);
      c.sharedTailWrites.splice(0);
      // A vmemmap page still as memmap_init() left it (struct pages inside a free block, from
      // the top of the last zone down), asked to skip such: nothing stored, nothing noted.
      const zones = k.buddy.zones;
      let init = -1;
      for (let p = zones[zones.length - 1].endPfn - 64; init < 0 && p > 0; p -= 64) {
        const frame = k.memmap.writableFrame(p);
        if (frame >= 0 && k.frames.readsAsInit(frame)) init = frame;
      }
      expect(init).toBeGreaterThanOrEqual(0);
      expect(k.frames.writableViewAt(init, 0, 64, true)).toBeNull();
      expect(c.sharedTailWrites).toEqual([]);
      expect(c.writes).toBe(writes + 1);
    });
});

describe("the watch sees a write that Oopses part-way", () => {
  for (const design of DESIGNS.filter((d) => d !== "legacy"))
    it(`${design}: a write to a published shared tail that Oopses once begun is a write to it`, () => {
      const { k, c, f } = publishedSharedTail(design);
      const writes = c.writes;
      // The store in place Oopses once it has begun (its change counts made, the bytes not yet).
      const frames = k.frames as unknown as Record<string, unknown>;
      frames.tableWrite = () => {
        throw new Oops("part-way");
      };
      try {
        expect(() => k.frames.writeU32(f, 16, 0)).toThrow("part-way");
      } finally {
        delete frames.tableWrite;
      }
      expect(c.sharedTailWrites.map((v) => v.detail)).toEqual([
        `writeU32() on shared tail frame ${f} after it was published`,
      ]);
      expect(c.writes).toBe(writes + 1);
    });
});

describe("sharedTails(): own bytes compared again only after a write", () => {
  for (const design of DESIGNS)
    it(`${design}: a kept comparison, then a write to a published shared tail is seen`, () => {
      const { model, k, checker } = checked(design);
      // HVO on (the session's reset switched it off), then folios for it to optimise.
      model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
      model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
      model.settle();
      expect(checker.check()).toEqual([]);
      expect(sharedTails(k)).toEqual([]);
      expect(sharedTails(k)).toEqual([]);
      const c = checkContext(k);
      const tails = [...c.sharedTails.keys()].filter((f) => c.mirror.mapCount(f) > 0);
      // legacy has no shared tail; the others publish at least one with HVO on.
      if (tails.length === 0) {
        expect(design).toBe("legacy");
        return;
      }
      const f = tails[0];
      // Bytes of its own first (a copy written in place), then a word changed.
      k.frames.writeU32(f, 16, k.frames.readU32(f, 16) ^ 0x10);
      const found = sharedTails(k);
      expect(found.map((v) => v.invariant)).toContain("shared_tail_written");
      expect(
        found.some((v) => v.detail.startsWith(`shared tail frame ${f} changed at byte 16`)),
      ).toBe(true);
      // Its own bytes now, taken as the new copy: no write since, nothing new (kept).
      expect(k.frames.hasOwnBytes(f)).toBe(true);
      expect(sharedTails(k)).toEqual([]);
      // A second write, the kept comparison must not hide it.
      k.frames.writeU32(f, 24, k.frames.readU32(f, 24) ^ 0x1);
      const again = sharedTails(k);
      expect(
        again.some((v) => v.detail.startsWith(`shared tail frame ${f} changed at byte 24`)),
      ).toBe(true);
    });
});
