import { afterEach, describe, expect, it } from "vitest";
import { L3L4Error } from "../../lib/errors.js";
import { runTun } from "../../lib/tun/runner.js";
import {
  checkInterfaceName,
  loadTunAddon,
  openTun,
  tunAddonAvailable,
  TunError,
  type TunDevice,
  VNET_HEADER_ROOM,
} from "../../lib/tun/tun.js";
import { randomSubnet, run, uniqueInterfaceName, useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand, type Capability } from "../support/privileges.js";
import { EchoEngine, writeEchoReply } from "./icmp-echo.js";

function addonBuilt(): Capability {
  return tunAddonAvailable()
    ? { ok: true, why: "" }
    : { ok: false, why: "the TUN addon (build it: npx node-gyp rebuild -C lib/tun)" };
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected a throw");
}

describe("openTun argument checks (no privileges needed)", () => {
  it("gives a TunError EINVAL for a name longer than IFNAMSIZ - 1 bytes", () => {
    const error = caught(() => openTun({ name: "l3t-name-too-long" }));
    expect(error).toBeInstanceOf(TunError);
    expect(error).toBeInstanceOf(L3L4Error);
    expect(error).toMatchObject({ code: "ERR_TUN", errno: "EINVAL" });
    expect((error as TunError).message).toMatch(/17 bytes.*at most 15/);
    expect((error as TunError).hint).toMatch(/15 bytes/);
  });

  it.each(["a/b", "a:b", "a b", ".", ".."])("gives a TunError EINVAL for the name %j", (name) => {
    expect(caught(() => openTun({ name }))).toMatchObject({ code: "ERR_TUN", errno: "EINVAL" });
  });

  it("accepts 15 bytes and a %d template", () => {
    expect(() => checkInterfaceName("a".repeat(15))).not.toThrow();
    expect(() => checkInterfaceName("l3t%d")).not.toThrow();
  });

  it.each([0, 67, 65536, 1500.5])("gives a TunError EINVAL for MTU %d", (mtu) => {
    expect(caught(() => openTun({ name: "l3tx", mtu }))).toMatchObject({ code: "ERR_TUN", errno: "EINVAL" });
  });

  it("gives a TunError EADDON with a build hint when the addon is missing", () => {
    const missing = "/nonexistent/l3l4_tun.node";
    const error = caught(() => openTun({ name: "l3tx", addonPath: missing }));
    expect(error).toBeInstanceOf(TunError);
    expect(error).toMatchObject({ code: "ERR_TUN", errno: "EADDON" });
    expect((error as TunError).hint).toMatch(/node-gyp rebuild -C lib\/tun/);
    expect(tunAddonAvailable(missing)).toBe(false);
  });

  it("gives a TunError EADDON for a file that is not the addon", () => {
    const error = caught(() => loadTunAddon(new URL(import.meta.url).pathname));
    expect(error).toMatchObject({ code: "ERR_TUN", errno: "EADDON" });
  });
});

