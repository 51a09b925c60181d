/**
 * The SYN budget (lib/tcp/syn-budget.ts, synCookieRate): past the SYN backlog, a SYN gets a cookie
 * SYN-ACK only with a token from a bucket filled at a floor rate on the engine's clock and by the
 * segments of established connections, capped at a small burst; without one it is dropped unanswered
 * and counted. Retransmitted SYNs of existing connections and SYNs that reopen TIME-WAIT (RFC 9293
 * §3.10.7.4, RFC 6191) take no token; nothing changes while the backlog has room. Every clock here is
 * virtual: no timing is asserted.
 */
import { describe, expect, it } from "vitest";
import type { Callbacks } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { VirtualClock } from "../../lib/debug/virtual-clock.js";
import type { L3L4 } from "../../lib/engine.js";
import { DEFAULT_SYN_COOKIE_RATE, SYN_BURST, SYN_CREDIT_PER_SEGMENT, SynBudget } from "../../lib/tcp/syn-budget.js";
import { read32 } from "../../lib/wire/bytes.js";
import { tcp } from "../support/packets.js";
import { establish, TcpHarness, type HarnessOptions } from "../support/tcp-harness.js";

describe("the bucket (SynBudget)", () => {
  it("starts full: SYN_BURST tokens, then none while the clock stands still", () => {
    const b = new SynBudget(1000);
    let taken = 0;
    while (b.take(5) && taken < 1000) taken++;
    expect(taken).toBe(SYN_BURST);
    expect(b.take(5)).toBe(false);
  });

  it("the floor rate: rate / 1000 tokens a millisecond of the engine's clock", () => {
    const b = new SynBudget(20_000);
    while (b.take(0));
    // 1 ms at 20,000 a second: 20 tokens.
    let taken = 0;
    while (b.take(1)) taken++;
    expect(taken).toBe(20);
    // Half a millisecond: 10.
    taken = 0;
    while (b.take(1.5)) taken++;
    expect(taken).toBe(10);
  });

  it("is capped at SYN_BURST however long the engine was quiet", () => {
    const b = new SynBudget(20_000);
    while (b.take(0));
    let taken = 0;
    while (b.take(3_600_000) && taken < 10_000) taken++;
    expect(taken).toBe(SYN_BURST);
  });

  it("SYN_CREDIT_PER_SEGMENT a token for each segment `earned` counts, with the clock still", () => {
    const b = new SynBudget(1000);
    while (b.take(0));
    const perToken = Math.round(1 / SYN_CREDIT_PER_SEGMENT);
    b.earned += perToken - 1;
    expect(b.take(0)).toBe(false);
    b.earned += 1;
    expect(b.take(0)).toBe(true);
    expect(b.take(0)).toBe(false);
    // Credit is capped as time is.
    b.earned += 1_000_000;
    let taken = 0;
    while (b.take(0) && taken < 10_000) taken++;
    expect(taken).toBe(SYN_BURST);
  });

  it("Infinity: no budget", () => {
    const b = new SynBudget(Infinity);
    for (let i = 0; i < 10_000; i++) expect(b.take(0)).toBe(true);
  });
});

/** Cookie mode from the first SYN (synBacklog 0), with a floor of `rate` SYNs a second. */
const cookieMode = (rate: number, o: HarnessOptions = {}): TcpHarness =>
  new TcpHarness({ ...o, strict: false, configure: (b) => b.synBacklog(0).synCookieRate(rate) });

/** SYNs from new ports (from `port` on) until one is dropped over the budget; returns how many were answered. */
function spend(h: TcpHarness, port: number): number {
  const before = h.engine.stats().tcpSynsOverBudget;
  for (let k = 0; k < 1000; k++) {
    h.in({ flags: "S", seq: 0, mss: 1460, port: port + k });
    if (h.engine.stats().tcpSynsOverBudget > before) {
      h.drain();
      return k;
    }
  }
  throw new Error("the budget never ran out");
}

