/**
 * Closing: RFC 9293 §3.6 (closing a connection) and §3.10.4 CLOSE, the FIN processing of §3.10.7.4
 * (eighth step), and TIME-WAIT as a compact record (§3.6.1, RFC 1337, RFC 6191).
 * Every way a flow ends calls l4Rx(flow, null) exactly once and lowers flowCount.
 */
import { describe, expect, it } from "vitest";
import { establish, TcpHarness } from "../support/tcp-harness.js";

describe("active close: our FIN (RFC 9293 §3.10.4 CLOSE; FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT)", () => {
  it("FIN goes after the queued data; FIN-WAIT-1 -> FIN-WAIT-2 -> TIME-WAIT; l4Rx(null) once on entering TIME-WAIT", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.send(100);
    h.out({ flags: "P.", seq: 1, len: 100 });
    h.app.close();
    h.out({ flags: "F.", seq: 101, ack: 1, len: 0 });
    expect(h.state()).toBe("FIN-WAIT-1");
    expect(h.app.send(10)).toBe(0); // nothing more after CLOSE (RFC 9293 §3.10.2: "connection closing")
    h.at(10).in({ flags: ".", ack: 102 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.outNothing();
    expect(h.flowCount).toBe(1);
    h.at(20).in({ flags: "F.", seq: 1, ack: 102 });
    h.out({ flags: ".", seq: 102, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
    expect(h.flowCount).toBe(0);
    h.expectClosed(undefined, true);
    expect(h.engine.stats().tcpTimeWait).toBe(1);
  });

  it("data and FIN go in one segment when both are waiting", () => {
    const h = new TcpHarness();
    establish(h);
    h.txBlocked = true;
    h.app.send(100);
    h.app.close();
    h.txBlocked = false;
    h.at(5);
    h.out({ flags: "FP.", seq: 1, len: 100 });
    h.outNothing();
  });

  it("the FIN is retransmitted when not acknowledged (RFC 9293 §3.10.4: FIN is reliably sent)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1, time: 0 });
    h.at(200).out({ flags: "F.", seq: 1, time: 200 });
    h.at(600).out({ flags: "F.", seq: 1, time: 600 });
    h.at(700).in({ flags: ".", ack: 2 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.at(100_000).outNothing();
  });

  it("data from the peer is still delivered in FIN-WAIT-1 and FIN-WAIT-2 (RFC 9293 §3.10.7.4 seventh)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.in({ flags: "P.", seq: 1, ack: 1, data: 100 }); // does not ack our FIN yet
    h.delayedAck({ flags: ".", seq: 2, ack: 101 });
    expect(h.state()).toBe("FIN-WAIT-1");
    h.in({ flags: "P.", seq: 101, ack: 2, data: 100 });
    h.delayedAck({ flags: ".", seq: 2, ack: 201 });
    expect(h.state()).toBe("FIN-WAIT-2");
    h.in({ flags: "FP.", seq: 201, ack: 2, data: 50 });
    h.out({ flags: ".", seq: 2, ack: 252 });
    h.expectRx(250);
    expect(h.app.remoteClosedCount).toBe(1);
    expect(h.app.remoteClosedAfter).toBe(250);
    expect(h.state()).toBe("TIME-WAIT");
    h.expectClosed(undefined, true);
  });

  it("an ACK of our FIN together with the peer's FIN goes straight to TIME-WAIT", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
    h.expectClosed(undefined, true);
  });

  it("with delivery paused, TIME-WAIT waits until the application has taken the data (the record keeps none)", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.app.pause();
    h.in({ flags: "FP.", seq: 1, ack: 2, data: 100 });
    h.out({ flags: ".", seq: 2, ack: 102 });
    expect(h.state()).toBe("TIME-WAIT");
    expect(h.app.received).toBe(0);
    expect(h.app.closedCount).toBe(0);
    // A retransmitted FIN meanwhile is acknowledged.
    h.at(100).in({ flags: "FP.", seq: 1, ack: 2, data: 100 });
    h.out({ flags: ".", seq: 2, ack: 102 });
    h.app.resume();
    h.expectRx(100);
    expect(h.app.remoteClosedCount).toBe(1);
    h.expectClosed(undefined, true);
    expect(h.flowCount).toBe(0);
    h.at(60_100);
    expect(h.state()).toBeUndefined();
  });

  it("held by paused data, the TIME-WAIT record keeps its 2*MSL (restarted by a retransmitted FIN), not one from the resume", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.app.pause();
    const flow = h.flow();
    // l3Rx answers the FIN that takes it to TIME-WAIT, and any segment for it after, with its flow.
    expect(h.at(10).in({ flags: "FP.", seq: 1, ack: 2, data: 100 })).toBe(flow);
    h.out({ flags: ".", seq: 2, ack: 102 });
    expect(h.at(100).in({ flags: "FP.", seq: 1, ack: 2, data: 100 })).toBe(flow);
    h.out({ flags: ".", seq: 2, ack: 102 });
    h.at(30_000);
    h.app.resume();
    h.expectRx(100);
    h.expectClosed(undefined, true);
    // 2*MSL from the retransmitted FIN (100 ms), not from the resume (30 s).
    h.at(60_099);
    expect(h.state()).toBe("TIME-WAIT");
    h.at(60_100);
    expect(h.state()).toBeUndefined();
  });

  it("held by data the application never takes: it waits as long as a half-closed connection would (tcpHalfOpenIdleTimeout), ends as idle, and its record lives 2*MSL more", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpHalfOpenIdleTimeout(120) });
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.app.pause();
    h.in({ flags: "FP.", seq: 1, ack: 2, data: 100 });
    h.out({ flags: ".", seq: 2, ack: 102 });
    // 2*MSL (60 s) is over, but the last data came 60 s ago, under the 120 s idle limit: held on.
    h.at(60_000);
    expect(h.state()).toBe("TIME-WAIT");
    expect(h.app.closedCount).toBe(0);
    h.at(119_999);
    expect(h.app.closedCount).toBe(0);
    // At the next 2*MSL check the last data is exactly 120 s old: the connection ends as idle.
    h.at(120_000);
    expect(h.app.closedCount).toBe(1);
    expect(h.app.received).toBe(0);
    const stats = h.engine.stats();
    expect(stats.tcpIdleTimeouts).toBe(1);
    expect(stats.tcpFlowsOpened).toBe(1);
    expect(stats.tcpFlowsClosed).toBe(1);
    expect(stats.tcpTimeWait).toBe(1);
    expect(h.flowCount).toBe(0);
    // Its record answers on for 2*MSL from then.
    expect(h.state()).toBe("TIME-WAIT");
    h.at(150_000).in({ flags: "FP.", seq: 1, ack: 2, data: 100 });
    h.out({ flags: ".", seq: 2, ack: 102 });
    h.at(209_999);
    expect(h.state()).toBe("TIME-WAIT");
    h.at(210_000);
    expect(h.state()).toBeUndefined();
  });

  it("l4LocalClose in SYN-RECEIVED: the FIN follows the handshake (RFC 9293 §3.10.4)", () => {
    const h = new TcpHarness();
    h.in({ flags: "S", seq: 0, mss: 1460 });
    h.out({ flags: "S." });
    h.app.close();
    h.outNothing();
    h.in({ flags: ".", seq: 1, ack: 1 });
    h.out({ flags: "F.", seq: 1, ack: 1 });
    expect(h.state()).toBe("FIN-WAIT-1");
  });
});

