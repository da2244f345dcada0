// CONFIG_DEBUG_VM (src/mm/debug_vm.ts): Debian's 7.2.13, the VM's kernel, is built without it
// ("# CONFIG_DEBUG_VM is not set" in its config), so its VM_WARN_ON checks of HVO are compiled
// out and log nothing; the model does the same by default and runs them when booted with
// debugVm, as a kernel built with the option would.
import { describe, expect, it } from "vitest";
import { machinePreset } from "../../src/arch/index.ts";
import { Kernel } from "../../src/kernel.ts";
import { folioSetRefCount } from "../../src/mm/hugetlb_folio.ts";
import { createHugetlbVmemmap } from "../../src/mm/hugetlb_vmemmap.ts";
import { kmsgHeadlines } from "../../src/scenario/compare.ts";
import { makeFolio, x86 } from "./helpers.ts";

function boot(debugVm: boolean | undefined, spec = x86()) {
  const k = new Kernel(spec, { design: "mainline", debugVm });
  const hvo = createHugetlbVmemmap(k);
  k.hooks.push(hvo.bootHooks);
  k.boot();
  return { k, hvo };
}

const headlines = (k: Kernel) => kmsgHeadlines(k.log.map((l) => l.text));

describe("CONFIG_DEBUG_VM: the VM_WARN_ON checks of HVO", () => {
  it("the default is the reference kernels' config: off", () => {
    expect(boot(undefined).k.debugVm).toBe(false);
  });

  it("optimising a folio someone holds a reference to: silent without it, the kernel's WARNING with it", () => {
    // __hugetlb_vmemmap_optimize_folio(): VM_WARN_ON_ONCE_FOLIO(folio_ref_count(folio), folio).
    // A report of that WARN_ON in 7.2 starts like this (line and offsets are the build's):
    const kernels =
      "WARNING: CPU: 0 PID: 1 at mm/hugetlb_vmemmap.c:532 __hugetlb_vmemmap_optimize_folio+0x3a/0x2d0";
    for (const debugVm of [false, true]) {
      const { k, hvo } = boot(debugVm);
      const before = headlines(k);
      const head = makeFolio(k, 9);
      folioSetRefCount(k.memmap, head, 1);
      hvo.optimizeFolio(9, head);
      hvo.optimizeFolio(9, makeFolio(k, 9)); // a clean one: nothing more
      const added = headlines(k).filter((h) => !before.includes(h));
      expect([debugVm, added]).toEqual([debugVm, debugVm ? kmsgHeadlines([kernels]) : []]);
    }
  });

  it("with it, the free path checks pages whatever init_on_alloc says", () => {
    // check_pages_enabled is DEFINE_STATIC_KEY_MAYBE(CONFIG_DEBUG_VM, ...): on from the start.
    const spec = x86(4, 1, "hugetlb_free_vmemmap=on init_on_alloc=0");
    expect(boot(false, spec).k.checkPages).toBe(false);
    expect(boot(true, spec).k.checkPages).toBe(true);
  });

  it("a memmap not aligned to MAX_FOLIO_VMEMMAP_ALIGN: sparse_init()'s VM_WARN_ON_ONCE only with it", () => {
    // 256 MiB on x86_64 (2^18 struct pages of 64 bytes: docs/findings.md, mmzone.h); 2 MiB off.
    const base = machinePreset("x86_64", { memoryBytes: 2 ** 32, nodes: 1, cmdline: "" });
    const spec = {
      ...base,
      arch: { ...base.arch, vmemmapBase: base.arch.vmemmapBase + 0x200000n },
    };
    const warned = (k: Kernel) => k.log.some((l) => l.text.includes("MAX_FOLIO_VMEMMAP_ALIGN"));
    expect(warned(boot(false, spec).k)).toBe(false);
    expect(warned(boot(true, spec).k)).toBe(true);
  });
});