describe("in cookie mode (the SYN backlog full)", () => {
  it("a SYN without a token is dropped unanswered, counted in tcpSynsOverBudget and drops.syn_budget", () => {
    const h = cookieMode(1000);
    // Nothing earned, the clock still: the burst, then drops.
    expect(spend(h, 41000)).toBe(SYN_BURST);
    const s = h.engine.stats();
    expect([s.tcpSynsReceived, s.tcpSynCookiesSent, s.tcpSynsOverBudget, s.drops["syn_budget"]]).toEqual([SYN_BURST + 1, SYN_BURST, 1, 1]);
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42000 });
    h.outNothing();
    expect(h.engine.stats().tcpSynsOverBudget).toBe(2);
    expect(h.flowCount).toBe(0);
    // 1 ms at 1000 a second: one token, one SYN-ACK.
    h.at(1);
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42000 });
    h.out({ flags: "S.", ack: 1, port: 42000 });
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42001 });
    h.outNothing();
  });

  it("segments of an established connection earn tokens: one per 1 / SYN_CREDIT_PER_SEGMENT segments", () => {
    const h = cookieMode(1000);
    establish(h);
    spend(h, 41000);
    const perToken = Math.round(1 / SYN_CREDIT_PER_SEGMENT);
    for (let i = 0; i < perToken - 1; i++) h.in({ flags: "P.", seq: 1 + 10 * i, ack: 1, data: 10 });
    h.drain();
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42000 });
    h.outNothing();
    h.in({ flags: "P.", seq: 1 + 10 * (perToken - 1), ack: 1, data: 10 });
    h.drain();
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42000 });
    h.out({ flags: "S.", ack: 1, port: 42000 });
    // The SYN that earned nothing: a retransmitted SYN for no flow earns no token.
    h.in({ flags: "S", seq: 0, mss: 1460, port: 42001 });
    h.outNothing();
  });

  it("a legitimate client's cookie handshake completes once a try finds a token", () => {
    const h = cookieMode(1000);
    spend(h, 41000);
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.outNothing();
    // Its SYN again 1 s later (Linux's first retry): the floor has refilled the bucket.
    h.at(1000);
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ack: 1 });
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("a retransmitted SYN of a half-open connection is answered by its connection, whatever the budget (RFC 9293 §3.10.7.4)", () => {
    // synBacklog 1: the first SYN makes a half-open connection, the rest get cookies.
    const h = new TcpHarness({ strict: false, configure: (b) => b.synBacklog(1).synCookieRate(1000) });
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ack: 1 });
    expect(h.state()).toBe("SYN-RECEIVED");
    spend(h, 41000);
    const dropped = h.engine.stats().tcpSynsOverBudget;
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S.", ack: 1 });
    expect(h.engine.stats().tcpSynsOverBudget).toBe(dropped);
    h.in({ flags: ".", seq: 1, ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
  });

  it("a SYN that reopens a TIME-WAIT record takes no token (RFC 6191): the new incarnation's cookie SYN-ACK goes out", () => {
    const h = cookieMode(1000);
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.at(10).in({ flags: "F.", seq: 1, ack: 2, ts: [300, undefined] });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
    spend(h, 41000);
    const dropped = h.engine.stats().tcpSynsOverBudget;
    h.in({ flags: "S", seq: 100_000, mss: 1460, ts: [5000, 0] });
    const synAck = h.out({ flags: "S.", ack: 100_001 });
    expect(h.engine.stats().tcpSynsOverBudget).toBe(dropped);
    h.in({ flags: ".", seq: 100_001, ack: synAck.seq + 1, ts: [5001, undefined] });
    expect(h.state()).toBe("ESTABLISHED");
    // The same SYN from a port with no record is still dropped.
    h.in({ flags: "S", seq: 100_000, mss: 1460, ts: [5000, 0], port: 42000 });
    h.outNothing();
  });

  it("synCookieRate(Infinity): every cookie SYN is answered", () => {
    const h = cookieMode(Infinity);
    for (let k = 0; k < 3 * SYN_BURST; k++) {
      h.in({ flags: "S", seq: 0, mss: 1460, port: 41000 + k });
      h.out({ flags: "S.", port: 41000 + k });
    }
    expect(h.engine.stats().tcpSynsOverBudget).toBe(0);
  });

  it("synCookieRate is checked: an integer in 1..2^24, or Infinity; the default is DEFAULT_SYN_COOKIE_RATE", () => {
    expect(() => new L3L4Builder().synCookieRate(0).build()).toThrow(/synCookieRate must be an integer in 1\.\.16777216/);
    expect(() => new L3L4Builder().synCookieRate(1.5).build()).toThrow(RangeError);
    expect(() => new L3L4Builder().synCookieRate(NaN).build()).toThrow(RangeError);
    expect(new L3L4Builder().synCookieRate(Infinity).build()).toBeDefined();
    expect(DEFAULT_SYN_COOKIE_RATE).toBe(20_000);
  });
});

