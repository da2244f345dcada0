// The model booted on this machine's layout has the boot memmap the live kernel populated.
// The expectation comes from /sys/devices/system/memory (one block per present 128 MiB section
// here), never from the model. Runs for any user: the host machine is read as root or not.
import { describe, expect, it } from "vitest";
import { Kernel } from "../../src/kernel.ts";
import { hostMachine, hostPresentSections } from "../../src/live/host.ts";
import { hostSkipReason, skippedBecause } from "../machine/host_skip.ts";

const skip = hostSkipReason();

describe("booting the host preset", () => {
  it.skipIf(skip !== null)(
    `populates the memmap of every present section: sections x 512 boot memmap pages${skippedBecause(skip)}`,
    () => {
      const live = hostPresentSections();
      expect(live).not.toBeNull();
      for (const design of ["legacy", "mainline"] as const) {
        const k = new Kernel(hostMachine(), { design }).boot();
        // 128 MiB / 4 KiB = 32768 struct pages x 64 bytes = 2 MiB = 512 pages of 4 KiB.
        expect(k.vmstat.nrMemmapBootPages).toBe(live! * 512);
        expect(k.vmstat.nrMemmapPages).toBe(0);
      }
    },
  );
});
