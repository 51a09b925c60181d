/**
 * What a user sees of a flow: how it prints and serialises, l4Info (a TCP_INFO-like snapshot) and
 * l4CloseReason (why it ended), for every way a flow can end.
 */
import { inspect } from "node:util";
import { describe, expect, it } from "vitest";
import type { Callbacks, CloseReason, FlowInfo } from "../../lib/api.js";
import { L3L4Builder } from "../../lib/builder.js";
import { UnknownFlowError } from "../../lib/errors.js";
import { engineFixture } from "../support/engine-fixture.js";
import { icmp, udp } from "../support/packets.js";
import { establish, TcpHarness } from "../support/tcp-harness.js";

describe("a Flow prints and serialises as what it is", () => {
  it("JSON.stringify gives exactly the six pinned fields", () => {
    const h = new TcpHarness();
    establish(h);
    const flow = h.flow();
    expect(JSON.parse(JSON.stringify(flow))).toEqual({
      protocol: "tcp",
      family: 4,
      srcIp: h.peerIp,
      srcPort: h.defaultPort,
      dstIp: h.localIp,
      dstPort: h.localPort,
    });
    expect(Object.keys(flow)).toEqual(["protocol", "family", "srcIp", "srcPort", "dstIp", "dstPort"]);
    // Deep equality sees only the six fields too.
    expect({ ...flow }).toEqual(JSON.parse(JSON.stringify(flow)));
  });

  it("console.log / util.inspect show one short line, for IPv4 and IPv6", () => {
    const h4 = new TcpHarness();
    establish(h4);
    expect(inspect(h4.flow())).toBe(`tcp ${h4.peerIp}:${h4.defaultPort} > ${h4.localIp}:${h4.localPort}`);
    const h6 = new TcpHarness({ family: 6 });
    establish(h6);
    const text = inspect(h6.flow(), { depth: 10, showHidden: true });
    expect(text).toBe(`tcp [${h6.peerIp}]:${h6.defaultPort} > [${h6.localIp}]:${h6.localPort}`);
    expect(String(h6.flow())).toBe(text);
  });

  it("nothing of the engine is reachable through the flow's own properties", () => {
    const h = new TcpHarness();
    establish(h);
    const flow = h.flow();
    const reachable = Object.getOwnPropertyNames(flow).map((k) => (flow as unknown as Record<string, unknown>)[k]);
    expect(reachable.every((v) => typeof v === "string" || typeof v === "number")).toBe(true);
    expect(Object.getOwnPropertySymbols(flow)).toEqual([]);
  });
});

