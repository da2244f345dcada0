import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Oops } from "../../src/include/errno.ts";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import {
  decodeCompoundHead,
  encodeTail,
  maxFolioVmemmapAlign,
  PG,
  nrVmemmapTails,
  vmemmapTailMinOrder,
} from "../../src/include/page_flags.ts";
import { GFP_HIGHUSER_MOVABLE, __GFP_THISNODE } from "../../src/mm/page_alloc.ts";
import { machinePreset } from "../../src/arch/index.ts";
import { Kernel } from "../../src/kernel.ts";
import { GiB, boot, spec } from "./helpers.ts";

describe("tail encodings (include/linux/page-flags.h)", () => {
  it("an order-9 tail with a 64-byte struct page stores 0xFFFFFFFFFFFF8001 (SPEC §1.2)", () => {
    // GENMASK(63, 9 + 6) | 1
    expect(encodeTail("mask", 9, 0n, 6)).toBe(0xffffffffffff8001n);
  });
  it("an order-18 tail stores 0xFFFFFFFFFF000001 (GENMASK(63, 24) | 1)", () => {
    expect(encodeTail("mask", 18, 0n, 6)).toBe(0xffffffffff000001n);
  });
  it("the pointer encoding stores the head's address | 1", () => {
    expect(encodeTail("pointer", 9, 0xffffea0004000000n, 6)).toBe(0xffffea0004000001n);
  });
  it("the mask finds the head from the tail's own address", () => {
    const head = 0xffffea0004000000n;
    const tail = head + 100n * 64n;
    expect(decodeCompoundHead("mask", tail, encodeTail("mask", 9, head, 6))).toBe(head);
    expect(decodeCompoundHead("mask", head, 0n)).toBe(head);
  });
  it("has the series' constants for 4K, 16K and 64K pages (research/series.md §6)", () => {
    expect([12, 14, 16].map((s) => vmemmapTailMinOrder(s, 6))).toEqual([7, 9, 11]);
    expect([12, 14, 16].map((s) => nrVmemmapTails(s, 6))).toEqual([16, 12, 8]);
    expect([12, 14, 16].map((s) => maxFolioVmemmapAlign(s, 64))).toEqual([
      256n << 20n,
      64n << 20n,
      16n << 20n,
    ]);
  });
});

describe("compound pages through the vmemmap", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`compound_head() of every pfn of folios of every order is the head (${design})`, () => {
      const k = boot(spec("x86_64", 2), design);
      for (let order = 1; order <= 10; order++) {
        const head = k.buddy.allocPagesNode(
          0,
          GFP_HIGHUSER_MOVABLE | __GFP_THISNODE,
          order,
          "t",
          "hugetlb",
        )!;
        k.compound.prepCompoundPage(head, order);
        for (let i = 0; i < 2 ** order; i++) {
          expect(k.compound.compoundHead(head + i)).toBe(head);
          expect(k.compound.pageTail(head + i)).toBe(i > 0);
          expect(k.compound.pageHead(head + i)).toBe(i === 0);
        }
        expect(k.compound.folioOrder(head)).toBe(order);
        // The page after the folio is not part of it.
        expect(k.compound.compoundHead(head + 2 ** order)).toBe(head + 2 ** order);
      }
    });
  }

  it("a destroyed compound page reads as plain pages again", () => {
    const k = boot(spec("x86_64", 2), "legacy");
    const head = k.buddy.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 9, "t", "hugetlb")!;
    const before = k.memmap.readStructPage(head + 77);
    k.compound.prepCompoundPage(head, 9);
    k.compound.destroyCompoundPage(head, 9);
    expect(k.memmap.readStructPage(head + 77)).toEqual(before);
    expect(k.compound.pageCompound(head)).toBe(false);
  });

  it("a tail struct page holds TAIL_MAPPING, the encoded word and the node/zone bits", () => {
    const k = boot(spec("x86_64", 8), "mainline");
    const head = k.buddy.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 9, "t", "hugetlb")!;
    k.compound.prepCompoundPage(head, 9);
    expect(k.memmap.readU64(head + 5, PAGE_OFF.mapping)).toBe(0xdead000000000400n);
    expect(k.memmap.readU64(head + 5, PAGE_OFF.compoundInfo)).toBe(0xffffffffffff8001n);
    // Normal zone (2) at bits 51..53 with ZONES_SHIFT 3 and NODES_SHIFT 10: 2 << 51.
    expect(k.memmap.readU64(head + 5, PAGE_OFF.flags)).toBe(2n << 51n);
    expect(k.memmap.readU32(head, PAGE_OFF.flags) & (1 << 6)).toBe(1 << 6);
  });
});

