// lib/fault-inject.c, in spirit: Faults.shouldFail() keeps no call counts while it has no rule
// (the counts are read only by rules, and add() starts its site's count at 0). This checks the
// answers against an injector that counts every call, over seeded sequences of add(),
// clearRules(), clear(), random() and calls.
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Faults, type FaultRule } from "../../src/mm/fault_inject.js";

const SEED = 20261206;
const SITES = [
  "alloc_buddy_hugetlb_folio",
  "vmemmap_remap_free:new_head",
  "alloc_vmemmap_page_list",
];

/** The plain form: every call counted, whatever the rules. */
class CountEveryCall {
  private readonly calls = new Map<string, number>();
  private rules: FaultRule[] = [];
  private p = 0;
  private rng: (() => number) | null = null;
  add(rule: FaultRule): void {
    this.rules.push({ ...rule });
    this.calls.set(rule.site, 0);
  }
  random(p: number, rng: () => number): void {
    this.p = p;
    this.rng = rng;
  }
  clearRules(): void {
    this.rules = [];
  }
  clear(): void {
    this.rules = [];
    this.calls.clear();
    this.p = 0;
    this.rng = null;
  }
  shouldFail(site: string): boolean {
    const n = (this.calls.get(site) ?? 0) + 1;
    this.calls.set(site, n);
    let fail = false;
    for (const r of this.rules)
      if (r.site === site && (r.nth === n || (r.fromNth !== undefined && n >= r.fromNth)))
        fail = true;
    if (!fail && this.p > 0 && this.rng) fail = this.rng() < this.p;
    return fail;
  }
}

/** A seeded generator in [0, 1) (each injector gets its own copy of the sequence). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

type Op =
  | { op: "call"; site: number; times: number }
  | { op: "add"; site: number; nth?: number; fromNth?: number }
  | { op: "clearRules" }
  | { op: "clear" }
  | { op: "random"; p: number; seed: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("call" as const),
      site: fc.nat(2),
      times: fc.integer({ min: 1, max: 6 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.record({
        op: fc.constant("add" as const),
        site: fc.nat(2),
        nth: fc.integer({ min: 1, max: 8 }),
      }),
      fc.record({
        op: fc.constant("add" as const),
        site: fc.nat(2),
        fromNth: fc.integer({ min: 1, max: 8 }),
      }),
    ),
  },
  { weight: 1, arbitrary: fc.constant({ op: "clearRules" as const }) },
  { weight: 1, arbitrary: fc.constant({ op: "clear" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("random" as const),
      p: fc.constantFrom(0, 0.3),
      seed: fc.nat(),
    }),
  },
);

describe("Faults.shouldFail()", () => {
  it("fails the same calls as an injector that counts every call", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => {
        const got = new Faults();
        const ref = new CountEveryCall();
        const answers: string[] = [];
        const expected: string[] = [];
        for (const o of ops) {
          if (o.op === "call") {
            for (let i = 0; i < o.times; i++) {
              answers.push(`${SITES[o.site]}:${got.shouldFail(SITES[o.site])}`);
              expected.push(`${SITES[o.site]}:${ref.shouldFail(SITES[o.site])}`);
            }
          } else if (o.op === "add") {
            const rule: FaultRule = { site: SITES[o.site], nth: o.nth, fromNth: o.fromNth };
            got.add(rule);
            ref.add(rule);
          } else if (o.op === "clearRules") {
            got.clearRules();
            ref.clearRules();
          } else if (o.op === "clear") {
            got.clear();
            ref.clear();
          } else {
            got.random(o.p, lcg(o.seed));
            ref.random(o.p, lcg(o.seed));
          }
        }
        expect(answers).toEqual(expected);
      }),
      { seed: SEED, numRuns: 3000, verbose: true },
    );
  });
});
