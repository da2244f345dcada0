// `hvo run` over a long run (src/cli/watch.ts): on a terminal a progress line on stderr that
// names the step and the pool, cleared at the end, and stdout byte for byte what it is without
// one; when memory would run out (node's heap near its limit, or the host nearly out of
// memory), one line naming the step and the cause, exit status 71, no stack trace and no
// result. The host (clock, memory, terminal) is a fake: the readings are the test's.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { captureIo, type HostProbe, type Io } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import { memoryProblem } from "../../src/cli/watch.ts";
import { tempDir } from "../tmp.ts";

const MiB = 2 ** 20;
const GiB = 2 ** 30;

const dir = tempDir("hvo-run-watch-");
const file = path.join(dir, "grow.json");
fs.writeFileSync(
  file,
  JSON.stringify({
    format: "hvo-scenario/1",
    scenarios: [
      {
        id: "grow",
        steps: [
          { op: "hvo", value: 1 },
          { op: "nr", size: "2M", value: 64 },
          { op: "nr", size: "2M", value: 0 },
        ],
      },
    ],
  }),
);

/** A host with plenty of memory whose clock moves `stepMs` each time it is read. */
function fakeHost(o: Partial<HostProbe> & { stepMs?: number } = {}): HostProbe {
  let t = 0;
  return {
    tty: o.tty ?? false,
    ...(o.columns !== undefined ? { columns: o.columns } : {}),
    now: o.now ?? (() => (t += o.stepMs ?? 0)),
    rss: o.rss ?? (() => 300 * MiB),
    heap: o.heap ?? (() => ({ used: 100 * MiB, limit: 4 * GiB })),
    available: o.available ?? (() => 16 * GiB),
    total: o.total ?? (() => 32 * GiB),
  };
}

async function run(host: HostProbe | undefined, args: string[] = []) {
  const cap = captureIo();
  const io: Io = host ? { out: cap.out, err: cap.err, host } : cap;
  const status = await main(["run", file, ...args], io);
  return { status, out: cap.stdout(), err: cap.stderr() };
}

describe("hvo run: progress line", () => {
  it("on a terminal, after 3 s: the step and the pool on stderr, cleared at the end; stdout unchanged", async () => {
    const plain = await run(undefined);
    expect(plain.status).toBe(0);
    expect(plain.err).toBe("");
    // Each reading of the clock is a second later: every cond_resched() point may redraw.
    const tty = await run(fakeHost({ tty: true, stepMs: 1000 }));
    expect(tty.status).toBe(0);
    expect(tty.out).toBe(plain.out);
    // The grow step allocates 64 folios (a cond_resched() each): the line names it.
    expect(tty.err).toContain("\r\x1b[Khvo run: grow step 2/3 nr 2M value=64");
    expect(tty.err).toMatch(/MemFree [\d,.]+ GiB; model 300 MiB \(\d+ s\)/);
    // The free step shows the pool as it empties.
    expect(tty.err).toContain("hvo run: grow step 3/3 nr 2M value=0; pool 2M 64");
    // The last thing written clears the line: the shell's prompt starts on a clean line.
    expect(tty.err.endsWith("\r\x1b[K")).toBe(true);
    // --json: the same, the JSON on stdout alone.
    const json = await run(fakeHost({ tty: true, stepMs: 1000 }), ["--json"]);
    expect(JSON.parse(json.out).scenarios.grow.steps[1].after.h2M.nr).toBe(64);
  });

  it("a line never wider than the terminal: it is redrawn in place, not wrapped", async () => {
    const r = await run(fakeHost({ tty: true, stepMs: 1000, columns: 60 }));
    expect(r.status).toBe(0);
    const lines = r.err.split("\r\x1b[K").filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    // 60 columns: 50 of text (47 and "...") and " (N s)" of the elapsed time.
    for (const l of lines) expect(l.length, l).toBeLessThanOrEqual(60);
    expect(
      lines.some((l) =>
        /^hvo run: grow step 2\/3 nr 2M value=64; pool .*\.\.\. \(\d+ s\)$/.test(l),
      ),
    ).toBe(true);
  });

  it("not on a terminal (a pipe, a file, CI): nothing on stderr however long it runs", async () => {
    const r = await run(fakeHost({ tty: false, stepMs: 1000 }));
    expect(r.status).toBe(0);
    expect(r.err).toBe("");
  });

  it("a run shorter than 3 s shows no line", async () => {
    const r = await run(fakeHost({ tty: true, stepMs: 0 }));
    expect(r.status).toBe(0);
    expect(r.err).toBe("");
  });
});

