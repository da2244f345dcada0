// The command line of `hvo shell`, split as a POSIX shell splits a simple command: words
// separated by blanks, '...' taken literally, "..." with \" \\ \$ \` escapes, a backslash
// quoting the next character, `#` starting a comment, and the output redirections `>` and `>>`
// (both a plain write(2) for the files of /proc and /sys). Pipes, `;`, variables and globs
// are not a part of it: a line is one command.

export interface ParsedLine {
  /** The command's words, quotes removed. */
  words: string[];
  /** `> PATH` or `>> PATH`: the file the output goes to. */
  redirect: { path: string; append: boolean } | null;
}

export class ShellSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShellSyntaxError";
  }
}

type Token = { kind: "word"; text: string } | { kind: "op"; text: ">" | ">>" };

/** Splits one line into words and operators. */
export function tokenize(line: string): Token[] {
  const out: Token[] = [];
  let word: string | null = null;
  const flush = () => {
    if (word !== null) out.push({ kind: "word", text: word });
    word = null;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\r" || c === "\n") {
      flush();
    } else if (c === "#" && word === null) {
      break;
    } else if (c === ">") {
      flush();
      if (line[i + 1] === ">") {
        out.push({ kind: "op", text: ">>" });
        i++;
      } else out.push({ kind: "op", text: ">" });
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0)
        throw new ShellSyntaxError("unexpected end of line while looking for matching `''");
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let s = "";
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && j + 1 < line.length && '"\\$`'.includes(line[j + 1])) j++;
        s += line[j];
      }
      if (j >= line.length)
        throw new ShellSyntaxError("unexpected end of line while looking for matching `\"'");
      word = (word ?? "") + s;
      i = j;
    } else if (c === "\\") {
      if (i + 1 < line.length) word = (word ?? "") + line[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  flush();
  return out;
}

/** A line as a command: its words and at most one output redirection. */
export function parseLine(line: string): ParsedLine {
  const tokens = tokenize(line);
  const words: string[] = [];
  let redirect: ParsedLine["redirect"] = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i];
    if (t.kind === "word") {
      words.push(t.text);
      continue;
    }
    const next = tokens[i + 1];
    if (next?.kind !== "word")
      throw new ShellSyntaxError(
        `syntax error near unexpected token \`${next ? next.text : "newline"}'`,
      );
    if (redirect) throw new ShellSyntaxError("one output redirection per line");
    redirect = { path: next.text, append: t.text === ">>" };
    i++;
  }
  return { words, redirect };
}

/** A word quoted so that tokenize() gives it back (for the lines the shell records). */
export function quoteWord(w: string): string {
  if (w !== "" && /^[A-Za-z0-9_./:,=+@%-]+$/.test(w)) return w;
  return `'${w.replace(/'/g, "'\\''")}'`;
}

/**
 * echo's arguments as bash's builtin takes them: leading -n, -e, -E (and combinations such as
 * -ne) are options; the text is the rest joined by one blank, with a newline unless -n.
 */
export function echoText(args: readonly string[]): string {
  let newline = true;
  let escapes = false;
  let i = 0;
  for (; i < args.length && /^-[neE]+$/.test(args[i]); i++) {
    for (const f of args[i].slice(1)) {
      if (f === "n") newline = false;
      else if (f === "e") escapes = true;
      else escapes = false;
    }
  }
  let text = args.slice(i).join(" ");
  if (escapes) {
    const named: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", a: "\x07" };
    text = text.replace(/\\([ntr\\a]|0[0-7]{0,3}|x[0-9a-fA-F]{1,2})/g, (_, e: string) =>
      e in named
        ? named[e]
        : e[0] === "x"
          ? String.fromCharCode(Number.parseInt(e.slice(1), 16))
          : String.fromCharCode(Number.parseInt(e.slice(1) || "0", 8)),
    );
  }
  return newline ? `${text}\n` : text;
}
