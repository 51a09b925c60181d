/**
 * Transmit super-segments (L3L4Builder.txSuperSegments): a flow's consecutive new data within the
 * peer's window (RFC 9293 §3.8.6) and cwnd (RFC 5681) leaves as one IP packet of many MSS behind a
 * virtio-net header (NEEDS_CSUM, GSO_TCPV4/TCPV6, gso_size = MSS) for the kernel to cut, with only the
 * pseudo-header sum in the TCP checksum field. The harness plays the kernel (lib/tun/offload.ts
 * RxOffload cuts each one as tcp_gso_segment does) and checks every piece with the oracle, so the
 * scripts below read in wire segments; `vnetTx` holds what the engine handed to l3Tx.
 */
import { describe, expect, it } from "vitest";
import { L3L4Builder } from "../../lib/builder.js";
import { establish, TcpHarness, type HarnessOptions } from "../support/tcp-harness.js";

const SMSS = 1448; // 1460 less 12 bytes of timestamps
const VNET = 12;

interface Sent {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
  /** The IP packet after the header. */
  ip: Uint8Array;
}

function le16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function header(b: Uint8Array): Sent {
  return {
    flags: b[0]!,
    gsoType: b[1]!,
    hdrLen: le16(b, 2),
    gsoSize: le16(b, 4),
    csumStart: le16(b, 6),
    csumOffset: le16(b, 8),
    ip: b.subarray(VNET),
  };
}

