/**
 * packetdrill-style text scripts (spec/support/tcp-script.ts) against the real engine: the same
 * behaviours as the object-API specs, written as packet traces.
 */
import { describe, expect, it } from "vitest";
import { TcpHarness } from "../support/tcp-harness.js";
import { runScript } from "../support/tcp-script.js";

const HANDSHAKE = `
0.000 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
0.000 > S. 0:0(0) ack 1 win 65535 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 3>
+0.010 < . 1:1(0) ack 1 win 512 <nop,nop,TS val 110 ecr 0>
+0 state ESTABLISHED
`;

describe("packetdrill-style scripts", () => {
  it("passive open, data both ways (RFC 9293 §3.5, RFC 7323 §2.2/§3.2, RFC 2018 §2)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0.010 < P. 1:101(100) ack 1 win 512 <nop,nop,TS val 120 ecr 0>
+0 rx(100)
+0.005 send(1000)
+0 > P. 1:1001(1000) ack 101 win 32768 <nop,nop,TS val 25 ecr 120>
+0.030 < . 101:101(0) ack 1001 win 512
+0.100 > none
`,
    );
  });

  it("IPv6 passive open: MSS 1440 (RFC 8200 §8.3)", () => {
    runScript(
      new TcpHarness({ family: 6 }),
      `
0 < S 0:0(0) win 65535 <mss 1440,nop,wscale 7>
0 > S. 0:0(0) ack 1 <mss 1440,nop,wscale 3>
+0 < . 1:1(0) ack 1 win 512
+0 < P. 1:1001(1000) ack 1 win 512
+0 > . 1:1(0) ack 1001
+0 rx(1000)
`,
    );
  });

  it("out-of-order data: immediate duplicate ACKs with SACK, most recent block first (RFC 2018 §4, RFC 5681 §4.2)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0 < . 1:1001(1000) ack 1
+0 > . 1:1(0) ack 1001
+0 < . 2001:3001(1000) ack 1
+0 > . 1:1(0) ack 1001 <nop,nop,TS val 10 ecr 110,nop,nop,sack 2001:3001>
+0 < . 4001:5001(1000) ack 1
+0 > . 1:1(0) ack 1001 <nop,nop,TS val 10 ecr 110,nop,nop,sack 4001:5001 2001:3001>
+0 < . 1001:2001(1000) ack 1
+0 > . 1:1(0) ack 3001 <nop,nop,TS val 10 ecr 110,nop,nop,sack 4001:5001>
+0 < . 3001:4001(1000) ack 1
+0 > . 1:1(0) ack 5001 <nop,nop,TS val 10 ecr 110>
+0 rx(5000)
`,
    );
  });

  it("retransmission timer: 200 ms floor, doubling (RFC 6298 §2.4, §5.5)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0 send(100)
+0 > P. 1:101(100) ack 1
+0.200 > P. 1:101(100) ack 1
+0.400 > P. 1:101(100) ack 1
+0.800 > P. 1:101(100) ack 1
+0.1 < . 1:1(0) ack 101 win 512
+10 > none
`,
    );
  });

  it("fast retransmit and NewReno partial ACK (RFC 5681 §3.2, RFC 6582)", () => {
    runScript(
      new TcpHarness({ configure: (b) => b.tcpCongestionControl("reno") }),
      `
0 < S 0:0(0) win 65535 <mss 1460,nop,wscale 7>
0 > S. 0:0(0) ack 1 <mss 1460,nop,wscale 3>
+0 < . 1:1(0) ack 1 win 512
+0 send(7300)
+0 > . 1:1461(1460) ack 1
+0 > . 1461:2921(1460) ack 1
+0 > . 2921:4381(1460) ack 1
+0 > . 4381:5841(1460) ack 1
+0 > P. 5841:7301(1460) ack 1
// segments 2 and 3 are lost
+0.020 < . 1:1(0) ack 1461 win 512
+0 < . 1:1(0) ack 1461 win 512
+0 < . 1:1(0) ack 1461 win 512
+0 > none
+0 < . 1:1(0) ack 1461 win 512
+0 > . 1461:2921(1460) ack 1
+0.020 < . 1:1(0) ack 2921 win 512
+0 > . 2921:4381(1460) ack 1
+0.020 < . 1:1(0) ack 7301 win 512
+1 > none
`,
    );
  });

  it("half-close and LAST-ACK (RFC 9293 §3.6)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0 < FP. 1:11(10) ack 1
+0 > . 1:1(0) ack 12
+0 rx(10)
+0 remote-closed 1
+0 state CLOSE-WAIT
+0 send("bye")
+0 > P. 1:4(3) ack 12
+0.01 < . 12:12(0) ack 4
+0 close
+0 > F. 4:4(0) ack 12
+0 state LAST-ACK
+0.01 < . 12:12(0) ack 5
+0 state gone
+0 closed 1
+0 flows 0
`,
    );
  });

  it("simultaneous close through CLOSING to TIME-WAIT, which expires after 60 s (RFC 9293 §3.6, §3.6.1)", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0 close
+0 > F. 1:1(0) ack 1
+0 < F. 1:1(0) ack 1
+0 > . 2:2(0) ack 2
+0 state CLOSING
+0.01 < . 2:2(0) ack 2
+0 state TIME-WAIT
+0 closed 1
+0 flows 0
+1 < F. 1:1(0) ack 2
+0 > . 2:2(0) ack 2
+60 state gone
`,
    );
  });

  it("delayed ACK after quick-ACK mode: every second full segment, or 40 ms (RFC 5681 §4.2)", () => {
    const quick = Array.from({ length: 16 }, (_, i) => {
      const s = 1 + i * 1448;
      return `+0 < . ${s}:${s + 1448}(1448) ack 1\n+0 > . 1:1(0) ack ${s + 1448}`;
    }).join("\n");
    const s = 1 + 16 * 1448;
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
${quick}
+0.1 < . ${s}:${s + 1448}(1448) ack 1
+0.039 > none
+0.001 > . 1:1(0) ack ${s + 1448}
+0.1 < . ${s + 1448}:${s + 2896}(1448) ack 1
+0 > none
+0.01 < . ${s + 2896}:${s + 4344}(1448) ack 1
+0 > . 1:1(0) ack ${s + 4344}
`,
    );
  });

  it("RFC 5961: RST in window -> challenge ACK; exact RST -> reset", () => {
    runScript(
      new TcpHarness(),
      `${HANDSHAKE}
+0 < R 500:500(0)
+0 > . 1:1(0) ack 1
+0 state ESTABLISHED
+0.1 < R 1:1(0)
+0 > none
+0 state gone
+0 closed 1
`,
    );
  });

  it("a failing script names its line and prints every unmatched packet", () => {
    const h = new TcpHarness();
    expect(() =>
      runScript(
        h,
        `
0 < S 0:0(0) win 65535 <mss 1460>
0 > S 0:0(0) ack 1
`,
      ),
    ).toThrow(/script line 3: 0 > S 0:0\(0\) ack 1\n[\s\S]*flags S\., not S[\s\S]*unmatched packets \(1\):\n.*IP 198\.51\.100\.7\.80 > 192\.0\.2\.1\.40000: Flags \[S\.\]/);
  });

  it("a packet sent at the wrong time fails the line", () => {
    expect(() =>
      runScript(
        new TcpHarness(),
        `
0 < S 0:0(0) win 65535 <mss 1460>
0.5 > S. 0:0(0) ack 1
`,
      ),
    ).toThrow(/sent at 0 s, the script says 0.5 s/);
  });
});
