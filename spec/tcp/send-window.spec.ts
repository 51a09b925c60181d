/**
 * Every path that sends stays inside the peer's window, SND.UNA + SND.WND (RFC 9293 §3.8.6: the
 * sender must not send beyond it), as Linux does: first transmissions (tcp_write_xmit /
 * tcp_snd_wnd_test, the FIN counted), and every retransmission (__tcp_retransmit_skb cuts the
 * segment to tcp_wnd_end() - seq). One script per path. The peers send no window scale option, so
 * `win 1000` is 1000 bytes.
 *
 * The exceptions, both probes: a zero-window probe (the persist timer's SEQ = SND.UNA - 1, no data,
 * RFC 9293 §3.8.6.1), and a retransmission of one segment from SND.UNA when the window is zero,
 * which "serves as a zero window probe" (Linux __tcp_retransmit_skb; RFC 9293 §3.8.6.1: the sender
 * must "retransmit to the receiving TCP peer even if the send window is zero").
 */
import { describe, it } from "vitest";
import { TcpHarness } from "../support/tcp-harness.js";
import { runScript } from "../support/tcp-script.js";

/** Passive open with timestamps and SACK but no window scaling: 1448 bytes of data per segment. */
const HANDSHAKE_TS = `
0 < S 0:0(0) win 1000 <mss 1460,sackOK,TS val 100 ecr 0>
0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 0 ecr 100>
+0.010 < . 1:1(0) ack 1 win 1000
`;

/** No timestamps: 1460 bytes per segment; SACK as given. */
const handshake = (sack: boolean, win: number): string => `
0 < S 0:0(0) win ${win} <mss 1460${sack ? ",sackOK" : ""}>
0 > S. 0:0(0) ack 1 <mss 1460${sack ? ",sackOK" : ""}>
+0 < . 1:1(0) ack 1 win ${win}
`;

const reno = (): TcpHarness => new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") });

