/**
 * The UDP send batch (lib/tun/udp-batch.ts) over a recording addon, and the addon's udpSocket and
 * sendDatagrams (udp.c) against real sockets on this namespace's loopback.
 */
import { createSocket, type Socket } from "node:dgram";
import { constants } from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { loadTunAddon, tunAddonAvailable, tunAddonCandidates } from "../../lib/tun/tun.js";
import { MAX_DATAGRAMS, POOL_BYTES, UdpSendBatch, type BatchSender, type UdpAddon } from "../../lib/tun/udp-batch.js";
import { fixture } from "../integration/harness.js";
import { useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, type Capability } from "../support/privileges.js";

const { EAGAIN, ECONNREFUSED } = constants.errno;

/** An addon that records each sendDatagrams call and refuses what `refuse` says. */
function recordingAddon(refuse: (fd: number, payload: Uint8Array) => number = () => 0) {
  const calls: { fd: number; payload: number[] }[][] = [];
  const addon: UdpAddon = {
    udpSocket: () => 99,
    close: () => {},
    sendDatagrams(fds, pool, offsets, lengths, count, errors) {
      const call = [];
      let sent = 0;
      for (let i = 0; i < count; i++) {
        const payload = pool.slice(offsets[i]!, offsets[i]! + lengths[i]!);
        call.push({ fd: fds[i]!, payload: [...payload] });
        errors[i] = refuse(fds[i]!, payload);
        if (errors[i] === 0) sent++;
      }
      calls.push(call);
      return sent;
    },
  };
  return { addon, calls };
}

function sender(): BatchSender & { drops: [number, number][] } {
  const drops: [number, number][] = [];
  return { batched: 0, drops, datagramsDropped: (count, errno) => void drops.push([count, errno]) };
}

const tick = () => new Promise<void>((resolve) => process.nextTick(resolve));

describe("UdpSendBatch: one send call per turn, bounded, drops reported", () => {
  it("datagrams queued in one turn go in one call at its end, copied (the caller's view may change after)", async () => {
    const { addon, calls } = recordingAddon();
    const batch = new UdpSendBatch(addon);
    const a = sender();
    const view = new Uint8Array([1, 2, 3]);
    expect(batch.queue(a, 5, view)).toBe(true);
    view[0] = 9; // the engine reuses its packet buffer: the batch holds a copy
    expect(batch.queue(a, 5, new Uint8Array([4]))).toBe(true);
    expect(batch.queue(a, 6, new Uint8Array([5, 6]))).toBe(true);
    expect(a.batched).toBe(3);
    expect(calls).toHaveLength(0);
    await tick();
    expect(calls).toEqual([
      [
        { fd: 5, payload: [1, 2, 3] },
        { fd: 5, payload: [4] },
        { fd: 6, payload: [5, 6] },
      ],
    ]);
    expect(a.batched).toBe(0);
    expect(batch.sent).toBe(3);
  });

  it("a full pool or a full table flushes before the next datagram; larger than the pool: refused", () => {
    const { addon, calls } = recordingAddon();
    const batch = new UdpSendBatch(addon);
    const a = sender();
    const big = new Uint8Array(POOL_BYTES / 2 + 1);
    batch.queue(a, 5, big);
    expect(calls).toHaveLength(0);
    batch.queue(a, 5, big); // does not fit behind the first
    expect(calls).toHaveLength(1);
    batch.flush();
    for (let i = 0; i <= MAX_DATAGRAMS; i++) batch.queue(a, 5, new Uint8Array(1));
    expect(calls.map((c) => c.length)).toEqual([1, 1, MAX_DATAGRAMS]);
    expect(batch.queue(a, 5, new Uint8Array(POOL_BYTES + 1))).toBe(false);
    batch.flush();
    expect(a.batched).toBe(0);
  });

  it("refused datagrams: each sender told once with its count and last errno; the others not at all", () => {
    const { addon } = recordingAddon((fd, payload) => (fd === 7 ? (payload[0] === 2 ? ECONNREFUSED : EAGAIN) : 0));
    const batch = new UdpSendBatch(addon);
    const ok = sender();
    const bad = sender();
    batch.queue(bad, 7, new Uint8Array([1]));
    batch.queue(ok, 5, new Uint8Array([1]));
    batch.queue(bad, 7, new Uint8Array([2]));
    batch.flush();
    expect(bad.drops).toEqual([[2, ECONNREFUSED]]);
    expect(ok.drops).toEqual([]);
    expect(batch.dropped).toBe(2);
    expect(batch.sent).toBe(1);
  });

  it("flushFor sends now only when that sender has datagrams queued", () => {
    const { addon, calls } = recordingAddon();
    const batch = new UdpSendBatch(addon);
    const a = sender();
    const b = sender();
    batch.queue(a, 5, new Uint8Array([1]));
    batch.flushFor(b);
    expect(calls).toHaveLength(0);
    batch.flushFor(a);
    expect(calls).toHaveLength(1);
  });
});

function addonWithUdp(): Capability {
  const ok = tunAddonAvailable() && typeof (loadTunAddon() as unknown as Partial<UdpAddon>).sendDatagrams === "function";
  return ok ? { ok: true, why: "" } : { ok: false, why: "the TUN addon with udp.c (npx node-gyp rebuild -C lib/tun)" };
}

