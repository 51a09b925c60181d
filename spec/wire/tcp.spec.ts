import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { pseudoSum4, pseudoSum6 } from "../../lib/wire/checksum.js";
import { Drop } from "../../lib/wire/drop.js";
import { IpProtocol } from "../../lib/wire/ip-protocol.js";
import { Ipv4Packet, emitIpv4Header, ipv4Fields } from "../../lib/wire/ipv4.js";
import { emitIpv6Header, ipv6Fields } from "../../lib/wire/ipv6.js";
import {
  MAX_SACK_BLOCKS,
  TCP_MAX_OPTIONS,
  TcpFlag,
  TcpOptions,
  TcpPacket,
  emitTcpHeader,
  emitTcpOptions,
  fillTcpChecksum,
  parseTcpOptions,
  tcpFields,
  tcpOptionsLength,
  tcpSackBlocksThatFit,
  type TcpFields,
} from "../../lib/wire/tcp.js";
import { tcpOptions, type TcpSpec } from "./builders.js";
import { ack4, data4, finAck4, rstAck4, sackAck4, syn4, syn6, synAck4, synAck6 } from "./fixtures/linux-captures.js";

const ip = new Ipv4Packet();
const tcp = new TcpPacket();
const opts = new TcpOptions();

/** Check the IPv4 TCP packet with its checksum and parse its options into `opts`. */
function parse4(p: Uint8Array): TcpPacket {
  expect(ip.wrap(p).check()).toBe(Drop.OK);
  expect(tcp.wrap(p, ip.payloadOffset, ip.payloadLength).check(pseudoSum4(p, 0, IpProtocol.TCP, ip.payloadLength))).toBe(Drop.OK);
  expect(parseTcpOptions(p, tcp.optionsOffset, tcp.optionsLength, opts)).toBe(Drop.OK);
  return tcp;
}

/** Emit a packet with `captured`'s IPv4 header fields and the given TCP fields: it must equal the capture. */
function reemit4(captured: Uint8Array, spec: TcpSpec): Uint8Array {
  const cap = new Ipv4Packet().wrap(captured);
  const f = ipv4Fields();
  Object.assign(f, { src: cap.src, dst: cap.dst, ttl: cap.ttl, ident: cap.ident, tos: cap.tos, dontFragment: cap.dontFragment });
  f.protocol = IpProtocol.TCP;
  const out = new Uint8Array(captured.length).fill(0xcc); // stale bytes: the emitters must write every one
  const hl = emitTcpHeader(out, 20, { ...tcpFields(), ...spec }, tcpOptions(spec));
  const payload = spec.payload ?? new Uint8Array(0);
  out.set(payload, 20 + hl);
  f.payloadLength = hl + payload.length;
  emitIpv4Header(out, 0, f);
  fillTcpChecksum(out, 20, hl + payload.length, pseudoSum4(out, 0, IpProtocol.TCP, hl + payload.length));
  return out;
}

const SYN_SPEC: TcpSpec = {
  srcPort: 41000,
  dstPort: 80,
  seq: 3893988006,
  flags: TcpFlag.SYN,
  window: 64240,
  mss: 1460,
  sackPermitted: true,
  ts: [490034204, 0],
  windowScale: 10,
};

