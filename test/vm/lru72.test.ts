// Free-list links in struct pages (lru: +8 next, +16 prev) on Linux 7.2 (Debian's 7.2.13 under
// QEMU, read through /proc/kcore by hvokcore) against the model of the same guest
// (docs/struct-page-lru.md):
//   - the free MAX_PAGE_ORDER blocks: wherever the guest and the model agree that a block and
//     its neighbours on the list are free, its links are the same words (the neighbours'
//     &page->lru or &NODE_DATA(0)->node_zones[z].free_area[10].free_list[MIGRATE_MOVABLE]);
//   - the pool: the boot-time 1 GiB folios are linked on &hstates[0].hugepage_freelists[0];
//     2 MiB folios allocated at run time on &hstates[1].hugepage_freelists[0], newest first, in
//     both (which pfns the two allocate is not compared here).
//
// Needs QEMU, busybox-static, zstd, gcc and the Debian 7.2 kernel (installed where we are root
// and the archive is reachable); elsewhere every test skips with the reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vmMachineSpec } from "../../src/live/vm/machine.ts";
import { type BootedVm, openVm, shutdown } from "../../src/live/vm/run.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { vmPiecesUnavailable } from "./pieces.ts";

const CMDLINE = "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on";
const VMEMMAP_BASE = 0xffffea0000000000n;
/** MAX_PAGE_ORDER on x86_64: blocks of 1024 pages. */
const MAX_BLOCK = 1024;
/** PGTY_buddy in page_type's top byte (include/linux/page-flags.h). */
const PGTY_BUDDY = 0xf0;
/** The 2 MiB pool's nr_hugepages. */
const NR_2M = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";

let unavailable: string | null = null;
let vm: BootedVm | null = null;

beforeAll(async () => {
  unavailable = await vmPiecesUnavailable("test/vm/lru72");
  if (unavailable) return;
  vm = await openVm({ memory: "6G", nodes: 1, cmdline: CMDLINE });
}, 600_000);

afterAll(async () => {
  if (vm) await shutdown(vm);
});

async function rawWords(pfn: number): Promise<bigint[] | null> {
  const r = (await (vm as BootedVm).ch.request("rawpage", { pfn })) as unknown as {
    pages?: { words: string[] | null }[];
  };
  // No words: the struct page is not mapped (a hole between sections).
  const words = r.pages?.[0]?.words;
  return words ? words.map((w) => BigInt(w)) : null;
}

const isFreeMaxHead = (w: bigint[] | null | undefined): boolean =>
  !!w && Number((w[6] & 0xffffffffn) >> 24n) === PGTY_BUDDY && w[5] === 10n;

/** The pfn whose &page->lru a word is, or null (a list head, poison, anything else). */
function lruPfn(word: bigint): number | null {
  const off = word - VMEMMAP_BASE - 8n;
  return off >= 0n && off < 1n << 40n && off % 64n === 0n ? Number(off / 64n) : null;
}

function modelWords(m: Model, pfn: number): bigint[] {
  const v = new DataView(m.k.memmap.readStructPage(pfn).buffer);
  return Array.from({ length: 8 }, (_, i) => v.getBigUint64(i * 8, true));
}

describe("Linux 7.2 vs the model: free-list links in struct pages (6 GiB, two boot-time 1 GiB pages)", () => {
  it("free MAX_PAGE_ORDER blocks whose neighbours both sides hold free: the same lru words", async (ctx) => {
    if (!vm) return ctx.skip(unavailable ?? "no VM");
    const spec = vmMachineSpec({ memoryBytes: 6 * 2 ** 30, nodes: 1, cmdline: CMDLINE });
    const m = bootModel(spec, "mainline");
    const kernel = new Map<number, bigint[]>();
    const end = Math.max(...spec.nodes.flatMap((n) => n.ranges.map((r) => r.endPfn)));
    for (let p = 0; p < end; p += MAX_BLOCK) {
      const w = await rawWords(p);
      if (w) kernel.set(p, w);
    }
    const bothFree = (p: number) => isFreeMaxHead(kernel.get(p)) && m.k.buddy.headOrder(p) === 10;
    let compared = 0;
    let toListHead = 0;
    const diffs: string[] = [];
    for (const [p, w] of kernel) {
      if (!bothFree(p)) continue;
      // Both neighbours (a block, or the list head) must be free blocks on both sides too.
      const mine = modelWords(m, p);
      const ends = [w[1], w[2], mine[1], mine[2]].map(lruPfn);
      if (ends.some((q) => q !== null && !bothFree(q))) continue;
      compared++;
      if (ends[0] === null || ends[1] === null) toListHead++;
      for (const i of [1, 2])
        if (w[i] !== mine[i])
          diffs.push(
            `pfn ${p} word ${i}: 7.2 0x${w[i].toString(16)}, model 0x${mine[i].toString(16)}`,
          );
    }
    // Arithmetic of the guest: [16 MiB, 3 GiB) and [4, 7) GiB hold about 1.1 Mi free pages.
    expect(compared).toBeGreaterThan(500);
    // The DMA zone's list (pfns 1024..3071): both ends are its list head.
    expect(toListHead).toBeGreaterThan(0);
    expect(diffs).toEqual([]);
  }, 300_000);

  it("the pool's free lists: boot-time 1 GiB folios on hstates[0], run-time 2 MiB folios on hstates[1]", async (ctx) => {
    if (!vm) return ctx.skip(unavailable ?? "no VM");
    const spec = vmMachineSpec({ memoryBytes: 6 * 2 ** 30, nodes: 1, cmdline: CMDLINE });
    const m = bootModel(spec, "mainline");
    // The boot-time folios: 4 GiB and 5 GiB on the guest (test/vm/boot72.test.ts), the same
    // pfns in the model; their heads' links are the same words.
    for (const head of [0x100000, 0x140000]) {
      const w = await rawWords(head);
      expect(w?.slice(1, 3)).toEqual(modelWords(m, head).slice(1, 3));
    }
    // Four 2 MiB folios: in both, the list from hstates[1].hugepage_freelists[0] holds four
    // heads, and its ends link to the same list head (a kernel image address).
    const r = await (vm as BootedVm).ch.request("write", { path: NR_2M, value: "4" });
    expect(r.ok).toBe(true);
    m.write(NR_2M, "4");
    m.settle();
    const mineList = [...m.pool.hstates[1].hugepageFreelists[0]];
    expect(mineList).toHaveLength(4);
    const listHead = modelWords(m, mineList[0])[2];
    expect(listHead >= 0xffffffff80000000n).toBe(true);
    // The guest's list, walked from its first entry (found by its lru.prev) along lru.next.
    const kernelList: number[] = [];
    for (let p = 0; p < 7 * 2 ** 18; p += 512) {
      const w = await rawWords(p);
      if (w && w[2] === listHead) kernelList.push(p);
    }
    expect(kernelList).toHaveLength(1);
    for (;;) {
      const w = (await rawWords(kernelList[kernelList.length - 1])) as bigint[];
      if (w[1] === listHead) break;
      const next = lruPfn(w[1]);
      expect(next).not.toBeNull();
      kernelList.push(next as number);
      expect(kernelList.length).toBeLessThanOrEqual(4);
    }
    expect(kernelList).toHaveLength(4);
    expect(modelWords(m, mineList[3])[1]).toBe(listHead);
  }, 300_000);
});
