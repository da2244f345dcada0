import { chromium } from "playwright-core";
const b = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox","--disable-gpu","--disable-quic","--no-first-run","--disable-background-networking","--disable-component-update","--disable-sync"] });
const p = await b.newPage({ viewport: { width: 1400, height: 1000 } });
p.on("console", m => console.log("console", m.type(), m.text()));
await p.goto("file:///work/main/web/dist/index.html#m=x86_64&d=legacy&sc=L04_2M_toggle_HVO_twice&at=0");
await p.waitForSelector("body[data-ready]");
for (let i = 0; i < 8; i++) {
  const t = Date.now();
  const before = Number(await p.getAttribute("body", "data-ready"));
  await p.click("#forward");
  await p.waitForFunction(`Number(document.body.dataset.ready) > ${before}`);
  console.log(i, Date.now() - t);
}
const prof = await p.evaluate(() => { const t = performance.now(); document.querySelector("#back").click(); return performance.now() - t; });
console.log("back", prof);
await b.close();
