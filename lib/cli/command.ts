/**
 * A subcommand of `l3l4` (lib/cli/main.ts lists them): its name, a one-line summary for `l3l4 --help`,
 * its usage text for `l3l4 NAME --help`, and `run`, which resolves with the exit status.
 *
 * `run` throws UsageError for a mistake on the command line (the entry point prints it as one line
 * and exits 2). A long-running command (proxy, echo) resolves when a signal has shut it down.
 */
import { explainStartError, type RunningDevice } from "./device.js";
import { UsageError } from "./options.js";

export interface CommandIo {
  /** Normal output: status lines, the summary. */
  log(line: string): void;
  /** Errors and progress. */
  error(line: string): void;
}

export interface Command {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  run(argv: readonly string[], io: CommandIo): Promise<number>;
}

/** What `runUntilSignal` needs of a started command. */
export type Stoppable = Pick<RunningDevice, "close" | "failed">;

/**
 * Keeps a started TUN command running until SIGINT or SIGTERM, then closes its flows (2 s grace; a
 * second signal quits at once), and resolves 0; or resolves 1 when the device fails (deleted with its
 * namespace), after closing the rest. `start` throwing (the device cannot be opened) prints why and
 * resolves 1.
 */
export async function runUntilSignal(name: string, io: CommandIo, start: () => Stoppable | Promise<Stoppable>): Promise<number> {
  let running: Stoppable;
  try {
    running = await start();
  } catch (error) {
    if (error instanceof UsageError) throw error;
    io.error(`l3l4 ${name}: ${explainStartError(error)}`);
    return 1;
  }
  return new Promise((resolve) => {
    let closing = false;
    const finish = (status: number): void => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(status);
    };
    const close = (graceMs: number, status: number): void => {
      running.close(graceMs).then(
        () => finish(status),
        (error: unknown) => {
          io.error(`l3l4 ${name}: ${(error as Error).message}`);
          finish(1);
        },
      );
    };
    const onSignal = (signal: NodeJS.Signals): void => {
      if (closing) {
        finish(130);
        return;
      }
      closing = true;
      io.error(`l3l4 ${name}: ${signal}: closing flows (2 s grace; again to quit now)`);
      close(2000, 0);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    void running.failed.then(() => {
      if (closing) return;
      closing = true;
      close(0, 1);
    });
  });
}