describe("the vmemmap (mm/sparse-vmemmap.c)", () => {
  it("populates 512 boot memmap pages per present 128 MiB section on x86_64", () => {
    const s = spec("x86_64", 16);
    const k = boot(s);
    // 32768 struct pages x 64 bytes / 4096 = 512 pages per section.
    expect(k.vmstat.nrMemmapBootPages).toBe(k.sections.length * 512);
    expect(k.vmstat.nrMemmapPages).toBe(0);
  });

  it("maps the x86_64 vmemmap with 2 MiB PMD leaves", () => {
    const k = boot(spec("x86_64", 2));
    const leaf = k.pgt.lookup(k.memmap.vaddrOf(300000))!;
    expect(leaf.level).toBe(2);
    expect(leaf.huge).toBe(true);
    expect(leaf.writable).toBe(true);
  });

  it("raises an Oops naming the address on a write through a read-only PTE", () => {
    const k = boot(spec("arm64-64k", 2));
    const pfn = k.spec.nodes[0].ranges[0].startPfn + 100;
    const vaddr = k.memmap.vaddrOf(pfn);
    const leaf = k.pgt.lookup(vaddr)!;
    expect(leaf.huge).toBe(false); // arm64 with 64K pages maps the vmemmap with base pages
    k.pgt.set(
      leaf.tablePfn,
      leaf.idx,
      k.spec.arch.pte.wrprotect(k.pgt.get(leaf.tablePfn, leaf.idx), leaf.level),
    );
    k.pgt.flushTlbAll();
    expect(() => k.memmap.writeU32(pfn, PAGE_OFF.refcount, 1)).toThrow(Oops);
    try {
      k.memmap.writeU32(pfn, PAGE_OFF.refcount, 1);
    } catch (e) {
      expect((e as Oops).vaddr).toBe(vaddr + BigInt(PAGE_OFF.refcount));
      expect((e as Oops).message).toMatch(/read-only/);
    }
  });

  it("copy_page shares bytes until one side is written", () => {
    const k = boot(spec("x86_64", 2));
    const a = k.buddy.allocPagesNode(0, 0, 0, "t", "kernel")!;
    const b = k.buddy.allocPagesNode(0, 0, 0, "t", "kernel")!;
    k.frames.writeU64(a, 8, 42n);
    k.frames.copyFrame(b, a);
    k.frames.writeU64(a, 8, 43n);
    expect(k.frames.readU64(b, 8)).toBe(42n);
    expect(k.frames.readU64(a, 8)).toBe(43n);
  });
});

describe("struct page sizes that are not a power of two (56, 72, 80 bytes)", () => {
  for (const structPageSize of [56, 72, 80] as const) {
    it(`keeps the pointer encoding and finds every head of a 2 MiB folio (${structPageSize} bytes)`, () => {
      const s = machinePreset("x86_64", { memoryBytes: 2 * GiB, structPageSize });
      const k = new Kernel(s, { design: "mainline" }).boot();
      const head = k.buddy.allocPagesNode(0, GFP_HIGHUSER_MOVABLE, 9, "t", "hugetlb")!;
      k.compound.prepCompoundPage(head, 9);
      // No mask without a power-of-two struct page: tails store the head's address | 1.
      expect(k.memmap.readU64(head + 300, PAGE_OFF.compoundInfo)).toBe(k.memmap.vaddrOf(head) | 1n);
      for (let i = 0; i < 512; i++) expect(k.compound.compoundHead(head + i)).toBe(head);
    });
  }
});