describeIntegration(
  "udpSocket and sendDatagrams on loopback (the addon)",
  () => {
    const sockets: Socket[] = [];
    afterEach(() => {
      for (const s of sockets.splice(0)) s.close();
    });

    function bound(): Promise<Socket> {
      const s = createSocket("udp4");
      sockets.push(s);
      return new Promise((resolve) => s.bind(0, "127.0.0.1", () => resolve(s)));
    }

    /** A dgram socket over the addon's descriptor, connected to `port`; and that descriptor. */
    async function wrapped(port: number): Promise<{ socket: Socket; fd: number }> {
      const addon = loadTunAddon() as unknown as UdpAddon;
      const fd = addon.udpSocket(4);
      const socket = createSocket("udp4");
      sockets.push(socket);
      socket.bind({ fd });
      await new Promise<void>((resolve) => socket.connect(port, "127.0.0.1", () => resolve()));
      return { socket, fd };
    }

    it("sends a batch over two sockets in order, each datagram whole; dgram receives the answer on the same socket", async () => {
      const addon = loadTunAddon() as unknown as UdpAddon;
      const server = await bound();
      const got: number[][] = [];
      const all = new Promise<void>((resolve) =>
        server.on("message", (m, from) => {
          got.push([...m]);
          if (got.length === 5) {
            server.send(Buffer.from("back"), from.port, from.address);
            resolve();
          }
        }),
      );
      const one = await wrapped(server.address().port);
      const two = await wrapped(server.address().port);
      const answer = new Promise<string>((resolve) => one.socket.on("message", (m) => resolve(m.toString())));
      const pool = new Uint8Array(64).map((_, i) => i);
      const fds = new Int32Array([one.fd, one.fd, two.fd, two.fd, one.fd]);
      const offsets = new Int32Array([0, 3, 10, 20, 30]);
      const lengths = new Int32Array([3, 1, 0, 5, 2]);
      const errors = new Int32Array(5).fill(-1);
      expect(addon.sendDatagrams(fds, pool, offsets, lengths, 5, errors)).toBe(5);
      expect([...errors]).toEqual([0, 0, 0, 0, 0]);
      await all;
      // In send order (loopback delivers within the send); an empty datagram is a datagram.
      expect(got).toEqual([[0, 1, 2], [3], [], [20, 21, 22, 23, 24], [30, 31]]);
      // The answer to the last one reached its own socket, a descriptor the addon made, through dgram.
      expect(await answer).toBe("back");
    });

    it("a destination that refuses (ICMP port unreachable) gives ECONNREFUSED for a later datagram, and never a throw", async () => {
      const addon = loadTunAddon() as unknown as UdpAddon;
      const closed = await bound();
      const port = closed.address().port;
      closed.close();
      sockets.splice(sockets.indexOf(closed), 1);
      const { fd, socket } = await wrapped(port);
      // The kernel keeps the ICMP error for whichever reads the socket first: sendmmsg, or dgram's receive.
      let dgramError: string | undefined;
      socket.on("error", (error: NodeJS.ErrnoException) => void (dgramError = error.code));
      const pool = new Uint8Array(8);
      const errors = new Int32Array(1);
      let refused = false;
      for (let i = 0; i < 50 && !refused && dgramError === undefined; i++) {
        addon.sendDatagrams(new Int32Array([fd]), pool, new Int32Array([0]), new Int32Array([8]), 1, errors);
        refused = errors[0] === ECONNREFUSED;
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect(refused || dgramError === "ECONNREFUSED", `errno ${errors[0]}, dgram ${dgramError}`).toBe(true);
    });

    it("bad arguments throw RangeError / TypeError: a datagram outside the pool, a count past the arrays, a negative fd, a family", () => {
      const addon = loadTunAddon() as unknown as UdpAddon;
      const one = new Int32Array(1);
      const pool = new Uint8Array(8);
      expect(() => addon.sendDatagrams(new Int32Array([3]), pool, new Int32Array([4]), new Int32Array([5]), 1, one)).toThrow(RangeError);
      expect(() => addon.sendDatagrams(one, pool, one, one, 2, one)).toThrow(RangeError);
      expect(() => addon.sendDatagrams(new Int32Array([-1]), pool, one, one, 1, one)).toThrow(RangeError);
      expect(() => addon.sendDatagrams(one, pool, one, one, 1, new Int32Array(0))).toThrow(RangeError);
      expect(() => addon.sendDatagrams(one, new Int32Array(2) as unknown as Uint8Array, one, one, 1, one)).toThrow(TypeError);
      expect(() => addon.udpSocket(5 as 4)).toThrow(RangeError);
    });
  },
  [addonWithUdp],
);

describeIntegration(
  "sendDatagrams sends runs of one size as UDP GSO, and falls back where the path cannot take it (a namespace's loopback)",
  () => {
    const netns = useNetns("l3l4-udpgso-");

    it.each([
      ["MTU 65536: every run one GSO message", 65536],
      ["MTU 1500: 3000-byte segments refused (EINVAL), sent one by one and fragmented", 1500],
    ] as const)("%s: every datagram arrives whole, in order", async (_name, mtu) => {
      const ns = netns();
      ns.ip(["link", "set", "dev", "lo", "mtu", String(mtu), "up"]);
      // A 40-datagram run (GSO), a run of 3000-byte datagrams, a run whose last datagram is shorter,
      // an empty datagram, a single one.
      const sizes = [...new Array<number>(40).fill(1400), 3000, 3000, 3000, 1400, 1400, 700, 0, 9];
      const addon = tunAddonCandidates().find((c) => existsSync(c))!;
      const result = await fixture<{ sent: number; errors: number[]; received: number[]; same: boolean }>(ns, "udp-gso", { addon, sizes }, 20_000);
      expect(result.errors).toEqual([]);
      expect(result.sent).toBe(sizes.length);
      expect(result.received).toEqual(sizes);
      expect(result.same).toBe(true);
    });
  },
  [canUseNetns, addonWithUdp],
);