describe("TcpPacket and parseTcpOptions on real Linux packets", () => {
  it("the SYN: MSS 1460, SACK-permitted, TS, NOP, WS 10, checksum 0xfc78", () => {
    const t = parse4(syn4);
    expect([t.srcPort, t.dstPort, t.seq, t.ack, t.flags, t.window, t.urgentPointer]).toEqual([41000, 80, 3893988006, 0, TcpFlag.SYN, 64240, 0]);
    expect([t.syn, t.hasAck, t.fin, t.rst, t.psh, t.urg]).toEqual([true, false, false, false, false, false]);
    expect([t.headerLength, t.optionsLength, t.payloadLength, t.segmentLength]).toEqual([40, 20, 0, 1]);
    expect(t.checksum).toBe(0xfc78);
    // The wire order: mss, sackOK, TS, nop, wscale.
    expect(Array.from(syn4.subarray(40, 60))).toEqual([2, 4, 0x05, 0xb4, 4, 2, 8, 10, ...syn4.subarray(48, 56), 1, 3, 3, 10]);
    expect([opts.mss, opts.sackPermitted, opts.hasTimestamps, opts.tsVal, opts.tsEcr, opts.windowScale, opts.sackCount]).toEqual([
      1460, true, true, 490034204, 0, 10, 0,
    ]);
  });

  it("the SYN-ACK", () => {
    const t = parse4(synAck4);
    expect([t.seq, t.ack, t.flags, t.window, t.checksum]).toEqual([82572184, 3893988007, TcpFlag.SYN | TcpFlag.ACK, 65160, 0xe9c1]);
    expect([opts.mss, opts.sackPermitted, opts.tsVal, opts.tsEcr, opts.windowScale]).toEqual([1460, true, 2999149510, 490034204, 10]);
  });

  it("an ACK with NOP NOP TS, and a data segment of 1448 bytes", () => {
    let t = parse4(ack4);
    expect([t.flags, t.headerLength, t.payloadLength, opts.hasTimestamps, opts.mss, opts.windowScale]).toEqual([TcpFlag.ACK, 32, 0, true, -1, -1]);
    t = parse4(data4);
    expect([t.payloadOffset, t.payloadLength, t.segmentLength]).toEqual([52, 1448, 1448]);
  });

  it("an ACK with a SACK block {3893990903:3893992007}", () => {
    const t = parse4(sackAck4);
    expect(t.ack).toBe(3893988007);
    expect([opts.sackCount, opts.sackBlocks[0], opts.sackBlocks[1], opts.tsVal]).toEqual([1, 3893990903, 3893992007, 2999149511]);
  });

  it("a RST+ACK without options, and a FIN+ACK", () => {
    let t = parse4(rstAck4);
    expect([t.flags, t.seq, t.ack, t.window, t.headerLength, t.segmentLength, t.checksum]).toEqual([0x14, 0, 3235944791, 0, 20, 0, 0xe90b]);
    t = parse4(finAck4);
    expect([t.fin, t.hasAck, t.segmentLength]).toEqual([true, true, 1]);
  });

  it("the IPv6 SYN and SYN-ACK verify with the IPv6 pseudo-header (MSS 1440)", () => {
    for (const p of [syn6, synAck6]) {
      expect(tcp.wrap(p, 40, 40).check(pseudoSum6(p, 0, IpProtocol.TCP, 40))).toBe(Drop.OK);
      expect(parseTcpOptions(p, tcp.optionsOffset, tcp.optionsLength, opts)).toBe(Drop.OK);
      expect([opts.mss, opts.windowScale, opts.sackPermitted]).toEqual([1440, 10, true]);
    }
    expect(tcp.wrap(syn6, 40, 40).check(pseudoSum4(syn6, 0, IpProtocol.TCP, 40))).toBe(Drop.BAD_CHECKSUM);
  });
});

describe("emitTcpHeader reproduces Linux byte for byte (options in Linux's order and padding)", () => {
  it("the SYN", () => {
    expect(reemit4(syn4, SYN_SPEC)).toEqual(syn4);
  });

  it("the SYN-ACK", () => {
    const spec = { ...SYN_SPEC, srcPort: 80, dstPort: 41000, seq: 82572184, ack: 3893988007, flags: 0x12, window: 65160, ts: [2999149510, 490034204] as const };
    expect(reemit4(synAck4, spec)).toEqual(synAck4);
  });

  it("the handshake ACK (NOP NOP TS)", () => {
    expect(reemit4(ack4, { srcPort: 41000, dstPort: 80, seq: 3893988007, ack: 82572185, flags: 0x10, window: 63, ts: [490034204, 2999149510] })).toEqual(ack4);
  });

  it("the SACK ACK (NOP NOP TS NOP NOP SACK)", () => {
    const spec: TcpSpec = {
      srcPort: 80,
      dstPort: 41000,
      seq: 82572185,
      ack: 3893988007,
      flags: 0x10,
      window: 67,
      ts: [2999149511, 490034204],
      sack: [[3893990903, 3893992007]],
    };
    expect(reemit4(sackAck4, spec)).toEqual(sackAck4);
  });

  it("the 1448-byte data segment and the RST+ACK", () => {
    const spec: TcpSpec = { srcPort: 41000, dstPort: 80, seq: 3893988007, ack: 82572185, flags: 0x10, window: 63, ts: [490034204, 2999149510], payload: data4.subarray(52) };
    expect(reemit4(data4, spec)).toEqual(data4);
    expect(reemit4(rstAck4, { srcPort: 81, dstPort: 41010, seq: 0, ack: 3235944791, flags: 0x14, window: 0 })).toEqual(rstAck4);
  });

  it("the IPv6 SYN", () => {
    const f = ipv6Fields();
    f.addrBytes.set(syn6.subarray(8, 40));
    f.nextHeader = 6;
    f.payloadLength = 40;
    f.flowLabel = 0x8049b;
    const out = new Uint8Array(80).fill(0xcc);
    emitIpv6Header(out, 0, f);
    const spec = { ...SYN_SPEC, srcPort: 41001, seq: 2192275425, window: 64800, mss: 1440, ts: [261907430, 0] as const };
    const hl = emitTcpHeader(out, 40, { ...tcpFields(), ...spec }, tcpOptions(spec));
    fillTcpChecksum(out, 40, hl, pseudoSum6(out, 0, 6, hl));
    expect(out).toEqual(syn6);
  });
});

