// hvo web: its options and help. The server is src/cli/commands/web.ts, loaded when it runs.
import type { Command } from "commander";
import type { WebCliOptions } from "../commands/web.ts";
import type { Io } from "../io.ts";

export function register(program: Command, io: Io): void {
  program
    .command("web")
    .description("serve the web view (web/dist, the model running in the page) on a local address")
    .option("--port <n>", "TCP port (0: any free one)", "5180")
    .option("--host <addr>", "address to listen on", "127.0.0.1")
    .option("--build", "rebuild web/dist first even when it is up to date")
    .option("--no-open", "do not try to open a browser")
    .action(async (opts: WebCliOptions) =>
      (await import("../commands/web.ts")).webAction(io, opts),
    );
}
