// Tab completion for `hvo shell` (a node:readline completer): the first word of a line
// completes to a command, the word after `design` to a design, any other word to a path of the
// model's /proc and /sys (directories end in "/", as bash completes them).

import { DESIGNS } from "../../kernel.ts";
import { SHELL_COMMANDS } from "./session.ts";

export interface CompletionContext {
  cwd: string;
  /** The names in a directory (absolute path), or null when it is no directory. */
  readdir(dir: string): string[] | null;
  isDir(path: string): boolean;
}

/** Commands whose arguments are numbers, JSON or host files: nothing of the model to offer. */
const NO_PATHS = new Set(["inspect", "compare", "save", "step", "undo", "history", "exit", "quit"]);

/** readline's completer: [candidates, the text they replace]. */
export function complete(line: string, ctx: CompletionContext): [string[], string] {
  const m = /(?:^|[\s>])([^\s>]*)$/.exec(line);
  const word = m ? m[1] : "";
  const before = line.slice(0, line.length - word.length);
  const first = /^\s*(\S+)/.exec(before.replace(/>.*$/, ""))?.[1];
  const commands = Object.keys(SHELL_COMMANDS).sort();
  if (first === undefined && !before.includes(">"))
    return [commands.filter((c) => c.startsWith(word)), word];
  if (first === "design" && !before.includes(">"))
    return [DESIGNS.filter((d) => d.startsWith(word)), word];
  if (first === "help") return [commands.filter((c) => c.startsWith(word)), word];
  if (first !== undefined && NO_PATHS.has(first)) return [[], word];
  const slash = word.lastIndexOf("/");
  const dirPart = slash >= 0 ? word.slice(0, slash + 1) : "";
  const base = word.slice(slash + 1);
  let dir = dirPart.startsWith("/") ? dirPart : `${ctx.cwd === "/" ? "" : ctx.cwd}/${dirPart}`;
  if (dir.length > 1) dir = dir.replace(/\/+$/, "");
  const names = ctx.readdir(dir || "/");
  if (!names) return [[], word];
  const hits = names
    .filter((n) => n.startsWith(base))
    .map((n) => {
      const full = `${dir === "/" ? "" : dir}/${n}`;
      return `${dirPart}${n}${ctx.isDir(full) ? "/" : ""}`;
    });
  return [hits, word];
}
