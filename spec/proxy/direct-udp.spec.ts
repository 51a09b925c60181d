/**
 * direct://'s UDP channel (lib/proxy/direct.ts) against real sockets on this namespace's loopback:
 * datagrams both ways, with the addon's batch and without it, and the descriptor the addon opened
 * when node:dgram refuses it.
 */
import { createSocket, type Socket } from "node:dgram";
import { closeSync, fstatSync, openSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { DirectUdp } from "../../lib/proxy/direct.js";
import type { UdpSink } from "../../lib/proxy/upstream.js";
import { UdpSendBatch, type UdpAddon } from "../../lib/tun/udp-batch.js";
import { sharedNativeUdp } from "../../lib/tun/udp-socket.js";

/** A sink that records what the channel reports. */
function recordingSink() {
  const got: number[][] = [];
  const failures: string[] = [];
  let ready!: () => void;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const sink: UdpSink = {
    upstreamReady: () => ready(),
    upstreamDatagram: (data) => void got.push([...data]),
    upstreamFailed: (reason) => void failures.push(reason),
  };
  return { sink, got, failures, isReady };
}

describe("DirectUdp", () => {
  const sockets: Socket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
  });

  function server(): Promise<Socket> {
    const s = createSocket("udp4");
    sockets.push(s);
    // An echo server: each datagram back to its sender.
    s.on("message", (m, from) => s.send(m, from.port, from.address));
    return new Promise((resolve) => s.bind(0, "127.0.0.1", () => resolve(s)));
  }

  it("node:dgram alone (no addon): datagrams go up and their echoes come down", async () => {
    const echo = await server();
    const { sink, got, isReady } = recordingSink();
    const channel = new DirectUdp(null).open({ host: "127.0.0.1", port: echo.address().port }, 4, sink);
    expect(channel.send(new Uint8Array([1, 2]))).toBe(true); // early: queued until connected
    await isReady;
    channel.send(new Uint8Array([3]));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => got.length === 2 && (clearInterval(check), resolve()), 5);
    });
    expect(got).toEqual([[1, 2], [3]]);
    channel.close();
  });

  it("a descriptor the addon opened that dgram's bind({ fd }) refuses is closed, and dgram carries the flow", async () => {
    const echo = await server();
    const opened: number[] = [];
    const closed: number[] = [];
    const addon: UdpAddon = {
      udpSocket: () => {
        const fd = openSync("/dev/null", "r"); // not a UDP socket: dgram's bind({ fd }) throws at once
        opened.push(fd);
        return fd;
      },
      close: (fd) => {
        closed.push(fd);
        closeSync(fd);
      },
      sendDatagrams: () => 0,
    };
    const { sink, got, isReady } = recordingSink();
    const channel = new DirectUdp(new UdpSendBatch(addon)).open({ host: "127.0.0.1", port: echo.address().port }, 4, sink);
    expect(opened).toHaveLength(1);
    expect(closed).toEqual(opened);
    expect(() => fstatSync(opened[0]!)).toThrow(/EBADF/);
    await isReady;
    channel.send(new Uint8Array([7]));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => got.length === 1 && (clearInterval(check), resolve()), 5);
    });
    expect(got).toEqual([[7]]);
    channel.close();
  });

  it.skipIf(sharedNativeUdp() === undefined)(
    "the addon's own socket (recvmmsg): 200 datagrams up in batches and their echoes down, each whole, in order; a refusing destination fails the channel",
    async () => {
      const echo = await server();
      const { sink, got, failures, isReady } = recordingSink();
      const channel = new DirectUdp().open({ host: "127.0.0.1", port: echo.address().port }, 4, sink);
      channel.send(new Uint8Array([0, 0])); // early
      await isReady;
      for (let i = 1; i < 200; i++) channel.send(new Uint8Array([i & 0xff, i >> 8, ...new Array<number>(i).fill(7)]));
      await new Promise<void>((resolve) => {
        const check = setInterval(() => got.length === 200 && (clearInterval(check), resolve()), 5);
      });
      expect(got.map((d) => d[0]! | (d[1]! << 8))).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(got.map((d) => d.length)).toEqual(Array.from({ length: 200 }, (_, i) => (i === 0 ? 2 : i + 2)));
      expect(failures).toEqual([]);
      // The destination goes away: ICMP port unreachable, then ECONNREFUSED on the socket.
      echo.close();
      sockets.splice(sockets.indexOf(echo), 1);
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (failures.length > 0) {
            clearInterval(check);
            resolve();
          } else channel.send(new Uint8Array([1]));
        }, 5);
      });
      expect(failures).toEqual(["direct: udp connection refused"]);
      channel.close();
    },
  );
});
