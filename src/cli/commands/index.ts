// Every hvo subcommand, one module each.
import type { Command } from "commander";
import type { Io } from "../io.ts";
import { register as live } from "./live.ts";

export type RegisterCommand = (program: Command, io: Io) => void;

export const commands: RegisterCommand[] = [live];
