/**
 * The connection's entry points (lib/tcp/connection.ts): SEND after CLOSE, CLOSE in the opening
 * states, l4TxReady only after a short write, and a path-MTU report that changes nothing. Boundaries
 * the mutation run found unpinned (issue 10).
 */
import { describe, expect, it } from "vitest";
import { icmp } from "../support/packets.js";
import { TcpHarness, establish } from "../support/tcp-harness.js";

describe("SEND and CLOSE (RFC 9293 §3.10.2, §3.10.4)", () => {
  it("l4Tx after l4LocalClose takes nothing: \"error: connection closing\"", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    expect(h.app.send("late")).toBe(0);
    h.outNothing();
    expect(h.engine.l4Info(h.flow())!.sendQueue).toBe(0);
  });

  it("l4LocalClose twice sends one FIN", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.app.close();
    h.outNothing();
    expect(h.state()).toBe("FIN-WAIT-1");
  });

  it("CLOSE in SYN-SENT with data queued: the data, then the FIN, once the handshake completes", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    expect(h.app.send("hello")).toBe(5);
    h.app.close();
    h.outNothing();
    expect(h.state()).toBe("SYN-SENT");
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: "FP.", seq: 1, ack: 1, data: "hello" });
    expect(h.state()).toBe("FIN-WAIT-1");
  });

  it("CLOSE in SYN-RECEIVED: the FIN goes once the handshake completes, and the connection is in FIN-WAIT-1", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.app.close();
    expect(h.state()).toBe("SYN-RECEIVED");
    // Closed, though still opening: nothing more is taken.
    expect(h.app.send("late")).toBe(0);
    h.in({ flags: ".", seq: 1, ack: 1 });
    h.out({ flags: "F.", seq: 1, ack: 1 });
    expect(h.state()).toBe("FIN-WAIT-1");
  });
});

describe("l4TxReady follows a short write only", () => {
  it("a write taken whole asks for no l4TxReady; a short one gets one when its data is acknowledged", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4000) });
    establish(h, { wscale: null });
    expect(h.app.send(1000)).toBe(1000);
    h.out({ flags: "P.", seq: 1, len: 1000 });
    h.in({ flags: ".", ack: 1001 });
    expect(h.app.txReadyCount).toBe(0);
    expect(h.app.send(5000)).toBe(4000);
    h.drain();
    h.in({ flags: ".", ack: 5001 });
    h.drain();
    expect(h.app.txReadyCount).toBe(1);
  });
});

describe("path MTU (RFC 1191 §6.3, RFC 8201 §5.2)", () => {
  it("a second 'fragmentation needed' for the MTU already in use (about an older, larger packet) resends nothing", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(3000);
    const p1 = h.out({ seq: 1, len: 1448 });
    const p2 = h.out({ seq: 1449, len: 1448 });
    h.out({ flags: "P.", len: 104 });
    const fragNeeded = (p: { bytes: Uint8Array }) =>
      icmp({ src: "203.0.113.1", dst: h.localIp, type: 3, code: 4, rest: 1280, data: p.bytes.subarray(0, 28 + 40) });
    h.inRaw(fragNeeded(p1));
    // MSS 1240, less 12 bytes of timestamps: what is in flight again in segments that fit.
    h.out({ seq: 1, len: 1228 });
    h.out({ seq: 1229, len: 1228 });
    h.out({ seq: 2457, len: 544 });
    const retransmits = h.engine.l4Info(h.flow())!.retransmits;
    // The second segment, sent before the MSS shrank, is reported too: the MSS is already 1240.
    h.inRaw(fragNeeded(p2));
    h.outNothing();
    expect(h.engine.l4Info(h.flow())!.sndMss).toBe(1240);
    expect(h.engine.l4Info(h.flow())!.retransmits).toBe(retransmits);
  });
});

