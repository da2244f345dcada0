// The model's calibration of what the rest of the kernel holds after boot (src/kernel.ts
// takeOtherUsedPages(), MachineSpec.otherUsedPages / otherFreeUnmovablePages): the pages are
// taken with GFP_KERNEL, so they claim unmovable blocks, and the free pages a guest's
// /proc/pagetypeinfo shows in its Unmovable blocks stay free inside those blocks. The kernel's
// next unmovable pages (HVO's new vmemmap head pages, page tables) then land there, as in the
// guest, instead of claiming a fresh block next to the HugeTLB pool (mm/page_alloc.c
// __rmqueue(): __rmqueue_smallest() of the request's migratetype before __rmqueue_claim()).
import { describe, expect, it } from "vitest";
import { guestFreeUnmovablePages, vmMachineSpec } from "../../src/live/vm/machine.ts";
import type { MachineSpec } from "../../src/machine/spec.ts";
import { type Model, bootModel } from "../../src/model.ts";
import { GFP_KERNEL } from "../../src/mm/page_alloc.ts";

// The 2 GiB Linux 7.2 guest's /proc/pagetypeinfo right after boot (test/diff/vm_memory.test.ts's
// guest), the free-page part.
const PAGETYPEINFO = `Page block order: 9
Pages per block:  512

Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10
Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      1      1      0      0      0
Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      1      3
Node    0, zone    DMA32, type    Unmovable      1      0      1      0      0      1      1      1      0      1      0
Node    0, zone    DMA32, type      Movable      0      1      1      1      0      0      1      0      1      1    475
Node    0, zone    DMA32, type  Reclaimable      0      1      1      1      1      0      0      0      1      1      0

Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA      Isolate
Node 0, zone      DMA            1            7            0            0            0            0
Node 0, zone    DMA32           14         1000            2            0            0            0
`;

const base = vmMachineSpec({ memoryBytes: 2 * 2 ** 30, nodes: 1 });
const memFree = (m: Model) => Number(/MemFree:\s+(\d+)/.exec(m.read("/proc/meminfo"))?.[1]);
const claimedBlocks = (m: Model) => m.k.buddy.zones.reduce((s, z) => s + z.unmovableBlocks.size, 0);
const freeInClaimed = (m: Model) =>
  m.k.buddy.zones.reduce(
    (s, z) => s + z.unmovableArea.reduce((t, list, order) => t + list.count * 2 ** order, 0),
    0,
  );

describe("the kernel's own pages after boot, as a guest has them", () => {
  it("reads the free pages of the Unmovable lines, per node", () => {
    // DMA: one order-6 and one order-7 block, 64 + 128 = 192; DMA32: orders 0, 2, 5, 6, 7 and
    // 9 once each, 1 + 4 + 32 + 64 + 128 + 512 = 741. Together 933.
    expect(guestFreeUnmovablePages(base, PAGETYPEINFO)).toEqual([933]);
    expect(guestFreeUnmovablePages(base, "Page block order: 9\n")).toBeUndefined();
  });

  it("keeps MemFree and leaves the free pages inside the claimed blocks", () => {
    const plain: MachineSpec = { ...base, otherUsedPages: [20000] };
    const spare: MachineSpec = { ...plain, otherFreeUnmovablePages: [933] };
    const a = bootModel(plain, "mainline");
    const b = bootModel(spare, "mainline");
    // The same 20000 pages are in use either way: MemFree is the same.
    expect(memFree(b)).toBe(memFree(a));
    // 20000 = 19 x 1024 + 544: the 544 split one more claimed block, 480 of it free.
    expect(freeInClaimed(a)).toBe(1024 - 544);
    // With 933 asked for: 20000 - 933 = 19067 = 18 x 1024 + 635 in chunks (389 left free in the
    // last block), then 2 x 933 = 1866 single pages: 389 from there and 1477 from two more
    // claimed blocks (571 left free); every second one given back: 571 + 933 = 1504.
    expect(freeInClaimed(b)).toBe(1504);
  });

  it("the next 900 unmovable pages fit in the claimed blocks instead of claiming new ones", () => {
    const take = (m: Model) => {
      for (let i = 0; i < 900; i++)
        if (m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel") === null)
          throw new Error("allocation failed");
    };
    const plain = bootModel({ ...base, otherUsedPages: [20000] }, "mainline");
    const spare = bootModel(
      { ...base, otherUsedPages: [20000], otherFreeUnmovablePages: [933] },
      "mainline",
    );
    const before = [claimedBlocks(plain), claimedBlocks(spare)];
    take(plain);
    take(spare);
    // 900 > 480 free: one more 1024-page block claimed; 900 <= 933: none.
    expect(claimedBlocks(plain) - before[0]).toBe(1);
    expect(claimedBlocks(spare) - before[1]).toBe(0);
  });

  it("with the span of the unmovable blocks: those blocks full but for the guest's free pages", () => {
    // The 6 GiB guest's Normal zone (scenarios/vm-7.2-shared-6G-window.result.json): 16
    // Unmovable blocks of 512 pages, 238 pages free in them. The model claims blocks of 1,024.
    const six = vmMachineSpec({ memoryBytes: 6 * 2 ** 30, nodes: 1 });
    const cut = { ...six, otherUsedPages: [34755], otherFreeUnmovablePages: [238] };
    const plain = bootModel(cut, "mainline");
    const even = bootModel({ ...cut, otherUnmovablePages: [8192] }, "mainline");
    // 15 blocks of 512: the model cannot claim half a block, so 8 of 1,024 again.
    const odd = bootModel({ ...cut, otherUnmovablePages: [7680] }, "mainline");
    expect(memFree(even)).toBe(memFree(plain));
    expect(memFree(odd)).toBe(memFree(plain));
    // Without the span all 34,755 - 238 = 34,517 are cut into blocks: 33 full ones and 725
    // pages of a 34th, then 476 single pages: 299 there and 177 of a 35th, which keeps 847
    // free; every second single given back: 238 + 847 = 1,085.
    expect([claimedBlocks(plain), freeInClaimed(plain)]).toEqual([35, 1085]);
    // With it: 8 x 1,024 - 238 = 7,954 pages unmovable, 238 free; 26,801 movable outside.
    expect([claimedBlocks(even), freeInClaimed(even)]).toEqual([8, 238]);
    expect([claimedBlocks(odd), freeInClaimed(odd)]).toEqual([8, 238]);
  });
});
