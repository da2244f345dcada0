// The VM plumbing that needs no QEMU: the initramfs archive format, finding the Debian archive
// in apt sources, picking the kernel package, cutting vmlinux out of a bzImage, the QEMU
// command line of a machine shape, and how a scenario states its machine.
import { describe, expect, it } from "vitest";
import { buildCpio, readCpio } from "../../src/live/vm/cpio.ts";
import { bzImagePayload, findDebianSource, pickKernelPackage } from "../../src/live/vm/pieces.ts";
import { parseMemoryMiB, qemuArgs } from "../../src/live/vm/qemu.ts";
import { effectiveShape, readVmShapes } from "../../src/live/vm/run.ts";

const enc = new TextEncoder();

describe("newc cpio", () => {
  it("round-trips files, directories, symlinks and device nodes, 4-byte aligned", () => {
    const bytes = buildCpio([
      { kind: "dir", path: "bin" },
      { kind: "file", path: "/init", data: enc.encode("#!/bin/sh\n"), mode: 0o755 },
      { kind: "file", path: "bin/odd", data: enc.encode("abcde") },
      { kind: "symlink", path: "bin/sh", target: "busybox" },
      { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    ]);
    // The kernel reads the archive in 512-byte blocks' worth of padding at most.
    expect(bytes.length % 512).toBe(0);
    const back = readCpio(bytes);
    expect(back.map((e) => e.name)).toEqual(["bin", "init", "bin/odd", "bin/sh", "dev/console"]);
    expect(back[0].mode).toBe(0o040755);
    expect(back[1].mode).toBe(0o100755);
    expect(new TextDecoder().decode(back[2].data)).toBe("abcde");
    expect(new TextDecoder().decode(back[3].data)).toBe("busybox");
    expect(back[3].mode & 0o170000).toBe(0o120000);
    expect([back[4].mode & 0o170000, back[4].rdevMajor, back[4].rdevMinor]).toEqual([
      0o020000, 5, 1,
    ]);
    // "070701" + 13 eight-digit hex fields = a 110-byte header.
    expect(new TextDecoder().decode(bytes.subarray(0, 6))).toBe("070701");
  });
});

describe("the Debian archive of this machine's apt sources", () => {
  it("takes the entry that carries the release's suite, in deb822 form", () => {
    const sources = [
      {
        name: "/etc/apt/sources.list.d/other.sources",
        text: "Types: deb\nURIs: https://example.invalid/node\nSuites: nodistro\nComponents: main\n",
      },
      {
        name: "/etc/apt/sources.list.d/debian.sources",
        text:
          "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n" +
          "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n" +
          "Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n",
      },
    ];
    expect(findDebianSource(sources, "bookworm")).toEqual({
      uri: "http://mirror.invalid/debian",
      signedBy: "/usr/share/keyrings/debian-archive-keyring.gpg",
    });
    expect(findDebianSource(sources, "trixie")).toBeNull();
  });

  it("reads one-line sources.list entries too, skipping disabled files", () => {
    const sources = [
      {
        name: "/etc/apt/sources.list.d/x.list.disabled",
        text: "deb http://a.invalid/ bookworm main",
      },
      {
        name: "/etc/apt/sources.list",
        text: "# deb http://old.invalid/ bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://b.invalid/debian bookworm main\n",
      },
    ];
    expect(findDebianSource(sources, "bookworm")).toEqual({
      uri: "http://b.invalid/debian",
      signedBy: "/k.gpg",
    });
  });
});

describe("the kernel package", () => {
  it("is the unsigned generic amd64 image of the series, newest sublevel", () => {
    const names = [
      "linux-image-7.2.13+deb14-amd64",
      "linux-binary-7.2.13+deb14-amd64",
      "linux-binary-unsigned-7.2.13+deb14-cloud-amd64",
      "linux-binary-unsigned-7.2.13+deb14-rt-amd64",
      "linux-binary-unsigned-7.2.9+deb14-amd64",
      "linux-binary-unsigned-7.2.13+deb14-amd64",
      "linux-binary-unsigned-7.3+deb14-amd64",
    ];
    expect(pickKernelPackage(names, "7.2")).toBe("linux-binary-unsigned-7.2.13+deb14-amd64");
    expect(pickKernelPackage(["linux-image-6.1.0-30-amd64-unsigned"], "6.1")).toBe(
      "linux-image-6.1.0-30-amd64-unsigned",
    );
    expect(pickKernelPackage(names, "7.1")).toBeNull();
  });

  it("comes out of a bzImage through the setup header's payload_offset/payload_length", () => {
    const img = new Uint8Array(8192);
    const dv = new DataView(img.buffer);
    img[0x1f1] = 3; // setup_sects: protected-mode code at (3 + 1) * 512
    dv.setUint32(0x202, 0x53726448, true); // "HdrS"
    dv.setUint32(0x248, 100, true);
    dv.setUint32(0x24c, 8, true);
    img.set([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4], 2048 + 100);
    expect([...bzImagePayload(img)]).toEqual([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3, 4]);
    expect(() => bzImagePayload(new Uint8Array(4096))).toThrow(/bzImage/);
  });
});

describe("machine shapes", () => {
  const base = { kernel: "/k", initrd: "/i", socket: "/s", consoleLog: "/c" };

  it("splits memory over NUMA nodes, one vCPU each, and keeps TCG single-threaded", () => {
    const args = qemuArgs({ ...base, shape: { memory: "4G", nodes: 2, cmdline: "hugepages=4" } });
    const joined = args.join(" ");
    expect(joined).toContain("-accel tcg,thread=single");
    expect(joined).toContain("-m 4096M");
    expect(joined).toContain("-smp 2");
    expect(joined).toContain("-object memory-backend-ram,id=mem0,size=2048M");
    expect(joined).toContain("-numa node,nodeid=1,cpus=1,memdev=mem1");
    expect(args[args.indexOf("-append") + 1]).toMatch(/console=ttyS0 .* hugepages=4$/);
  });

  it("has no -numa for one node, and refuses a split that is not even", () => {
    expect(qemuArgs({ ...base, shape: { memory: "6G", nodes: 1, cmdline: "" } })).not.toContain(
      "-numa",
    );
    expect(() => qemuArgs({ ...base, shape: { memory: "4097M", nodes: 2, cmdline: "" } })).toThrow(
      /evenly/,
    );
    expect(parseMemoryMiB("6G")).toBe(6144);
    expect(parseMemoryMiB("512M")).toBe(512);
    expect(() => parseMemoryMiB("lots")).toThrow(/6G/);
  });

  it("comes from the flags, then the scenario's vm field, then the file's", () => {
    const raw = {
      format: "hvo-scenario/1",
      vm: { memory: "8G", cmdline: "hugetlb_free_vmemmap=on" },
      scenarios: [
        { id: "A", steps: [], vm: { nodes: 2, cmdline: "hugepagesz=1G hugepages=2" } },
        { id: "B", steps: [] },
      ],
    };
    const vm = readVmShapes(raw);
    expect(effectiveShape({}, vm.byId.get("A")!, vm.file)).toEqual({
      memory: "8G",
      nodes: 2,
      cmdline: "hugetlb_free_vmemmap=on hugepagesz=1G hugepages=2",
    });
    expect(effectiveShape({ memory: "4G", cmdline: "x=1" }, vm.byId.get("B")!, vm.file)).toEqual({
      memory: "4G",
      nodes: 1,
      cmdline: "hugetlb_free_vmemmap=on x=1",
    });
    expect(() => readVmShapes({ scenarios: [{ id: "C", vm: { nodes: 0 } }] })).toThrow(
      /scenarios\[0\]\.vm\.nodes/,
    );
  });
});

// ------------------------------------------------------------------ unavailable or broken

describe("a VM tier that cannot be had skips; one that broke fails", () => {
  it("tells apt's 'cannot reach' from its 'got it and it is wrong'", async () => {
    const { aptUnreachable } = await import("../../src/live/vm/pieces.ts");
    // Messages apt-get prints (apt's own wording, abridged).
    expect(
      aptUnreachable(
        "Err:1 http://deb.debian.org/debian sid InRelease\n  Temporary failure resolving 'deb.debian.org'",
      ),
    ).toBe(true);
    expect(
      aptUnreachable(
        "E: Failed to fetch http://deb.debian.org/debian/pool/main/l/linux/x.deb  Could not connect to deb.debian.org:80",
      ),
    ).toBe(true);
    expect(aptUnreachable("E: Unable to locate package qemu-system-x86")).toBe(true);
    expect(
      aptUnreachable(
        "E: Failed to fetch http://deb.debian.org/debian/pool/main/l/linux/x.deb  Hash Sum mismatch\n   Hashes of expected file:",
      ),
    ).toBe(false);
    expect(
      aptUnreachable(
        "W: GPG error: http://deb.debian.org/debian sid InRelease: The following signatures couldn't be verified because the public key is not available: NO_PUBKEY 0E98404D386FA1D9",
      ),
    ).toBe(false);
    expect(aptUnreachable("E: Sub-process /usr/bin/dpkg returned an error code (1)")).toBe(false);
  });

  it("finds an Oops, a BUG or a panic on the guest's console", async () => {
    const { consoleTrouble } = await import("../../src/live/vm/qemu.ts");
    const fine =
      "[    0.000000] Linux version 7.2.13\n[    1.2] Run /init as init process\nHVO-READY\n";
    expect(consoleTrouble(fine)).toBeNull();
    expect(
      consoleTrouble(
        `${fine}[   12.3] BUG: unable to handle page fault for address: ffffea0000200008\n`,
      ),
    ).toBe("[   12.3] BUG: unable to handle page fault for address: ffffea0000200008");
    expect(consoleTrouble("[ 3.1] Oops: 0003 [#1] PREEMPT SMP NOPTI\n")).toMatch(/Oops: 0003/);
    expect(consoleTrouble("[ 3.1] Kernel panic - not syncing: Fatal exception\n")).toMatch(/panic/);
    // A report the caller expects (and asserts) is passed over; the next one is not.
    const two =
      "[ 4.6] BUG: Bad page state in process hvoexec  pfn:100040\r\n[ 4.7] Oops: 0002 [#1]\r\n";
    expect(consoleTrouble(two, (l) => l.includes("Bad page state"))).toBe("[ 4.7] Oops: 0002 [#1]");
    expect(consoleTrouble(two.split("\n")[0], (l) => l.includes("Bad page state"))).toBeNull();
  });

  it("a cached kernel whose checksum is wrong is an error, not a reason to skip", async () => {
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const { resolveKernel, VmSetupError } = await import("../../src/live/vm/pieces.ts");
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), "hvo-vm-cache-"));
    const saved = process.env.HVO_VM_CACHE;
    process.env.HVO_VM_CACHE = cache;
    try {
      // Not there and not to be fetched: unavailable.
      const missing = await resolveKernel("debian-7.2", { install: false }).catch((e) => e);
      expect(missing).toBeInstanceOf(VmSetupError);
      expect((missing as InstanceType<typeof VmSetupError>).unavailable).toBe(true);
      // There, but not what was unpacked: broken.
      const kdir = path.join(cache, "kernels", "debian-7.2");
      fs.mkdirSync(kdir, { recursive: true });
      fs.writeFileSync(path.join(kdir, "vmlinux"), "not the kernel");
      fs.writeFileSync(
        path.join(kdir, "meta.json"),
        JSON.stringify({
          name: "debian-7.2",
          image: "",
          package: null,
          packageVersion: null,
          release: null,
          config: null,
          imageSha256: "0".repeat(64),
        }),
      );
      const bad = await resolveKernel("debian-7.2", { install: false }).catch((e) => e);
      expect(bad).toBeInstanceOf(VmSetupError);
      expect((bad as InstanceType<typeof VmSetupError>).unavailable).toBe(false);
      expect((bad as Error).message).toMatch(/sha256 .* recorded 0{64}: the cache is corrupt/);
    } finally {
      if (saved === undefined) delete process.env.HVO_VM_CACHE;
      else process.env.HVO_VM_CACHE = saved;
      fs.rmSync(cache, { recursive: true, force: true });
    }
  });
});