describe("simultaneous close (RFC 9293 §3.6 case 2: CLOSING)", () => {
  it("FIN crosses FIN: CLOSING, then the ACK of our FIN enters TIME-WAIT", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1, ack: 1 });
    h.in({ flags: "F.", seq: 1, ack: 1 }); // the peer's FIN, not acknowledging ours
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("CLOSING");
    expect(h.app.remoteClosedCount).toBe(1);
    expect(h.app.closedCount).toBe(0);
    h.in({ flags: ".", seq: 2, ack: 2 });
    h.outNothing();
    expect(h.state()).toBe("TIME-WAIT");
    h.expectClosed(undefined, true);
    expect(h.flowCount).toBe(0);
  });
});

describe("passive close: the peer's FIN (CLOSE-WAIT, LAST-ACK)", () => {
  it("half-close: l4RemoteClosed after the data, we keep sending, then our FIN and LAST-ACK end the flow", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.delayedAck({ flags: ".", ack: 101 });
    h.in({ flags: "F.", seq: 101 });
    h.out({ flags: ".", seq: 1, ack: 102 });
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(h.app.remoteClosedCount).toBe(1);
    expect(h.app.remoteClosedAfter).toBe(100);
    expect(h.engine.l4IsRemoteClosed(h.flow())).toBe(true);
    // The other direction still works (RFC 9293 §3.6: a half-closed connection).
    h.app.send(3000);
    h.out({ flags: ".", seq: 1, ack: 102, len: 1448 });
    h.out({ flags: ".", seq: 1449, len: 1448 });
    h.out({ flags: "P.", seq: 2897, len: 104 });
    h.at(50).in({ flags: ".", ack: 3001 });
    h.outNothing();
    h.app.close();
    h.out({ flags: "F.", seq: 3001, ack: 102 });
    expect(h.state()).toBe("LAST-ACK");
    expect(h.app.closedCount).toBe(0);
    h.at(60).in({ flags: ".", ack: 3002 });
    h.outNothing();
    expect(h.flowCount).toBe(0);
    h.expectClosed();
    // Gone: a segment for it now gets a RST (RFC 9293 §3.10.7.1).
    h.in({ flags: ".", seq: 102, ack: 3002 });
    h.out({ flags: "R", seq: 3002 });
  });

  it("a FIN ahead of missing data waits: l4RemoteClosed comes after the gap is filled and the data delivered", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "FP.", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[101, 201]] }); // SACK covers data; the FIN is held aside
    expect(h.state()).toBe("ESTABLISHED");
    expect(h.app.remoteClosedCount).toBe(0);
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 202 });
    h.expectRx(200);
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(h.app.remoteClosedCount).toBe(1);
    expect(h.app.remoteClosedAfter).toBe(200);
  });

  it("a retransmitted FIN in CLOSE-WAIT is acknowledged again and reported once", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    h.at(200).in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.app.remoteClosedCount).toBe(1);
  });

  it("data after the peer's FIN is dropped (RFC 9293 §3.10.7.4 seventh: CLOSE-WAIT ignores text)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    h.in({ flags: "P.", seq: 2, data: 10 });
    h.drain();
    expect(h.app.received).toBe(0);
  });

  it("LAST-ACK: the FIN is retransmitted until acknowledged", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: "." });
    h.app.close();
    h.out({ flags: "F.", seq: 1, ack: 2, time: 0 });
    h.at(200).out({ flags: "F.", seq: 1, ack: 2, time: 200 });
    h.at(300).in({ flags: ".", ack: 2 });
    expect(h.flowCount).toBe(0);
    h.expectClosed();
  });
});