// Second round (issue 10): the entry points' guards. What a repeated or empty call must not change,
// an l4Poll flushing every time, and what an ICMP error does to an established connection.
describe("calls that move no data leave the idle timers alone", () => {
  it("an empty l4Tx takes nothing and does not restart tcpIdleTimeout", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpIdleTimeout(60) });
    establish(h);
    h.at(50_000);
    expect(h.app.send(new Uint8Array(0))).toBe(0);
    h.outNothing();
    h.at(59_999).outNothing();
    h.at(60_000).out({ flags: "F.", seq: 1, time: 60_000 });
  });

  it("l4LocalClose again in FIN-WAIT-2 does not restart tcpHalfOpenIdleTimeout", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(30) });
    establish(h);
    h.at(1000);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.in({ flags: ".", ack: 2 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.at(20_000);
    h.app.close(); // already closing: nothing to do
    h.outNothing();
    h.at(30_999).outNothing();
    h.at(31_000).out({ flags: "R", seq: 2 });
    h.expectClosed();
  });
});

describe("tcpAutocork: every l4Poll flushes what was held since the last", () => {
  it("a second write after a flush is held and flushed by the next l4Poll too", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpAutocork(true) });
    establish(h);
    h.app.send(100, false);
    h.poll();
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.in({ flags: ".", ack: 101 });
    h.app.send(100, false);
    h.outNothing();
    h.poll();
    h.out({ flags: "P.", seq: 101, len: 100 });
  });
});

describe("ICMP errors on an established connection (RFC 1122 §4.2.3.9, RFC 5461 §4.1)", () => {
  const quoting = (h: TcpHarness, p: { bytes: Uint8Array }, type: number, code: number, rest = 0) =>
    icmp({ src: "203.0.113.1", dst: h.localIp, type, code, rest, data: p.bytes.subarray(0, 28 + 40) });

  it("a hard error (port unreachable) quoting data in flight is soft once ESTABLISHED: the connection stays, the error is taken", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    const p = h.out({ flags: "P.", seq: 1, len: 100 });
    h.inRaw(quoting(h, p, 3, 3));
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.engine.stats().drops.icmp_ignored ?? 0).toBe(0);
    h.in({ flags: ".", ack: 101 });
    expect(h.app.closedCount).toBe(0);
  });

  it("'fragmentation needed' quoting data in flight is taken (not counted as ignored)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(1448);
    const p = h.out({ seq: 1, len: 1448 });
    h.inRaw(quoting(h, p, 3, 4, 1280));
    h.drain(); // what no longer fits, again
    expect(h.engine.l4Info(h.flow())!.sndMss).toBe(1240);
    expect(h.engine.stats().drops.icmp_ignored ?? 0).toBe(0);
  });
});

describe("the end of a connection", () => {
  it("no l4TxReady for a flow whose last ACK (LAST-ACK) both frees its send space and ends it", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(4000) });
    establish(h, { wscale: null });
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.app.send(5000)).toBe(4000); // short: l4TxReady is wanted
    h.app.close();
    expect(h.state()).toBe("LAST-ACK");
    h.drain();
    h.in({ flags: ".", ack: 4002 });
    h.expectClosed();
    expect(h.app.txReadyCount).toBe(0);
  });

  it("l4IsLocalAndRemoteClosed: both FINs, ours at least queued", () => {
    const h = new TcpHarness();
    establish(h);
    const both = () => h.engine.l4IsLocalAndRemoteClosed(h.flow());
    expect(both()).toBe(false);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(both()).toBe(false);
    h.app.close();
    h.out({ flags: "F." });
    expect(both()).toBe(true);
  });

  it("l4IsLocalAndRemoteClosed: our FIN alone (FIN-WAIT-1, FIN-WAIT-2) is not both", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    expect(h.engine.l4IsLocalAndRemoteClosed(h.flow())).toBe(false);
    h.in({ flags: ".", ack: 2 });
    expect(h.state()).toBe("FIN-WAIT-2");
    expect(h.engine.l4IsLocalAndRemoteClosed(h.flow())).toBe(false);
  });
});

describe("l4ResumeRx on a flow that is not paused", () => {
  it("does nothing: output tcpAutocork holds still waits for l4Poll", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpAutocork(true) });
    establish(h);
    h.app.send(100, false);
    h.engine.l4ResumeRx(h.callbacks, h.flow());
    h.outNothing();
    h.poll();
    h.out({ flags: "P.", seq: 1, len: 100 });
  });
});