/** The TCP pseudo-header sum (RFC 9293 §3.1, RFC 8200 §8.1) folded to 16 bits, not complemented. */
function pseudoFolded(ip: Uint8Array): number {
  const v6 = ip[0]! >> 4 === 6;
  const l4 = v6 ? 40 : (ip[0]! & 15) * 4;
  const tcpLen = v6 ? ((ip[4]! << 8) | ip[5]!) : ((ip[2]! << 8) | ip[3]!) - l4;
  let sum = 6 + (tcpLen & 0xffff) + (tcpLen >>> 16);
  const [from, to] = v6 ? [8, 40] : [12, 20];
  for (let i = from; i < to; i += 2) sum += (ip[i]! << 8) | ip[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** What the engine handed to l3Tx since the handshake (the SYN-ACK is the first). */
function sentAfterHandshake(h: TcpHarness): Sent[] {
  return h.vnetTx.slice(1).map(header);
}

function harness(o: HarnessOptions = {}): TcpHarness {
  return new TcpHarness({ txSuperSegments: 65535, ...o });
}

describe("coalescing: sizes within cwnd and the peer's window", () => {
  it("IW10 goes as one super-segment of 10 MSS; the next flight, of 12 (slow start, RFC 3465 L = 2), as one too", () => {
    const h = harness();
    establish(h);
    h.app.send(100_000);
    for (let i = 0; i < 10; i++) h.out({ flags: ".", seq: 1 + i * SMSS, len: SMSS });
    h.outNothing();
    let sent = sentAfterHandshake(h);
    expect(sent.map((s) => s.ip.length)).toEqual([20 + 32 + 10 * SMSS]);
    h.in({ flags: ".", ack: 1 + 10 * SMSS });
    for (let i = 10; i < 22; i++) h.out({ flags: ".", seq: 1 + i * SMSS, len: SMSS });
    h.outNothing();
    sent = sentAfterHandshake(h);
    expect(sent.map((s) => s.ip.length)).toEqual([20 + 32 + 10 * SMSS, 20 + 32 + 12 * SMSS]);
    const s = h.engine.stats();
    expect(s.tcpSuperSegmentsOut).toBe(2);
    expect(h.engine.l4Info(h.flow())!.segmentsOut).toBe(1 + 22); // the SYN-ACK, then 22 wire segments
    expect(s.tcpSegmentsOut).toBe(1 + 22);
  });

  it("at most the packet size asked: 10000 bytes is 6 MSS a packet", () => {
    const h = harness({ txSuperSegments: 10_000 });
    establish(h, { win: 65535, wscale: 7 });
    h.app.send(40 * SMSS);
    h.drain();
    h.in({ flags: ".", ack: 1 + 10 * SMSS });
    h.drain();
    expect(sentAfterHandshake(h).map((s) => (s.ip.length - 52) / SMSS)).toEqual([6, 4, 6, 6]);
    for (const s of sentAfterHandshake(h)) expect(s.ip.length).toBeLessThanOrEqual(10_000);
  });

  it("the peer's window bounds it (RFC 9293 §3.8.6); the partial segment at the window's edge waits (SWS, §3.8.6.2.1)", () => {
    const h = harness();
    establish(h, { win: 5000, ackWin: 5000, wscale: null });
    h.app.send(20_000);
    h.out({ flags: ".", seq: 1, len: SMSS });
    h.out({ flags: ".", seq: 1 + SMSS, len: SMSS });
    h.out({ flags: ".", seq: 1 + 2 * SMSS, len: SMSS });
    h.outNothing(); // 656 bytes of window left: less than half the window, and data is outstanding
    expect(sentAfterHandshake(h).map((s) => s.ip.length - 52)).toEqual([3 * SMSS]);
  });

  it("the data's end rides along as the last, partial piece, with PSH on it alone", () => {
    const h = harness();
    establish(h);
    h.app.send(3 * SMSS + 500);
    h.out({ flags: ".", seq: 1, len: SMSS });
    h.out({ flags: ".", seq: 1 + SMSS, len: SMSS });
    h.out({ flags: ".", seq: 1 + 2 * SMSS, len: SMSS });
    h.out({ flags: "P.", seq: 1 + 3 * SMSS, len: 500 });
    h.outNothing();
    const [s] = sentAfterHandshake(h);
    expect(s!.ip.length).toBe(52 + 3 * SMSS + 500);
    expect(s!.ip[20 + 13]! & 0x08).toBe(0x08); // the super-segment's header carries PSH; the kernel keeps it for the last piece
  });

  it("with Nagle (RFC 9293 §3.7.4) the partial piece waits for the ACK of the whole ones", () => {
    const h = harness({ configure: (b: L3L4Builder<Uint8Array>) => b.tcpNoDelay(false) });
    establish(h);
    h.app.send(3 * SMSS + 500);
    for (let i = 0; i < 3; i++) h.out({ flags: ".", seq: 1 + i * SMSS, len: SMSS });
    h.outNothing();
    h.in({ flags: ".", ack: 1 + 3 * SMSS });
    h.out({ flags: "P.", seq: 1 + 3 * SMSS, len: 500 });
    expect(sentAfterHandshake(h).map((s) => s.ip.length - 52)).toEqual([3 * SMSS, 500]);
  });

  it("FIN on the last piece only: the data left when the window opens goes with the FIN", () => {
    const h = harness();
    establish(h);
    h.app.send(10 * SMSS + 3000);
    h.app.close();
    for (let i = 0; i < 10; i++) h.out({ flags: ".", seq: 1 + i * SMSS, len: SMSS });
    h.outNothing(); // cwnd full: the rest and the FIN wait
    h.in({ flags: ".", ack: 1 + 10 * SMSS });
    h.out({ flags: ".", seq: 1 + 10 * SMSS, len: SMSS });
    h.out({ flags: ".", seq: 1 + 11 * SMSS, len: SMSS });
    h.out({ flags: "FP.", seq: 1 + 12 * SMSS, len: 3000 - 2 * SMSS });
    h.outNothing();
    const last = sentAfterHandshake(h).at(-1)!;
    expect(last.ip.length).toBe(52 + 3000);
    expect(last.ip[20 + 13]! & 0x01).toBe(0x01);
  });
});

describe("the virtio-net header and the checksum", () => {
  it.each([
    ["IPv4", 4, 1, 20],
    ["IPv6", 6, 4, 40],
  ] as const)("%s: NEEDS_CSUM, gso_type, gso_size = MSS, csum_start/offset, hdr_len; only the pseudo-header sum", (_n, family, gsoType, ipHl) => {
    const h = harness({ family });
    establish(h);
    h.app.send(5 * SMSS + 1);
    h.drain();
    const sent = sentAfterHandshake(h);
    expect(sent).toHaveLength(1);
    const s = sent[0]!;
    expect(s).toMatchObject({ flags: 1, gsoType, gsoSize: SMSS - (family === 6 ? 20 : 0), csumStart: ipHl, csumOffset: 16, hdrLen: ipHl + 32 });
    const field = (s.ip[ipHl + 16]! << 8) | s.ip[ipHl + 17]!;
    expect(field).toBe(pseudoFolded(s.ip));
  });

  it("a segment of one MSS or less: NEEDS_CSUM without GSO (pure ACKs and the SYN-ACK too)", () => {
    const h = harness();
    establish(h);
    h.app.send(100);
    h.drain();
    const all = h.vnetTx.map(header);
    expect(all).toHaveLength(2);
    for (const s of all) {
      expect(s).toMatchObject({ flags: 1, gsoType: 0, gsoSize: 0, csumStart: 20, csumOffset: 16 });
      expect((s.ip[36]! << 8) | s.ip[37]!).toBe(pseudoFolded(s.ip));
    }
    expect(h.engine.stats().tcpSuperSegmentsOut).toBe(0);
  });

  it("without the option the engine writes bare IP packets (txHeaderLength 0), with full checksums", () => {
    const h = new TcpHarness();
    expect(h.engine.txHeaderLength).toBe(0);
    expect(harness().engine.txHeaderLength).toBe(VNET);
    establish(h);
    h.app.send(5 * SMSS);
    for (let i = 0; i < 5; i++) h.out({ len: SMSS }); // the oracle checked each checksum
    expect(h.engine.stats().tcpSuperSegmentsOut).toBe(0);
  });

  it("rejects sizes outside 1280..65535 (0 is off)", () => {
    expect(() => new L3L4Builder().txSuperSegments(1000).build()).toThrow(RangeError);
    expect(() => new L3L4Builder().txSuperSegments(65536).build()).toThrow(RangeError);
    expect(new L3L4Builder().txSuperSegments(0).build().txHeaderLength).toBe(0);
  });
});

describe("loss inside a super-segment (RFC 6675): the scoreboard sees MSS-sized segments", () => {
  it("one piece lost and SACKed around: only that MSS is sent again, alone, counted as one retransmission", () => {
    const h = harness();
    establish(h);
    h.app.send(10 * SMSS);
    h.drain();
    const lost = 1 + 2 * SMSS;
    // The peer got pieces 0, 1 and 3..9: three duplicate ACKs with growing SACK blocks.
    for (let k = 4; k <= 6; k++) h.in({ flags: ".", ack: lost, sack: [[lost + SMSS, 1 + k * SMSS]] });
    h.out({ flags: ".", seq: lost, len: SMSS });
    h.outNothing();
    const resent = sentAfterHandshake(h).at(-1)!;
    expect(resent.gsoType).toBe(0);
    expect(resent.ip.length).toBe(52 + SMSS);
    expect(h.engine.stats().tcpRetransmits).toBe(1);
    h.in({ flags: ".", ack: 1 + 10 * SMSS });
    h.outNothing();
    expect(h.engine.l4Info(h.flow())!.unacked).toBe(0);
  });

  it("after a retransmission timeout, the data goes again one MSS at a time (go-back-N is never coalesced)", () => {
    const h = harness();
    establish(h);
    h.app.send(4 * SMSS);
    h.drain();
    h.at(h.deadline!); // the RTO: cwnd is one segment (RFC 5681 §3.1), SND.NXT back at SND.UNA
    h.out({ flags: ".", seq: 1, len: SMSS });
    h.outNothing();
    h.in({ flags: ".", ack: 1 + SMSS });
    h.out({ flags: ".", seq: 1 + SMSS, len: SMSS });
    h.out({ flags: ".", seq: 1 + 2 * SMSS, len: SMSS });
    h.outNothing();
    const again = sentAfterHandshake(h).slice(1);
    expect(again).toHaveLength(3);
    expect(again.every((s) => s.gsoType === 0)).toBe(true);
    expect(h.engine.stats().tcpSuperSegmentsOut).toBe(1);
  });
});
