/**
 * Congestion control: the interface the connection drives and the algorithms behind it.
 * See congestion.ts for the contract, reno.ts (RFC 5681) and cubic.ts (RFC 9438).
 */
import { InvalidArgumentError } from "../../errors.js";
import type { CongestionAlgorithm, CongestionControl } from "./congestion.js";
import { Cubic } from "./cubic.js";
import { Reno } from "./reno.js";

export type { CongestionAlgorithm, CongestionControl } from "./congestion.js";
export { CongestionBase, INITIAL_WINDOW_SEGMENTS, SSTHRESH_INFINITE, initialWindow } from "./congestion.js";
export { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic } from "./cubic.js";
export { Reno } from "./reno.js";

/**
 * A new congestion controller of algorithm `name` for a connection whose sender MSS is `mss`
 * bytes: cwnd starts at the initial window (10 segments), ssthresh arbitrarily high.
 * Throws InvalidArgumentError for an unknown name or an MSS outside [1, 65535].
 */
export function createCongestionControl(name: CongestionAlgorithm, mss: number): CongestionControl {
  switch (name) {
    case "reno":
      return new Reno(mss);
    case "cubic":
      return new Cubic(mss);
    default:
      throw new InvalidArgumentError(`unknown congestion control algorithm ${String(name satisfies never)}`);
  }
}
