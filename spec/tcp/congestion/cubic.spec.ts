import { describe, expect, it } from "vitest";
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic } from "../../../lib/tcp/congestion/index.js";
import { oneRtt } from "./ack-clock.js";

const MSS = 1000;

/** A Cubic that lost a packet at a window of `wMax` segments at time `now`, now out of recovery. */
function afterLoss(wMax: number, now = 0, fastConvergence = true): Cubic {
  const cc = new Cubic(MSS, fastConvergence);
  cc.inflate((wMax - 10) * MSS); // shortcut to a window of wMax segments
  cc.onEnterRecovery(wMax * MSS, now);
  cc.onExitRecovery(cc.cwnd);
  return cc;
}

/** W_cubic(t) of RFC 9438 eq. 1, in segments. */
function wCubic(t: number, k: number, wMax: number): number {
  return CUBIC_C * (t - k) ** 3 + wMax;
}

/** Runs an ACK clock for `seconds`, returning [t, cwnd in segments] at every RTT boundary. */
function trace(cc: Cubic, start: number, rttMs: number, seconds: number): Array<[number, number]> {
  const points: Array<[number, number]> = [];
  let now = start;
  while (now - start < seconds * 1000) {
    now = oneRtt(cc, now, rttMs);
    points.push([(now - start) / 1000, cc.cwnd / MSS]);
  }
  return points;
}

