// The browser the web tests drive: Debian's Chromium (/usr/bin/chromium, or $HVO_CHROMIUM)
// through playwright-core, headless, with the flags that keep it off the network. web/dist is
// built first when it is missing or older than its sources, and served on a free local port.
import { mkdirSync } from "node:fs";
import type { Server } from "node:http";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { CHROMIUM, ensureChromium } from "../../web/chromium.mjs";
import {
  buildWeb,
  REPO_ROOT,
  serveDir,
  WEB_DIST,
  webDistStale,
} from "../../src/cli/commands/web.ts";

export { CHROMIUM };
/** null, or why the browser tests skip here (a missing Chromium is installed first where it can be). */
export const chromiumMissing = await ensureChromium((line) => console.warn(`test/web: ${line}`));
export const haveChromium = chromiumMissing === null;
export const ARTIFACTS = join(REPO_ROOT, "test-artifacts", "web");

export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface WebRig {
  browser: Browser;
  server: Server;
  base: string;
  close(): Promise<void>;
}

export async function startRig(): Promise<WebRig> {
  if (webDistStale()) await buildWeb();
  mkdirSync(ARTIFACTS, { recursive: true });
  const { chromium } = await import("playwright-core");
  // Playwright starts Chromium with a new empty profile (its own --user-data-dir) each time.
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const server = await serveDir(WEB_DIST, 0, "127.0.0.1");
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : 0;
  return {
    browser,
    server,
    base: `http://127.0.0.1:${port}/`,
    close: async () => {
      await browser.close();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** A new page that remembers its console errors and uncaught exceptions. */
export async function openPage(rig: WebRig, hash = ""): Promise<{ page: Page; errors: string[] }> {
  const page = await rig.browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`${rig.base}index.html${hash ? `#${hash}` : ""}`);
  await page.waitForSelector("body[data-ready]");
  return { page, errors };
}

/** Waits for the render that follows an action (data-ready counts renders). */
export async function afterRender(page: Page, action: () => Promise<void>): Promise<void> {
  const before = Number(await page.getAttribute("body", "data-ready"));
  await action();
  await page.waitForFunction(`Number(document.body.dataset.ready) > ${before}`, undefined, {
    timeout: 30_000,
  });
}

/** The counters panel of one design: field -> JSON text of its value. */
export async function counters(page: Page, design: string): Promise<Record<string, string>> {
  const pairs = await page
    .locator(`#counters td[data-design="${design}"]`)
    .evaluateAll((cells) =>
      cells.map((c) => [c.getAttribute("data-key"), c.getAttribute("data-value")]),
    );
  const out: Record<string, string> = {};
  for (const [key, value] of pairs) if (key !== null && value !== null) out[key] = value;
  return out;
}

export async function shot(page: Page, name: string): Promise<string> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