describe("the peer's window bounds every segment (RFC 9293 §3.8.6)", () => {
  it("first transmission: a 1000-byte window gets 1000-byte segments, the next after the ACK (RFC 9293 §3.8.6, §3.8.6.2.1)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0 send(3000)
+0 > . 1:1001(1000) ack 1
+0 > none
+0.010 < . 1:1(0) ack 1001 win 1000
+0 > . 1001:2001(1000) ack 1
+0 > none
`,
    );
  });

  it("retransmission timeout: the retransmission is cut to the window, not one SMSS (RFC 6298 §5.4, RFC 9293 §3.8.6)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0 send(3000)
+0 > . 1:1001(1000) ack 1
+0.200 > . 1:1001(1000) ack 1
+0.400 > . 1:1001(1000) ack 1
+0.010 < . 1:1(0) ack 1001 win 1000
+0 > . 1001:2001(1000) ack 1
`,
    );
  });

  it("retransmission timeout into a shrunk window: the data goes without the FIN that no longer fits, the FIN after the ACK (RFC 9293 §3.8.6, §3.10.4)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0 send(500)
+0 > P. 1:501(500) ack 1
+0 close
+0 > F. 501:501(0) ack 1
// The peer shrinks its window to 500: the FIN at 501 is now at SND.UNA + SND.WND, outside.
+0.010 < . 1:1(0) ack 1 win 500
+0 > none
+0.190 > P. 1:501(500) ack 1
+0.010 < . 1:1(0) ack 501 win 500
+0 > F. 501:501(0) ack 1
+0.010 < . 1:1(0) ack 502 win 500
+0 state FIN-WAIT-2
`,
    );
  });

  it("retransmission timeout with a zero window: one full segment from SND.UNA, the probe (RFC 9293 §3.8.6.1; Linux __tcp_retransmit_skb)", () => {
    runScript(
      new TcpHarness(),
      `
0 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0>
0 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 0 ecr 100>
+0.010 < . 1:1(0) ack 1 win 65535
+0 send(3000)
+0 > . 1:1449(1448) ack 1
+0 > . 1449:2897(1448) ack 1
+0 > P. 2897:3001(104) ack 1
+0.010 < . 1:1(0) ack 1449 win 0
+0.200 > . 1449:2897(1448) ack 1
+0.010 < . 1:1(0) ack 1449 win 0
+0.390 > . 1449:2897(1448) ack 1
+0.010 < . 1:1(0) ack 2897 win 2000
+0 > P. 2897:3001(104) ack 1
`,
    );
  });

  it("fast retransmit: the window the duplicate ACKs advertise cuts the retransmission (RFC 5681 §3.2, RFC 9293 §3.8.6)", () => {
    runScript(
      reno(),
      `${handshake(false, 65535)}
+0 send(7300)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > . 2921:4381(1460) ack 1
+0 > . 4381:5841(1460) ack 1
+0 > P. 5841:7301(1460) ack 1
// The second segment is lost, and the peer's window shrinks to 1000.
+0.020 < . 1:1(0) ack 1461 win 1000
+0 < . 1:1(0) ack 1461 win 1000
+0 < . 1:1(0) ack 1461 win 1000
+0 > none
+0 < . 1:1(0) ack 1461 win 1000
+0 > . 1461:2461(1000) ack 1
+0 > none
`,
    );
  });

  it("NewReno partial ACK: the retransmission of the next hole is cut to the window (RFC 6582 §3.2 step 5, RFC 9293 §3.8.6)", () => {
    runScript(
      reno(),
      `${handshake(false, 65535)}
+0 send(7300)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > . 2921:4381(1460) ack 1
+0 > . 4381:5841(1460) ack 1
+0 > P. 5841:7301(1460) ack 1
// Segments 2 and 4 are lost.
+0.020 < . 1:1(0) ack 1461 win 1000
+0 < . 1:1(0) ack 1461 win 1000
+0 < . 1:1(0) ack 1461 win 1000
+0 < . 1:1(0) ack 1461 win 1000
+0 > . 1461:2461(1000) ack 1
// The peer had 2461:2921 already: the partial ACK stops at the second hole.
+0.020 < . 1:1(0) ack 4381 win 1000
+0 > . 4381:5381(1000) ack 1
+0 > none
+0.020 < . 1:1(0) ack 7301 win 65535
+1 > none
`,
    );
  });

  it("SACK recovery: a hole beyond SND.UNA + SND.WND waits until the window covers it (RFC 6675 §5 step C, RFC 9293 §3.8.6)", () => {
    runScript(
      reno(),
      `${handshake(true, 65535)}
+0 send(11680)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > . 2921:4381(1460) ack 1
+0 > . 4381:5841(1460) ack 1
+0 > . 5841:7301(1460) ack 1
+0 > . 7301:8761(1460) ack 1
+0 > . 8761:10221(1460) ack 1
+0 > P. 10221:11681(1460) ack 1
// Segments 1 and 3 are lost. The third duplicate ACK also shrinks the window to 1000: the fast
// retransmission it starts is cut to that window.
+0.020 < . 1:1(0) ack 1 <sack 1461:2921>
+0 < . 1:1(0) ack 1 <sack 4381:5841 1461:2921>
+0 < . 1:1(0) ack 1 win 1000 <sack 4381:7301 1461:2921>
+0 > . 1:1001(1000) ack 1
+0 > none
// The pipe now leaves room, but both holes (1001:1461, 2921:4381) start at or past the right edge.
+0 < . 1:1(0) ack 1 win 1000 <sack 4381:8761 1461:2921>
+0 > none
// The window opens to 3000 from 1001: the rest of the first hole, then what fits of the second.
+0.020 < . 1:1(0) ack 1001 win 3000 <sack 4381:8761 1461:2921>
+0 > . 1001:1461(460) ack 1
+0 > . 2921:4001(1080) ack 1
+0 > none
+0.020 < . 1:1(0) ack 11681 win 65535
+1 > none
`,
    );
  });

  it("SACK recovery: the rescue retransmission waits for the window too (RFC 6675 §4 NextSeg rule 4, RFC 9293 §3.8.6)", () => {
    runScript(
      reno(),
      `${handshake(true, 65535)}
+0 send(11680)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > . 2921:4381(1460) ack 1
+0 > . 4381:5841(1460) ack 1
+0 > . 5841:7301(1460) ack 1
+0 > . 7301:8761(1460) ack 1
+0 > . 8761:10221(1460) ack 1
+0 > P. 10221:11681(1460) ack 1
// The first and the last two segments are lost.
+0.020 < . 1:1(0) ack 1 <sack 1461:2921>
+0 < . 1:1(0) ack 1 <sack 1461:4381>
+0 < . 1:1(0) ack 1 <sack 1461:5841>
+0 > . 1:1461(1460) ack 1
+0 < . 1:1(0) ack 1 <sack 1461:7301>
+0 < . 1:1(0) ack 1 <sack 1461:8761>
+0 > none
// A partial ACK with a 1000-byte window: the rescue (the highest unSACKed segment, 10221:11681) lies
// beyond SND.UNA + SND.WND = 9761 and waits.
+0.020 < . 1:1(0) ack 8761 win 1000
+0 > none
+0.010 < . 1:1(0) ack 8761 win 65535
+0 > P. 10221:11681(1460) ack 1
+0.020 < . 1:1(0) ack 11681 win 65535
+1 > none
`,
    );
  });

  it("FIN: after data that fills the window, the FIN waits for the ACK; it rides on data when it fits (RFC 9293 §3.8.6, §3.10.4)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0 send(1500)
+0 close
+0 state FIN-WAIT-1
+0 > . 1:1001(1000) ack 1
+0 > none
+0.010 < . 1:1(0) ack 1001 win 1000
+0 > FP. 1001:1501(500) ack 1
+0.010 < . 1:1(0) ack 1502 win 1000
+0 state FIN-WAIT-2
`,
    );
  });

  it("FIN: with data exactly filling the window the FIN goes alone after the ACK (RFC 9293 §3.8.6)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0 send(1000)
+0 > P. 1:1001(1000) ack 1
+0 close
+0 > none
+0.010 < . 1:1(0) ack 1001 win 1000
+0 > F. 1001:1001(0) ack 1
`,
    );
  });

  it("FIN into a zero window: held; the persist timer probes with SEQ = SND.UNA - 1 and the FIN goes when the window opens (RFC 9293 §3.8.6.1)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0.010 < . 1:1(0) ack 1 win 0
+0 close
+0 state FIN-WAIT-1
+0 > none
+0.200 > . 0:0(0) ack 1
+0 < . 1:1(0) ack 1 win 0
+0.400 > . 0:0(0) ack 1
+0 < . 1:1(0) ack 1 win 1000
+0 > F. 1:1(0) ack 1
+0.010 < . 1:1(0) ack 2 win 1000
+0 state FIN-WAIT-2
`,
    );
  });

  it("zero-window probe: SEQ = SND.UNA - 1 and no data, the one segment outside the window; then what fits (RFC 9293 §3.8.6.1)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE_TS}
+0.010 < . 1:1(0) ack 1 win 0
+0 send(2000)
+0 > none
+0.200 > . 0:0(0) ack 1
+0 < . 1:1(0) ack 1 win 600
+0 > . 1:601(600) ack 1
+0 > none
`,
    );
  });

  it("the window moves with SND.UNA: a retransmission with an old SEQ and a new ACK updates it (RFC 9293 §3.10.7.4; Linux tcp_may_update_window)", () => {
    runScript(
      new TcpHarness(),
      `${handshake(false, 4000)}
+0 send(8000)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > none
// The peer's data 1:101 is lost; 101:201 arrives (a duplicate ACK answers it). SND.WL1 is now 101.
+0.010 < P. 101:201(100) ack 1 win 4000
+0 > . 2921:2921(0) ack 1
// The peer retransmits 1:101 with the latest ACK and a window shrunk to 1000: its SEQ is below
// SND.WL1, but it acknowledges new data, so its window counts: the right edge is 2921 + 1000.
+0.010 < P. 1:101(100) ack 2921 win 1000
+0 > . 2921:3921(1000) ack 201
+0 > none
`,
    );
  });

  it("an ACK older than SND.UNA does not update the window, whatever its SEQ (RFC 9293 §3.10.7.4; Linux tcp_ack old_ack)", () => {
    runScript(
      new TcpHarness(),
      `${handshake(false, 4000)}
+0 send(8000)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > none
+0.010 < . 1:1(0) ack 1461 win 1000
+0 > none
// A segment the peer sent before that ACK (ACK 1, window 4000) arrives late with a higher SEQ: its
// window counts from 1, not from SND.UNA = 1461; taking it would move the right edge to 5461.
+0 < P. 101:201(100) ack 1 win 4000
+0 > . 2461:2461(0) ack 1
+0 > none
`,
    );
  });
});
