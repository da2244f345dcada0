// lib/fault-inject.c, in spirit: every allocation site of the model has a name, and a
// FaultInjector decides whether a given call of that site fails with ENOMEM.
//
// Sites are named after the kernel function that allocates, e.g.
//   "alloc_buddy_hugetlb_folio", "alloc_gigantic_folio", "vmemmap_remap_free:new_head",
//   "alloc_vmemmap_page_list", "vmemmap_split_pmd:pte_alloc", "vmemmap_get_tail".
// Boot-time sites (memblock allocations while the machine boots): "vmemmap_populate_hvo" (a
// head vmemmap page or page table of a pre-HVO'd gigantic page) and "vmemmap_get_tail:boot";
// rules added before boot and dropped after it (clearRules()) fail only those, as a replay's
// `x-check.bootFaults` does (docs/findings.md §7).

export interface FaultRule {
  site: string;
  /** Fail the nth call (1-based) of the site, counted from when the rule was added. */
  nth?: number;
  /** Fail every call from the nth on. */
  fromNth?: number;
}

export interface FaultInjector {
  /** Called once per allocation attempt at `site`; true means: fail this one. */
  shouldFail(site: string): boolean;
  /**
   * True when no call of `site` can fail until the injector is changed, so a caller may skip
   * its shouldFail() calls for a batch (they change nothing another call would read).
   */
  quiet?(site: string): boolean;
}

/** Deterministic injector: explicit rules, and optionally a seeded probability for every site. */
export class Faults implements FaultInjector {
  private readonly calls = new Map<string, number>();
  private readonly rules: FaultRule[] = [];
  /** How many failures were injected, per site. */
  readonly injected = new Map<string, number>();
  private probability = 0;
  private rng: (() => number) | null = null;
  /** Sites the probability applies to; all when null. */
  private sites: Set<string> | null = null;

  add(rule: FaultRule): this {
    this.rules.push({ ...rule });
    this.calls.set(rule.site, 0);
    return this;
  }

  /** Fail each call with probability p, drawn from `rng` (a seeded generator in [0, 1)). */
  random(p: number, rng: () => number, sites?: string[]): this {
    this.probability = p;
    this.rng = rng;
    this.sites = sites ? new Set(sites) : null;
    return this;
  }

  /** Drops the explicit rules (a boot's), keeping the probability and the call counts. */
  clearRules(): void {
    this.rules.length = 0;
  }

  clear(): void {
    this.rules.length = 0;
    this.calls.clear();
    this.probability = 0;
    this.rng = null;
  }

  quiet(site: string): boolean {
    // A site's count is read only by its own rules, and add() restarts it: a site no rule
    // names keeps no count that matters.
    for (const r of this.rules) if (r.site === site) return false;
    return !(this.probability > 0 && this.rng && (!this.sites || this.sites.has(site)));
  }

  shouldFail(site: string): boolean {
    let fail = false;
    // A site's call count is read only by its own rules, and add() starts it at 0: with no
    // rule at all no count can ever be read, so none is kept (no Map work per allocation).
    if (this.rules.length > 0) {
      const n = (this.calls.get(site) ?? 0) + 1;
      this.calls.set(site, n);
      for (const r of this.rules) {
        if (r.site !== site) continue;
        if (r.nth !== undefined && r.nth === n) fail = true;
        if (r.fromNth !== undefined && n >= r.fromNth) fail = true;
      }
    }
    if (!fail && this.probability > 0 && this.rng && (!this.sites || this.sites.has(site))) {
      fail = this.rng() < this.probability;
    }
    if (fail) this.injected.set(site, (this.injected.get(site) ?? 0) + 1);
    return fail;
  }
}

export const NO_FAULTS: FaultInjector = { shouldFail: () => false, quiet: () => true };
