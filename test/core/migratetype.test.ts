// mm/page_alloc.c's migratetypes as the model keeps them (per MAX_PAGE_ORDER block): an
// unmovable allocation (no __GFP_MOVABLE) that finds no free page in a block unmovable
// allocations already hold claims a whole free block (__rmqueue_claim(): the largest free
// block, whose pageblocks all change type), so the kernel's run-time pages (vmemmap, page
// tables) gather in a few blocks instead of spreading over the ranges gigantic pages need.
// Movable allocations (HugeTLB pages) keep out of claimed blocks while other memory is free.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL } from "../../src/mm/page_alloc.ts";

const boot = () =>
  bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30, nodes: 1 }), "mainline");

describe("unmovable pages gather in claimed MAX_PAGE_ORDER blocks", () => {
  it("2048 order-0 GFP_KERNEL pages fill exactly two 4 MiB blocks (1024 pages each)", () => {
    const m = boot();
    const max = 2 ** m.k.buddy.maxOrder;
    const blocks = new Set<number>();
    for (let i = 0; i < 2 * max; i++) {
      const pfn = m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel");
      if (pfn === null) throw new Error("allocation failed");
      blocks.add(Math.floor(pfn / max));
    }
    expect(blocks.size).toBe(2);
  });

  it("a freed unmovable page is reused by the next unmovable allocation, not a movable one", () => {
    const m = boot();
    const a = m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel");
    if (a === null) throw new Error("allocation failed");
    const max = 2 ** m.k.buddy.maxOrder;
    // An order-9 movable allocation (a 2 MiB HugeTLB page) goes elsewhere than the claimed block.
    const huge = m.k.buddy.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 9, "test", "hugetlb");
    if (huge === null) throw new Error("allocation failed");
    expect(Math.floor(huge / max)).not.toBe(Math.floor(a / max));
    m.k.buddy.freePages(a, 0);
    expect(m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel")).toBe(a);
  });

  it("a claimed block that is wholly free again is movable again", () => {
    const m = boot();
    const max = 2 ** m.k.buddy.maxOrder;
    const a = m.k.buddy.allocPagesNode(0, GFP_KERNEL, 0, "test", "kernel");
    if (a === null) throw new Error("allocation failed");
    m.k.buddy.freePages(a, 0);
    // The merged block went back to the head of the top list: the next top-order movable
    // allocation takes it.
    const huge = m.k.buddy.allocPagesNode(
      0,
      GFP_HIGHUSER_MOVABLE,
      m.k.buddy.maxOrder,
      "test",
      "hugetlb",
    );
    expect(huge !== null && Math.floor(huge / max) === Math.floor(a / max)).toBe(true);
  });
});
