// /sys/devices/system/memory: the model of this machine (the host preset) against this
// machine's kernel - every block's files, and the errnos of writes that change nothing
// (asking an online block to go online, bad values, read-only files). Nothing is offlined
// here: a block's offline is checked on the model (test/fs/memory_sysfs.test.ts). Needs
// Linux, root and memory-block files; skips elsewhere.
import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { KernelError } from "../../src/include/errno.ts";
import { hostMachine } from "../../src/live/host.ts";
import { bootModel } from "../../src/model.ts";

const MEM = "/sys/devices/system/memory";
const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const haveBlocks = fs.existsSync(`${MEM}/block_size_bytes`);
const canRun = process.platform === "linux" && isRoot && haveBlocks;
if (!canRun)
  console.warn(
    `skipping live memory-block tests: they need Linux, root and ${MEM} (root: ${isRoot}, blocks: ${haveBlocks})`,
  );

const FILES = ["state", "online", "phys_index", "phys_device", "removable", "valid_zones"];

function liveWrite(path: string, value: string): string | null {
  try {
    fs.writeFileSync(path, value);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe.skipIf(!canRun)("memory-block files: the model of this machine against its kernel", () => {
  it("has the same blocks, each file reading the same", () => {
    const m = bootModel(hostMachine(), "legacy");
    const live = fs
      .readdirSync(MEM)
      .filter((d) => /^memory\d+$/.test(d))
      .map((d) => Number(d.slice(6)))
      .sort((a, b) => a - b);
    expect(m.hotplug.ids()).toEqual(live);
    for (const f of ["block_size_bytes", "auto_online_blocks"])
      expect({ f, v: m.read(`${MEM}/${f}`) }).toEqual({
        f,
        v: fs.readFileSync(`${MEM}/${f}`, "utf8"),
      });
    const diffs: string[] = [];
    for (const id of live)
      for (const f of FILES) {
        const p = `${MEM}/memory${id}/${f}`;
        const want = fs.readFileSync(p, "utf8");
        const got = m.read(p);
        if (got !== want)
          diffs.push(`${p}: live ${JSON.stringify(want)}, model ${JSON.stringify(got)}`);
      }
    expect(diffs).toEqual([]);
  });

  it("refuses the same writes with the same errnos", () => {
    const m = bootModel(hostMachine(), "legacy");
    // An online block in one zone: the last one (the top of ZONE_NORMAL here).
    const ids = m.hotplug.ids();
    const id = ids[ids.length - 1];
    expect(fs.readFileSync(`${MEM}/memory${id}/state`, "utf8")).toBe("online\n");
    const probes: Array<[string, string]> = [
      [`memory${id}/state`, "online"],
      [`memory${id}/state`, "online\n"],
      [`memory${id}/state`, "online_kernel"],
      [`memory${id}/state`, "online_movable"],
      [`memory${id}/state`, "ONLINE"],
      [`memory${id}/state`, " online"],
      [`memory${id}/state`, "1"],
      [`memory${id}/online`, "1"],
      [`memory${id}/online`, "e"],
      [`memory${id}/online`, "on"],
      [`memory${id}/online`, "x"],
      [`memory${id}/online`, "2"],
      ["auto_online_blocks", "bogus"],
      [`memory${id}/phys_index`, "1"],
      [`memory${id}/valid_zones`, "Normal"],
      ["block_size_bytes", "1"],
    ];
    // A block id past the last one: no such directory.
    probes.push([`memory${id + 1}/state`, "offline"]);
    const rows = probes.map(([f, v]) => {
      const path = `${MEM}/${f}`;
      let model: string | null = null;
      try {
        m.write(path, v);
      } catch (e) {
        model = e instanceof KernelError ? e.code : String(e);
      }
      return { path, value: v, live: liveWrite(path, v), model };
    });
    expect(rows.filter((r) => r.live !== r.model)).toEqual([]);
    expect(fs.readFileSync(`${MEM}/memory${id}/state`, "utf8")).toBe("online\n");
    expect(fs.readFileSync(`${MEM}/auto_online_blocks`, "utf8")).toBe(
      m.read(`${MEM}/auto_online_blocks`),
    );
  });
});