describeIntegration(
  "TUN device (root, /dev/net/tun)",
  () => {
    const opened: TunDevice[] = [];
    const persistent: string[] = [];
    afterEach(() => {
      for (const device of opened.splice(0)) device.close();
      for (const name of persistent.splice(0)) {
        try {
          run("ip", ["tuntap", "del", "dev", name, "mode", "tun"]);
        } catch {
          // already gone
        }
      }
    });

    it("creates a device with the MTU asked for, and it goes away on close", () => {
      const name = uniqueInterfaceName();
      const device = openTun({ name, mtu: 1280 });
      opened.push(device);
      expect(device.name).toBe(name);
      expect(device.mtu).toBe(1280);
      expect(device.fd).toBeGreaterThan(2);
      expect(run("ip", ["-o", "link", "show", "dev", name])).toMatch(/mtu 1280.*UP|UP.*mtu 1280/);
      device.close();
      expect(device.isClosed).toBe(true);
      expect(() => run("ip", ["link", "show", "dev", name])).toThrow();
      device.close(); // idempotent
    });

    it("lets the kernel choose the name from a template", () => {
      const device = openTun({ name: "l3t%d", up: false });
      opened.push(device);
      expect(device.name).toMatch(/^l3t\d+$/);
    });

    it("gives a TunError EBUSY with a hint for a device another fd holds", () => {
      const name = uniqueInterfaceName();
      opened.push(openTun({ name }));
      const error = caught(() => openTun({ name }));
      expect(error).toMatchObject({ code: "ERR_TUN", errno: "EBUSY", syscall: "TUNSETIFF" });
      expect((error as TunError).hint).toMatch(/another process/);
    });

    it("attaches to a device made with ip tuntap add", () => {
      const name = uniqueInterfaceName();
      run("ip", ["tuntap", "add", "dev", name, "mode", "tun"]);
      persistent.push(name);
      const device = openTun({ name, mtu: 1400 });
      opened.push(device);
      expect(device.name).toBe(name);
      expect(device.mtu).toBe(1400);
      device.close();
      expect(run("ip", ["-o", "link", "show", "dev", name])).toContain(name); // persistent: still there
    });

    it("reads nothing (0) when no packet is ready, without blocking", () => {
      const device = openTun({ name: uniqueInterfaceName(), up: false });
      opened.push(device);
      const slot = device.mtu + VNET_HEADER_ROOM;
      expect(device.readBatch(new Uint8Array(4 * slot), slot, 4, new Int32Array(4))).toBe(0);
    });

    it("throws TunError EBADF for I/O after close", () => {
      const device = openTun({ name: uniqueInterfaceName(), up: false });
      device.close();
      const error = caught(() => device.readBatch(new Uint8Array(1600), 1600, 1, new Int32Array(1)));
      expect(error).toMatchObject({ code: "ERR_TUN", errno: "EBADF" });
    });

    it("reads and sets the interface's MTU and txqueuelen through the raw addon, as ip(8) shows them", () => {
      const addon = loadTunAddon();
      const device = openTun({ name: uniqueInterfaceName(), up: false });
      opened.push(device);
      addon.setMtu(device.name, 1333);
      addon.setTxQueueLen(device.name, 777);
      expect(addon.getMtu(device.name)).toBe(1333);
      expect(addon.getTxQueueLen(device.name)).toBe(777);
      expect(run("ip", ["-o", "link", "show", "dev", device.name])).toMatch(/mtu 1333 .*qlen 777/);
    });

    it("raw addon: a negative txqueuelen is a RangeError, a non-number a TypeError, the kernel's refusals errno errors", () => {
      const addon = loadTunAddon();
      const device = openTun({ name: uniqueInterfaceName(), up: false });
      opened.push(device);
      expect(caught(() => addon.setTxQueueLen(device.name, -1))).toMatchObject({
        name: "RangeError",
        message: "length must be >= 0",
      });
      expect(caught(() => addon.setMtu(device.name, "9000" as unknown as number))).toMatchObject({
        name: "TypeError",
        message: "mtu must be a number",
      });
      // A negative MTU is the kernel's to refuse (dev_validate_mtu: EINVAL), named after the ioctl.
      expect(caught(() => addon.setMtu(device.name, -5))).toMatchObject({ code: "EINVAL", syscall: "SIOCSIFMTU" });
      expect(caught(() => addon.getTxQueueLen("l3t-no-such"))).toMatchObject({
        code: "ENODEV",
        syscall: "SIOCGIFTXQLEN",
      });
      expect(caught(() => addon.getMtu("l3t-no-such"))).toMatchObject({ code: "ENODEV", syscall: "SIOCGIFMTU" });
      expect(addon.getMtu(device.name)).toBe(device.mtu); // unchanged by the refusals
    });

    it("refuses a pool too small for maxCount slots (RangeError, nothing read)", () => {
      const device = openTun({ name: uniqueInterfaceName(), up: false });
      opened.push(device);
      expect(() => device.readBatch(new Uint8Array(100), 1500, 1, new Int32Array(1))).toThrow(RangeError);
      expect(() => device.writeBatch(new Uint8Array(100), new Int32Array([90]), new Int32Array([20]), 1)).toThrow(
        RangeError,
      );
    });
  },
  [canUseNetns, addonBuilt],
);