describe("Cubic (RFC 9438)", () => {
  it("uses the RFC constants", () => {
    expect(CUBIC_C).toBe(0.4);
    expect(CUBIC_BETA).toBe(0.7);
    expect(CUBIC_ALPHA).toBeCloseTo((3 * 0.3) / 1.7, 12);
  });

  it("slow start is Reno's: +1 SMSS per segment acknowledged, at most 2 per ACK", () => {
    const cc = new Cubic(MSS);
    cc.onAck(MSS, 1, 50, false);
    cc.onAck(4 * MSS, 2, 50, false);
    expect(cc.cwnd).toBe(13 * MSS);
  });

  it("on loss: ssthresh = cwnd = beta_cubic * flight_size, W_max = cwnd (§4.6)", () => {
    const cc = new Cubic(MSS);
    cc.inflate(990 * MSS);
    cc.onEnterRecovery(1000 * MSS, 0);
    expect(cc.ssthresh).toBe(700 * MSS);
    expect(cc.cwnd).toBe(700 * MSS);
    expect(cc.wMaxSegments).toBe(1000);
    // ssthresh follows flight_size, not cwnd.
    const limited = new Cubic(MSS);
    limited.inflate(990 * MSS);
    limited.onEnterRecovery(500 * MSS, 0);
    expect(limited.ssthresh).toBe(350 * MSS);
    expect(limited.wMaxSegments).toBe(1000);
    // At least 2 SMSS.
    const tiny = new Cubic(MSS);
    tiny.onEnterRecovery(2 * MSS, 0);
    expect(tiny.ssthresh).toBe(2 * MSS);
    expect(tiny.cwnd).toBe(2 * MSS);
  });

  it("does not grow during recovery", () => {
    const cc = afterLoss(100);
    const before = cc.cwnd;
    for (let i = 0; i < 100; i++) cc.onAck(MSS, 1000 + i * 10, 100, true);
    expect(cc.cwnd).toBe(before);
  });

  it("K = cubic_root((W_max - cwnd_epoch) / C) at the start of congestion avoidance (§4.2)", () => {
    const cc = afterLoss(1000);
    cc.onAck(MSS, 10, 100, false);
    expect(cc.kSeconds).toBeCloseTo(Math.cbrt((1000 - 700) / 0.4), 9);
    expect(cc.kSeconds).toBeCloseTo(9.0856, 3);
    expect(cc.wEstSegments).toBeGreaterThanOrEqual(700);
  });

  it("follows W_cubic(t): concave up to W_max at t = K, then convex (§4.4, §4.5)", () => {
    const cc = afterLoss(1000);
    const rtt = 100;
    const points = trace(cc, 0, rtt, 16);
    const k = cc.kSeconds;
    // The window tracks the curve (the per-ACK rule aims one RTT ahead, so it may lead a little).
    for (const [t, w] of points) {
      expect(Math.abs(w - wCubic(t, k, 1000))).toBeLessThan(0.02 * 1000);
    }
    // Plateau: at t = K the window is at W_max.
    const atK = points.reduce((best, p) => (Math.abs(p[0] - k) < Math.abs(best[0] - k) ? p : best));
    expect(Math.abs(atK[1] - 1000)).toBeLessThan(10);
    // Growth per second slows before K (concave) and speeds up after it (convex).
    const at = (t: number) => points.reduce((best, p) => (Math.abs(p[0] - t) < Math.abs(best[0] - t) ? p : best))[1];
    const growth = (t: number) => at(t + 1) - at(t);
    expect(growth(1)).toBeGreaterThan(growth(4));
    expect(growth(4)).toBeGreaterThan(growth(7));
    expect(growth(10)).toBeLessThan(growth(12));
    expect(growth(12)).toBeLessThan(growth(14));
    // Below W_max before K, above it after.
    expect(at(k - 2)).toBeLessThan(1000);
    expect(at(k + 2)).toBeGreaterThan(1000);
  });

  it("never grows more than 50% in one RTT (target clamped to 1.5 cwnd, §4.2)", () => {
    const cc = afterLoss(100);
    let prev = cc.cwnd;
    let now = 0;
    for (let i = 0; i < 200; i++) {
      now = oneRtt(cc, now, 200);
      expect(cc.cwnd).toBeLessThanOrEqual(Math.ceil(prev * 1.5) + MSS);
      prev = cc.cwnd;
    }
  });

  it("is at least as fast as Reno where Reno is faster: the Reno-friendly region (§4.3)", () => {
    const cc = afterLoss(20);
    const rtt = 1; // a LAN: many RTTs per second of curve time
    let now = 0;
    for (let i = 0; i < 5; i++) now = oneRtt(cc, now, rtt);
    // W_est grows by alpha_cubic per RTT while below cwnd_prior (20 segments).
    expect(cc.cwnd / MSS).toBeCloseTo(14 + 5 * CUBIC_ALPHA, 0);
    for (let i = 0; i < 195; i++) now = oneRtt(cc, now, rtt);
    // Then by 1 segment per RTT (alpha_cubic = 1 once W_est >= cwnd_prior), far above the curve.
    const w = cc.cwnd / MSS;
    expect(w).toBeGreaterThan(wCubic(now / 1000, cc.kSeconds, 20) + 100);
    expect(w).toBeGreaterThan(190);
    expect(w).toBeLessThan(215);
    expect(Math.abs(w - cc.wEstSegments)).toBeLessThan(1);
  });

  it("fast convergence lowers W_max when the window shrinks between losses (§4.7)", () => {
    const cc = afterLoss(1000);
    expect(cc.wMaxSegments).toBe(1000);
    cc.inflate(100 * MSS); // 800 segments, below W_max
    cc.onEnterRecovery(800 * MSS, 1000);
    expect(cc.wMaxSegments).toBeCloseTo((800 * (1 + CUBIC_BETA)) / 2, 9);
    cc.inflate(900 * MSS - cc.cwnd); // 900 segments, above the new W_max (680)
    cc.onEnterRecovery(900 * MSS, 2000);
    expect(cc.wMaxSegments).toBe(900);

    const plain = afterLoss(1000, 0, false);
    plain.inflate(100 * MSS);
    plain.onEnterRecovery(800 * MSS, 1000);
    expect(plain.wMaxSegments).toBe(800);
  });

  it("after an RTO: cwnd = 1 SMSS, ssthresh with beta_cubic, then K = 0 and W_max = cwnd_epoch (§4.8)", () => {
    const cc = afterLoss(1000);
    cc.onRto(400 * MSS, 5000, false);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(280 * MSS);
    cc.onRto(MSS, 6000, true); // the same segment times out again: ssthresh kept
    expect(cc.ssthresh).toBe(280 * MSS);
    let now = 6000;
    for (let guard = 0; cc.inSlowStart && guard < 1000; guard++) cc.onAck(MSS, ++now, 100, false);
    expect(cc.cwnd).toBe(280 * MSS);
    cc.onAck(MSS, now + 1, 100, false); // first ACK of congestion avoidance starts the stage
    expect(cc.kSeconds).toBe(0);
    expect(cc.wMaxSegments).toBeCloseTo(280, 9);
    // Growth from there is convex: slow at first.
    const start = cc.cwnd;
    now = oneRtt(cc, now + 1, 100);
    expect(cc.cwnd - start).toBeLessThan(2 * MSS);
  });

  it("does not grow while application-limited, and leaves that time out of t (§5.8)", () => {
    const rtt = 100;
    const baseline = afterLoss(500);
    let now = 0;
    for (let i = 0; i < 20; i++) now = oneRtt(baseline, now, rtt);
    const expected = baseline.cwnd;

    const limited = afterLoss(500);
    now = 0;
    for (let i = 0; i < 10; i++) now = oneRtt(limited, now, rtt);
    const before = limited.cwnd;
    for (let i = 0; i < 100; i++) {
      now += rtt;
      limited.onAck(MSS, now, rtt, false, false); // 10 s of application-limited ACKs
    }
    expect(limited.cwnd).toBe(before);
    for (let i = 0; i < 10; i++) now = oneRtt(limited, now, rtt);
    expect(Math.abs(limited.cwnd - expected) / expected).toBeLessThan(0.01);
  });

  it("idle restart cuts to the initial window and starts a new stage later (RFC 5681 §4.1)", () => {
    const cc = afterLoss(100);
    let now = 0;
    for (let i = 0; i < 30; i++) now = oneRtt(cc, now, 100);
    cc.onIdleRestart(now + 60_000);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.inSlowStart).toBe(true);
    now += 60_000;
    for (let guard = 0; cc.inSlowStart && guard < 1000; guard++) cc.onAck(MSS, ++now, 100, false);
    cc.onAck(MSS, now + 1, 100, false);
    // A new stage: K from the window at its start, and t counted from now, not from before the
    // idle minute (which would put the curve far into its convex part).
    expect(cc.kSeconds).toBeCloseTo(Math.cbrt((cc.wMaxSegments - cc.ssthresh / MSS) / CUBIC_C), 2);
    const start = cc.cwnd;
    oneRtt(cc, now + 1, 100);
    expect(cc.cwnd).toBeLessThan(start * 1.1);
  });

  it("is deterministic: the same inputs give the same windows", () => {
    const run = () => {
      const cc = afterLoss(300);
      const out: number[] = [];
      let now = 0;
      for (let i = 0; i < 50; i++) {
        now = oneRtt(cc, now, 37);
        if (i === 25) cc.onEnterRecovery(cc.cwnd, now);
        out.push(cc.cwnd);
      }
      return out;
    };
    expect(run()).toEqual(run());
  });

  it("keeps the curve through an MSS change, rescaling the window", () => {
    const cc = afterLoss(100);
    let now = 0;
    for (let i = 0; i < 10; i++) now = oneRtt(cc, now, 100);
    const segments = cc.cwnd / MSS;
    cc.mss = 500;
    expect(cc.cwnd / 500).toBeCloseTo(segments, 0);
    expect(cc.wMaxSegments).toBe(100);
    now = oneRtt(cc, now, 100);
    expect(cc.cwnd / 500).toBeGreaterThanOrEqual(Math.floor(segments));
  });
});

