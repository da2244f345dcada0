// The per-folio rules of poolCounters() (invariants.ts): each folio of the pool is on a list or
// waiting to be freed, is counted on the node its head pfn lies on, heads a hugetlb allocation
// of its hstate's order, and every hugetlb allocation is a folio of the pool. poolCounters()
// judges them during observePool()'s pass and walks the pool again only to report: each rule
// broken alone must still be reported, on every design.
import { describe, expect, it } from "vitest";
import { poolCounters } from "../../src/check/invariants.ts";
import { bootCheckModel, checkMachineSpec, defaultCheckMachine } from "../../src/check/run.ts";
import { DESIGNS, type Design } from "../../src/kernel.ts";
import { type Hstate, hugetlbOf } from "../../src/mm/hugetlb.ts";

/** 2 nodes of 2 GiB each (defaultCheckMachine): 4 KiB pfns below 2 GiB are node 0's. */
const NODE1_PFN = (2 * 2 ** 30) / 4096;

function setup(design: Design) {
  const model = bootCheckModel(checkMachineSpec(defaultCheckMachine("x86_64")), design, null);
  const write = (path: string, v: string) => {
    model.write(path, v);
    model.settle();
  };
  write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "4");
  write("/sys/kernel/mm/hugepages/hugepages-1048576kB/nr_hugepages", "1");
  const pool = hugetlbOf(model.k);
  const h2m = pool.hstates.find((x) => x.sizeKb === 2048) as Hstate;
  const h1g = pool.hstates.find((x) => x.sizeKb === 1048576) as Hstate;
  const heads2m = [...pool.folios].filter(([, i]) => i.h === h2m).map(([p]) => p);
  expect(heads2m).toHaveLength(4);
  return { k: model.k, pool, h2m, h1g, head: heads2m[0] };
}

const details = (vs: Array<{ detail: string }>) => vs.map((v) => v.detail);

describe("poolCounters: the per-folio rules", () => {
  for (const design of DESIGNS) {
    it(`${design}: a clean pool of 4 x 2 MiB and 1 x 1 GiB gives nothing`, () => {
      const { k } = setup(design);
      expect(poolCounters(k)).toEqual([]);
    });

    it(`${design}: a folio counted on the wrong node`, () => {
      const { k, pool, head } = setup(design);
      const info = pool.folios.get(head);
      if (!info) throw new Error("no folio");
      const node = head < NODE1_PFN ? 0 : 1;
      info.nid = 1 - node;
      expect(poolCounters(k)).toContainEqual({
        invariant: "pool_counters",
        detail: `${info.h.name}: folio ${head} is counted on node ${1 - node}`,
        expected: `${node}`,
        actual: `${1 - node}`,
      });
    });

    it(`${design}: a folio on no list and not waiting to be freed`, () => {
      const { k, pool, head } = setup(design);
      const info = pool.folios.get(head);
      if (!info) throw new Error("no folio");
      info.list = null;
      expect(details(poolCounters(k))).toContain(
        `${info.h.name}: folio ${head} is on no list and not waiting to be freed`,
      );
    });

    it(`${design}: a folio on no list but waiting to be freed is fine`, () => {
      const { k, pool, head, h2m } = setup(design);
      const info = pool.folios.get(head);
      if (!info) throw new Error("no folio");
      // As if remove_hugetlb_folio() had run and the free were deferred: off its list and its
      // counts, on the list of folios to free.
      h2m.hugepageFreelists[info.nid].delete(head);
      h2m.freeHugePages--;
      h2m.freeHugePagesNode[info.nid]--;
      h2m.nrHugePages--;
      h2m.nrHugePagesNode[info.nid]--;
      info.list = null;
      pool.hpageFreelist.push(head);
      const vs = details(poolCounters(k));
      expect(vs.filter((d) => d.includes(`folio ${head} `))).toEqual([]);
    });

    it(`${design}: a folio on a node's free list that the pool files as in use`, () => {
      const { k, pool, head } = setup(design);
      const info = pool.folios.get(head);
      if (!info) throw new Error("no folio");
      const node = head < NODE1_PFN ? 0 : 1;
      // Still on its node's free list (and counted free there), but filed as in use.
      info.list = "active";
      expect(details(poolCounters(k))).toContain(
        `${info.h.name}: folio ${head} on node${node}'s free list is active on node ${node}`,
      );
    });

    it(`${design}: a 2 MiB folio filed under the 1 GiB hstate`, () => {
      const { k, pool, head, h1g } = setup(design);
      const info = pool.folios.get(head);
      if (!info) throw new Error("no folio");
      info.h = h1g;
      // order 9: 2 MiB of 4 KiB pages.
      expect(details(poolCounters(k))).toContain(
        `${h1g.name}: folio ${head} is alloc:hugetlb order 9`,
      );
    });

    it(`${design}: a hugetlb allocation no folio of the pool holds`, () => {
      const { k, pool, head } = setup(design);
      pool.folios.delete(head);
      expect(details(poolCounters(k))).toContain(
        `frames ${head}..${head + 511} are allocated as hugetlb but no folio of the pool holds them`,
      );
    });
  }
});