// ------------------------------------------------------------------------------------------------
// Many clients, one engine, on a virtual clock
// ------------------------------------------------------------------------------------------------

const SERVER = "198.51.100.7";

class Rig {
  readonly clock = new VirtualClock(0);
  readonly engine: L3L4<Uint8Array>;
  private readonly out = new Uint8Array(2048);
  last: Uint8Array = new Uint8Array(0);
  sent = 0;
  readonly cb: Callbacks<Uint8Array> = {
    l3TxBuffer: () => this.out,
    l3TxBufferMut: (b) => b,
    l3Tx: (b, n) => {
      this.sent++;
      this.last = b.subarray(0, n);
    },
    l4Rx: () => {},
  };

  constructor(configure: (b: L3L4Builder<Uint8Array>) => L3L4Builder<Uint8Array>) {
    this.engine = configure(new L3L4Builder<Uint8Array>().clock(this.clock.now)).build();
  }

  /** A client's SYN from 203.0.113.x:port: true if a SYN-ACK came back, and then its ACK completes the handshake. */
  handshake(host: number, port: number): boolean {
    const src = `203.0.113.${host}`;
    const before = this.sent;
    this.engine.l3Rx(this.cb, tcp({ src, dst: SERVER, srcPort: port, dstPort: 443, flags: "S", seq: 1000, options: { mss: 1460 } }));
    if (this.sent === before || (this.last[33]! & 0x12) !== 0x12) return false;
    const iss = read32(this.last, 24);
    const flow = this.engine.l3Rx(this.cb, tcp({ src, dst: SERVER, srcPort: port, dstPort: 443, flags: "A", seq: 1001, ack: (iss + 1) >>> 0 }));
    return flow !== undefined && this.engine.l4State(flow) === "ESTABLISHED";
  }
}

describe("legitimate connection rates", () => {
  /** 15,000 handshakes in one second of the clock, 15 a millisecond (issue 12's target rate): how many connect. */
  function burst(configure: (b: L3L4Builder<Uint8Array>) => L3L4Builder<Uint8Array>): { connected: number; dropped: number } {
    const r = new Rig(configure);
    let connected = 0;
    for (let i = 0; i < 15_000; i++) {
      if (i % 15 === 0) r.clock.set(i / 15);
      if (r.handshake(1 + (i % 200), 1024 + Math.floor(i / 200))) connected++;
    }
    return { connected, dropped: r.engine.stats().tcpSynsOverBudget };
  }

  it("a burst of 15,000 connections a second with room in the backlog: every one admitted, whatever the budget", () => {
    // synCookieRate 1: the budget would admit about one cookie SYN a second, but the backlog never fills.
    expect(burst((b) => b.synCookieRate(1))).toEqual({ connected: 15_000, dropped: 0 });
  });

  it("the same burst in cookie mode: admitted by the default budget; a budget of 1,000 a second drops most of it", () => {
    expect(burst((b) => b.synBacklog(0))).toEqual({ connected: 15_000, dropped: 0 });
    const tight = burst((b) => b.synBacklog(0).synCookieRate(1000));
    expect(tight.dropped).toBeGreaterThan(10_000);
    expect(tight.connected).toBe(15_000 - tight.dropped);
  });
});

