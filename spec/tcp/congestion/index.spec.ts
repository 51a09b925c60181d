import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../../lib/errors.js";
import {
  Cubic,
  INITIAL_WINDOW_SEGMENTS,
  Reno,
  SSTHRESH_INFINITE,
  createCongestionControl,
  initialWindow,
} from "../../../lib/tcp/congestion/index.js";

const MSS = 1000;

describe("initial window and factory", () => {
  it("starts at IW10 (RFC 6928, as Linux) with ssthresh arbitrarily high (RFC 5681 §3.1)", () => {
    expect(INITIAL_WINDOW_SEGMENTS).toBe(10);
    expect(initialWindow(1460)).toBe(14_600);
    for (const name of ["reno", "cubic"] as const) {
      const cc = createCongestionControl(name, 1460);
      expect(cc.algorithm).toBe(name);
      expect(cc.cwnd).toBe(14_600);
      expect(cc.ssthresh).toBe(SSTHRESH_INFINITE);
      expect(cc.inSlowStart).toBe(true);
      expect(cc.mss).toBe(1460);
    }
    expect(createCongestionControl("reno", 1460)).toBeInstanceOf(Reno);
    expect(createCongestionControl("cubic", 1460)).toBeInstanceOf(Cubic);
  });

  it("rejects an unknown algorithm or a bad MSS", () => {
    expect(() => createCongestionControl("vegas" as "reno", 1460)).toThrow(InvalidArgumentError);
    expect(() => createCongestionControl("reno", 0)).toThrow(InvalidArgumentError);
    expect(() => createCongestionControl("cubic", 1.5)).toThrow(InvalidArgumentError);
    const cc = new Reno(MSS);
    expect(() => {
      cc.mss = 70_000;
    }).toThrow(InvalidArgumentError);
  });
});
