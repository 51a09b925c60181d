/** The SOCKS5 UDP header (RFC 1928 §7, lib/proxy/socks5-frame.ts) against the `socks` package's own frames. */
import fc from "fast-check";
import { SocksClient } from "socks";
import { describe, expect, it } from "vitest";
import { udpDataOffset, udpHeader } from "../../lib/proxy/socks5-frame.js";

const data = Buffer.from("payload");

describe("SOCKS5 UDP header", () => {
  it.each([
    ["10.1.2.3", 53],
    ["fd00::1:2", 5353],
    ["files.l3l4.test", 8080],
  ])("writes the same header as socks.createUDPFrame for %s:%d", (host, port) => {
    const ours = Buffer.concat([udpHeader({ host, port }), data]);
    expect(ours.equals(SocksClient.createUDPFrame({ remoteHost: { host, port }, data }))).toBe(true);
    const parsed = SocksClient.parseUDPFrame(ours);
    expect(parsed.remoteHost.port).toBe(port);
    expect(ours.subarray(udpDataOffset(ours)).equals(data)).toBe(true);
  });

  it("finds the data where socks.parseUDPFrame does, and refuses truncated, fragmented and unknown frames", () => {
    for (const frame of [
      Buffer.from([0, 0, 0]),
      Buffer.from([0, 0, 0, 1, 10, 0, 0]),
      Buffer.from([0, 0, 1, 1, 10, 0, 0, 1, 0, 53]), // FRAG 1
      Buffer.from([0, 0, 0, 2, 10, 0, 0, 1, 0, 53]), // ATYP 2
      Buffer.from([0, 0, 0, 3, 9, 0x61]), // name longer than the frame
    ]) {
      expect(udpDataOffset(frame)).toBe(-1);
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const frame = Buffer.from(bytes);
        const offset = udpDataOffset(frame);
        expect(offset).toBeLessThanOrEqual(frame.length);
        if (offset >= 0) expect(SocksClient.parseUDPFrame(frame).data.equals(frame.subarray(offset))).toBe(true);
      }),
    );
  });
});
