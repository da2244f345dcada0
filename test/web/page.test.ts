// The web view (web/, built into web/dist) in headless Chromium: what a user sees in the page
// against what the CLI prints for the same steps (`hvo run --json`, `hvo inspect --json`),
// HVO's picture per design, the permalink, a loaded hvo-result/1, and `hvo web` serving it.
// Needs Debian's Chromium (npm run test:web installs it with apt where it can); skips, saying
// so, without it. Screenshots go to test-artifacts/web/.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT, WEB_DIST } from "../../src/cli/commands/web.ts";
import { captureIo } from "../../src/cli/io.ts";
import { main } from "../../src/cli/main.ts";
import type { After, Result, Step } from "../../src/scenario/format.ts";
import { flattenAfter } from "../../src/scenario/observe.ts";
import {
  ARTIFACTS,
  afterRender,
  chromiumMissing,
  counters,
  haveChromium,
  openPage,
  shot,
  startRig,
  type WebRig,
} from "./browser.ts";

if (!haveChromium)
  console.warn(
    `skipping the browser tests of the web view: ${chromiumMissing} (HVO_CHROMIUM names another Chromium)`,
  );

const SUITE = join(REPO_ROOT, "scenarios", "suite.json");
const tmp = mkdtempSync(join(tmpdir(), "hvo-web-"));

async function cliJson<T>(args: string[]): Promise<T> {
  const io = captureIo();
  const rc = await main(args, io);
  expect(io.stderr()).toBe("");
  expect(rc).toBe(0);
  return JSON.parse(io.stdout()) as T;
}

/** The page's encoding of a counter value (JSON text), from the CLI's observation. */
function expectedCounters(after: After | undefined): Record<string, string> {
  if (!after) throw new Error("no observation");
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(flattenAfter(after))) out[k] = JSON.stringify(v ?? null);
  return out;
}

function stepsHash(design: string, steps: Step[], extra = ""): string {
  const p = new URLSearchParams({ m: "x86_64", d: design, id: "t", steps: JSON.stringify(steps) });
  return `${p.toString()}${extra}`;
}

const screenshots: string[] = [];