describe("l4Info", () => {
  it("reports a live TCP connection: state, counts, RTT, windows, MSS, queues", () => {
    const h = new TcpHarness();
    establish(h, { mss: 1460, wscale: 7 });
    h.at(10).in({ flags: "P.", data: 1000 });
    h.out({ flags: "." });
    h.app.send(3000);
    h.out({ flags: ".", len: 1448 });
    h.out({ flags: ".", len: 1448 });
    h.out({ flags: "P.", len: 104 });
    h.at(30).in({ flags: ".", ack: 1449 });
    const info = h.engine.l4Info(h.flow())!;
    expect(info.state).toBe("ESTABLISHED");
    expect(info.bytesIn).toBe(1000);
    expect(info.bytesOut).toBe(3000);
    expect(info.bytesAcked).toBe(1448);
    expect(info.unacked).toBe(3000 - 1448);
    expect(info.sendQueue).toBe(3000 - 1448);
    expect(info.recvQueue).toBe(0);
    // SYN-ACK, the ACK of the data, three data segments.
    expect(info.segmentsOut).toBe(5);
    // SYN, ACK, data, ACK.
    expect(info.segmentsIn).toBe(4);
    expect(info.retransmits).toBe(0);
    expect(info.sndMss).toBe(1460);
    expect(info.rcvMss).toBe(1000);
    // RFC 6298 §2: the handshake's 0 ms sample, then 20 ms (the data went at 10, its ACK came at 30):
    // SRTT = 7/8 * 0 + 1/8 * 20, RTTVAR = 3/4 * 0 + 1/4 * |0 - 20|.
    expect(info.srtt).toBe(2.5);
    expect(info.rttvar).toBe(5);
    expect(info.rto).toBe(200);
    expect(info.cwnd).toBeGreaterThan(0);
    expect(info.ssthresh).toBe(Infinity);
    // The peer's window field 65535 >> 7 = 511, scaled by 2^7.
    expect(info.sndWnd).toBe(511 << 7);
    expect(info.rcvWnd).toBeGreaterThan(0);
  });

  it("counts retransmissions and the receive queue while paused", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", len: 100 });
    // The handshake's RTT sample was 0 ms: the RTO is its 200 ms floor.
    h.at(200).out({ flags: "P.", len: 100, time: 200 });
    h.in({ flags: ".", ack: 101 });
    h.app.pause();
    h.in({ flags: "P.", data: 500 });
    h.drain();
    const info = h.engine.l4Info(h.flow())!;
    expect(info.retransmits).toBe(1);
    expect(info.bytesOut).toBe(200);
    expect(info.bytesAcked).toBe(100);
    expect(info.recvQueue).toBe(500);
    expect(info.bytesIn).toBe(500);
  });

  it("fills the object it is given (no allocation) and returns it", () => {
    const h = new TcpHarness();
    establish(h);
    const out = {} as FlowInfo;
    expect(h.engine.l4Info(h.flow(), out)).toBe(out);
    expect(out.state).toBe("ESTABLISHED");
    const keys = Object.keys(out).sort();
    // The same shape from every kind of flow.
    const { engine, cap } = engineFixture();
    const u = engine.l3Rx(cap, udp({ src: "192.0.2.9", dst: "198.51.100.1", srcPort: 5000, dstPort: 53, payload: "abc" }))!;
    engine.l4Tx(cap, u, new Uint8Array(7));
    const ui = engine.l4Info(u, out)!;
    expect(Object.keys(ui).sort()).toEqual(keys);
    expect([ui.state, ui.bytesIn, ui.segmentsIn, ui.bytesOut, ui.segmentsOut, ui.srtt, ui.cwnd]).toEqual([
      "ESTABLISHED", 3, 1, 7, 1, 0, 0,
    ]);
  });

  it("a TIME-WAIT record reports only its state; a gone flow gives undefined; a foreign flow throws", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F." });
    h.in({ flags: "F.", ack: 1 + 1 });
    h.out({ flags: "." });
    expect(h.state()).toBe("TIME-WAIT");
    const info = h.engine.l4Info(h.flow())!;
    expect(info.state).toBe("TIME-WAIT");
    expect(info.bytesOut + info.segmentsIn + info.srtt).toBe(0);
    h.at(60_001);
    expect(h.engine.l4State(h.flow())).toBeUndefined();
    expect(h.engine.l4Info(h.flow())).toBeUndefined();
    const other = new L3L4Builder<Uint8Array>().build();
    expect(() => other.l4Info(h.flow())).toThrow(UnknownFlowError);
    expect(() => other.l4CloseReason(h.flow())).toThrow(UnknownFlowError);
  });
});

