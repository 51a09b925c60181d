/**
 * A clock that moves only when told: the time source for deterministic tests. Engines are built
 * with `clock.now` (already bound, so it can be passed on its own).
 */

import { InvalidArgumentError } from "../errors.js";

export class VirtualClock {
  private t: number;

  constructor(startMs = 0) {
    if (!Number.isFinite(startMs)) throw new InvalidArgumentError(`start time must be finite: ${startMs}`);
    this.t = startMs;
  }

  /** The current virtual time in ms; safe to detach (`const now = clock.now`). */
  readonly now = (): number => this.t;

  /** Move forward by `ms` (finite, >= 0); returns the new time. */
  advance(ms: number): number {
    if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError(`advance needs a finite ms >= 0: ${ms}`);
    this.t += ms;
    return this.t;
  }

  /** Jump to `t`; time never goes backwards (engines rely on a monotonic clock). */
  set(t: number): void {
    if (!Number.isFinite(t) || t < this.t) {
      throw new InvalidArgumentError(`clock can only move forward: ${this.t} -> ${t}`);
    }
    this.t = t;
  }
}
