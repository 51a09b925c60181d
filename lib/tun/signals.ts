/**
 * SIGINT / SIGTERM for a TUN runner (RunTunOptions.handleSignals): the first signal shuts the runner
 * down (every flow closed in the grace period, then the rest aborted, the device closed) and exits 0;
 * a second one, while that runs, exits at once with 128 + the signal's number, as a shell reports it.
 */
import { constants as osConstants } from "node:os";

export interface ShutdownOptions {
  /**
   * Milliseconds to let flows close gracefully (l4LocalClose: TCP sends FIN) before the rest are
   * aborted (l4Abort: TCP sends RST). Default 0: abort at once.
   */
  graceMs?: number;
}

/** Minimal signal source: process by default; tests pass an EventEmitter. */
export interface SignalTarget {
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface SignalOptions extends ShutdownOptions {
  /** Default ["SIGINT", "SIGTERM"]. */
  signals?: readonly NodeJS.Signals[];
  /** Default process. */
  target?: SignalTarget;
  /** Called after a clean shutdown with 0, or on a second signal with 128 + its number. Default process.exit. */
  exit?: (code: number) => void;
}

/**
 * Listens for the signals; `shutdown` is the runner's. Returns the function that stops listening,
 * which the runner calls when it stops (not when the shutdown starts: the second signal must still
 * be heard).
 */
export function installSignalHandlers(signalOptions: SignalOptions, shutdown: () => Promise<void>): () => void {
  const target: SignalTarget = signalOptions.target ?? process;
  const signals = signalOptions.signals ?? (["SIGINT", "SIGTERM"] as const);
  const exit = signalOptions.exit ?? ((code: number) => process.exit(code));
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      // A second signal: do not wait for the grace period.
      exit(128 + (osConstants.signals[signal] ?? 0));
      return;
    }
    shuttingDown = true;
    shutdown().then(
      () => exit(0),
      () => exit(1),
    );
  };
  for (const signal of signals) target.on(signal, onSignal);
  return () => {
    for (const signal of signals) target.off(signal, onSignal);
  };
}