describe("l4CloseReason", () => {
  /** The reason as seen from inside the final l4Rx(flow, null), and after it. */
  function recordReasons(h: TcpHarness): { during: (CloseReason | undefined)[] } {
    const during: (CloseReason | undefined)[] = [];
    const inner = h.callbacks.l4Rx;
    (h.callbacks as { l4Rx: Callbacks<Uint8Array>["l4Rx"] }).l4Rx = (flow, data) => {
      if (data === null) during.push(h.engine.l4CloseReason(flow));
      inner.call(h.callbacks, flow, data);
    };
    return { during };
  }

  it("is undefined while the flow lives", () => {
    const h = new TcpHarness();
    establish(h);
    expect(h.engine.l4CloseReason(h.flow())).toBeUndefined();
  });

  it('"closed": both FINs, whether we close first (TIME-WAIT) or last (LAST-ACK)', () => {
    const a = new TcpHarness();
    const ra = recordReasons(a);
    establish(a);
    a.app.close();
    a.out({ flags: "F." });
    a.in({ flags: "F.", ack: 2 });
    a.out({ flags: "." });
    expect(ra.during).toEqual(["closed"]);

    const b = new TcpHarness();
    const rb = recordReasons(b);
    establish(b);
    b.in({ flags: "F." });
    b.out({ flags: "." });
    b.app.close();
    b.out({ flags: "F." });
    b.in({ flags: ".", ack: 2 });
    expect(rb.during).toEqual(["closed"]);
    expect(b.engine.l4CloseReason(b.flow())).toBe("closed");
  });

  it('"reset" for a RST on an open connection, "refused" for a RST answering our SYN', () => {
    const a = new TcpHarness();
    const ra = recordReasons(a);
    establish(a);
    a.in({ flags: "R.", seq: 1 });
    expect(ra.during).toEqual(["reset"]);

    const b = new TcpHarness();
    const rb = recordReasons(b);
    b.connect();
    b.out({ flags: "S" });
    b.in({ flags: "R.", seq: 0, ack: 1 });
    expect(rb.during).toEqual(["refused"]);
    expect(b.engine.stats().tcpResetsReceived).toBe(1);
  });

  it('"aborted" after l4Abort', () => {
    const h = new TcpHarness();
    const r = recordReasons(h);
    establish(h);
    h.app.abort();
    h.out({ flags: "R" });
    expect(r.during).toEqual(["aborted"]);
  });

  it('"timeout" when retransmissions go unanswered, "handshake-timeout" when SYNs do', () => {
    const a = new TcpHarness();
    const ra = recordReasons(a);
    establish(a);
    a.app.send(10);
    a.out({ flags: "P.", len: 10 });
    a.advance(3_600_000);
    a.drain();
    expect(ra.during).toEqual(["timeout"]);

    const b = new TcpHarness();
    const rb = recordReasons(b);
    b.connect();
    b.out({ flags: "S" });
    b.advance(60_000);
    b.drain();
    expect(rb.during).toEqual(["handshake-timeout"]);
  });

  it('"idle" when the half-open idle timeout aborts a half-closed connection', () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    const r = recordReasons(h);
    establish(h);
    h.in({ flags: "F." });
    h.out({ flags: "." });
    h.at(30_000).out({ flags: "R" });
    expect(r.during).toEqual(["idle"]);
  });

  describe("ICMP errors about our SYN (RFC 1122 §4.2.3.9; an active open aborts on any, as Linux does)", () => {
    const cases: ReadonlyArray<readonly [string, 4 | 6, number, number, CloseReason]> = [
      ["v4 net unreachable", 4, 3, 0, "net-unreachable"],
      ["v4 host unreachable", 4, 3, 1, "host-unreachable"],
      ["v4 port unreachable", 4, 3, 3, "refused"],
      ["v4 communication prohibited", 4, 3, 13, "host-unreachable"],
      ["v4 time exceeded", 4, 11, 0, "host-unreachable"],
      ["v6 no route", 6, 1, 0, "net-unreachable"],
      ["v6 address unreachable", 6, 1, 3, "host-unreachable"],
      ["v6 port unreachable", 6, 1, 4, "refused"],
    ];
    it.each(cases)("%s", (_name, family, type, code, reason) => {
      const h = new TcpHarness({ family });
      const r = recordReasons(h);
      h.connect();
      const syn = h.out({ flags: "S" });
      const router = family === 4 ? "192.0.2.254" : "2001:db8::fe";
      const quoted = syn.bytes.subarray(0, family === 4 ? 28 : 48);
      h.inRaw(icmp({ src: router, dst: h.localIp, type, code, data: quoted }));
      expect(r.during).toEqual([reason]);
      expect(h.flowCount).toBe(0);
    });

    it("a passive open (SYN-RECEIVED) is aborted only by hard errors", () => {
      const h = new TcpHarness();
      const r = recordReasons(h);
      h.in({ flags: "S", seq: 0, mss: 1460 });
      const synAck = h.out({ flags: "S." });
      const quoted = synAck.bytes.subarray(0, 28);
      h.inRaw(icmp({ src: "192.0.2.254", dst: h.localIp, type: 3, code: 1, data: quoted }));
      expect(h.state()).toBe("SYN-RECEIVED");
      h.inRaw(icmp({ src: "192.0.2.254", dst: h.localIp, type: 3, code: 3, data: quoted }));
      expect(r.during).toEqual(["refused"]);
    });
  });

  it('UDP: "idle" after udpIdleTimeout, "closed" after l4LocalClose, "aborted" after l4Abort', () => {
    const { engine, cap, clock } = engineFixture((b) => b.udpIdleTimeout(10));
    const reasons: (CloseReason | undefined)[] = [];
    cap.onRx = (flow, data) => {
      if (data === null) reasons.push(engine.l4CloseReason(flow));
    };
    const cb = cap;
    const dg = (port: number) => udp({ src: "192.0.2.9", dst: "198.51.100.1", srcPort: port, dstPort: 53, payload: "q" });
    engine.l3Rx(cb, dg(1000));
    const b = engine.l3Rx(cb, dg(1001))!;
    const c = engine.l3Rx(cb, dg(1002))!;
    engine.l4LocalClose(cb, b);
    engine.l4Abort(cb, c);
    clock.advance(10_000);
    engine.l4Poll(cb);
    expect(reasons).toEqual(["closed", "aborted", "idle"]);
  });
});