describe("hvo run: memory about to run out", () => {
  it("node's heap near its limit in the middle of a step: one line naming the step and the heap, exit 71, no result", async () => {
    // The heap is read at each reset and step, and at each cond_resched() point (the clock
    // moves a second a reading): the fourth reading is the grow step's first folio.
    let readings = 0;
    const host = fakeHost({
      stepMs: 1000,
      heap: () => ({ used: ++readings >= 4 ? 3900 * MiB : 100 * MiB, limit: 4144 * MiB }),
    });
    const r = await run(host);
    expect(r.status).toBe(71);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      "hvo: out of memory in grow step 2/3 nr 2M value=64: the model's JavaScript heap holds " +
        "3.8 GiB of the 4.0 GiB node allows (NODE_OPTIONS=--max-old-space-size=MiB raises it, " +
        "where the host has the memory)\n",
    );
  });

  it("the host nearly out of memory: the line says how much is left and what the model holds", async () => {
    const r = await run(fakeHost({ available: () => 100 * MiB, rss: () => 20 * GiB }));
    expect(r.status).toBe(71);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      "hvo: out of memory in grow reset: the host has 100 MiB of memory left and the model holds 20.0 GiB\n",
    );
  });
});

describe("hvo write and hvo cat --after: the same watch", () => {
  const nr = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
  const heapFullFrom = (n: number) => {
    let readings = 0;
    return () => ({ used: ++readings >= n ? 3900 * MiB : 100 * MiB, limit: 4144 * MiB });
  };
  async function cli(args: string[], host: HostProbe) {
    const cap = captureIo();
    const status = await main(args, { out: cap.out, err: cap.err, host });
    return { status, out: cap.stdout(), err: cap.stderr() };
  }

  it("hvo write: a write that fills memory stops with one line naming it", async () => {
    // Reading 1: at the write; reading 2: its first folio.
    const r = await cli(
      ["write", nr, "64", "--cat", nr],
      fakeHost({ stepMs: 1000, heap: heapFullFrom(2) }),
    );
    expect(r.status).toBe(71);
    expect(r.out).toBe("");
    expect(r.err).toMatch(
      new RegExp(`^hvo: out of memory in ${nr} 64: the model's JavaScript heap holds 3\\.8 GiB`),
    );
    expect(r.err.split("\n")).toHaveLength(2);
  });

  it("hvo write on a terminal: the line is cleared before --cat prints; the output is as without it", async () => {
    const plain = await cli(["write", nr, "64", "--cat", nr], fakeHost());
    const tty = await cli(["write", nr, "64", "--cat", nr], fakeHost({ tty: true, stepMs: 1000 }));
    expect(plain.out).toBe(`==> ${nr} <==\n64\n`);
    expect(tty.out).toBe(plain.out);
    expect(tty.err).toContain(`hvo write: ${nr} 64`);
    expect(tty.err.endsWith("\r\x1b[K")).toBe(true);
  });

  it("hvo cat --after: a scenario that fills memory stops with one line naming its step", async () => {
    const r = await cli(
      ["cat", "/proc/meminfo", "--after", file],
      fakeHost({ stepMs: 1000, heap: heapFullFrom(4) }),
    );
    expect(r.status).toBe(71);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^hvo: out of memory in grow step 2\/3 nr 2M value=64: /);
  });
});

describe("hvo run: an allocation the host refuses", () => {
  it("a RangeError of a failed ArrayBuffer allocation is one line, exit 71, not an internal error", async () => {
    // The first memory reading stands in for a frame's ArrayBuffer that V8 could not allocate.
    const r = await run(
      fakeHost({
        heap: () => {
          throw new RangeError("Array buffer allocation failed");
        },
      }),
    );
    expect(r.status).toBe(71);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      "hvo: out of memory: Array buffer allocation failed (the model outgrew what one node process holds)\n",
    );
  });
});

describe("memoryProblem(): the limits", () => {
  const at = (o: Partial<HostProbe>) => memoryProblem(fakeHost(o));
  it("node's heap: stops when less than 12% of the limit (at least 64 MiB) is left", () => {
    // 4144 MiB (node's default on a large host): 12% is 497.3 MiB, the line at 3646.7 MiB.
    expect(at({ heap: () => ({ used: 3640 * MiB, limit: 4144 * MiB }) })).toBeNull();
    expect(at({ heap: () => ({ used: 3650 * MiB, limit: 4144 * MiB }) })).toMatch(/heap/);
    // 348 MiB (--max-old-space-size=300): 12% is 41.8 MiB, below 64 MiB: the line at 284 MiB.
    expect(at({ heap: () => ({ used: 283 * MiB, limit: 348 * MiB }) })).toBeNull();
    expect(at({ heap: () => ({ used: 285 * MiB, limit: 348 * MiB }) })).toMatch(/heap/);
  });
  it("the host: 5% of its RAM left, at least 64 MiB and at most 512 MiB", () => {
    // 32 GiB: 5% is 1.6 GiB, capped at 512 MiB.
    expect(at({ total: () => 32 * GiB, available: () => 513 * MiB })).toBeNull();
    expect(at({ total: () => 32 * GiB, available: () => 511 * MiB })).toMatch(/host has/);
    // 2 GiB: 5% is 102.4 MiB.
    expect(at({ total: () => 2 * GiB, available: () => 103 * MiB })).toBeNull();
    expect(at({ total: () => 2 * GiB, available: () => 102 * MiB })).toMatch(/host has/);
    // 512 MiB: 5% is 25.6 MiB, raised to 64 MiB.
    expect(at({ total: () => 512 * MiB, available: () => 63 * MiB })).toMatch(/host has/);
  });
});
