/**
 * The TCB (lib/tcp/tcb.ts): its yes/no variables are bits behind accessors, so writing the value a
 * variable already holds must change nothing (pausing twice, closing twice while opening, a FIN
 * retransmitted before the gap in front of it is filled, a second timeout of the same data); and
 * before the handshake the sender's MSS is the RFC default, which the first congestion window
 * follows. Boundaries the mutation run found unpinned (issue 10).
 */
import { describe, expect, it } from "vitest";
import { establish, info, TcpHarness } from "../support/tcp-harness.js";

describe("the TCB's yes/no variables: writing the value held changes nothing", () => {
  it("l4PauseRx twice: still paused, the data waits for l4ResumeRx", () => {
    const h = new TcpHarness();
    establish(h);
    h.app.pause();
    h.app.pause();
    h.in({ flags: "P.", data: 10 });
    h.drain();
    expect(h.app.received).toBe(0);
    h.app.resume();
    h.drain();
    h.expectRx(10);
  });

  it("l4LocalClose twice in SYN-SENT with data queued: the data, then one FIN", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    expect(h.app.send("hello")).toBe(5);
    h.app.close();
    h.app.close();
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: "FP.", seq: 1, ack: 1, data: "hello" });
    expect(h.state()).toBe("FIN-WAIT-1");
  });

  it("a FIN retransmitted while the data before it is missing still takes effect when the gap fills (RFC 9293 §3.10.7.4)", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "FP.", seq: 101, data: 10 });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: "FP.", seq: 101, data: 10 });
    h.out({ flags: ".", ack: 1 });
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.out({ flags: ".", ack: 112 });
    expect(h.state()).toBe("CLOSE-WAIT");
    h.expectRx(110);
  });

  it("Karn (RFC 6298 §3): a second timeout, after a partial ACK of retransmitted data, starts no RTT timing", () => {
    const h = new TcpHarness();
    establish(h, { ts: false });
    const srtt = info(h).srtt;
    h.app.send(2920);
    h.out({ seq: 1, len: 1460 });
    h.out({ seq: 1461, len: 1460 });
    let t = 0;
    while (info(h).retransmits < 1) {
      t += 100;
      h.at(t);
    }
    h.out({ seq: 1, len: 1460 }); // the first timeout: the first segment again
    // The retransmitted segment is acknowledged with the window shut: the second waits for the
    // retransmission timer, which sends it as the zero-window probe (recovery.ts retransmitRoom).
    h.in({ flags: ".", ack: 1461, win: 0 });
    h.outNothing();
    while (info(h).retransmits < 2) {
      t += 100;
      h.at(t);
    }
    h.out({ seq: 1461, len: 1460 });
    h.in({ flags: ".", ack: 2921, win: 512 });
    // Every byte acknowledged was retransmitted: no sample, SRTT is still the handshake's.
    expect(info(h).srtt).toBe(srtt);
  });
});

describe("before the handshake (RFC 9293 §3.7.1: 536 bytes until the peer's MSS is known)", () => {
  it("an active open's first congestion window is counted in segments of the default MSS", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    const i = info(h);
    expect(i.sndMss).toBe(536);
    // RFC 6928 §2: IW = min(10*MSS, max(2*MSS, 14600)).
    expect(i.cwnd).toBe(Math.min(10 * 536, Math.max(2 * 536, 14_600)));
  });
});
