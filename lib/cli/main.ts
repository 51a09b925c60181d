#!/usr/bin/env node
/**
 * The `l3l4` command: `l3l4 COMMAND [options]`, one entry for every subcommand in COMMANDS.
 *
 *   l3l4 --help              the commands
 *   l3l4 COMMAND --help      a command's options
 *
 * Exit status: what the command says (0 done, 1 failed); 2 for a mistake on the command line, which
 * is printed as one line.
 */
// First: V8 settings that must precede the evaluation of every other module (v8-tuning.ts).
import "./v8-tuning.js";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Command, CommandIo } from "./command.js";
import { DEMO_COMMAND } from "./demo.js";
import { ECHO_COMMAND } from "./echo.js";
import { HTTP_COMMAND } from "./http.js";
import { UsageError } from "./options.js";
import { PROXY_COMMAND } from "./proxy.js";

/** Every subcommand, in the order `l3l4 --help` lists them. Add one here. */
export const COMMANDS: readonly Command[] = [PROXY_COMMAND, ECHO_COMMAND, HTTP_COMMAND, DEMO_COMMAND];

export function usage(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: l3l4 COMMAND [options]        (l3l4 COMMAND --help: its options)",
    "",
    "l3l4: a userspace TCP/IP engine. IP packets in, flow data out; flow data in, IP packets out.",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

const STDIO: CommandIo = {
  log: (line) => process.stdout.write(`${line}\n`),
  error: (line) => process.stderr.write(`${line}\n`),
};

/** Runs `argv` (without node and the script); resolves with the exit status. */
export async function main(argv: readonly string[], io: CommandIo = STDIO, commands: readonly Command[] = COMMANDS): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    io.log(usage(commands));
    return 0;
  }
  if (name === undefined) {
    io.error(`l3l4: which command? ${commands.map((c) => c.name).join(", ")} (l3l4 --help)`);
    return 2;
  }
  const command = commands.find((c) => c.name === name);
  if (command === undefined) {
    io.error(`l3l4: no command ${JSON.stringify(name)}; the commands are ${commands.map((c) => c.name).join(", ")} (l3l4 --help)`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.error(`l3l4 ${command.name}: ${error.message.split("\n")[0]} (l3l4 ${command.name} --help)`);
    return 2;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (status) => process.exit(status),
    (error: unknown) => {
      process.stderr.write(`l3l4: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