describe("parseTcpOptions edge cases", () => {
  const parse = (...bytes: number[]) => parseTcpOptions(Uint8Array.from(bytes), 0, bytes.length, opts);

  it("stops at EOL, skips NOPs and unknown kinds by their length", () => {
    expect(parse(1, 1, 0, 2, 4, 5, 0xb4)).toBe(Drop.OK); // an MSS after EOL is not read
    expect(opts.mss).toBe(-1);
    expect(parse(30, 4, 0, 0, 1, 2, 4, 5, 0xb4)).toBe(Drop.OK);
    expect([opts.unknownCount, opts.mss]).toEqual([1, 1460]);
    expect(parse()).toBe(Drop.OK);
  });

  it("resets the record: nothing from the previous segment survives", () => {
    expect(parse(2, 4, 5, 0xb4, 3, 3, 7, 4, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2)).toBe(Drop.OK);
    expect([opts.mss, opts.windowScale, opts.sackPermitted, opts.sackCount]).toEqual([1460, 7, true, 1]);
    expect(parse(1, 1, 1, 1)).toBe(Drop.OK);
    expect([opts.mss, opts.windowScale, opts.sackPermitted, opts.sackCount, opts.hasTimestamps, opts.unknownCount]).toEqual([-1, -1, false, 0, false, 0]);
  });

  it("rejects impossible lengths (RFC 9293 §3.2 MUST-7)", () => {
    const bad: number[][] = [
      [2], // kind without a length byte
      [30, 0], // length 0
      [30, 1], // length 1
      [30, 5, 0, 0], // past the end
      [2, 5, 0, 0, 0], // MSS of length 5
      [2, 3, 0], // MSS of length 3
      [3, 4, 0, 0], // WS of length 4
      [4, 3, 0], // SACK-permitted of length 3
      [8, 9, 0, 0, 0, 0, 0, 0, 0], // TS of length 9
      [5, 2], // SACK with no block
      [5, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0], // SACK with 9 bytes
    ];
    for (const b of bad) expect(parse(...b), JSON.stringify(b)).toBe(Drop.BAD_OPTIONS);
    // Five SACK blocks only fit an option area longer than TCP allows: still refused.
    expect(parse(5, 42, ...new Array<number>(40).fill(0))).toBe(Drop.BAD_OPTIONS);
    expect(parse(5, 34, ...new Array<number>(32).fill(0))).toBe(Drop.OK);
    expect(opts.sackCount).toBe(MAX_SACK_BLOCKS);
  });

  it("a repeated option overwrites the earlier one", () => {
    expect(parse(2, 4, 0, 100, 2, 4, 0, 200)).toBe(Drop.OK);
    expect(opts.mss).toBe(200);
  });
});

describe("TcpPacket.check", () => {
  it("drops a header under 20 bytes, a data offset under 5 or past the segment, a bad checksum, a wrong wrap length", () => {
    const seg = syn4.slice(20);
    expect(tcp.wrap(seg, 0, 19).check()).toBe(Drop.TRUNCATED);
    expect(tcp.wrap(seg, 0, 39).check()).toBe(Drop.TRUNCATED); // data offset says 40
    expect(tcp.wrap(seg, 0, 41).check()).toBe(Drop.TRUNCATED); // past the buffer
    expect(tcp.wrap(seg, -4, 40).check()).toBe(Drop.TRUNCATED);
    const low = seg.slice();
    low[12] = 0x40;
    expect(tcp.wrap(low, 0, 40).check()).toBe(Drop.BAD_HEADER_LENGTH);
    expect(tcp.wrap(syn4, 20, 40).check(pseudoSum4(syn4, 0, 6, 40) + 1)).toBe(Drop.BAD_CHECKSUM);
    expect(tcp.wrap(syn4, 20, 40).check()).toBe(Drop.OK);
  });
});

/** SACK blocks that fit with the other options (Linux: 40 - others - 4, in 8-byte blocks). */
function expectedBlocks(s: { mss: boolean; ws: boolean; ts: boolean; sackOk: boolean; sack: number }): number {
  const others = (s.mss ? 4 : 0) + (s.ts ? 12 : s.sackOk ? 4 : 0) + (s.ws ? 4 : 0);
  const room = 40 - others - 4;
  return Math.min(s.sack, room < 8 ? 0 : Math.floor(room / 8));
}

