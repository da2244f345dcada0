// The progress line of a long run (hvo check, and hvo run / cat / write through src/cli/watch.ts),
// in a module of its own so that those commands need not load hvo check's.
import { type Io, processIo } from "./io.ts";

/** How long a run goes before it shows a progress line (on a terminal only). */
export const PROGRESS_AFTER_MS = 3000;

/**
 * A progress line on stderr, redrawn in place (at most five times a second): only when stderr
 * is a terminal, and only once the run has taken PROGRESS_AFTER_MS; `null` clears it. Never on
 * stdout, never in a pipe or file. `o` stands in for the terminal and the clock in tests.
 */
export function progressLine(
  io: Io,
  o: { tty?: boolean; now?: () => number } = {},
): (text: string | null, started: number) => void {
  const tty = o.tty ?? (io === processIo && process.stderr.isTTY === true);
  const clock = o.now ?? Date.now;
  let shown = false;
  let last = 0;
  return (text, started) => {
    if (!tty) return;
    if (text === null) {
      if (shown) io.err("\r\x1b[K");
      shown = false;
      return;
    }
    const now = clock();
    if (now - started < PROGRESS_AFTER_MS || now - last < 200) return;
    last = now;
    shown = true;
    io.err(`\r\x1b[K${text} (${Math.round((now - started) / 1000)} s)`);
  };
}
