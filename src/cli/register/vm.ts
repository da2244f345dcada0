// hvo vm: its options and help. The work is src/cli/commands/vm.ts, loaded when it runs.
import type { Command } from "commander";
import type { VmFlags } from "../commands/vm.ts";
import type { Io } from "../io.ts";

export function register(program: Command, io: Io): void {
  program
    .command("vm")
    .description(
      "Run a scenario file on a real kernel booted under QEMU (TCG): Debian's Linux 7.2 (the mainline HVO design) or your own",
    )
    .argument("[file]", "hvo-scenario/1 file")
    .option(
      "--kernel <name|path>",
      "debian-X.Y (x86_64), debian-X.Y:arm64 or debian-X.Y:arm64-16k (downloaded into .cache/vm), or a bzImage/vmlinux/arm64 Image path",
      "debian-7.2",
    )
    .option("--memory <size>", "guest RAM, e.g. 6G (default: the scenario's vm.memory, else 6G)")
    .option("--nodes <n>", "NUMA nodes, memory split evenly (default: the scenario's, else 1)")
    .option(
      "--cmdline <params>",
      'extra boot parameters, e.g. "hugepagesz=1G hugepages=2 hugetlb_free_vmemmap=on"',
    )
    .option(
      "--no-reset",
      'start every scenario from the guest as booted (as "reset": false: a boot each)',
    )
    .option("--json", "print hvo-result/1")
    .option("--install", "apt-get install missing QEMU/busybox/zstd/gcc and download the kernel")
    .option("--only <id...>", "only these scenario ids")
    .option("--record <out>", "write hvo-recording/1 of --rounds rounds to this file")
    .option("--rounds <n>", "rounds for --record", "1")
    .option("--fetch-kernel", "only fetch the kernel (and the host tools) into the cache")
    .action(async (file: string | undefined, flags: VmFlags) =>
      (await import("../commands/vm.ts")).vmAction(io, file, flags),
    );
}
