/**
 * TCP super-segments (TSO from the local kernel through a TUN device with offloads, handed over whole
 * by the runner) and the trusted-checksum entry point L3L4.l3RxTrusted: a segment far larger than the
 * MSS we offered is taken as one segment, in order and out of order, trimmed to the window like any
 * other (RFC 9293 §3.10.7.4), acknowledged as the full-sized segments it carries (RFC 5681 §4.2; Linux
 * does the same with a GRO packet), and its checksum is not verified on that path only.
 */
import { describe, expect, it } from "vitest";
import { establish, pastQuickAck, TcpHarness, type SegIn } from "../support/tcp-harness.js";

/** Full-sized segments from the peer: MSS 1460 less 12 bytes of timestamps. */
const SEG = 1448;

/** Inject `s` through l3RxTrusted (what the TUN runner does for a packet whose header vouches for it). */
function inTrusted(h: TcpHarness, s: SegIn): void {
  const bytes = h.build(s);
  h.engine.l3RxTrusted(h.callbacks, bytes);
  h.poll();
}

describe("a super-segment into the engine", () => {
  it("in order: one l4Rx of the whole payload, acknowledged at once, rcvMss not raised to it", () => {
    const h = new TcpHarness();
    establish(h);
    const s = pastQuickAck(h);
    // A full-sized segment alone waits for the delayed-ACK timer (RFC 5681 §4.2)...
    h.in({ flags: ".", seq: s, data: SEG });
    h.outNothing();
    // ...a super-segment is many full-sized segments: acknowledged at once.
    const big = 40 * SEG; // 57920 bytes, IP total length 57984
    inTrusted(h, { flags: "P.", seq: s + SEG, data: big });
    h.out({ flags: ".", ack: s + SEG + big });
    h.expectRx(s + SEG + big - 1);
    expect(h.app.rxCalls.at(-1)).toBe(big);
    expect(h.engine.l4Info(h.flow())!.rcvMss).toBe(SEG);
    // And normal segments still count as full-sized ones afterwards.
    h.in({ flags: ".", seq: s + SEG + big, data: SEG });
    h.outNothing();
    h.in({ flags: ".", seq: s + 2 * SEG + big, data: SEG });
    h.out({ flags: ".", ack: s + 3 * SEG + big });
  });

  it("the first data of a connection: rcvMss becomes the sender's MSS, not the super-segment's size", () => {
    const h = new TcpHarness();
    establish(h);
    inTrusted(h, { flags: ".", seq: 1, data: 30_000 });
    h.out({ flags: ".", ack: 30_001 });
    expect(h.engine.l4Info(h.flow())!.rcvMss).toBe(SEG);
    h.expectRx(30_000);
  });

  it("out of order: held with a SACK block, then the gap filled by another super-segment", () => {
    const h = new TcpHarness();
    establish(h);
    inTrusted(h, { flags: ".", seq: 20_001, data: 30_000 });
    h.out({ flags: ".", ack: 1, sack: [[20_001, 50_001]] });
    expect(h.app.received).toBe(0);
    inTrusted(h, { flags: ".", seq: 1, data: 20_000 });
    h.out({ flags: ".", ack: 50_001, sack: null });
    h.expectRx(50_000);
  });

  it("beyond the window: trimmed to it, the rest dropped and an ACK sent (RFC 9293 §3.10.7.4)", () => {
    const h = new TcpHarness({ configure: (b) => b.tcpBufferSize(32_768) });
    establish(h, { wscale: null });
    h.app.pause(); // the data stays in the buffer: the window is what the buffer holds
    inTrusted(h, { flags: "F.", seq: 1, data: 60_000 });
    h.out({ flags: ".", ack: 32_769, win: 0 });
    expect(h.state()).toBe("ESTABLISHED"); // the FIN lay beyond the window
    h.app.resume();
    h.drain();
    h.expectRx(32_768);
  });

  it("with FIN: all of it delivered, the FIN taken, CLOSE-WAIT", () => {
    const h = new TcpHarness();
    establish(h);
    inTrusted(h, { flags: "FP.", seq: 1, data: 50_000 });
    h.out({ flags: ".", ack: 50_002 });
    h.expectRx(50_000);
    h.expectState("CLOSE-WAIT");
    expect(h.conn().remoteClosedAfter).toBe(50_000);
  });

  it("IPv6: a 60000-byte segment in order", () => {
    const h = new TcpHarness({ family: 6 });
    establish(h, { mss: 1440 });
    inTrusted(h, { flags: "P.", seq: 1, data: 60_000 });
    h.out({ flags: ".", ack: 60_001 });
    h.expectRx(60_000);
    expect(h.engine.l4Info(h.flow())!.rcvMss).toBe(1428);
  });
});

describe("the trusted-checksum path (l3RxTrusted)", () => {
  it("a segment with a corrupt checksum is taken through l3RxTrusted, dropped through l3Rx", () => {
    const h = new TcpHarness();
    establish(h);
    h.in({ flags: "P.", seq: 1, data: 100, badChecksum: true });
    h.outNothing();
    expect(h.app.received).toBe(0);
    expect(h.engine.stats().drops).toMatchObject({ bad_checksum: 1 });
    inTrusted(h, { flags: "P.", seq: 1, data: 100, badChecksum: true });
    h.delayedAck({ flags: ".", ack: 101 }); // a small segment: its ACK is delayed (receive.ts)
    h.expectRx(100);
    expect(h.engine.stats().drops).toMatchObject({ bad_checksum: 1 });
  });

  it("IPv6: likewise", () => {
    const h = new TcpHarness({ family: 6 });
    establish(h, { mss: 1440 });
    h.in({ flags: "P.", seq: 1, data: 5000, badChecksum: true });
    h.outNothing();
    inTrusted(h, { flags: "P.", seq: 1, data: 5000, badChecksum: true });
    h.out({ flags: ".", ack: 5001 });
    h.expectRx(5000);
  });

  it("the IPv4 header checksum is still verified", () => {
    const h = new TcpHarness();
    establish(h);
    const bytes = h.build({ flags: "P.", seq: 1, data: 100 });
    bytes[10] = bytes[10]! ^ 0xff;
    h.engine.l3RxTrusted(h.callbacks, bytes);
    h.poll();
    h.outNothing();
    expect(h.app.received).toBe(0);
    expect(h.engine.stats().drops).toMatchObject({ bad_checksum: 1 });
  });

  it("called from inside a callback, the packet is queued and still trusted", () => {
    const h = new TcpHarness();
    establish(h);
    const queued = h.build({ flags: "P.", seq: 101, data: 100, badChecksum: true });
    let once = true;
    h.onRx = () => {
      if (once) {
        once = false;
        expect(h.engine.l3RxTrusted(h.callbacks, queued)).toBeUndefined();
      }
    };
    h.in({ flags: "P.", seq: 1, data: 100 });
    h.drain();
    h.expectRx(200);
  });
});
