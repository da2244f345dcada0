// `--debug-vm` on `hvo run` / `hvo cat`: the model booted as a kernel built with CONFIG_DEBUG_VM,
// and the step's kernel log headlines in `hvo run`'s text output.
//
// What it shows (docs/findings.md 5 and 9): freeing the boot-time 1 GiB HVO pages of
// `hugepagesz=1G hugepages=2` on 7.2 frees struct pages whose _refcount is 1. The free path
// checks pages only when check_pages_enabled is on: init_on_alloc / init_on_free on, or
// CONFIG_DEBUG_VM (mm/mm_init.c: DEFINE_STATIC_KEY_MAYBE(CONFIG_DEBUG_VM, check_pages_enabled)).
// With init_on_alloc=0 a Debian 7.2 kernel (DEBUG_VM off) says nothing; a DEBUG_VM build reports
// "Bad page state". The test asks that the report appears and names a pfn of the freed folios:
// 7.2 puts them at 4 and 5 GiB on this guest (test/vm/boot72.test.ts), so pfns in
// [4 GiB, 6 GiB) / 4 KiB = [0x100000, 0x180000).
import { describe, expect, it } from "vitest";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";

async function run(args: string[]): Promise<{ status: number; out: string; err: string }> {
  const io = captureIo();
  const status = await main(args, io);
  return { status, out: io.stdout(), err: io.stderr() };
}

const ARGS = [
  "run",
  "scenarios/vm-7.2-boot-1g-bad-page.json",
  "--machine",
  "qemu:6G",
  "--design",
  "mainline",
  "--cmdline",
  "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on init_on_alloc=0",
];

describe("hvo run --debug-vm", () => {
  it("without it (Debian's config, init_on_alloc=0) the free logs no bad page; with it, it does", async () => {
    const off = await run(ARGS);
    expect(off.err).toBe("");
    expect(off.status).toBe(0);
    expect(off.out).not.toMatch(/log: BUG: Bad page state/);

    const on = await run([...ARGS, "--debug-vm"]);
    expect(on.err).toBe("");
    expect(on.status).toBe(0);
    const m = /log: BUG: Bad page state in process \S+\s+pfn:([0-9a-f]+)/.exec(on.out);
    expect(m).not.toBeNull();
    const pfn = Number.parseInt(m?.[1] ?? "", 16);
    expect(pfn).toBeGreaterThanOrEqual(0x100000);
    expect(pfn).toBeLessThan(0x180000);
  }, 120_000);

  it("with init_on_alloc left at Debian's default (on) the report comes either way", async () => {
    const args = ARGS.map((a) => a.replace(" init_on_alloc=0", ""));
    expect((await run(args)).out).toMatch(/log: BUG: Bad page state/);
  }, 120_000);
});
