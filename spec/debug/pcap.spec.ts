import { execFileSync } from "node:child_process";
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../lib/errors.js";
import { PcapWriter, readPcap, type PcapSink } from "../../lib/debug/pcap.js";
import { MemoryLink } from "../../lib/debug/link.js";
import { skipOrFailInCi } from "../support/privileges.js";

/** IPv4 UDP 192.0.2.1:1000 -> 192.0.2.2:2000, payload "hi" (checksums valid). */
const IPV4_UDP = Uint8Array.from([
  0x45, 0x00, 0x00, 0x1e, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0xf6, 0xca, 0xc0, 0x00, 0x02, 0x01, 0xc0, 0x00, 0x02,
  0x02, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0a, 0x07, 0xb5, 0x68, 0x69,
]);

/** IPv6 UDP 2001:db8::1:1000 -> 2001:db8::2:2000, payload "hi" (checksum valid). */
const IPV6_UDP = Uint8Array.from([
  0x60, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x11, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x20,
  0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x03, 0xe8, 0x07, 0xd0, 0x00, 0x0a, 0x30, 0x44, 0x68, 0x69,
]);

function tcpdumpPath(): string | undefined {
  try {
    return execFileSync("which", ["tcpdump"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "l3l4-pcap-"));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("PcapWriter", () => {
  it("writes the classic header and records, byte for byte", () => {
    const path = join(dir, "two.pcap");
    const w = PcapWriter.open(path);
    const framed = new Uint8Array(IPV4_UDP.length + 6);
    framed.set(IPV4_UDP, 3);
    w.write(framed, 3, IPV4_UDP.length, 1_700_000_000_123.456);
    w.write(IPV6_UDP, 0, IPV6_UDP.length, 2500);
    w.close();
    const bytes = new Uint8Array(readFileSync(path));
    const expected = Uint8Array.from([
      // magic a1b2c3d4 (little-endian), version 2.4, thiszone 0, sigfigs 0, snaplen 65535, LINKTYPE_RAW 101
      0xd4, 0xc3, 0xb2, 0xa1, 0x02, 0x00, 0x04, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0x00, 0x00, 0x65, 0, 0, 0,
      // 1700000000 s (0x6553f100), 123456 us (0x0001e240), incl 30, orig 30
      0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 0x1e, 0, 0, 0, 0x1e, 0, 0, 0,
      ...IPV4_UDP,
      // 2 s, 500000 us (0x0007a120), incl 50, orig 50
      0x02, 0, 0, 0, 0x20, 0xa1, 0x07, 0x00, 0x32, 0, 0, 0, 0x32, 0, 0, 0,
      ...IPV6_UDP,
    ]);
    expect(bytes).toEqual(expected);
    expect(w.packets).toBe(2);

    const file = readPcap(bytes)!;
    expect(file).toMatchObject({ versionMajor: 2, versionMinor: 4, snapLen: 65535, linkType: 101 });
    expect(file.records.map((r) => [r.seconds, r.micros, r.originalLength])).toEqual([
      [1_700_000_000, 123_456, 30],
      [2, 500_000, 50],
    ]);
    expect(file.records[1]!.packet).toEqual(IPV6_UDP);
  });

  it("is read by tcpdump, IPv4 and IPv6 alike (when tcpdump is installed)", (ctx) => {
    const tcpdump = tcpdumpPath();
    skipOrFailInCi(ctx, tcpdump === undefined ? "tcpdump is not installed (apt-get install tcpdump)" : undefined);
    if (tcpdump === undefined) return;
    const path = join(dir, "tcpdump.pcap");
    const w = PcapWriter.open(path);
    w.write(IPV4_UDP, 0, IPV4_UDP.length, 1000);
    w.write(IPV6_UDP, 0, IPV6_UDP.length, 2000.5);
    w.close();
    const out = execFileSync(tcpdump, ["-r", path, "-nn", "-tt"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    const lines = out.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^1\.000000 IP 192\.0\.2\.1\.1000 > 192\.0\.2\.2\.2000: UDP, length 2$/);
    expect(lines[1]).toMatch(/^2\.000500 IP6 2001:db8::1\.1000 > 2001:db8::2\.2000: UDP, length 2$/);
    // The sample packets themselves are sound: tcpdump finds no bad checksum.
    const verbose = execFileSync(tcpdump, ["-r", path, "-nn", "-vv"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    expect(verbose).toContain("UDP, length 2");
    expect(verbose).not.toMatch(/bad/i);
  });

  it("cuts packets at snapLen, keeping the original length", () => {
    const chunks: Uint8Array[] = [];
    const sink: PcapSink = { write: (b) => chunks.push(b.slice()) };
    const w = new PcapWriter(sink, { snapLen: 20 });
    w.write(IPV6_UDP, 0, IPV6_UDP.length, 0);
    w.flush();
    const file = readPcap(Uint8Array.from(chunks.flatMap((c) => [...c])))!;
    expect(file.snapLen).toBe(20);
    expect(file.records[0]!.originalLength).toBe(50);
    expect(file.records[0]!.packet).toEqual(IPV6_UDP.subarray(0, 20));
  });

  it("buffers: nothing reaches the sink until the buffer fills or flush/close", () => {
    const chunks: Uint8Array[] = [];
    let closed = 0;
    const w = new PcapWriter({ write: (b) => chunks.push(b.slice()), close: () => closed++ });
    for (let i = 0; i < 100; i++) w.write(IPV4_UDP, 0, IPV4_UDP.length, i);
    expect(chunks).toHaveLength(0);
    const big = new Uint8Array(60_000);
    for (let i = 0; i < 10; i++) w.write(big, 0, big.length, 1000 + i);
    expect(chunks.length).toBeGreaterThan(0);
    w.close();
    w.close();
    expect(closed).toBe(1);
    const file = readPcap(Uint8Array.from(chunks.flatMap((c) => [...c])))!;
    expect(file.records).toHaveLength(110);
    expect(file.records[105]!.seconds).toBe(1);
    expect(file.records[105]!.packet.length).toBe(60_000);
  });

  it("carries a rounded microsecond into the next second", () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ write: (b) => chunks.push(b.slice()) });
    w.write(IPV4_UDP, 0, IPV4_UDP.length, 1999.9999999);
    w.close();
    const r = readPcap(chunks[0]!)!.records[0]!;
    expect([r.seconds, r.micros]).toEqual([2, 0]);
  });

  it("writes to a caller's fd without closing it", () => {
    const path = join(dir, "fd.pcap");
    const fd = openSync(path, "w");
    const w = PcapWriter.fromFd(fd);
    w.write(IPV4_UDP, 0, IPV4_UDP.length, 0);
    w.close();
    closeSync(fd); // would throw EBADF had close() closed it
    expect(readPcap(new Uint8Array(readFileSync(path)))!.records).toHaveLength(1);
  });

  it("rejects misuse with typed errors", () => {
    const w = new PcapWriter({ write: () => {} });
    expect(() => w.write(IPV4_UDP, 10, 30, 0)).toThrow(InvalidArgumentError);
    expect(() => w.write(IPV4_UDP, 0, 10, -1)).toThrow(InvalidArgumentError);
    expect(() => w.write(IPV4_UDP, 0, 10, NaN)).toThrow(InvalidArgumentError);
    expect(() => new PcapWriter({ write: () => {} }, { snapLen: 0 })).toThrow(InvalidArgumentError);
    w.close();
    expect(() => w.write(IPV4_UDP, 0, 10, 0)).toThrow(InvalidArgumentError);
  });

  it("readPcap returns undefined for foreign or truncated bytes", () => {
    expect(readPcap(new Uint8Array(10))).toBeUndefined();
    expect(readPcap(new Uint8Array(24))).toBeUndefined();
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ write: (b) => chunks.push(b.slice()) });
    w.write(IPV4_UDP, 0, IPV4_UDP.length, 0);
    w.close();
    expect(readPcap(chunks[0]!.subarray(0, chunks[0]!.length - 1))).toBeUndefined();
  });

  it("records a link's deliveries on its virtual clock", () => {
    const chunks: Uint8Array[] = [];
    const w = new PcapWriter({ write: (b) => chunks.push(b.slice()) });
    const link = new MemoryLink({ faults: "delay=1.5" });
    link.onEvent = (e) => {
      if (e.kind === "deliver") w.write(e.packet, 0, e.packet.length, e.time);
    };
    link.send("a", IPV4_UDP);
    link.send("b", IPV6_UDP);
    link.runUntil(() => link.inFlight === 0);
    w.close();
    const file = readPcap(Uint8Array.from(chunks.flatMap((c) => [...c])))!;
    expect(file.records.map((r) => [r.seconds, r.micros, r.packet.length])).toEqual([
      [0, 1500, 30],
      [0, 1500, 50],
    ]);
  });
});