describe.skipIf(!haveChromium)("the web view in headless Chromium", () => {
  let rig: WebRig;
  beforeAll(async () => {
    rig = await startRig();
  }, 180_000);
  afterAll(async () => {
    await rig?.close();
  });

  it("loads with no console errors, over http and from the built folder (file://)", async () => {
    const { page, errors } = await openPage(rig);
    expect(await page.locator("#error").isHidden()).toBe(true);
    // A fresh boot: no huge pages, HVO off (FORMAT.md's reset).
    const c = await counters(page, "mainline");
    expect(c.HugePages_Total).toBe("0");
    expect(c.hvo).toBe("0");
    screenshots.push(await shot(page, "load"));
    await page.goto(
      `file://${join(WEB_DIST, "index.html")}#m=x86_64&d=legacy&sc=L02_2M_HVO_odd_steps&at=2`,
    );
    await page.waitForSelector("body[data-ready]");
    expect((await counters(page, "legacy")).HugePages_Total).toBe("1");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("steps a scenario forwards and back to the counters of hvo run --json", async () => {
    const id = "L04_2M_toggle_HVO_twice";
    for (const design of ["legacy", "mainline"]) {
      const r = await cliJson<Result>(["run", SUITE, "--only", id, "--design", design, "--json"]);
      const sc = r.scenarios[id];
      const { page, errors } = await openPage(rig, `m=x86_64&d=${design}&sc=${id}&at=0`);
      expect(await counters(page, design)).toEqual(expectedCounters(sc.initial));
      for (const [i, rec] of sc.steps.entries()) {
        await afterRender(page, () => page.click("#forward"));
        expect(await page.textContent("#position")).toBe(`step ${i + 1} of ${sc.steps.length}`);
        expect(await counters(page, design), `${design} after step ${i}`).toEqual(
          expectedCounters(rec.after),
        );
      }
      await afterRender(page, () => page.click("#back"));
      expect(await counters(page, design)).toEqual(
        expectedCounters(sc.steps[sc.steps.length - 2].after),
      );
      screenshots.push(await shot(page, `scenario-${design}`));
      expect(errors).toEqual([]);
      await page.close();
    }
  });

  it("shows a struct page's 64 raw bytes as hvo inspect --json does", async () => {
    const steps: Step[] = [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 2 },
    ];
    const file = join(tmp, "inspect.json");
    writeFileSync(
      file,
      JSON.stringify({ format: "hvo-scenario/1", scenarios: [{ id: "t", steps }] }),
    );
    for (const design of ["legacy", "mainline"]) {
      const { page, errors } = await openPage(rig, stepsHash(design, steps));
      const lane = page.locator(`#vmemmap .lane[data-design="${design}"]`);
      const head = Number(await lane.locator(".folio").getAttribute("data-head"));
      for (const i of [0, 1, 64]) {
        await afterRender(page, () => lane.locator(`.sp[data-i="${i}"]`).click());
        const raw = await page.textContent(`#structpage .lane[data-design="${design}"] code.raw`);
        const cli = await cliJson<{ raw: string; fake_head: boolean }>([
          "inspect",
          "--pfn",
          String(head + i),
          "--after",
          file,
          "--design",
          design,
          "--json",
        ]);
        // 64 bytes of x86_64's struct page, as two hex digits each.
        expect(raw).toHaveLength(128);
        expect(raw, `${design} struct page ${i}`).toBe(cli.raw);
      }
      // The fake head's flags word (bytes 0-7, little endian) has PG_head (bit 6) set.
      const flags = BigInt(
        `0x${(await page.textContent("code.raw"))?.slice(0, 16).match(/../g)?.reverse().join("")}`,
      );
      expect((flags >> 6n) & 1n).toBe(design === "legacy" ? 1n : 0n);
      screenshots.push(await shot(page, `structpage-${design}`));
      expect(errors).toEqual([]);
      await page.close();
    }
  });

  it("legacy shows a fake head at every 64th struct page of an optimised 2M folio, the others none", async () => {
    const steps: Step[] = [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 1 },
    ];
    const { page, errors } = await openPage(rig, stepsHash("all", steps));
    // 512 struct pages of 64 bytes: 64 per 4 KiB vmemmap page. Legacy maps vmemmap pages 1-7
    // onto page 0 again, so the first struct page of each reads as the head: i = 64 k, k = 1..7.
    const fakeAt = [1, 2, 3, 4, 5, 6, 7].map((k) => 64 * k);
    for (const design of ["legacy", "seed", "mainline"]) {
      const lane = page.locator(`#vmemmap .lane[data-design="${design}"]`);
      expect(await lane.locator(".sp").count()).toBe(512);
      const fake = await lane
        .locator(".sp.fake-head")
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-i"))));
      expect(fake, design).toEqual(design === "legacy" ? fakeAt : []);
      expect(await lane.locator(".sp.head").count()).toBe(1);
      const roles = await lane
        .locator(".vpage")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-role")));
      expect(roles).toEqual(
        design === "legacy"
          ? ["head", ...Array(7).fill("head_alias")]
          : ["head", ...Array(7).fill("shared_tail")],
      );
      const writable = await lane
        .locator(".vpage")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-writable")));
      expect(writable).toEqual(["1", ...Array(7).fill("0")]);
    }
    screenshots.push(await shot(page, "three-designs"));
    expect(errors).toEqual([]);
    await page.close();
  });

  it("mainline shows one shared tail page per zone and order, backing every folio of them", async () => {
    const steps: Step[] = [
      { op: "hvo", value: 1 },
      { op: "nr", size: "2M", value: 4 },
      { op: "nr", size: "1G", value: 2 },
    ];
    const { page, errors } = await openPage(rig, `${stepsHash("mainline", steps)}&nodes=2`);
    const rows = await page.locator("#folio-table tr[data-head]").evaluateAll((els) =>
      els.map((e) => {
        const td = [...e.querySelectorAll("td")].map((c) => c.textContent ?? "");
        return {
          head: Number(e.getAttribute("data-head")),
          order: Number(e.getAttribute("data-order")),
          nid: td[2],
          zone: td[3],
        };
      }),
    );
    expect(rows).toHaveLength(6);
    const wanted = new Set(rows.map((r) => `${r.nid}/${r.zone}/${r.order}`));
    // Two nodes, the pool spread over both: at least one key per node.
    expect(wanted.size).toBeGreaterThanOrEqual(2);
    const lane = page.locator('#vmemmap .lane[data-design="mainline"]');
    const tails = await lane.locator(".shared-tails tr[data-frame]").evaluateAll((els) =>
      els.map((e) => {
        const td = [...e.querySelectorAll("td")].map((c) => c.textContent ?? "");
        return { frame: Number(e.getAttribute("data-frame")), key: `${td[1]}/${td[2]}/${td[3]}` };
      }),
    );
    expect(tails.map((t) => t.key).sort()).toEqual([...wanted].sort());
    for (const r of rows) {
      await afterRender(page, () => page.click(`#folio-table tr[data-head="${r.head}"]`));
      const frames = await lane
        .locator(".vpage")
        .evaluateAll((els) => els.map((e) => Number(e.getAttribute("data-frame"))));
      expect(frames).toHaveLength(2 ** r.order / 64);
      const t = tails.find((x) => x.key === `${r.nid}/${r.zone}/${r.order}`);
      expect(new Set(frames.slice(1))).toEqual(new Set([t?.frame]));
    }
    screenshots.push(await shot(page, "shared-tails"));
    expect(errors).toEqual([]);
    await page.close();
  });

  it("acts as a kernel: writes in the page, the kernel's errors as a shell prints them", async () => {
    const { page, errors } = await openPage(rig, "m=x86_64&d=mainline");
    const path = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
    await afterRender(page, async () => {
      await page.fill("#cmd", `echo abc > ${path}`);
      await page.press("#cmd", "Enter");
    });
    expect(await page.textContent("#steps li:last-child .errmsg")).toBe(
      " write error: Invalid argument",
    );
    await afterRender(page, async () => {
      await page.fill("#cmd", `echo 4 > ${path}`);
      await page.press("#cmd", "Enter");
    });
    expect((await counters(page, "mainline")).HugePages_Total).toBe("4");
    await afterRender(page, () => page.click("#act-hvo-on"));
    await page.fill("#act-value", "6");
    await afterRender(page, () => page.click("#act-nr"));
    const c = await counters(page, "mainline");
    expect(c.HugePages_Total).toBe("6");
    expect(c.hvo).toBe("1");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("a permalink restores the same view", async () => {
    const { page, errors } = await openPage(rig, "m=x86_64&d=legacy");
    await afterRender(page, () => page.click("#act-hvo-on"));
    await page.fill("#act-value", "3");
    await afterRender(page, () => page.click("#act-nr"));
    await page.fill("#act-value", "5");
    await afterRender(page, () => page.click("#act-nr"));
    const second = page.locator("#folio-table tr[data-head]").nth(1);
    const head = Number(await second.getAttribute("data-head"));
    await afterRender(page, () => second.click());
    await afterRender(page, () => page.locator(`#vmemmap .sp[data-pfn="${head + 65}"]`).click());
    await afterRender(page, () => page.click("#back"));
    const view = async (p: typeof page) => ({
      position: await p.textContent("#position"),
      counters: await counters(p, "legacy"),
      folio: await p.getAttribute("#folio-table tr.selected", "data-head"),
      frames: await p
        .locator(".vpage[data-frame]")
        .evaluateAll((els) => els.map((e) => e.getAttribute("data-frame"))),
      raw: await p.textContent("code.raw"),
      inspect: await p.textContent("pre.inspect"),
    });
    const before = await view(page);
    expect(before.position).toBe("step 2 of 3");
    expect(before.folio).toBe(String(head));
    const link = await page.getAttribute("#permalink", "href");
    expect(link).toContain("#");
    const other = await rig.browser.newPage();
    await other.goto(link as string);
    await other.waitForSelector("body[data-ready]");
    expect(await view(other)).toEqual(before);
    screenshots.push(await shot(other, "permalink"));
    expect(errors).toEqual([]);
    await other.close();
    await page.close();
  });

  it("loads a hvo-result/1 next to the model's and marks the differences", async () => {
    const id = "L02_2M_HVO_odd_steps";
    const r = await cliJson<Result>(["run", SUITE, "--only", id, "--design", "mainline", "--json"]);
    const same = join(tmp, "same.json");
    writeFileSync(same, JSON.stringify(r));
    const changed = structuredClone(r);
    const rec = changed.scenarios[id].steps[2];
    // What `hvo diff` compares exactly: the pool counters, and the memmap's change per step.
    rec.after.HugePages_Free = (rec.after.HugePages_Free ?? 0) + 1;
    rec.delta.memmap_sum = (rec.delta.memmap_sum ?? 0) + 7;
    const other = join(tmp, "changed.json");
    writeFileSync(other, JSON.stringify(changed));
    const { page, errors } = await openPage(rig, `m=x86_64&d=mainline&sc=${id}`);
    await afterRender(page, () => page.setInputFiles("#file", same));
    expect(await page.getAttribute(".diffs", "data-count")).toBe("0");
    await afterRender(page, () => page.setInputFiles("#file", other));
    expect(Number(await page.getAttribute(".diffs", "data-count"))).toBeGreaterThanOrEqual(1);
    expect(Number(await page.getAttribute(".diffs", "data-count"))).toBe(2);
    expect(await page.textContent(".diffs")).toContain("HugePages_Free");
    expect(await page.textContent(".diffs")).toContain("d_memmap_sum");
    const marked = await page
      .locator("#steps li.differs")
      .evaluateAll((els) => els.map((e) => e.getAttribute("data-i")));
    expect(marked).toContain("2");
    screenshots.push(await shot(page, "compare"));
    expect(errors).toEqual([]);
    await page.close();
  });

  it("takes a hvo-scenario/1 file dropped on the page and steps through it", async () => {
    const file = {
      format: "hvo-scenario/1",
      scenarios: [
        {
          id: "dropped",
          steps: [
            { op: "hvo", value: 1 },
            { op: "nr", size: "1G", value: 1 },
            { op: "demote", size: "1G", value: 1 },
          ],
        },
      ],
    };
    const path = join(tmp, "dropped.json");
    writeFileSync(path, JSON.stringify(file));
    const r = await cliJson<Result>(["run", path, "--design", "legacy", "--json"]);
    const { page, errors } = await openPage(rig, "m=x86_64&d=legacy");
    const dt = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([${JSON.stringify(JSON.stringify(file))}], "dropped.json", { type: "application/json" })); return dt; })()`,
    );
    await afterRender(page, () => page.dispatchEvent("body", "drop", { dataTransfer: dt }));
    expect(await page.inputValue("#scenario")).toBe("dropped");
    expect(await page.textContent("#position")).toBe("step 0 of 3");
    await afterRender(page, () => page.click("#last"));
    expect(await counters(page, "legacy")).toEqual(
      expectedCounters(r.scenarios.dropped.steps[2].after),
    );
    // A file that is not one: one line naming the problem, the view unchanged.
    const bad = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File(['{"format":"hvo-scenario/1","scenarios":[{"id":"x","steps":[{"op":"nr","size":"2MB","value":1}]}]}'], "bad.json")); return dt; })()`,
    );
    await page.dispatchEvent("body", "drop", { dataTransfer: bad });
    await page.waitForSelector("#error:not([hidden])");
    const msg = (await page.textContent("#error")) ?? "";
    expect(msg).toMatch(/^bad\.json: .*size/);
    expect(msg).not.toContain("\n");
    expect(await page.textContent("#position")).toBe("step 3 of 3");
    expect(errors).toEqual([]);
    await page.close();
  });

  it("keeps its screenshots as test artefacts", () => {
    expect(screenshots.length).toBeGreaterThanOrEqual(6);
    for (const s of screenshots) {
      expect(s.startsWith(ARTIFACTS)).toBe(true);
      const png = readFileSync(s);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.length).toBeGreaterThan(10_000);
    }
  });
});

