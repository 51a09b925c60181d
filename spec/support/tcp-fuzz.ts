/**
 * The TCP property: whatever a peer sends and whatever the application does, in any order and at
 * any time, the engine never throws, calls l4Rx(flow, null) at most once per flow and never delivers
 * data after it, delivers only a prefix of what the peer sent (each byte once, in order), sends only
 * packets the oracle accepts, and keeps flowCount equal to the flows it still knows. Timers always
 * come to rest. spec/tcp/fuzz.spec.ts checks it with the fixed fast-check seed,
 * spec/random-seed.spec.ts with a fresh one.
 */
import fc from "fast-check";
import { expect } from "vitest";
import { establish, TcpHarness } from "./tcp-harness.js";

const FLAGS = [".", "P.", "F.", "FP.", "R", "R.", "S", "S.", "P", "F", ""] as const;

export type Step =
  | { kind: "seg"; flags: string; dseq: number; dack: number; len: number; win: number; ts: boolean; sack: boolean }
  | { kind: "time"; ms: number }
  | { kind: "send"; n: number }
  | { kind: "close" }
  | { kind: "abort" }
  | { kind: "pause" }
  | { kind: "resume" };

export const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("seg" as const),
      flags: fc.constantFrom(...FLAGS),
      dseq: fc.oneof(fc.constant(0), fc.integer({ min: -3000, max: 3000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 })),
      dack: fc.oneof(fc.constant(0), fc.integer({ min: -3000, max: 3000 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 })),
      len: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1448 }), fc.integer({ min: 1449, max: 4000 })),
      win: fc.oneof(fc.constant(512), fc.constant(0), fc.integer({ min: 0, max: 65535 })),
      ts: fc.boolean(),
      sack: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("time" as const), ms: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 200_000 })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("send" as const), n: fc.integer({ min: 1, max: 20_000 }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: "close" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "abort" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "pause" as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: "resume" as const }) },
);

export function run(steps: Step[], family: 4 | 6): void {
  const h = new TcpHarness({ family, strict: false, configure: (b) => b.tcpBufferSize(16384) });
  establish(h);
  h.setAccept(false); // one incarnation: a later SYN for the gone flow is refused (RST)
  const c = h.conn();
  for (const s of steps) {
    const alive = h.state() !== undefined && h.state() !== "TIME-WAIT";
    switch (s.kind) {
      case "seg":
        h.in({
          flags: s.flags,
          seq: c.peerNext + s.dseq,
          ack: c.engineNext + s.dack,
          data: s.len,
          win: s.win,
          ts: s.ts ? undefined : null,
          ...(s.sack ? { sack: [[c.engineNext - 2000 + s.dack, c.engineNext + s.dack]] as [number, number][] } : {}),
        });
        break;
      case "time":
        h.after(s.ms);
        break;
      case "send":
        if (alive) h.app.send(s.n);
        break;
      case "close":
        if (alive) h.app.close();
        break;
      case "abort":
        if (alive) h.app.abort();
        break;
      case "pause":
        if (alive) h.app.pause();
        break;
      case "resume":
        if (alive) h.app.resume();
        break;
    }
    h.drain(); // throws the harness's errors: a second l4Rx(null), data after it, a bad packet
    // A flow counts until its l4Rx(null); after it the engine knows it at most as a TIME-WAIT record.
    // (A connection in TIME-WAIT whose received data the paused application has not taken is still a
    // flow: the compact record keeps no data.)
    const st = h.state();
    expect(h.flowCount).toBe(1 - c.closedCount);
    if (st === undefined) expect(c.closedCount).toBe(1);
    if (c.closedCount === 1) expect(st === undefined || st === "TIME-WAIT").toBe(true);
    // Delivered bytes are a prefix of what the peer sent.
    const n = c.received.length;
    const got = c.received.slice(0, n);
    const want = c.peerStream.slice(0, n);
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) throw new Error(`delivered byte ${i} differs`);
  }
  // Left alone long enough, every flow ends (the idle timeout's FIN, then the half-open idle timeout:
  // 2 h + 2 h at most) and every timer comes to rest.
  h.after(5 * 3_600_000);
  h.drain();
  expect(h.flowCount).toBe(0);
  expect(c.closedCount).toBe(1);
  h.after(120_000);
  h.drain();
  expect(h.deadline).toBeUndefined();
}