describe("TCP emit then parse (fast-check)", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const u16 = fc.integer({ min: 0, max: 0xffff });

  it("SACK blocks: 1..4 without timestamps, 1..3 with, clamped to what fits in 40 bytes", () => {
    for (const ts of [false, true]) {
      for (let n = 1; n <= 4; n++) {
        const o = tcpOptions({ ts: ts ? [1, 2] : undefined, sack: Array.from({ length: n }, (_, k) => [k * 10, k * 10 + 5] as const) });
        const fits = Math.min(n, ts ? 3 : 4);
        expect(tcpSackBlocksThatFit(o)).toBe(fits);
        const b = new Uint8Array(60);
        const len = emitTcpOptions(b, 0, o);
        expect(len).toBe(tcpOptionsLength(o));
        expect(len).toBeLessThanOrEqual(TCP_MAX_OPTIONS);
        expect(parseTcpOptions(b, 0, len, opts)).toBe(Drop.OK);
        expect(opts.sackCount).toBe(fits);
        for (let k = 0; k < fits; k++) expect([opts.sackBlocks[2 * k], opts.sackBlocks[2 * k + 1]]).toEqual([k * 10, k * 10 + 5]);
      }
    }
  });

  it("random header fields and option subsets round-trip, checksum included", () => {
    const buf = new Uint8Array(3 + 60 + 2000);
    fc.assert(
      fc.property(
        fc.record({
          srcPort: u16,
          dstPort: u16,
          seq: u32,
          ack: u32,
          flags: fc.integer({ min: 0, max: 255 }),
          window: u16,
          urgentPointer: u16,
        }),
        fc.record({
          mss: fc.option(u16),
          ws: fc.option(fc.integer({ min: 0, max: 255 })),
          sackOk: fc.boolean(),
          ts: fc.option(fc.tuple(u32, u32)),
          sack: fc.array(fc.tuple(u32, u32), { maxLength: 4 }),
        }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat(3),
        fc.integer({ min: 0, max: 255 }),
        (fields: TcpFields, o, payload, off, stale) => {
          const spec: TcpSpec = {
            ...(o.mss !== null ? { mss: o.mss } : {}),
            ...(o.ws !== null ? { windowScale: o.ws } : {}),
            sackPermitted: o.sackOk,
            ...(o.ts !== null ? { ts: o.ts } : {}),
            sack: o.sack,
          };
          buf.fill(stale);
          const hl = emitTcpHeader(buf, off, fields, tcpOptions(spec));
          buf.set(payload, off + hl);
          const len = hl + payload.length;
          // A pseudo-header sum as an IP layer would give (any value works for the property).
          const pseudo = (fields.srcPort * 7 + fields.seq) % 0x7ffff;
          fillTcpChecksum(buf, off, len, pseudo);
          expect(tcp.wrap(buf, off, len).check(pseudo)).toBe(Drop.OK);
          expect(hl).toBeLessThanOrEqual(60);
          expect(hl % 4).toBe(0);
          expect({
            srcPort: tcp.srcPort,
            dstPort: tcp.dstPort,
            seq: tcp.seq,
            ack: tcp.ack,
            flags: tcp.flags,
            window: tcp.window,
            urgentPointer: tcp.urgentPointer,
          }).toEqual(fields);
          expect(tcp.payloadLength).toBe(payload.length);
          expect(buf.subarray(tcp.payloadOffset, tcp.payloadOffset + payload.length)).toEqual(payload);
          expect(parseTcpOptions(buf, tcp.optionsOffset, tcp.optionsLength, opts)).toBe(Drop.OK);
          const blocks = expectedBlocks({ mss: o.mss !== null, ws: o.ws !== null, ts: o.ts !== null, sackOk: o.sackOk, sack: o.sack.length });
          expect(opts.mss).toBe(o.mss ?? -1);
          expect(opts.windowScale).toBe(o.ws ?? -1);
          expect(opts.sackPermitted).toBe(o.sackOk);
          expect(opts.hasTimestamps).toBe(o.ts !== null);
          if (o.ts) expect([opts.tsVal, opts.tsEcr]).toEqual(o.ts);
          expect(opts.sackCount).toBe(blocks);
          for (let k = 0; k < blocks; k++) expect([opts.sackBlocks[2 * k], opts.sackBlocks[2 * k + 1]]).toEqual(o.sack[k]);
          expect(opts.unknownCount).toBe(0);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
