/**
 * One log line per distinct failure cause, rate-limited. An upstream that is down fails every flow
 * the same way; the log says so once, then at most once per `intervalMs` with how many more there
 * were, so a client retrying in a loop (or a port scan) cannot flood it.
 *
 * A cause is a short text without per-flow detail ("socks5://127.0.0.1:1080: connection refused");
 * the flow that met it first is named in the line as an example. At most `maxCauses` causes are
 * remembered (the oldest go first), so hostile variety cannot grow memory either.
 */

interface CauseRecord {
  /** When the last line for this cause was printed. */
  loggedAt: number;
  /** Failures since then that printed nothing. */
  suppressed: number;
}

export const DEFAULT_FAILURE_INTERVAL_MS = 10_000;
export const DEFAULT_MAX_CAUSES = 256;

export class FailureLog {
  /** Every failure reported, printed or not. */
  total = 0;
  private readonly causes = new Map<string, CauseRecord>();
  private readonly log: (line: string) => void;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly maxCauses: number;

  constructor(
    log: (line: string) => void,
    options: { now?: () => number; intervalMs?: number; maxCauses?: number } = {},
  ) {
    this.log = log;
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? DEFAULT_FAILURE_INTERVAL_MS;
    this.maxCauses = options.maxCauses ?? DEFAULT_MAX_CAUSES;
  }

  /** A failure of `cause`; `example` (a flow, a name) is shown if this one prints a line. */
  report(cause: string, example: string): void {
    this.total++;
    const now = this.now();
    const record = this.causes.get(cause);
    if (record !== undefined && now - record.loggedAt < this.intervalMs) {
      record.suppressed++;
      return;
    }
    const more = record === undefined || record.suppressed === 0 ? "" : ` (and ${record.suppressed} more since the last line)`;
    this.log(`fail  ${cause}: ${example}${more}`);
    if (record !== undefined) {
      record.loggedAt = now;
      record.suppressed = 0;
      // Most recently printed last: the first entry is the one to forget.
      this.causes.delete(cause);
      this.causes.set(cause, record);
      return;
    }
    if (this.causes.size >= this.maxCauses) this.causes.delete(this.causes.keys().next().value!);
    this.causes.set(cause, { loggedAt: now, suppressed: 0 });
  }

  /** Causes remembered (for tests: bounded by maxCauses). */
  get size(): number {
    return this.causes.size;
  }
}
