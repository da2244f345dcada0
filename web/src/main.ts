// hvo's web view: the model core running in the page (the same modules as the CLI), a machine
// and a design picked by the user, steps done as on a kernel or loaded from a hvo-scenario/1
// file, and what they did to the vmemmap, down to one struct page's 64 bytes.
// Everything shown follows from the state in the address's fragment (url.ts).

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import sharedFile from "../../scenarios/shared/scenarios.json";
import suiteFile from "../../scenarios/suite.json";
import { presetNames } from "../../src/arch/index.ts";
import { formatInspect, inspectPfn } from "../../src/report/inspect.ts";
import { hex } from "../../src/report/units.ts";
import { compareResultsDetailed, formatDifference } from "../../src/scenario/compare.ts";
import {
  type Result,
  type Scenario,
  type Step,
  parseResult,
  parseScenarioFile,
} from "../../src/scenario/format.ts";
import { flattenAfter } from "../../src/scenario/observe.ts";
import {
  type FullRun,
  type Lane,
  type ViewState,
  buildLane,
  buildSpec,
  designsOf,
  folios,
  modelResult,
  runAll,
  sharedTails,
  structPageKind,
  structPagesPerVmemmapPage,
  vmemmapPages,
} from "./engine.ts";
import { decodeState, encodeState } from "./url.ts";

// ------------------------------------------------------------------ scenarios shipped with the page

const bundledScenarios: Scenario[] = [
  ...parseScenarioFile(suiteFile).scenarios,
  ...parseScenarioFile(sharedFile).scenarios,
];
const bundled = (id: string): Step[] | undefined =>
  bundledScenarios.find((s) => s.id === id)?.steps;
/** Scenarios of a file the user dropped or picked (not in the URL: their steps are). */
let loadedScenarios: Scenario[] = [];
/** A hvo-result/1 the user loaded, compared with the model's. */
let loadedResult: { name: string; result: Result } | null = null;

// ------------------------------------------------------------------ DOM helpers

function $(sel: string): HTMLElement {
  const e = document.querySelector<HTMLElement>(sel);
  if (!e) throw new Error(`page is missing ${sel}`);
  return e;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | undefined> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) e.append(c);
  return e;
}

function showError(text: string): void {
  const e = $("#error");
  e.textContent = text;
  e.hidden = text === "";
}

// ------------------------------------------------------------------ state

let state: ViewState = decodeState(location.hash, bundled).state;
const fullCache = new Map<string, FullRun>();
const laneCache = new Map<string, Lane>();

function lanesOf(s: ViewState): Lane[] {
  const spec = buildSpec(s);
  return designsOf(s).map((d) => {
    const fullKey = JSON.stringify([s.machine, s.memMiB, s.nodes, s.cmdline, d, s.steps]);
    const key = JSON.stringify([fullKey, s.at]);
    let lane = laneCache.get(key);
    if (!lane) {
      let full = fullCache.get(fullKey);
      if (!full) {
        if (fullCache.size > 6) fullCache.clear();
        full = runAll(spec, d, s.steps);
        fullCache.set(fullKey, full);
      }
      if (laneCache.size > 12) laneCache.clear();
      // One step forward: the lane one step behind goes on (and leaves the cache).
      const prevKey = JSON.stringify([fullKey, s.at - 1]);
      const prev = laneCache.get(prevKey);
      if (prev) laneCache.delete(prevKey);
      lane = buildLane(spec, d, s.steps, s.at, full, prev);
      laneCache.set(key, lane);
    }
    return lane;
  });
}

