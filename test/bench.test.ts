// `npm run bench -- --json` ends with one JSON line in the shape issue #11 gives. The bench is
// run once at its smallest (--quick) and without the live kernel (--no-live: a test does not
// write the host's pools); nothing here is timed, only the line's shape and sense is checked.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");

describe("npm run bench -- --json", () => {
  it("ends with one JSON line: vs_live, live_unavailable, scale, check, compound_head_per_s, startup_ms", () => {
    const r = spawnSync(
      process.execPath,
      [
        "--expose-gc",
        "--import",
        "tsx",
        join(ROOT, "bench/run.ts"),
        "--quick",
        "--no-live",
        "--json",
      ],
      { cwd: ROOT, encoding: "utf8", maxBuffer: 1 << 24 },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    const j = JSON.parse(lines[lines.length - 1]);
    expect(Object.keys(j)).toEqual([
      "vs_live",
      "live_unavailable",
      "scale",
      "check",
      "compound_head_per_s",
      "startup_ms",
    ]);
    // 2 MiB grow and shrink with HVO off and on; the same for 1 GiB where the host has them.
    // A host whose layout the model cannot read (src/live/host.ts) has nothing to compare.
    const gigantic = existsSync("/sys/kernel/mm/hugepages/hugepages-1048576kB");
    if (j.vs_live.length === 0) expect(j.live_unavailable).toMatch(/^the model of this host: /);
    else {
      expect(j.live_unavailable).toBe("--no-live");
      expect(j.vs_live).toHaveLength(gigantic ? 8 : 4);
    }
    for (const v of j.vs_live) {
      expect(Object.keys(v)).toEqual(["case", "live_ms", "model_ms", "ratio"]);
      expect(v.case).toMatch(/^(2M|1G) x \d+ (grow|shrink), HVO (on|off)$/);
      // Without the live kernel there is nothing to compare with.
      expect(v.live_ms).toBeNull();
      expect(v.ratio).toBeNull();
      expect(v.model_ms).toBeGreaterThanOrEqual(0);
    }
    expect(j.scale.length).toBeGreaterThan(0);
    for (const s of j.scale) {
      // The fields first; then what a run cut short by its time budget did and projects.
      expect(Object.keys(s).slice(0, 7)).toEqual([
        "machine",
        "size",
        "folios",
        "boot_ms",
        "fill_ms",
        "free_ms",
        "peak_rss_bytes",
      ]);
      expect(s.folios).toBeLessThanOrEqual(s.target_folios);
      expect(typeof s.complete).toBe("boolean");
      // A complete run projects what it measured; one cut short projects more than it did.
      if (s.complete) expect(s.target_folios).toBe(s.folios);
      expect(s.projected_total_ms).toBeGreaterThan(0);
      expect(typeof s.target_met).toBe("boolean");
      // Filled with 1 GiB pages: at most size / 1 GiB of them, and at least one.
      expect(s.folios).toBeGreaterThan(0);
      expect(s.folios).toBeLessThanOrEqual(s.size / 2 ** 30);
      expect(s.peak_rss_bytes).toBeGreaterThan(0);
    }
    expect(Object.keys(j.check)).toEqual(["legacy", "seed", "mainline"]);
    for (const d of ["legacy", "seed", "mainline"]) {
      expect(Object.keys(j.check[d])).toEqual(["steps_per_s"]);
      expect(j.check[d].steps_per_s).toBeGreaterThan(0);
      expect(j.compound_head_per_s[d]).toBeGreaterThan(0);
    }
    expect(Object.keys(j.compound_head_per_s)).toEqual(["legacy", "seed", "mainline"]);
    expect(j.startup_ms).toBeGreaterThan(0);
  }, 300000);
});
