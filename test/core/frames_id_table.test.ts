// The frame store's table of a pattern class's ids by key (src/mm/frames.ts IdTable) against a
// Map<number, number>, the structure it replaced: seeded sequences of sets (new keys and keys
// already held), lookups (held and not) and ids freed, with keys small and large, negative, and
// many in one hash neighbourhood (a class's deltas a page or a few apart). A live id is found
// under its key as the Map finds it; a freed one may be swept (then 0) but nothing else is
// answered; after growth and sweeps every live entry is still there. Fixed seed.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { IdTable } from "../../src/mm/frames.ts";

type Op = { op: "set"; key: number } | { op: "get"; key: number } | { op: "free"; key: number };

describe("frame store: a pattern class's ids by key", () => {
  it("answers as a Map does for live ids: sets, replacing sets, lookups, frees, growth", () => {
    const keyArb = fc.oneof(
      fc.integer({ min: -300, max: 300 }),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 }),
      fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
      fc.integer({ min: 0, max: 40 }).map((i) => 2 ** 32 * i + 7),
    );
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 6, arbitrary: fc.record({ op: fc.constant("set" as const), key: keyArb }) },
      { weight: 4, arbitrary: fc.record({ op: fc.constant("get" as const), key: keyArb }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant("free" as const), key: keyArb }) },
    );
    // Steps at which more keys were held than a new table's slots (the table had grown), and
    // lookups of a freed id's key answered 0 (its entry swept).
    let grown = 0;
    let swept = 0;
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 200, maxLength: 900 }), (ops) => {
        const t = new IdTable();
        const m = new Map<number, number>();
        const freed = new Set<number>();
        const keep = (_k: number, v: number) => !freed.has(v);
        let next = 1;
        for (const o of ops) {
          if (o.op === "set") {
            const id = next++;
            // As classId() does: freed ids' entries swept before the table would grow.
            if (t.full()) t.sweep(keep);
            t.set(o.key, id);
            m.set(o.key, id);
          } else if (o.op === "free") {
            const id = m.get(o.key);
            if (id !== undefined) freed.add(id);
          } else {
            const want = m.get(o.key);
            const got = t.get(o.key);
            if (want === undefined) expect(got).toBe(0);
            else if (!freed.has(want)) expect(got).toBe(want);
            else {
              expect([0, want]).toContain(got);
              if (got === 0) swept++;
            }
          }
          if (t.size > 64) grown++; // grown several times from 8 slots
        }
        for (const [k, v] of m) if (!freed.has(v)) expect(t.get(k)).toBe(v);
      }),
      { seed: 20261206, numRuns: 120 },
    );
    expect(grown).toBeGreaterThan(0);
    expect(swept).toBeGreaterThan(0);
  });
});
