// Every hvo subcommand's name, arguments, options and help, one module each, in the order
// `hvo --help` lists them. These modules are light: they import no model, no machine file
// parser, no zod or yaml, so that `hvo --help`, `hvo X --help` and a usage error start at
// once. Each action loads its command's work from src/cli/commands/ when it runs.
import type { Command } from "commander";
import type { Io } from "../io.ts";
import { register as cat } from "./cat.ts";
import { register as check } from "./check.ts";
import { register as compare } from "./compare.ts";
import { register as diff } from "./diff.ts";
import { register as inspect } from "./inspect.ts";
import { register as live } from "./live.ts";
import { register as matrix } from "./matrix.ts";
import { register as report } from "./report.ts";
import { register as run } from "./run.ts";
import { register as shell } from "./shell.ts";
import { register as vm } from "./vm.ts";
import { register as web } from "./web.ts";
import { register as write } from "./write.ts";

export type RegisterCommand = (program: Command, io: Io) => void;

export const commands: RegisterCommand[] = [
  report,
  inspect,
  live,
  vm,
  run,
  cat,
  write,
  shell,
  diff,
  check,
  compare,
  matrix,
  web,
];