describe("a legitimate client during a flood", () => {
  /** Linux's SYN schedule (tcp_syn_retries 6): 0, 1, 3, 7, 15, 31, 63 s. */
  const TRIES_MS = [0, 1000, 3000, 7000, 15_000, 31_000, 63_000];

  /**
   * A flood of `floodPerSecond` SYNs from 1024 spoofed sources at seeded random times (Poisson
   * arrivals) into an engine in cookie mode with a floor of `rate`; `clients` legitimate clients start
   * at seeded random times in the first 10 s and retry on Linux's schedule. Returns the try at which
   * each connected (0: not in seven).
   */
  function floodWithClients(rate: number, floodPerSecond: number, clients: number): { tries: number[]; dropped: number } {
    const r = new Rig((b) => b.synBacklog(16).synCookieRate(rate));
    let x = 0x9e3779b9;
    const random = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    const spoofed = Array.from({ length: 1024 }, (_, i) =>
      tcp({ src: `100.64.${i >> 8}.${i & 255}`, dst: SERVER, srcPort: 1024 + i, dstPort: 443, flags: "S", seq: i * 7919, options: { mss: 1460 } }),
    );
    const start = Array.from({ length: clients }, () => random() * 10_000);
    // Each SYN reaches the engine up to 20 ms late (the network's jitter). Without it a client's
    // retries, exactly 1, 2, 4 s apart, would all fall at the same phase of the bucket's refill cycle
    // (1 / rate: 10 ms here, 50 µs at the default rate), and whether it ever connects would be decided
    // by its first try's phase.
    const jitter = Array.from({ length: clients * TRIES_MS.length }, () => random() * 20);
    const next = new Array<number>(clients).fill(0);
    const tries = new Array<number>(clients).fill(0);
    const due = (c: number): number =>
      tries[c]! > 0 || next[c]! >= TRIES_MS.length ? Infinity : start[c]! + TRIES_MS[next[c]!]! + jitter[c * TRIES_MS.length + next[c]!]!;
    let t = 0;
    let n = 0;
    const end = 10_000 + TRIES_MS[TRIES_MS.length - 1]! + 1;
    let lastPoll = 0;
    while (t < end) {
      t += (-Math.log(1 - random()) * 1000) / floodPerSecond;
      // The clients' SYNs due before the flood's next one.
      for (let c = 0; c < clients; c++) {
        const d = due(c);
        if (d <= t) {
          r.clock.set(Math.max(r.clock.now(), d));
          const k = ++next[c]!;
          if (r.handshake(1 + (c % 250), 2000 + c)) tries[c] = k;
        }
      }
      r.clock.set(Math.max(r.clock.now(), t));
      r.engine.l3Rx(r.cb, spoofed[n++ & 1023]!);
      if (t - lastPoll >= 100) {
        r.engine.l4Poll(r.cb);
        lastPoll = t;
      }
    }
    return { tries, dropped: r.engine.stats().tcpSynsOverBudget };
  }

  it("a flood at 8 times the floor rate: each try answered about 1 in 8, and about 6 clients in 10 connect within Linux's 7 SYNs", () => {
    // The floor 100 a second against 800 a second (the default 20,000 against 160,000 scaled down).
    const { tries, dropped } = floodWithClients(100, 800, 200);
    const firstTry = tries.filter((k) => k === 1).length / tries.length;
    const connected = tries.filter((k) => k > 0).length / tries.length;
    console.log(`floor 100/s, flood 800/s: ${dropped} SYNs dropped; clients connected at tries ${JSON.stringify(count(tries))} (0: not in 7)`);
    expect(dropped).toBeGreaterThan(0);
    // p = 1/8 per try: 1 - (7/8)^7 = 0.61 connect within seven, by independent tries.
    expect(firstTry).toBeGreaterThan(0.05);
    expect(firstTry).toBeLessThan(0.25);
    expect(connected).toBeGreaterThan(0.45);
  });

  it("a flood at twice the floor rate: about half the tries answered, and 95 % of clients connect within 7 SYNs (1 - 2^-7 expected)", () => {
    const { tries } = floodWithClients(400, 800, 200);
    console.log(`floor 400/s, flood 800/s: clients connected at tries ${JSON.stringify(count(tries))} (0: not in 7)`);
    const firstTry = tries.filter((k) => k === 1).length / tries.length;
    expect(firstTry).toBeGreaterThan(0.35);
    expect(firstTry).toBeLessThan(0.65);
    expect(tries.filter((k) => k > 0).length / tries.length).toBeGreaterThan(0.95);
  });

  it("a flood below the floor rate: every client connects, most at the first try", () => {
    const { tries } = floodWithClients(1000, 800, 200);
    console.log(`floor 1000/s, flood 800/s: clients connected at tries ${JSON.stringify(count(tries))}`);
    expect(tries.every((k) => k > 0)).toBe(true);
    expect(tries.filter((k) => k === 1).length).toBeGreaterThan(150);
  });
});

function count(tries: number[]): Record<number, number> {
  const m: Record<number, number> = {};
  for (const k of tries) m[k] = (m[k] ?? 0) + 1;
  return m;
}
