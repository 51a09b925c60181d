/**
 * The receiver (lib/tcp/receive.ts): what out-of-order text and FINs are counted and answered with,
 * a retransmitted FIN, the delayed-ACK timer's start, the quick-ACK gap's bound and the bytes counted
 * through the receive buffer. Boundaries the mutation run found unpinned (issue 10).
 */
import { describe, expect, it } from "vitest";
import { TcpHarness, establish } from "../support/tcp-harness.js";

describe("out of order (RFC 5681 §4.2: an immediate duplicate ACK)", () => {
  it("each out-of-order segment is counted, and so is the duplicate ACK it gets", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 101, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[101, 201]] });
    h.in({ flags: "P.", seq: 301, data: 100 });
    h.out({ flags: ".", ack: 1, sack: [[301, 401], [101, 201]] });
    const s = h.engine.stats();
    expect([s.tcpOutOfOrderSegments, s.tcpDupAcksSent]).toEqual([2, 2]);
    // The segment that fills the gap is in order: not counted.
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 201, sack: [[301, 401]] });
    expect(h.engine.stats().tcpOutOfOrderSegments).toBe(2);
  });

  it("a FIN alone beyond a gap is acknowledged at once (a duplicate ACK), and takes effect when the gap fills", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 101 });
    h.out({ flags: ".", ack: 1 });
    expect(h.state()).toBe("ESTABLISHED");
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 102 });
    expect(h.state()).toBe("CLOSE-WAIT");
  });

  it("data held while delivery is paused counts in bytesIn when it arrives", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.pause();
    h.in({ flags: "P.", seq: 1, data: 300 });
    h.drain();
    expect(h.engine.l4Info(h.flow())!.bytesIn).toBe(300);
    expect(h.app.received).toBe(0);
  });
});

describe("the FIN (RFC 9293 §3.10.7.4 eighth step)", () => {
  it("a retransmitted FIN in CLOSE-WAIT is acknowledged with the same RCV.NXT; the state stays", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    expect(h.app.remoteClosedCount).toBe(1);
  });
});

describe("text after the peer's FIN (RFC 9293 §3.10.7.4 seventh step: CLOSE-WAIT ... \"ignore the segment text\")", () => {
  it("data in CLOSE-WAIT is not delivered and is counted; a bare ACK there is not", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "F.", seq: 1 });
    h.out({ flags: ".", ack: 2 });
    expect(h.state()).toBe("CLOSE-WAIT");
    // Our data, and the peer's bare ACK of it: nothing to count.
    h.app.send("reply");
    h.out({ flags: "P.", seq: 1, data: "reply" });
    h.in({ flags: ".", seq: 2, ack: 6 });
    expect(h.engine.stats().drops.data_after_close ?? 0).toBe(0);
    // Text beyond the FIN, at RCV.NXT and inside the window: ignored.
    h.in({ flags: "P.", seq: 2, data: 10 });
    h.drain();
    expect(h.app.received).toBe(0);
    expect(h.engine.stats().drops.data_after_close).toBe(1);
    expect(h.engine.l4Info(h.flow())!.bytesIn).toBe(0);
  });
});

describe("when to acknowledge (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2)", () => {
  it("the delayed-ACK timer runs from the first unacknowledged segment: a second small one does not restart it", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 10 });
    h.at(30).in({ flags: "P.", seq: 11, data: 10 });
    h.at(39).outNothing();
    h.at(40);
    h.out({ flags: ".", ack: 21, time: 40 });
  });

  it("a pause of exactly the RTO does not re-enter quick-ACK mode; a longer one does (Linux tcp_event_data_recv: gap > RTO)", () => {
    const h = new TcpHarness();
    establish(h);
    // Leave quick-ACK mode: 16 full-sized segments ACKed one by one.
    let seq = 1;
    for (let i = 0; i < 16; i++) {
      h.in({ flags: ".", seq, data: 1448 });
      h.out({ flags: ".", ack: seq + 1448 });
      seq += 1448;
    }
    // Out of quick-ACK mode: one full segment waits for a second one.
    h.in({ flags: ".", seq, data: 1448 });
    h.outNothing();
    seq += 1448;
    h.in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
    seq += 1448;
    const rto = h.engine.l4Info(h.flow())!.rto;
    // Exactly the RTO after the last data: still not quick-ACK mode; the delayed ACK answers.
    h.at(h.now + rto).in({ flags: ".", seq, data: 1448 });
    h.outNothing();
    seq += 1448;
    h.in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
    seq += 1448;
    // Longer than the RTO: quick-ACK mode again, the segment is ACKed at once.
    h.at(h.now + rto + 1).in({ flags: ".", seq, data: 1448 });
    h.out({ flags: ".", ack: seq + 1448 });
  });
});