describe("TIME-WAIT record (RFC 9293 §3.6.1, §3.10.7.4)", () => {
  function toTimeWait(h: TcpHarness): void {
    establish(h);
    h.app.close();
    h.out({ flags: "F.", seq: 1 });
    h.at(10).in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
  }

  it("re-acknowledges a retransmitted FIN and restarts 2 MSL; expires after 60 s", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.at(30_000).in({ flags: "F.", seq: 1, ack: 2 });
    h.out({ flags: ".", seq: 2, ack: 2, ts: [30_000, undefined] });
    expect(h.state()).toBe("TIME-WAIT");
    h.at(89_999);
    expect(h.state()).toBe("TIME-WAIT");
    h.at(90_000);
    expect(h.state()).toBeUndefined();
    expect(h.app.closedCount).toBe(1);
    // No record now: a stray ACK gets a RST.
    h.in({ flags: ".", seq: 2, ack: 2 });
    h.out({ flags: "R", seq: 2 });
  });

  it("expires 60 s after entering it when nothing arrives", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.at(60_009);
    expect(h.state()).toBe("TIME-WAIT");
    h.at(60_010);
    expect(h.state()).toBeUndefined();
    expect(h.deadline).toBeUndefined();
  });

  it("ignores a RST (RFC 1337: TIME-WAIT assassination)", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.in({ flags: "R", seq: 2 });
    h.outNothing();
    expect(h.state()).toBe("TIME-WAIT");
  });

  it("an old duplicate segment gets an ACK (RFC 9293 §3.10.7.4: TIME-WAIT answers and stays)", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.in({ flags: "P.", seq: 1, ack: 2, data: 10 });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.state()).toBe("TIME-WAIT");
  });

  it("an old SYN (not newer than the connection) gets an ACK and no new flow; repeats are rate-limited", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.at(1000).in({ flags: "S", seq: 0, mss: 1460, ts: [50, 0] });
    h.out({ flags: ".", seq: 2, ack: 2 });
    h.in({ flags: "S", seq: 0, mss: 1460, ts: [50, 0] });
    h.outNothing();
    expect(h.accepted).toHaveLength(1);
    expect(h.state()).toBe("TIME-WAIT");
  });

  it("a new SYN with a higher sequence number and newer timestamp opens a new incarnation (RFC 6191, RFC 9293 §3.10.7.4)", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    const old = h.flow();
    h.at(1000).in({ flags: "S", seq: 100_000, mss: 1460, ts: [5000, 0], sackOK: true, wscale: 7 });
    expect(h.accepted).toHaveLength(2);
    expect(h.accepted[1]).not.toBe(old);
    const synAck = h.drain();
    expect(synAck).toHaveLength(1);
    expect(synAck[0]!.flags).toBe(0x12);
    expect(h.flowCount).toBe(1);
  });

  it("a record reopened by a new SYN leaves no timer behind: the next deadline is the new connection's", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, 300);
    h.at(1000).in({ flags: "S", seq: 100_000, mss: 1460, ts: [5000, 0] });
    const synAck = h.out({ flags: "S.", ack: 100_001 });
    h.in({ flags: ".", seq: 100_001, ack: synAck.seq + 1, ts: [5001, undefined] });
    expect(h.state()).toBe("ESTABLISHED");
    // The old record would have expired at 60.01 s; the new connection waits for nothing before its
    // idle limit (2 h).
    expect(h.deadline).toBeGreaterThan(60_010);
  });

  /** To TIME-WAIT with the peer's last TSval (TS.Recent) `tsRecent`, or without timestamps (null). */
  function toTimeWaitTs(h: TcpHarness, tsRecent: number | null, port?: number): void {
    establish(h, { ts: tsRecent !== null, ...(port === undefined ? {} : { port }) });
    h.appFor(port ?? h.defaultPort).close();
    h.out({ flags: "F.", seq: 1, ...(port === undefined ? {} : { port }) });
    h.at(10).in({ flags: "F.", seq: 1, ack: 2, ts: tsRecent === null ? null : [tsRecent, undefined], ...(port === undefined ? {} : { port }) });
    h.out({ flags: ".", seq: 2, ack: 2, ...(port === undefined ? {} : { port }) });
    expect(h.state(port)).toBe("TIME-WAIT");
  }

  it("ignores a RST at any sequence number, without answering it (RFC 1337)", () => {
    const h = new TcpHarness();
    toTimeWait(h);
    h.at(1000).in({ flags: "R", seq: 500 });
    h.in({ flags: "R.", seq: 2, ack: 2 });
    h.outNothing();
    expect(h.state()).toBe("TIME-WAIT");
  });

  /**
   * RFC 6191 §2 (Linux's tcp_timewait_state_process does the same): with timestamps on the
   * connection, a SYN to a TIME-WAIT 4-tuple opens a new incarnation when its TSval is newer than
   * TS.Recent, or equal to it with SEG.SEQ beyond RCV.NXT; otherwise it is an old duplicate and gets
   * an ACK. Here TS.Recent is 300 (the peer's FIN) and RCV.NXT is 2.
   */
  it.each([
    { case: "newer TSval, old sequence number", seq: 0, tsval: 301, opens: true },
    { case: "newer TSval, higher sequence number", seq: 100_000, tsval: 5000, opens: true },
    { case: "equal TSval, higher sequence number", seq: 100_000, tsval: 300, opens: true },
    { case: "equal TSval, SEG.SEQ = RCV.NXT (not beyond it)", seq: 2, tsval: 300, opens: false },
    { case: "equal TSval, sequence number below RCV.NXT", seq: 1, tsval: 300, opens: false },
    { case: "older TSval, higher sequence number", seq: 100_000, tsval: 299, opens: false },
    { case: "TSval older across the 32-bit wrap", seq: 100_000, tsval: (300 + 0x8000_0000) >>> 0, opens: false },
  ])("RFC 6191 §2, $case: opens a new incarnation = $opens", ({ seq, tsval, opens }) => {
    const h = new TcpHarness();
    toTimeWaitTs(h, 300);
    h.at(1000).in({ flags: "S", seq, mss: 1460, ts: [tsval, 0] });
    if (opens) {
      expect(h.accepted).toHaveLength(2);
      expect(h.out({ flags: "S.", ack: (seq + 1) >>> 0 }).problems).toEqual([]);
    } else {
      h.out({ flags: ".", seq: 2, ack: 2 });
      expect(h.accepted).toHaveLength(1);
      expect(h.state()).toBe("TIME-WAIT");
    }
  });

  it("without timestamps on the connection the SYN's sequence number decides (RFC 9293 §3.10.7.4), whatever TSval it carries", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, null);
    // A TSval "older" than 0 in 32-bit serial arithmetic: only a wrong use of timestamps would refuse it.
    h.at(1000).in({ flags: "S", seq: 100_000, mss: 1460, ts: [0x8000_0000, 0] });
    expect(h.accepted).toHaveLength(2);
    h.out({ flags: "S.", ack: 100_001 });
  });

  it("a connection without timestamps is answered from TIME-WAIT without a timestamp option (RFC 7323 §3.2)", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, null);
    h.at(1000).in({ flags: "P.", seq: 2, ack: 2, data: 10, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2, ts: null });
    // And after another record answered with one (the option a record writes is its own).
    const g = new TcpHarness();
    toTimeWaitTs(g, 300, 40001);
    toTimeWaitTs(g, null, 40002);
    g.at(1000).in({ flags: "F.", seq: 1, ack: 2, ts: [301, undefined], port: 40001 });
    g.out({ flags: ".", seq: 2, ack: 2, port: 40001, ts: [undefined, undefined] });
    g.in({ flags: "F.", seq: 1, ack: 2, ts: null, port: 40002 });
    g.out({ flags: ".", seq: 2, ack: 2, port: 40002, ts: null });
  });

  it("a SYN exactly at RCV.NXT is no newer than the connection: it gets an ACK, no new flow", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, null);
    h.at(1000).in({ flags: "S", seq: 2, mss: 1460, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.accepted).toHaveLength(1);
  });

  it("a SYN-ACK in TIME-WAIT opens nothing, whatever its sequence number: it gets an ACK", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, null);
    h.at(1000).in({ flags: "S.", seq: 100_000, ack: 2, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2 });
    expect(h.accepted).toHaveLength(1);
    expect(h.state()).toBe("TIME-WAIT");
  });

  it("data is acknowledged every time; stray bare ACKs at most once per 500 ms (Linux tcp_timewait_check_oow_rate_limit)", () => {
    const h = new TcpHarness();
    toTimeWaitTs(h, null);
    h.at(1000).in({ flags: "P.", seq: 1, ack: 2, data: 1, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2 });
    h.in({ flags: "P.", seq: 1, ack: 2, data: 1, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2, time: 1000 });
    h.at(2000).in({ flags: ".", seq: 1, ack: 2, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2 });
    h.at(2499).in({ flags: ".", seq: 1, ack: 2, ts: null });
    h.outNothing();
    h.at(2500).in({ flags: ".", seq: 1, ack: 2, ts: null });
    h.out({ flags: ".", seq: 2, ack: 2, time: 2500 });
  });

  it("each record answers for its own connection: addresses, ports and sequence numbers (IPv4, IPv6)", () => {
    for (const family of [4, 6] as const) {
      const h = new TcpHarness({ family });
      toTimeWaitTs(h, 300, 40001);
      toTimeWaitTs(h, 300, 40002);
      h.at(1000).in({ flags: "F.", seq: 1, ack: 2, ts: [301, undefined], port: 40002 });
      expect(h.out({ flags: ".", seq: 2, ack: 2, port: 40002 }).problems).toEqual([]);
      h.in({ flags: "F.", seq: 1, ack: 2, ts: [301, undefined], port: 40001 });
      expect(h.out({ flags: ".", seq: 2, ack: 2, port: 40001 }).problems).toEqual([]);
    }
  });
});
