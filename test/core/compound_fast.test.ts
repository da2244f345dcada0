// The cheaper arithmetic and the in-place stores of the 2 MiB pool path (mm/compound.ts,
// mm/page_alloc.ts, include/pow2.ts) against the plain forms they replace: 2 ** n, the
// buddy's pfn ^ (1 << order), tailInfo() as a bigint, and prep_compound_page() /
// destroy_compound_page() stored field by field through the memmap. Seeded fast-check runs:
// a failure prints the seed and the shortest failing sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PAGE_OFF } from "../../src/include/mm_types.ts";
import { pow2 } from "../../src/include/pow2.ts";
import { GFP_HIGHUSER_MOVABLE, __GFP_THISNODE } from "../../src/mm/page_alloc.ts";
import { Kernel } from "../../src/kernel.ts";
import { bootModel } from "../../src/model.ts";
import { boot, spec } from "./helpers.ts";

describe("pow2() and the buddy's arithmetic", () => {
  it("pow2(n) is 2 ** n for every order and shift a 64-bit kernel uses", () => {
    for (let n = 0; n <= 63; n++) expect(pow2(n)).toBe(2 ** n);
  });

  it("the buddy of an aligned pfn is pfn ^ (1 << order), beyond 32 bits too (property, seeded)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2 ** 40 }), (o, i) => {
        const size = pow2(o);
        const pfn = i * size;
        fc.pre(Number.isSafeInteger(pfn + size));
        const buddy = pfn % (2 * size) === 0 ? pfn + size : pfn - size;
        // __find_buddy_pfn(), in bigints.
        expect(buddy).toBe(Number(BigInt(pfn) ^ (1n << BigInt(o))));
      }),
      { seed: 0x2b0d, numRuns: 400 },
    );
  });
});

describe("the compound word as 32-bit halves", () => {
  for (const [design, mutations] of [
    ["legacy", []],
    ["mainline", []],
    ["legacy", ["tail-info-bit1"]],
    ["mainline", ["tail-info-bit1"]],
  ] as const) {
    it(`tailInfoLo()/infoHi are tailInfo()'s halves (${design} ${mutations.join(" ")}, property, seeded)`, () => {
      const k = new Kernel(spec("x86_64", 2), { design, mutations }).boot();
      const c = k.compound;
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 18 }),
          fc.integer({ min: 0, max: 2 ** 34 }),
          (o, i) => {
            const head = Math.floor(i / pow2(o)) * pow2(o);
            const want = c.tailInfo(head, o);
            const lo = c.tailInfoLo(head, o);
            expect((BigInt(c.infoHi) << 32n) | BigInt(lo)).toBe(want);
          },
        ),
        { seed: 0x7a11, numRuns: 300 },
      );
    });
  }
});

describe("struct page addresses as 32-bit halves (mm/memmap.ts vaddrLo)", () => {
  it("vaddrLo()/vhi are the halves of vaddrOf() + the offset (property, seeded)", () => {
    const k = boot(spec("x86_64", 2), "legacy");
    const m = k.memmap;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 36 }),
        fc.integer({ min: 0, max: 63 }),
        (pfn, off) => {
          const lo = m.vaddrLo(pfn, off);
          const want = (m.vaddrOf(pfn) + BigInt(off)) & ((1n << 64n) - 1n);
          expect((BigInt(m.vhi) << 32n) | BigInt(lo)).toBe(want);
        },
      ),
      { seed: 0x5a11, numRuns: 300 },
    );
  });
});

/** Every byte of the struct pages [start, start + n), as the memmap reads them. */
function structPages(k: Kernel, start: number, n: number): string {
  const out: string[] = [];
  for (let p = start; p < start + n; p++)
    out.push(Buffer.from(k.memmap.readStructPage(p)).toString("hex"));
  return out.join("");
}

describe("prep/destroy of compound pages in place equal the field-by-field stores", () => {
  for (const design of ["legacy", "mainline"] as const) {
    it(`the same bytes and store counts after random sequences (${design}, property, seeded)`, () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ order: fc.integer({ min: 1, max: 10 }), free: fc.boolean() }), {
            minLength: 1,
            maxLength: 12,
          }),
          (ops) => {
            const fast = boot(spec("x86_64", 2), design);
            const slow = boot(spec("x86_64", 2), design);
            // The per-field path: the one taken where the head's vmemmap page is not one
            // writable page holding the folio fields.
            slow.compound.headView = () => null;
            const held: Array<{ head: number; order: number }> = [];
            for (const op of ops) {
              if (op.free && held.length > 0) {
                const { head, order } = held.shift() as { head: number; order: number };
                for (const k of [fast, slow]) {
                  k.compound.destroyCompoundPage(head, order);
                  k.buddy.freePages(head, order);
                }
                continue;
              }
              const heads = [fast, slow].map((k) =>
                k.buddy.allocPagesNode(
                  0,
                  GFP_HIGHUSER_MOVABLE | __GFP_THISNODE,
                  op.order,
                  "t",
                  "hugetlb",
                ),
              );
              expect(heads[1]).toBe(heads[0]);
              if (heads[0] === null) continue;
              for (const k of [fast, slow]) k.compound.prepCompoundPage(heads[0], op.order);
              held.push({ head: heads[0], order: op.order });
            }
            // (The counts first: the reads below count too.)
            expect(fast.memmap.writes).toBe(slow.memmap.writes);
            expect(fast.memmap.reads).toBe(slow.memmap.reads);
            for (const { head, order } of held) {
              expect(structPages(fast, head, pow2(order))).toBe(
                structPages(slow, head, pow2(order)),
              );
              // Every tail holds the folio's compound word (the pattern pages included).
              const info = fast.compound.tailInfo(head, order);
              for (let i = 1; i < pow2(order); i++)
                expect(fast.memmap.readU64(head + i, PAGE_OFF.compoundInfo)).toBe(info);
            }
          },
        ),
        { seed: 0xc0b1, numRuns: 25 },
      );
    });
  }
});

describe("the pool's 2 MiB paths in place equal the field-by-field stores", () => {
  const HP = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
  for (const design of ["legacy", "mainline"] as const) {
    it(`grow/shrink sequences leave the same struct pages and counts (${design}, property, seeded)`, () => {
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }),
          (hvo, counts) => {
            const models = [0, 1].map(() => bootModel(spec("x86_64", 1), design));
            // alloc_buddy_hugetlb_folio(), init_new_hugetlb_folio(), the free path: field by
            // field in the second model.
            models[1].k.compound.headView = () => null;
            const heads = new Set<number>();
            for (const m of models) {
              m.write("/proc/sys/vm/hugetlb_optimize_vmemmap", hvo ? "1" : "0");
              m.settle();
            }
            for (const n of counts)
              for (const m of models) {
                m.write(HP, String(n));
                m.settle();
                for (const f of m.pool.folios.keys()) heads.add(f);
              }
            const [a, b] = models;
            expect(a.read(HP)).toBe(b.read(HP));
            for (const f of heads) expect(structPages(a.k, f, 512)).toBe(structPages(b.k, f, 512));
            expect(a.k.memmap.writes).toBe(b.k.memmap.writes);
            expect(a.k.memmap.reads).toBe(b.k.memmap.reads);
          },
        ),
        { seed: 0x9001, numRuns: 12 },
      );
    });
  }
});
