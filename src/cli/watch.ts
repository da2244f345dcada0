// The CLI's watch over a long model run (hvo run on a 64 TiB machine takes minutes): at the
// kernel's cond_resched() points (Kernel.resched) it draws a progress line on a terminal, as
// hvo check does, and stops the run with one line (OutOfMemoryError) before the host's memory
// or node's heap runs out, instead of V8's fatal "heap out of memory" report with its native
// stack, or the host's OOM killer. Nothing it does changes what the run prints on stdout.
import type { Model } from "../model.ts";
import { type HostProbe, type Io, OutOfMemoryError, processHost } from "./io.ts";
import { progressLine } from "./progress.ts";

/** How often (ms) memory is looked at and the progress line redrawn, at most. */
export const WATCH_EVERY_MS = 100;
/**
 * Stop when V8's heap has less than this left below its limit (a share of the limit, at least
 * `min` bytes: the limit counts the young generation's 48 MiB, which old objects never use):
 * past it, V8 spends its time collecting, then aborts the process.
 */
export const HEAP_HEADROOM = { share: 0.12, min: 64 * 2 ** 20 };
/**
 * Stop when the host has less than this left to give: a share of its RAM, at least `min` and at
 * most `max` bytes (a small CI host is not stopped at 512 MiB free, a big one not run dry).
 */
export const AVAILABLE_FLOOR = { share: 0.05, min: 64 * 2 ** 20, max: 512 * 2 ** 20 };

export interface ModelWatch {
  /** Kernel.resched (ModelOptions.resched) for every model of the run. */
  readonly resched: () => void;
  /** The model the progress line reads its counters from. */
  attach(model: Model): void;
  /** What runs now ("scale-1g step 2/3 nr 1G value=65000"): the progress line and any error name it. */
  at(text: string): void;
  /** The run is over: the progress line goes. */
  done(): void;
}

function gib(bytes: number): string {
  if (bytes >= 2 ** 40) return `${(bytes / 2 ** 40).toFixed(1)} TiB`;
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  return `${Math.round(bytes / 2 ** 20)} MiB`;
}

/** "1G" for 1048576 kB. */
function sizeName(kb: number): string {
  if (kb >= 2 ** 20 && kb % 2 ** 20 === 0) return `${kb / 2 ** 20}G`;
  if (kb >= 2 ** 10 && kb % 2 ** 10 === 0) return `${kb / 2 ** 10}M`;
  return `${kb}K`;
}

/** Why the run must stop now, or null. */
export function memoryProblem(host: HostProbe): string | null {
  const heap = host.heap();
  if (heap.used > heap.limit - Math.max(HEAP_HEADROOM.min, HEAP_HEADROOM.share * heap.limit))
    return (
      `the model's JavaScript heap holds ${gib(heap.used)} of the ${gib(heap.limit)} node allows ` +
      "(NODE_OPTIONS=--max-old-space-size=MiB raises it, where the host has the memory)"
    );
  const f = AVAILABLE_FLOOR;
  const floor = Math.min(f.max, Math.max(f.min, f.share * host.total()));
  const available = host.available();
  if (available < floor)
    return `the host has ${gib(available)} of memory left and the model holds ${gib(host.rss())}`;
  return null;
}

/** The pool and free memory of the model, for the progress line. */
function counters(model: Model | null): string {
  if (model === null) return "";
  const pools = model.pool
    .hstatesBySize()
    .filter((h) => h.nrHugePages !== 0)
    .map((h) => `${sizeName(h.sizeKb)} ${h.nrHugePages.toLocaleString("en")}`);
  // In GiB to the tenth: a 64 TiB machine's MemFree moves by 1 GiB a folio.
  const free = (model.k.buddy.nrFreePages() * model.k.pageSize) / 2 ** 30;
  const freeText = free.toLocaleString("en", { maximumFractionDigits: 1 });
  return `; pool ${pools.length ? pools.join(", ") : "empty"}, MemFree ${freeText} GiB`;
}

/**
 * A watch for `command` ("hvo run"): pass `resched` to every model the run boots, attach() the
 * one that runs, at() each step; done() at the end (the line is cleared).
 */
export function watchModel(io: Io, command: string): ModelWatch {
  const host = io.host ?? processHost(false);
  const progress = progressLine(io, { tty: host.tty, now: () => host.now() });
  const started = host.now();
  let model: Model | null = null;
  let where = "";
  let last = Number.NEGATIVE_INFINITY;
  const resched = () => {
    const now = host.now();
    if (now - last < WATCH_EVERY_MS) return;
    last = now;
    const problem = memoryProblem(host);
    if (problem !== null) {
      progress(null, started);
      throw new OutOfMemoryError(`out of memory${where ? ` in ${where}` : ""}: ${problem}`);
    }
    const line = `${command}: ${where || "booting"}${counters(model)}; model ${gib(host.rss())}`;
    // One terminal line (a wrapped one would not be redrawn in place): room for " (9999 s)".
    const room = host.columns !== undefined ? host.columns - 10 : line.length;
    progress(line.length > room ? `${line.slice(0, Math.max(0, room - 3))}...` : line, started);
  };
  return {
    resched,
    attach(m) {
      model = m;
    },
    at(text) {
      where = text;
      last = Number.NEGATIVE_INFINITY;
      resched();
    },
    done() {
      progress(null, started);
    },
  };
}
