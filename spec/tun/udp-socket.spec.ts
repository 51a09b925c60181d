/**
 * The addon's receive side (udp.c recvDatagrams, udpConnect) and NativeUdpSocket
 * (lib/tun/udp-socket.ts) against real sockets on this namespace's loopback: many datagrams per
 * call, truncation counted, GRO buffers cut at their segment size, socket errors returned.
 */
import { createSocket, type Socket } from "node:dgram";
import { constants } from "node:os";
import { afterEach, expect, it } from "vitest";
import { loadTunAddon, tunAddonAvailable } from "../../lib/tun/tun.js";
import { UdpSendBatch } from "../../lib/tun/udp-batch.js";
import { NativeUdpSocket, type UdpSocketAddon, type UdpSocketOwner } from "../../lib/tun/udp-socket.js";
import { describeIntegration, type Capability } from "../support/privileges.js";

const { ECONNREFUSED } = constants.errno;

function addonWithRecv(): Capability {
  const ok = tunAddonAvailable() && typeof (loadTunAddon() as unknown as Partial<UdpSocketAddon>).recvDatagrams === "function";
  return ok ? { ok: true, why: "" } : { ok: false, why: "the TUN addon with udp.c's recvDatagrams (npx node-gyp rebuild -C lib/tun)" };
}

describeIntegration(
  "recvDatagrams and NativeUdpSocket on loopback (the addon)",
  () => {
    const sockets: Socket[] = [];
    const fds: number[] = [];
    afterEach(() => {
      for (const s of sockets.splice(0)) s.close();
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      for (const fd of fds.splice(0)) addon.close(fd);
    });

    function bound(): Promise<Socket> {
      const s = createSocket("udp4");
      sockets.push(s);
      return new Promise((resolve) => s.bind(0, "127.0.0.1", () => resolve(s)));
    }

    /** An addon socket connected to `peer`, and the port it has. */
    /** The descriptor under a bound dgram socket (node keeps it in its state symbol's handle). */
    function dgramFd(s: Socket): number {
      const state = Object.getOwnPropertySymbols(s).find((sym) => sym.description === "state symbol")!;
      return (s as unknown as Record<symbol, { handle: { fd: number } }>)[state]!.handle.fd;
    }

    async function connected(peer: Socket, flags = 0): Promise<{ fd: number; port: number }> {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const fd = addon.udpSocket(4, flags);
      fds.push(fd);
      addon.udpConnect(fd, "127.0.0.1", peer.address().port);
      // Our port: the peer learns it from a first datagram.
      const learned = new Promise<number>((resolve) => peer.once("message", (_m, from) => resolve(from.port)));
      addon.sendDatagrams(new Int32Array([fd]), new Uint8Array(1), new Int32Array([0]), new Int32Array([1]), 1, new Int32Array(1));
      return { fd, port: await learned };
    }

    function sendAll(peer: Socket, port: number, datagrams: Buffer[]): Promise<void> {
      return datagrams.reduce((p, d) => p.then(() => new Promise<void>((resolve) => peer.send(d, port, "127.0.0.1", () => resolve()))), Promise.resolve());
    }

    it("many datagrams in one call, each in its slot and whole; none waiting: 0; more than the slots: the rest next call", async () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const peer = await bound();
      const { fd, port } = await connected(peer);
      const pool = new Uint8Array(4096 * 8);
      const lengths = new Int32Array(8);
      const segments = new Int32Array(8);
      expect(addon.recvDatagrams(fd, pool, 4096, lengths, segments)).toBe(0);
      const sent = Array.from({ length: 10 }, (_, i) => Buffer.alloc(100 + i, i));
      await sendAll(peer, port, sent);
      expect(addon.recvDatagrams(fd, pool, 4096, lengths, segments)).toBe(8);
      for (let i = 0; i < 8; i++) {
        expect(lengths[i]).toBe(100 + i);
        expect(segments[i]).toBe(0);
        expect(Buffer.from(pool.subarray(i * 4096, i * 4096 + lengths[i]!)).equals(sent[i]!)).toBe(true);
      }
      expect(addon.recvDatagrams(fd, pool, 4096, lengths, segments)).toBe(2);
      expect([lengths[0], lengths[1]]).toEqual([108, 109]);
    });

    it("a datagram larger than its slot (MSG_TRUNC): length -1, the ones around it whole", async () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const peer = await bound();
      const { fd, port } = await connected(peer);
      await sendAll(peer, port, [Buffer.alloc(50, 1), Buffer.alloc(300, 2), Buffer.alloc(256, 3)]);
      const pool = new Uint8Array(256 * 4);
      const lengths = new Int32Array(4);
      const segments = new Int32Array(4);
      expect(addon.recvDatagrams(fd, pool, 256, lengths, segments)).toBe(3);
      expect([...lengths.subarray(0, 3)]).toEqual([50, -1, 256]);
      expect(pool[512]).toBe(3);
    });

    it("an ICMP port unreachable comes back as -ECONNREFUSED, not a throw", async () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const gone = await bound();
      const port = gone.address().port;
      const fd = addon.udpSocket(4);
      fds.push(fd);
      addon.udpConnect(fd, "127.0.0.1", port);
      gone.close();
      sockets.splice(sockets.indexOf(gone), 1);
      const errors = new Int32Array(1);
      addon.sendDatagrams(new Int32Array([fd]), new Uint8Array(4), new Int32Array([0]), new Int32Array([4]), 1, errors);
      const pool = new Uint8Array(1024);
      let r = 0;
      for (let i = 0; i < 50 && r === 0; i++) {
        r = addon.recvDatagrams(fd, pool, 1024, new Int32Array(1), new Int32Array(1));
        if (r === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(r).toBe(-ECONNREFUSED);
    });

    it("bad arguments throw: a slot larger than the pool, a non-numeric address, a port, a family's address", () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const fd = addon.udpSocket(4);
      fds.push(fd);
      expect(() => addon.recvDatagrams(fd, new Uint8Array(8), 16, new Int32Array(1), new Int32Array(1))).toThrow(RangeError);
      expect(() => addon.recvDatagrams(fd, new Uint8Array(8), 0, new Int32Array(1), new Int32Array(1))).toThrow(RangeError);
      expect(() => addon.udpConnect(fd, "localhost", 53)).toThrow(/EINVAL/);
      expect(() => addon.udpConnect(fd, "::1", 53)).toThrow(/EINVAL/);
      expect(() => addon.udpConnect(fd, "127.0.0.1", 70000)).toThrow(RangeError);
    });

    it("NativeUdpSocket: GSO datagrams sent to a GRO socket come coalesced and are cut at the segment size; a name is looked up", async () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const batch = new UdpSendBatch(addon);
      const peer = await bound();
      const got: number[] = [];
      const firsts: number[] = [];
      let done!: () => void;
      const all = new Promise<void>((resolve) => (done = resolve));
      let ready!: () => void;
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      const owner: UdpSocketOwner = {
        connected: () => ready(),
        datagram: (d) => {
          got.push(d.length);
          firsts.push(d[0]!);
          if (got.length === 41) done();
        },
        dropped: () => {},
        failed: (e) => {
          throw new Error(e.message);
        },
      };
      const socket = new NativeUdpSocket(addon, batch, 4, owner);
      socket.connect("localhost", peer.address().port);
      await isReady;
      expect(socket.reading).toBe(true);
      const learned = new Promise<number>((resolve) => peer.once("message", (_m, from) => resolve(from.port)));
      socket.send(new Uint8Array(1));
      const port = await learned;
      // The peer answers with one GSO send of 40 × 1000 bytes and a 300-byte tail, from its own
      // address (the connected socket takes its peer's datagrams only): sendDatagrams on the
      // descriptor under the peer's dgram socket, connected to ours.
      const back = dgramFd(peer);
      addon.udpConnect(back, "127.0.0.1", port);
      const pool = new Uint8Array(40_300);
      for (let i = 0; i < 41; i++) pool.fill(i, i * 1000, Math.min(i * 1000 + 1000, 40_300));
      const offsets = Int32Array.from({ length: 41 }, (_, i) => i * 1000);
      const lengths = Int32Array.from({ length: 41 }, (_, i) => (i === 40 ? 300 : 1000));
      expect(addon.sendDatagrams(new Int32Array(41).fill(back), pool, offsets, lengths, 41, new Int32Array(41))).toBe(41);
      await all;
      expect(got).toEqual([...new Array<number>(40).fill(1000), 300]);
      expect(firsts).toEqual(Array.from({ length: 41 }, (_, i) => i));
      expect(socket.received).toBe(41);
      expect(socket.coalesced).toBeGreaterThan(0); // GRO: at least one slot held several

      socket.close();
      expect(socket.reading).toBe(false);
    });
  },
  [addonWithRecv],
);

