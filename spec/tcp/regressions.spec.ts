/**
 * Regressions found by the real-kernel and two-engine tests, pinned at the packet level.
 */
import { describe, expect, it } from "vitest";
import { establish, TcpHarness } from "../support/tcp-harness.js";

describe("regressions", () => {
  it("l4LocalClose in SYN-SENT keeps data l4Tx took: FIN after it once established (RFC 9293 §3.10.4)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    expect(h.app.send(100)).toBe(100);
    h.app.close();
    expect(h.state()).toBe("SYN-SENT");
    expect(h.app.closedCount).toBe(0);
    h.in({ flags: "S.", seq: 0, ack: 1, mss: 1460 });
    h.out({ flags: "FP.", seq: 1, ack: 1, len: 100 });
    expect(h.state()).toBe("FIN-WAIT-1");
  });

  it("l4LocalClose in SYN-SENT with nothing queued deletes the TCB at once (RFC 9293 §3.10.4)", () => {
    const h = new TcpHarness();
    h.connect();
    h.out({ flags: "S" });
    h.app.close();
    expect(h.app.closedCount).toBe(1);
    expect(h.flowCount).toBe(0);
  });

  it("data segments carrying SACK blocks shrink to stay within the MTU (RFC 6691 §2)", () => {
    const h = new TcpHarness();
    establish(h, { mss: 1460 });
    // A hole in what we receive: our segments now carry one SACK block (12 bytes with NOPs).
    h.in({ flags: ".", seq: 1001, data: 500 });
    h.out({ flags: ".", ack: 1, sack: [[1001, 1501]] });
    h.app.send(3000);
    // 1460 - 12 (timestamps) - 12 (NOP NOP SACK, one block) = 1436 bytes of data.
    h.out({ flags: ".", seq: 1, len: 1436, sack: [[1001, 1501]] });
    h.out({ flags: ".", seq: 1437, len: 1436 });
    h.out({ flags: "P.", seq: 2873, len: 128 });
  });

  it("l4TxReady comes after the ACK's window update: an l4Tx from it stays inside the new window (RFC 9293 §3.10.7.4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(8192) });
    establish(h, { wscale: null, win: 8192, ackWin: 8192 });
    expect(h.app.send(20_000)).toBe(8192);
    h.drain();
    let sentFromReady: number | undefined;
    h.onTxReady = () => {
      sentFromReady = h.app.send(4096);
    };
    // Half the data acknowledged; the right edge stays where it was (SND.UNA + SND.WND = 1 + 8192).
    h.at(10).in({ flags: ".", ack: 4097, win: 4096 });
    expect(sentFromReady).toBe(4096);
    h.outNothing();
    // Once the window opens, the queued bytes go.
    h.at(20).in({ flags: ".", ack: 8193, win: 8192 });
    h.out({ flags: ".", seq: 8193 });
    h.drain();
  });
});