describeIntegration(
  "TUN device in a network namespace answering ping",
  () => {
    const netns = useNetns();
    const opened: TunDevice[] = [];
    afterEach(() => {
      for (const device of opened.splice(0)) device.close();
    });

    /** A fresh device moved into a fresh namespace, addressed and up there. */
    function deviceInNamespace(mtu: number) {
      const ns = netns();
      const subnet = randomSubnet();
      const name = uniqueInterfaceName();
      const device = openTun({ name, mtu });
      opened.push(device);
      ns.adoptLink(name); // the fd keeps working after the device changes namespace
      ns.configureLink(name, subnet);
      expect(ns.ip(["-o", "link", "show", "dev", name])).toContain(`mtu ${mtu}`);
      return { ns, subnet, device };
    }

    const ping = (peer: string) => ["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", "-w", "8", peer];

    it(
      "answers ICMP echo by hand with readBatch/writeBatch from the poll callback",
      async () => {
        const { ns, subnet, device } = deviceInNamespace(1400);
        const slotSize = device.mtu + VNET_HEADER_ROOM;
        const slots = 8;
        const rxPool = new Uint8Array(slots * slotSize);
        const rxLengths = new Int32Array(slots);
        const txPool = new Uint8Array(slots * slotSize);
        const txOffsets = Int32Array.from({ length: slots }, (_, i) => i * slotSize);
        const txLengths = new Int32Array(slots);
        let answered = 0;
        device.onReadable(() => {
          const count = device.readBatch(rxPool, slotSize, slots, rxLengths);
          let replies = 0;
          for (let i = 0; i < count; i++) {
            const request = rxPool.subarray(i * slotSize, i * slotSize + rxLengths[i]!);
            const length = writeEchoReply(request, txPool.subarray(replies * slotSize, (replies + 1) * slotSize));
            if (length > 0) txLengths[replies++] = length;
          }
          if (replies > 0) answered += device.writeBatch(txPool, txOffsets, txLengths, replies);
        });

        const result = await ns.execAsync(ping(subnet.peer), 15_000);
        expect(result.stdout).toMatch(/3 packets transmitted, 3 received/);
        expect(result.code).toBe(0);
        expect(answered).toBeGreaterThanOrEqual(3);
        expect(device.writeErrors).toBe(0);
        // ping also takes replies with a bad ICMP checksum (its raw socket sees them first): the kernel's counters tell.
        const icmp = ns.snmpCounters().Icmp;
        expect(icmp?.InCsumErrors).toBe(0);
        expect(icmp?.InEchoReps).toBeGreaterThanOrEqual(3);
      },
      20_000,
    );

    it(
      "runs an engine with runTun: read batch -> l3Rx -> l3TxBuffer/l3Tx -> batched write",
      async () => {
        const { ns, subnet, device } = deviceInNamespace(1500);
        const engine = new EchoEngine();
        const errors: unknown[] = [];
        const runner = runTun(engine, device, { l4Rx: () => {} }, { onError: (error) => errors.push(error) });
        opened.pop(); // the runner closes it

        try {
          const result = await ns.execAsync(ping(subnet.peer), 15_000);
          expect(result.stdout).toMatch(/3 packets transmitted, 3 received/);
          expect(result.code).toBe(0);
          expect(engine.replied).toBeGreaterThanOrEqual(3);
          expect(runner.stats.txPackets).toBe(engine.replied);
          expect(runner.stats.rxPackets).toBe(engine.received);
          const icmp = ns.snmpCounters().Icmp;
          expect(icmp?.InCsumErrors).toBe(0);
          expect(icmp?.InEchoReps).toBeGreaterThanOrEqual(3);
          expect(runner.stats.txBatches).toBeLessThanOrEqual(runner.stats.rxBatches);
          expect(errors).toEqual([]);
        } finally {
          runner.stop();
        }
        expect(device.isClosed).toBe(true);
      },
      20_000,
    );
  },
  [canUseNetns, addonBuilt, hasCommand("ping", ["-V"], "iputils-ping")],
);