describe("hvo web", () => {
  it("serves web/dist on a local address and prints it", async () => {
    const child = spawn(
      process.execPath,
      [join(REPO_ROOT, "bin", "hvo.mjs"), "web", "--port", "0", "--no-open"],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    try {
      const url = await new Promise<string>((ok, fail) => {
        let out = "";
        let err = "";
        child.stdout.on("data", (d: Buffer) => {
          out += d.toString();
          const m = /at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
          if (m) ok(m[1]);
        });
        child.stderr.on("data", (d: Buffer) => {
          err += d.toString();
        });
        child.on("exit", (code) => fail(new Error(`hvo web exited ${code}: ${err}`)));
      });
      const index = await fetch(url);
      expect(index.status).toBe(200);
      expect(index.headers.get("content-type")).toContain("text/html");
      expect(await index.text()).toContain('id="vmemmap"');
      const outside = await fetch(`${url}..%2fpackage.json`);
      expect(outside.status).not.toBe(200);
      expect((await fetch(`${url}no-such-file.js`)).status).toBe(404);
    } finally {
      child.kill("SIGTERM");
    }
  }, 120_000);

  it("refuses a port that is not one, in one line", async () => {
    const io = captureIo();
    expect(await main(["web", "--port", "http", "--no-open"], io)).toBe(2);
    expect(io.stderr()).toBe('hvo: --port: "http" is not a TCP port (0-65535)\n');
  });
});