/** CUBIC at the boundaries of its rules (issue 10). */
describe("Cubic at its boundaries (RFC 9438)", () => {
  it("fast convergence only when cwnd is below W_max: a loss at exactly W_max keeps W_max = cwnd (§4.7)", () => {
    const cc = afterLoss(1000);
    cc.inflate(1000 * MSS - cc.cwnd); // exactly W_max
    cc.onEnterRecovery(1000 * MSS, 1000);
    expect(cc.wMaxSegments).toBe(1000);
    cc.inflate(999 * MSS - cc.cwnd); // one segment below it
    cc.onEnterRecovery(999 * MSS, 2000);
    expect(cc.wMaxSegments).toBeCloseTo((999 * (1 + CUBIC_BETA)) / 2, 9);
  });

  it("ssthresh = max(flight_size * beta_cubic, 2 SMSS), rounded down to whole bytes (§4.6)", () => {
    const cc = new Cubic(MSS);
    cc.onEnterRecovery(3 * MSS, 0); // 2100 bytes: above 2 SMSS
    expect(cc.ssthresh).toBe(2100);
    const odd = new Cubic(MSS);
    odd.onEnterRecovery(3001, 0); // 2100.7
    expect(odd.ssthresh).toBe(2100);
    const low = new Cubic(MSS);
    low.onEnterRecovery(2857, 0); // 1999.9: below 2 SMSS
    expect(low.ssthresh).toBe(2 * MSS);
  });

  it("an ACK of nothing changes nothing: no growth, and it starts no stage (the clock counts from the first ACK of data)", () => {
    const a = afterLoss(100);
    const b = afterLoss(100);
    b.onAck(0, 5, 100, false);
    expect(b.cwnd).toBe(a.cwnd);
    expect(b.kSeconds).toBe(0);
    // Both start their stage at t = 3000 ms: the same windows from there.
    let na = 3000;
    let nb = 3000;
    for (let i = 0; i < 10; i++) {
      na = oneRtt(a, na, 100);
      nb = oneRtt(b, nb, 100);
    }
    expect(b.cwnd).toBe(a.cwnd);
  });

  it("in recovery an ACK grows nothing but keeps the clock: application-limited time after it is measured from it (§5.8)", () => {
    // Two flows: one's clock sees an ACK in recovery at 1000 ms, the other's does not.
    const seen = afterLoss(500);
    const unseen = afterLoss(500);
    let now = 0;
    for (let i = 0; i < 5; i++) now = oneRtt(seen, now, 100);
    now = 0;
    for (let i = 0; i < 5; i++) now = oneRtt(unseen, now, 100);
    seen.onAck(MSS, now + 1000, 100, true);
    expect(seen.cwnd).toBe(unseen.cwnd);
    // Then application-limited at now + 2000: `seen` slides the epoch by 1000 ms, `unseen` by 2000.
    seen.onAck(MSS, now + 2000, 100, false, false);
    unseen.onAck(MSS, now + 2000, 100, false, false);
    seen.onAck(MSS, now + 2100, 100, false);
    unseen.onAck(MSS, now + 2100, 100, false);
    // Less curve time has been taken out of `seen`'s t, so it is further along the concave curve.
    expect(seen.cwnd).toBeGreaterThan(unseen.cwnd);
  });
});