describe("compound_head() of whatever word a struct page holds (include/linux/page-flags.h)", () => {
  // The kernel's arithmetic, on 64-bit words: bit 0 clear, the page is its own head; set, the
  // head's address is the word minus 1 (pointer encoding) or the page's own address ANDed with
  // the word (mask encoding); page_to_pfn() of that address is (address - vmemmap) / size,
  // truncated, as C's pointer subtraction gives. Any word at all, including ones no kernel
  // writes (a corrupted struct page): the number arithmetic of the model must agree with it
  // on every one, with a memmap below and above 4 GiB of offset.
  const U64 = (1n << 64n) - 1n;
  const expected = (k: Kernel, pfn: number, word: bigint, encoding: "pointer" | "mask"): number => {
    if ((word & 1n) === 0n) return pfn;
    const base = k.memmap.vmemmapBase;
    const size = BigInt(k.memmap.structPageSize);
    const own = base + BigInt(pfn) * size;
    const head = encoding === "mask" ? own & word : (word - 1n) & U64;
    return Number((head - base) / size);
  };
  const cases = [
    { design: "mainline", encoding: "mask", gib: 2048, structPageSize: 64 },
    { design: "legacy", encoding: "pointer", gib: 512, structPageSize: 64 },
    { design: "legacy", encoding: "pointer", gib: 16, structPageSize: 56 },
  ] as const;
  for (const c of cases) {
    it(`${c.design}, ${c.structPageSize}-byte struct pages, ${c.gib} GiB: rawHead() is the kernel's arithmetic`, () => {
      const s = machinePreset("x86_64", {
        memoryBytes: c.gib * GiB,
        structPageSize: c.structPageSize,
      });
      const k = new Kernel(s, { design: c.design }).boot();
      // pfns from 4 GiB up to the end of memory less 4 GiB (present on the preset); on the
      // large machines most of them have their struct page above 4 GiB of memmap offset, and on
      // the 2 TiB one up to 32 GiB (so that the offset's high half is more than a carry).
      const lo = 2 ** 20;
      const hi = (c.gib - 4) * 2 ** 18;
      const base = k.memmap.vmemmapBase;
      const size = BigInt(c.structPageSize);
      // Words near the memmap (heads a tail could name, some just below its start and some far
      // below and above it), masks as the mask encoding stores them (GENMASK(63, k) | 1), and
      // any word at all.
      const slot = fc.oneof(
        fc.integer({ min: -4096, max: 4096 }),
        fc.integer({ min: -(2 ** 30), max: hi * 2 }),
      );
      const near = fc
        .tuple(slot, fc.integer({ min: 0, max: 7 }))
        .map(([p, low]) => (base + BigInt(p) * size + BigInt(low)) & U64);
      const mask = fc.integer({ min: 1, max: 48 }).map((b) => ((U64 << BigInt(b)) & U64) | 1n);
      const word = fc.oneof(near, mask, fc.bigInt({ min: 0n, max: U64 }));
      fc.assert(
        fc.property(fc.integer({ min: lo, max: hi - 1 }), word, fc.boolean(), (pfn, w, tail) => {
          const v = tail ? w | 1n : w;
          k.memmap.writeU64(pfn, PAGE_OFF.compoundInfo, v);
          expect(k.compound.rawHead(pfn)).toBe(expected(k, pfn, v, c.encoding));
        }),
        { seed: 1207, numRuns: 3000 },
      );
    });
  }

  it("legacy: page_fixed_fake_head() finds the head from the next struct page's word", () => {
    const k = new Kernel(spec("x86_64", 8), { design: "legacy" }).boot();
    // The static key the first optimised folio turns on (what arms the fixup).
    k.fakeHeadKey = 1;
    const perPage = k.memmap.pageSize / k.memmap.structPageSize;
    // Words near the memmap with bit 0 set and any low bits (the word minus 1 need not be a
    // struct page's address), from below its start to above its end.
    const near = fc
      .tuple(
        fc.oneof(
          fc.integer({ min: -4096, max: 4096 }),
          fc.integer({ min: -(2 ** 20), max: 2 ** 22 }),
        ),
        fc.integer({ min: 0, max: 31 }),
      )
      .map(([p, low]) => (k.memmap.vmemmapBase + BigInt(p) * 64n + BigInt(2 * low + 1)) & U64);
    fc.assert(
      fc.property(
        fc.integer({ min: 2 ** 20 / perPage, max: (6 * 2 ** 18) / perPage }),
        fc.oneof(near, fc.bigInt({ min: 0n, max: U64 })),
        (page, w) => {
          // A struct page that starts a vmemmap page, PG_head set and no compound word: a head,
          // or the alias of one that HVO mapped there.
          const pfn = page * perPage;
          k.memmap.writeU64(pfn, PAGE_OFF.compoundInfo, 0n);
          k.memmap.setBit(pfn, PAGE_OFF.flags, PG.head, true);
          k.memmap.writeU64(pfn + 1, PAGE_OFF.compoundInfo, w);
          const want = (w & 1n) === 1n ? expected(k, pfn, w, "pointer") : pfn;
          expect(k.compound.compoundHead(pfn)).toBe(want);
        },
      ),
      { seed: 1207, numRuns: 2000 },
    );
  });
});
