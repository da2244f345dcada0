// What the VM tests need before they boot anything: QEMU, busybox, zstd, gcc, the Debian 7.2
// kernel and our initramfs. As root they are installed or downloaded. When this host cannot
// have them (not root and missing, no apt, the archive unreachable) the reason is returned and
// the tests skip with it; when getting them broke (a checksum that does not match, a kernel
// that cannot be unpacked, a build that fails) the error is thrown and the tests fail.
import { buildInitramfs } from "../../src/live/vm/initramfs.ts";
import { ensureHostTools, resolveKernel, VmSetupError } from "../../src/live/vm/pieces.ts";

export async function vmPiecesUnavailable(who: string): Promise<string | null> {
  const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
  try {
    ensureHostTools(["qemu", "busybox", "zstd", "gcc"], { install: isRoot });
    await resolveKernel("debian-7.2", { install: isRoot });
    buildInitramfs({ install: isRoot });
    return null;
  } catch (e) {
    if (!(e instanceof VmSetupError && e.unavailable)) throw e;
    const why = `QEMU or the Debian 7.2 kernel cannot be had here: ${e.message}`;
    console.warn(`${who}: skipped: ${why}`);
    return why;
  }
}