describeIntegration(
  "NativeUdpSocket's runs for an owner that takes them (loopback, the addon)",
  () => {
    it("consecutive same-size datagrams of a read come as one run; a different size, a lone datagram and an empty one each on their own", async () => {
      const addon = loadTunAddon() as unknown as UdpSocketAddon;
      const batch = new UdpSendBatch(addon);
      const peer = createSocket("udp4");
      await new Promise<void>((resolve) => peer.bind(0, "127.0.0.1", () => resolve()));
      const events: string[] = [];
      let ready!: () => void;
      const isReady = new Promise<void>((resolve) => (ready = resolve));
      let done!: () => void;
      const all = new Promise<void>((resolve) => (done = resolve));
      let datagrams = 0;
      const count = (n: number) => (datagrams += n) === 16 && done();
      const owner: UdpSocketOwner = {
        connected: () => ready(),
        datagram: (d) => {
          events.push(`one ${d.length}`);
          count(1);
        },
        datagramRun: (d, segment) => {
          const pieces = Math.ceil(d.length / segment);
          // The run's bytes are the datagrams' in order: each starts with its index.
          for (let k = 0; k < pieces; k++) events.push(`run ${segment} #${d[k * segment]}`);
          count(pieces);
        },
        dropped: () => {},
        failed: (e) => {
          throw new Error(e.message);
        },
      };
      const socket = new NativeUdpSocket(addon, batch, 4, owner);
      socket.connect("127.0.0.1", peer.address().port);
      await isReady;
      const learned = new Promise<{ port: number }>((resolve) => peer.once("message", (_m, from) => resolve(from)));
      socket.send(new Uint8Array([0]));
      const { port } = await learned;
      // All sent before the socket's wake: one read takes them (fewer than RECEIVE_SLOTS).
      const sizes = [500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 700, 300, 300, 300, 0, 900];
      for (let i = 0; i < sizes.length; i++) peer.send(Buffer.alloc(sizes[i]!, i), port, "127.0.0.1");
      await all;
      expect(events).toEqual([
        ...Array.from({ length: 10 }, (_, i) => `run 500 #${i}`),
        "one 700",
        "run 300 #11",
        "run 300 #12",
        "run 300 #13",
        "one 0",
        "one 900",
      ]);
      socket.close();
      peer.close();
    });
  },
  [addonWithRecv],
);