function setState(next: ViewState): void {
  state = next;
  const hash = `#${encodeState(state, bundled)}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
  render();
}

function addStep(step: Step): void {
  const steps = [...state.steps.slice(0, state.at), step];
  setState({ ...state, steps, at: steps.length });
}

// ------------------------------------------------------------------ controls

function initControls(): void {
  const machine = $("#machine") as HTMLSelectElement;
  for (const p of presetNames()) machine.append(el("option", { value: p }, p));
  const scen = $("#scenario") as HTMLSelectElement;
  scen.append(el("option", { value: "" }, "(your own steps)"));
  for (const s of bundledScenarios) scen.append(el("option", { value: s.id }, s.id));

  $("#boot").addEventListener("click", () => {
    const mem = ($("#mem") as HTMLInputElement).value.trim();
    const nodes = ($("#nodes") as HTMLInputElement).value.trim();
    const cmd = ($("#cmdline") as HTMLInputElement).value;
    if (mem !== "" && !/^[1-9][0-9]*$/.test(mem)) {
      showError(`memory: "${mem}" is not a size in MiB (a whole number, e.g. 16384)`);
      return;
    }
    if (nodes !== "" && !/^[1-9][0-9]?$/.test(nodes)) {
      showError(`nodes: "${nodes}" is not a number of NUMA nodes (1-99)`);
      return;
    }
    setState({
      ...state,
      machine: machine.value,
      memMiB: mem === "" ? undefined : Number(mem),
      nodes: nodes === "" ? undefined : Number(nodes),
      cmdline: cmd.trim() === "" ? undefined : cmd,
      design: ($("#design") as HTMLSelectElement).value as ViewState["design"],
      folio: undefined,
      pfn: undefined,
    });
  });
  $("#design").addEventListener("change", () => $("#boot").click());
  scen.addEventListener("change", () => {
    const id = scen.value;
    const steps = bundled(id) ?? loadedScenarios.find((s) => s.id === id)?.steps ?? [];
    setState({ ...state, scenario: id || "web", steps, at: 0, folio: undefined, pfn: undefined });
  });
  $("#first").addEventListener("click", () => setState({ ...state, at: 0 }));
  $("#back").addEventListener("click", () => setState({ ...state, at: Math.max(0, state.at - 1) }));
  $("#forward").addEventListener("click", () =>
    setState({ ...state, at: Math.min(state.steps.length, state.at + 1) }),
  );
  $("#last").addEventListener("click", () => setState({ ...state, at: state.steps.length }));
  $("#clear").addEventListener("click", () =>
    setState({ ...state, scenario: "web", steps: [], at: 0, folio: undefined, pfn: undefined }),
  );

  const value = () => ($("#act-value") as HTMLInputElement).value.trim();
  const size = () => ($("#act-size") as HTMLSelectElement).value;
  const node = () => ($("#act-node") as HTMLSelectElement).value;
  $("#act-nr").addEventListener("click", () => {
    const n = node();
    addStep(
      n === ""
        ? { op: "nr", size: size(), value: value() }
        : { op: "nr_node", size: size(), node: Number(n), value: value() },
    );
  });
  $("#act-overcommit").addEventListener("click", () =>
    addStep({ op: "overcommit", size: size(), value: value() }),
  );
  $("#act-demote").addEventListener("click", () =>
    addStep({ op: "demote", size: size(), value: value() }),
  );
  $("#act-hvo-on").addEventListener("click", () => addStep({ op: "hvo", value: 1 }));
  $("#act-hvo-off").addEventListener("click", () => addStep({ op: "hvo", value: 0 }));
  const mapId = () => ($("#act-id") as HTMLInputElement).value.trim() || "m0";
  $("#act-map").addEventListener("click", () =>
    addStep({ op: "map", id: mapId(), size: size(), n: Number(value()) || 1, touch: 0 }),
  );
  $("#act-touch").addEventListener("click", () => addStep({ op: "touch", id: mapId() }));
  $("#act-release").addEventListener("click", () => addStep({ op: "release", id: mapId() }));
  $("#act-offline").addEventListener("click", () =>
    addStep({
      op: "write",
      path: `/sys/devices/system/memory/memory${value()}/state`,
      value: "offline",
    }),
  );
  $("#act-poison").addEventListener("click", () => {
    const lane = lanesOf(state)[0];
    const pfn = Number(value());
    addStep({
      op: "write",
      path: "/sys/devices/system/memory/hard_offline_page",
      value: `0x${(pfn * lane.model.k.pageSize).toString(16)}`,
    });
  });
  const cmd = $("#cmd") as HTMLInputElement;
  const runCmd = () => {
    const m = /^\s*echo\s+(\S+)\s*>\s*(\/\S+)\s*$/.exec(cmd.value);
    if (!m) {
      showError(
        `not understood: "${cmd.value}" (write it as: echo VALUE > /sys/... or /proc/sys/vm/...)`,
      );
      return;
    }
    showError("");
    cmd.value = "";
    addStep({ op: "write", path: m[2], value: m[1] });
  };
  $("#cmd-run").addEventListener("click", runCmd);
  cmd.addEventListener("keydown", (e) => {
    if (e.key === "Enter") runCmd();
  });

  const file = $("#file") as HTMLInputElement;
  file.addEventListener("change", async () => {
    for (const f of file.files ?? []) await loadFile(f.name, await f.text());
    file.value = "";
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    for (const f of e.dataTransfer?.files ?? []) await loadFile(f.name, await f.text());
  });
  window.addEventListener("hashchange", () => {
    const d = decodeState(location.hash, bundled);
    state = d.state;
    render();
    if (d.problems.length) showError(`the address: ${d.problems.join("; ")}`);
  });
}

/** A dropped or picked file: a hvo-scenario/1 to step through, or a hvo-result/1 to compare. */
async function loadFile(name: string, text: string): Promise<void> {
  try {
    const data = JSON.parse(text) as { format?: unknown };
    if (data.format === "hvo-result/1") {
      const result = parseResult(data);
      loadedResult = { name, result };
      const ids = Object.keys(result.scenarios);
      if (!ids.includes(state.scenario) && ids.length) {
        const id = ids[0];
        const steps = result.scenarios[id].steps.map((r) => r.step);
        setState({
          ...state,
          scenario: id,
          steps,
          at: steps.length,
          folio: undefined,
          pfn: undefined,
        });
      } else render();
      return;
    }
    const sf = parseScenarioFile(data);
    loadedScenarios = sf.scenarios;
    const scen = $("#scenario") as HTMLSelectElement;
    for (const s of sf.scenarios)
      if (![...scen.options].some((o) => o.value === s.id))
        scen.append(el("option", { value: s.id }, `${s.id} (${name})`));
    const first = sf.scenarios[0];
    if (first)
      setState({
        ...state,
        scenario: first.id,
        steps: first.steps,
        at: 0,
        folio: undefined,
        pfn: undefined,
      });
  } catch (e) {
    showError(`${name}: ${(e as Error).message.split("\n")[0]}`);
  }
}

// ------------------------------------------------------------------ rendering

function stepText(s: Step): string {
  const { op, ...rest } = s;
  return `${op} ${Object.entries(rest)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ")}`;
}

let renders = 0;

function render(): void {
  showError("");
  let lanes: Lane[];
  try {
    lanes = lanesOf(state);
  } catch (e) {
    showError((e as Error).message.split("\n")[0]);
    document.body.dataset.ready = String(++renders);
    return;
  }
  syncControls(lanes[0]);
  renderSteps(lanes);
  renderCounters(lanes);
  renderCharts(lanes);
  renderMachine(lanes[0]);
  renderFolios(lanes);
  renderCompare(lanes);
  ($("#permalink") as HTMLAnchorElement).href = location.href;
  document.body.dataset.ready = String(++renders);
}

function syncControls(lane: Lane): void {
  ($("#machine") as HTMLSelectElement).value = state.machine;
  ($("#design") as HTMLSelectElement).value = state.design;
  ($("#mem") as HTMLInputElement).value = state.memMiB === undefined ? "" : String(state.memMiB);
  ($("#nodes") as HTMLInputElement).value = state.nodes === undefined ? "" : String(state.nodes);
  ($("#cmdline") as HTMLInputElement).value = state.cmdline ?? lane.model.k.spec.cmdline;
  const scen = $("#scenario") as HTMLSelectElement;
  scen.value = [...scen.options].some((o) => o.value === state.scenario) ? state.scenario : "";
  const sizeSel = $("#act-size") as HTMLSelectElement;
  const sizes = lane.model.pool.hstatesBySize().map((h) => `${h.sizeKb}kB`);
  if (
    sizeSel.options.length !== sizes.length ||
    [...sizeSel.options].some((o, i) => o.value !== sizes[i])
  ) {
    sizeSel.replaceChildren(
      ...sizes.map((s) => el("option", { value: s }, s === "2048kB" ? "2048kB (2M)" : s)),
    );
  }
  const nodeSel = $("#act-node") as HTMLSelectElement;
  const nodes = lane.model.pool.nodes;
  if (nodeSel.options.length !== nodes.length + 1) {
    nodeSel.replaceChildren(
      el("option", { value: "" }, "all nodes"),
      ...nodes.map((n) => el("option", { value: n }, `node ${n}`)),
    );
  }
  $("#position").textContent = `step ${state.at} of ${state.steps.length}`;
}

function renderSteps(lanes: Lane[]): void {
  const list = $("#steps");
  const items = state.steps.map((s, i) => {
    const outs = lanes.map((l) => l.outcomes[i]);
    const msg = outs.find((o) => o?.message)?.message ?? "";
    const li = el(
      "li",
      {
        "data-i": i,
        class: `${i < state.at ? "done" : "todo"}${i === state.at - 1 ? " current" : ""}`,
      },
      el("code", {}, stepText(s)),
      msg ? el("span", { class: "errmsg" }, ` ${msg}`) : "",
    );
    li.addEventListener("click", () => setState({ ...state, at: i + 1 }));
    return li;
  });
  list.replaceChildren(...items);
}

function renderCounters(lanes: Lane[]): void {
  const rows = lanes.map((l) => flattenAfter(l.now));
  const keys = Object.keys(rows[0]);
  const head = el("tr", {}, el("th", {}, "field"), ...lanes.map((l) => el("th", {}, l.design)));
  const body = keys.map((k) => {
    const vals = rows.map((r) => JSON.stringify(r[k] ?? null));
    const differ = vals.some((v) => v !== vals[0]);
    return el(
      "tr",
      { "data-key": k, class: differ ? "differ" : undefined },
      el("td", {}, k),
      ...lanes.map((l, i) =>
        el("td", { "data-design": l.design, "data-key": k, "data-value": vals[i] }, vals[i]),
      ),
    );
  });
  $("#counters").replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...body)));
}

