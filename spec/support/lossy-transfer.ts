/**
 * A transfer between the engine and the independent reference TCP (spec/support/reference-tcp.ts)
 * over a bad link: spec/tcp/lossy-link.spec.ts runs it with fixed seeds, spec/random-seed.spec.ts
 * with a fresh one. Every packet the engine sends is checked with the packet oracle on the way.
 */
import { expect } from "vitest";
import type { Flow } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { MemoryLink } from "../../lib/debug/link.js";
import { watchWithOracle } from "./echo-end-to-end.js";
import { ReferenceTcp } from "./reference-tcp.js";
import { appByte, peerByte } from "./tcp-harness.js";

export const FAULTS = { loss: 0.05, reorder: 0.05, duplicate: 0.01, delayMs: 5 } as const;

function stream(fn: (i: number) => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = fn(i);
  return b;
}

export interface Result {
  seed: number;
  wallMs: number;
  virtualMs: number;
  engineStats: ReturnType<ReturnType<L3L4Builder<number>["build"]>["stats"]>;
  ref: ReferenceTcp;
  link: MemoryLink;
}

export function transfer(family: 4 | 6, toEngine: number, fromEngine: number, seed: number): Result {
  const link = new MemoryLink({ seed, faults: FAULTS });
  const oracleProblems = watchWithOracle(link);
  const engine = new L3L4Builder<number>().clock(link.clock.now).build();
  const peerStream = stream(peerByte, toEngine);
  const appStream = stream(appByte, fromEngine);
  const errors: string[] = [];
  let flow: Flow | undefined;
  let received = 0;
  let written = 0;
  let closed = 0;
  let remoteClosed = 0;
  let localClosed = false;
  let started = false;

  const cb = link.callbacks("a");
  const pump = (): void => {
    if (flow === undefined) return;
    while (written < fromEngine) {
      const n = engine.l4Tx(cb, flow, appStream.subarray(written, Math.min(fromEngine, written + 65536)));
      if (n === undefined) {
        errors.push("l4Tx on a gone flow");
        return;
      }
      written += n;
      if (n === 0) return;
    }
    if (!localClosed && (fromEngine > 0 || remoteClosed > 0)) {
      localClosed = true;
      engine.l4LocalClose(cb, flow);
    }
  };
  link.attach("a", engine, {
    l4Accept: (f) => {
      if (flow !== undefined) errors.push("a second flow was opened");
      flow = f;
      return true;
    },
    l4Rx: (f, data) => {
      if (f !== flow) errors.push("l4Rx for an unknown flow");
      if (data === null) {
        closed++;
        return;
      }
      if (closed > 0) errors.push("data after l4Rx(null)");
      if (received + data.length > toEngine) {
        errors.push(`delivered ${received + data.length} bytes, more than the ${toEngine} sent`);
        return;
      }
      for (let i = 0; i < data.length; i++) {
        if (data[i] !== peerStream[received + i]) {
          errors.push(`delivered byte ${received + i} is ${data[i]}, the peer sent ${peerStream[received + i]}`);
          break;
        }
      }
      received += data.length;
    },
    l4TxReady: () => pump(),
    l4RemoteClosed: () => {
      remoteClosed++;
      if (received !== toEngine) errors.push(`l4RemoteClosed after ${received} of ${toEngine} bytes`);
      pump();
    },
  });
  const v6 = family === 6;
  const ref = new ReferenceTcp({
    now: link.clock.now,
    family,
    ip: v6 ? "2001:db8::2" : "192.0.2.2",
    port: 51000,
    remoteIp: v6 ? "2001:db8:ffff::80" : "203.0.113.80",
    remotePort: 443,
    sendBytes: toEngine,
    expectBytes: fromEngine,
  });
  link.attach("b", ref);

  const t0 = performance.now();
  const ok = link.runUntil(
    () => {
      if (!started && flow !== undefined && engine.l4State(flow) === "ESTABLISHED") {
        started = true;
        pump();
      }
      if (errors.length > 0 || ref.errors.length > 0) return true;
      return ref.done && received === toEngine && closed === 1 && engine.flowCount === 0;
    },
    { maxTimeMs: 3_600_000, maxSteps: 10_000_000 },
  );
  const wallMs = performance.now() - t0;
  const where = `seed ${seed}; stopped: ${link.stopReason} at ${link.clock.now()} ms`;
  expect(errors, where).toEqual([]);
  expect(ref.errors, where).toEqual([]);
  expect(oracleProblems, `${where}: packets the oracle rejects`).toEqual([]);
  expect(ok, where).toBe(true);
  expect(received, where).toBe(toEngine);
  expect(ref.received, where).toBe(fromEngine);
  expect(closed, where).toBe(1);
  expect(remoteClosed, where).toBe(1);
  expect(engine.flowCount, where).toBe(0);
  return { seed, wallMs, virtualMs: link.clock.now(), engineStats: engine.stats(), ref, link };
}

export function report(name: string, r: Result): void {
  const s = r.engineStats;
  const l = r.link.stats;
  console.log(
    `${name}: seed ${r.seed}, wall ${(r.wallMs / 1000).toFixed(1)} s, virtual ${(r.virtualMs / 1000).toFixed(1)} s; ` +
      `engine: ${s.tcpSegmentsIn} in, ${s.tcpSegmentsOut} out, ${s.tcpRetransmits} retransmits ` +
      `(${s.tcpFastRetransmits} fast, ${s.tcpRtoTimeouts} RTO), ${s.tcpOutOfOrderSegments} out of order; ` +
      `reference: ${r.ref.stats.retransmits} retransmits, ${r.ref.stats.rtos} RTO; ` +
      `link: lost ${l.aToB.lost + l.bToA.lost}, reordered ${l.aToB.reordered + l.bToA.reordered}, duplicated ${l.aToB.duplicated + l.bToA.duplicated}`,
  );
}

