// /proc/kpageflags and /proc/kpagecount of a mapped huge page: the words the live 6.18 kernel
// gave (test/fixtures/live-kpageflags.json), with HVO off and on (legacy design).
import { liveKpageflags } from "../fixtures.ts";
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel } from "../../src/model.ts";
import { ModelSession } from "../../src/scenario/run_model.ts";

const fx = liveKpageflags;

describe("kpageflags of a mapped huge page", () => {
  const model = bootModel(machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30 }), "legacy");
  const s = new ModelSession(model);
  it("the fixture holds the four recorded cases: 2M and 1G, HVO off and on", () => {
    expect(fx.cases.map((c) => `${c.size} hvo=${c.hvo}`).sort()).toEqual([
      "1G hvo=0",
      "1G hvo=1",
      "2M hvo=0",
      "2M hvo=1",
    ]);
  });
  it.each(fx.cases.map((c) => [c.size, c.hvo, c] as const))("%s hvo=%i", (size, hvo, c) => {
    s.reset();
    s.step({ op: "hvo", value: hvo });
    s.step({ op: "nr", size, value: 1 });
    const a = s.step({ op: "kpf", size, n: 1 });
    // 4 GiB of RAM on the x86_64 preset has free aligned GiBs: the 1G page is there too.
    expect([a.rc, a.code]).toEqual([0, null]);
    const page = a.kpf?.[0];
    expect(page?.head_flags).toBe(c.head_word);
    const heads = (page?.flags ?? [])
      .filter(([w]) => w === c.head_word)
      .reduce((n, [, k]) => n + k, 0);
    expect(heads).toBe(c.subpages_reporting_head.count);
    const words = new Set((page?.flags ?? []).map(([w]) => w));
    expect(words).toEqual(new Set([c.head_word, c.tail_word]));
    if (c.kpageflags_rle) expect(page?.flags).toEqual(c.kpageflags_rle);
    expect(page?.counts).toEqual(c.kpagecount_rle);
    s.reset();
  });
});