const CHARTS: { title: string; fields: string[] }[] = [
  { title: "vmemmap pages (/proc/vmstat)", fields: ["nr_memmap_pages", "nr_memmap_boot_pages"] },
  { title: "HugePages (/proc/meminfo)", fields: ["HugePages_Total", "HugePages_Free"] },
  { title: "MemFree kB (/proc/meminfo)", fields: ["MemFree_kB"] },
];
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
let plots: uPlot[] = [];

function renderCharts(lanes: Lane[]): void {
  for (const p of plots) p.destroy();
  plots = [];
  const box = $("#charts");
  box.replaceChildren();
  const xs = lanes[0].series.map((_, i) => i);
  const at = state.at;
  const marker = {
    hooks: {
      draw: [
        (u: uPlot) => {
          const x = u.valToPos(at, "x", true);
          const ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#888";
          ctx.setLineDash([4, 4]);
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
  };
  for (const c of CHARTS) {
    const series: uPlot.Series[] = [{ label: "step" }];
    const data: uPlot.AlignedData = [xs];
    let color = 0;
    for (const l of lanes)
      for (const f of c.fields) {
        series.push({
          label: lanes.length > 1 ? `${f} (${l.design})` : f,
          stroke: COLORS[color++ % COLORS.length],
          width: 2,
        });
        (data as (number | null)[][]).push(
          l.series.map((a) => (a as unknown as Record<string, number | null>)[f] ?? null),
        );
      }
    const div = el("div", { class: "chart", "data-chart": c.fields.join(",") });
    box.append(div);
    plots.push(
      new uPlot(
        {
          title: c.title,
          width: 420,
          height: 200,
          series,
          plugins: [marker],
          scales: { x: { time: false } },
          axes: [{ label: "step", incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500] }, { size: 90 }],
        },
        data,
        div,
      ),
    );
  }
}

function renderMachine(lane: Lane): void {
  const m = lane.model;
  const k = m.k;
  const pageKb = k.pageSize / 1024;
  const zones = el(
    "table",
    {},
    el(
      "tr",
      {},
      ...["node", "zone", "pfns", "present", "managed", "free"].map((h) => el("th", {}, h)),
    ),
    ...k.buddy.zones.map((z) =>
      el(
        "tr",
        {},
        el("td", {}, String(z.nid)),
        el("td", {}, z.type),
        el("td", {}, `${hex(z.startPfn)}-${hex(z.endPfn)}`),
        el("td", {}, String(z.present)),
        el("td", {}, String(z.managed)),
        el("td", {}, String(z.nrFree)),
      ),
    ),
  );
  const sectionPages = k.geometry.pagesPerSection;
  const blockPages = m.hotplug.blockPages;
  const heads = [...m.pool.folios.keys()];
  const strip = el("div", { class: "blocks" });
  for (const b of m.hotplug.blocks.values()) {
    const start = b.id * blockPages;
    const n = heads.filter((h) => h >= start && h < start + blockPages).length;
    const cell = el(
      "span",
      {
        class: `block ${b.state}${n ? " has-folios" : ""}`,
        "data-block": b.id,
        title: `memory${b.id}: node ${b.nid}, ${b.state}, pfns ${hex(start)}-${hex(start + blockPages - 1)}, ${blockPages / sectionPages} section(s), ${n} huge page(s)`,
      },
      n ? String(n) : "",
    );
    cell.addEventListener("click", () => {
      const first = heads
        .filter((h) => h >= start && h < start + blockPages)
        .sort((a, b2) => a - b2)[0];
      ($("#act-value") as HTMLInputElement).value = String(b.id);
      if (first !== undefined) setState({ ...state, folio: first, pfn: first });
    });
    strip.append(cell);
  }
  $("#machine-view").replaceChildren(
    el(
      "p",
      {},
      `${k.spec.name}: ${k.spec.nodes.length} node(s), page ${pageKb} KiB, struct page ${k.layout.size} bytes, ` +
        `section ${(sectionPages * pageKb) / 1024} MiB, memory block ${(blockPages * pageKb) / 1024} MiB, ` +
        `command line "${k.spec.cmdline}"`,
    ),
    zones,
    el("p", {}, "memory blocks (number: huge pages in it; click: its first folio; grey: offline)"),
    strip,
  );
}

function renderFolios(lanes: Lane[]): void {
  const main = lanes[0];
  const list = folios(main.model);
  const heads = new Set(list.map((f) => f.head));
  let folio = state.folio !== undefined && heads.has(state.folio) ? state.folio : undefined;
  if (folio === undefined) folio = (list.find((f) => f.optimized) ?? list[0])?.head;
  const table = el(
    "table",
    { id: "folio-table" },
    el(
      "tr",
      {},
      ...["head pfn", "size", "node", "zone", "list", "HVO"].map((h) => el("th", {}, h)),
    ),
    ...list.slice(0, 200).map((f) => {
      const tr = el(
        "tr",
        {
          "data-head": f.head,
          "data-order": f.order,
          class: f.head === folio ? "selected" : undefined,
        },
        el("td", {}, `${hex(f.head)} (${f.head})`),
        el("td", {}, `${f.sizeKb}kB`),
        el("td", {}, String(f.nid)),
        el("td", {}, main.model.k.pfnZone(f.head)?.zone ?? "?"),
        el("td", {}, f.list),
        el("td", {}, f.optimized ? "optimised" : "-"),
      );
      tr.addEventListener("click", () => setState({ ...state, folio: f.head, pfn: f.head }));
      return tr;
    }),
  );
  const more = list.length > 200 ? el("p", {}, `(${list.length - 200} more not listed)`) : "";
  $("#folios").replaceChildren(el("p", {}, `${list.length} huge page(s) in the pool`), table, more);
  const box = $("#vmemmap");
  box.replaceChildren();
  const spBox = $("#structpage");
  spBox.replaceChildren();
  for (const lane of lanes) {
    const f = folio === undefined ? undefined : folios(lane.model).find((x) => x.head === folio);
    const section = el(
      "div",
      { class: "lane", "data-design": lane.design },
      el("h3", {}, lane.design),
    );
    box.append(section);
    section.append(renderSharedTails(lane));
    if (!f) {
      section.append(
        el("p", {}, "no huge page: grow a pool (nr_hugepages) to see a folio's vmemmap"),
      );
    } else section.append(renderFolioVmemmap(lane, f.head, f.order));
    renderStructPage(lane, f?.head, spBox);
  }
}

function renderSharedTails(lane: Lane): HTMLElement {
  const tails = sharedTails(lane.model);
  const k = lane.model.k;
  if (tails.length === 0)
    return el("p", { class: "shared-tails", "data-count": 0 }, "shared tail pages: none");
  return el(
    "table",
    { class: "shared-tails", "data-count": tails.length },
    el("tr", {}, ...["shared tail frame", "node", "zone", "order"].map((h) => el("th", {}, h))),
    ...tails.map((t) =>
      el(
        "tr",
        { "data-frame": t.pfn },
        el("td", {}, hex(t.pfn)),
        el("td", {}, String(t.nid)),
        el("td", {}, t.zone ?? `(per node; frame in ${k.pfnZone(t.pfn)?.zone ?? "?"})`),
        el("td", {}, String(t.order)),
      ),
    ),
  );
}

function renderFolioVmemmap(lane: Lane, head: number, order: number): HTMLElement {
  const m = lane.model;
  const per = structPagesPerVmemmapPage(m);
  const cells = vmemmapPages(m, head, order);
  const wrap = el("div", { class: "folio", "data-head": head, "data-order": order });
  wrap.append(
    el(
      "p",
      {},
      `folio ${hex(head)}, order ${order}: ${cells.length} vmemmap page(s) of ${per} struct pages, ` +
        `mapped onto ${new Set(cells.map((c) => c.frame)).size} distinct frame(s); ` +
        (cells.some((c) => c.role !== "own")
          ? `optimised: vmemmap pages 1-${cells.length - 1} have no frames of their own ` +
            `(${cells.length - 1} frames given back), page 0 maps the head copy`
          : "not optimised: every vmemmap page has its own frame"),
    ),
  );
  const vp = el("div", { class: "vpages" });
  for (const c of cells) {
    const cell = el(
      "span",
      {
        class: `vpage role-${c.role}${c.writable ? "" : " ro"}`,
        "data-index": c.index,
        "data-frame": c.frame,
        "data-role": c.role,
        "data-writable": c.writable ? 1 : 0,
        title: `vmemmap page ${c.index}: ${c.level.toUpperCase()} ${c.writable ? "RW" : "RO"} -> frame ${hex(c.frame)} (${c.role})`,
      },
      cells.length <= 64 ? `${c.index}→${hex(c.frame)}${c.writable ? "" : " RO"}` : "",
    );
    cell.addEventListener("click", () =>
      setState({ ...state, folio: head, pfn: head + c.index * per }),
    );
    vp.append(cell);
  }
  wrap.append(vp);
  // The struct pages of 8 vmemmap pages around the selected one.
  const selIdx =
    state.pfn !== undefined && state.pfn >= head && state.pfn < head + 2 ** order
      ? Math.floor((state.pfn - head) / per)
      : 0;
  const first = Math.floor(selIdx / 8) * 8;
  const last = Math.min(cells.length, first + 8);
  const grid = el("div", { class: "spgrid" });
  for (let v = first; v < last; v++) {
    const row = el("div", { class: "sprow" }, el("span", { class: "sprow-label" }, `vpage ${v}`));
    for (let j = 0; j < per; j++) {
      const pfn = head + v * per + j;
      if (pfn >= head + 2 ** order) break;
      const kind = structPageKind(m, head, pfn);
      const cell = el("span", {
        class: `sp ${kind}${pfn === state.pfn ? " selected" : ""}`,
        "data-pfn": pfn,
        "data-i": pfn - head,
        title: `struct page ${pfn - head} (pfn ${hex(pfn)}): ${kind}`,
      });
      cell.addEventListener("click", () => setState({ ...state, folio: head, pfn }));
      row.append(cell);
    }
    grid.append(row);
  }
  wrap.append(
    el(
      "p",
      {},
      `struct pages of vmemmap pages ${first}-${last - 1} (legend: head, tail, fake head = PG_head on a tail)`,
    ),
    grid,
  );
  return wrap;
}

function renderStructPage(lane: Lane, head: number | undefined, box: HTMLElement): void {
  const pfn = state.pfn ?? head;
  const section = el(
    "div",
    { class: "lane", "data-design": lane.design },
    el("h3", {}, lane.design),
  );
  box.append(section);
  if (pfn === undefined) {
    section.append(el("p", {}, "click a struct page"));
    return;
  }
  try {
    const d = inspectPfn(lane.model.k, pfn);
    section.append(
      el("p", {}, "raw: ", el("code", { class: "raw", "data-pfn": pfn }, d.raw)),
      el("pre", { class: "inspect" }, formatInspect(d)),
    );
  } catch (e) {
    section.append(el("p", { class: "errmsg" }, (e as Error).message));
  }
}

function renderCompare(lanes: Lane[]): void {
  const box = $("#compare-out");
  if (!loadedResult) {
    box.replaceChildren(
      el("p", {}, "load a hvo-result/1 (from hvo live --json or hvo vm --json) to compare"),
    );
    return;
  }
  const spec = buildSpec(state);
  const out: HTMLElement[] = [];
  for (const l of lanes) {
    const mine = modelResult(spec, l.design, state.scenario, state.steps);
    const theirs = loadedResult.result;
    if (!theirs.scenarios[state.scenario]) {
      out.push(el("p", {}, `${loadedResult.name} has no scenario "${state.scenario}"`));
      continue;
    }
    const c = compareResultsDetailed(theirs, mine, { scenarios: [state.scenario] });
    const steps = new Set(c.diffs.map((d) => d.step));
    for (const li of document.querySelectorAll<HTMLElement>("#steps li"))
      if (steps.has(Number(li.dataset.i))) li.classList.add("differs");
    out.push(
      el(
        "div",
        { class: "diffs", "data-design": l.design, "data-count": c.diffs.length },
        el(
          "p",
          {},
          `${loadedResult.name} (${theirs.machine}, ${theirs.design}) against the model (${l.design}): ` +
            `${c.diffs.length} difference(s)`,
        ),
        el("ul", {}, ...c.diffs.slice(0, 100).map((d) => el("li", {}, formatDifference(d)))),
      ),
    );
  }
  box.replaceChildren(...out);
}

initControls();
render();
const problems = decodeState(location.hash, bundled).problems;
if (problems.length) showError(`the address: ${problems.join("; ")}`);
