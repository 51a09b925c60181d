/**
 * The memory budget (maxMemory) against the Linux kernel's TCP, over a real TUN device in a namespace
 * the test made:
 * - node clients in the namespace echo data through the echo app while the budget is small enough
 *   that the pressure steps are active (SHRINK from half of it, PRUNE from three quarters), with the
 *   integration faults (loss, reordering, duplication) between device and engine: every byte comes
 *   back exactly, and memory in use never passes the budget (checked after every batch of packets);
 * - with the budget held at REFUSE (90 %) by flows whose data the application does not read, a new
 *   connection from the kernel is refused with RST: the client sees ECONNREFUSED.
 */
import { rmSync, writeFileSync } from "node:fs";
import { afterEach, expect, it } from "vitest";
import { L3L4Builder } from "../../lib/builder.js";
import { EchoApp } from "../../lib/debug/echo-app.js";
import { FaultyDevice } from "../../lib/debug/fault-device.js";
import { parseFaults } from "../../lib/debug/faults.js";
import type { Flow } from "../../lib/api.js";
import type { L3L4 } from "../../lib/engine.js";
import { runTun, type TunApp, type TunRunner } from "../../lib/tun/runner.js";
import { useNetns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import {
  addonBuilt,
  fixture,
  INTEGRATION_FAULTS,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  spawnIn,
  testAddresses,
  tunInNamespace,
  useCleanup,
  useRandomFiles,
  type TcpClientsResult,
} from "./harness.js";

/** Small enough that a few flows of 256 KiB buffers reach every pressure level. */
const LIMIT = 192 * 1024;

/** What the budget looked like, sampled after every batch of packets the runner fed the engine. */
class MemoryWatch {
  peak = 0;
  over = 0;
  private waiters: { share: number; resolve: () => void }[] = [];

  constructor(private readonly engine: L3L4<number>) {}

  sample(): void {
    const used = this.engine.stats().memoryInUse;
    if (used > this.peak) this.peak = used;
    if (used > LIMIT) this.over++;
    this.waiters = this.waiters.filter((w) => {
      if (used < w.share * LIMIT) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once memory in use reaches `share` of the budget; rejects after timeoutMs. */
  reach(share: number, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`memory never reached ${share * 100} % of ${LIMIT}: peak ${this.peak}`)), timeoutMs);
      this.waiters.push({
        share,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
}

/** The echo app, sampling the budget after every batch, and telling when it has accepted n flows. */
class WatchedEcho extends EchoApp {
  accepted = 0;
  private acceptWaiters: { n: number; resolve: () => void }[] = [];

  constructor(
    engine: L3L4<number>,
    cb: () => TunRunner["callbacks"],
    private readonly watch: MemoryWatch,
  ) {
    super(engine, cb);
  }

  override l4Accept(flow: Flow): boolean {
    const ok = super.l4Accept(flow);
    if (ok) this.accepted++;
    this.acceptWaiters = this.acceptWaiters.filter((w) => {
      if (this.accepted < w.n) return true;
      w.resolve();
      return false;
    });
    return ok;
  }

  /** Resolves once n flows were accepted. */
  acceptedFlows(n: number): Promise<void> {
    if (this.accepted >= n) return Promise.resolve();
    return new Promise((resolve) => this.acceptWaiters.push({ n, resolve }));
  }

  afterRx(): void {
    this.watch.sample();
  }
}

/** Takes every flow and never reads: the first data of each flow pauses it, so what arrives is held. */
class Hoarder implements TunApp {
  readonly flows = new Set<Flow>();
  constructor(
    private readonly engine: L3L4<number>,
    private readonly watch: MemoryWatch,
  ) {}

  l4Accept(flow: Flow): boolean {
    this.flows.add(flow);
    return true;
  }

  l4Rx(flow: Flow, data: Uint8Array | null): void {
    if (data === null) this.flows.delete(flow);
    else this.engine.l4PauseRx(flow);
  }

  afterRx(): void {
    this.watch.sample();
  }
}

describeIntegration(
  "maxMemory against the Linux stack over TUN",
  () => {
    const netns = useNetns("l3l4-mem-");
    useCleanup();
    useRandomFiles();
    const stops: (() => Promise<void>)[] = [];
    afterEach(async () => {
      // Registered after useNetns: runs before the namespaces are deleted.
      await Promise.all(stops.splice(0).map((stop) => stop()));
    });

    function engineInNamespace(makeApp: (engine: L3L4<number>, watch: MemoryWatch, runner: () => TunRunner) => TunApp, faults: boolean) {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses);
      const engine = new L3L4Builder<number>().mtu(device.mtu).maxMemory(LIMIT).build();
      const watch = new MemoryWatch(engine);
      let runner: TunRunner | undefined;
      const app = makeApp(engine, watch, () => runner!);
      const fault = faults ? parseFaults(INTEGRATION_FAULTS) : undefined;
      const faulty = fault === undefined ? undefined : new FaultyDevice(device, fault, fault, 0x5eed_13);
      runner = runTun(engine, faulty ?? device, app);
      stops.push(async () => {
        await runner!.shutdown();
        faulty?.stop();
      });
      return { ns, addresses, engine, watch, app };
    }

    it(
      "the kernel's TCP echoes through the engine under SHRINK and PRUNE, with faults: every byte back, never past the budget",
      async () => {
        const { ns, addresses, engine, watch, app } = engineInNamespace(
          (e, w, runner) => new WatchedEcho(e, () => runner().callbacks, w),
          true,
        );
        const echo = app as WatchedEcho;
        const targets = [
          { host: addresses.v4(7), port: 7 },
          { host: addresses.v6(7), port: 7 },
        ];
        // Every connection is made before any data flows: a SYN that the faults drop and that comes
        // again once the budget is at REFUSE (90 %) would be refused, rightly, and this test is about
        // the flows that are in. The clients connect and wait for `start`; nc connects after them.
        const start = `${randomFile(1).path}.start`;
        rmSync(start, { force: true });
        const clients = fixture<TcpClientsResult>(
          ns,
          "tcp-clients",
          { targets, connections: 8, bytes: 2 << 20, mode: "echo", timeoutMs: 100_000, startFile: start },
          110_000,
        );
        await echo.acceptedFlows(8);
        // A bigger transfer beside them, checked by its hash: nc half-closes after its input.
        const file = randomFile(8_000_000);
        const nc = shellIn(ns, `nc -N ${addresses.v4(8)} 9 < ${file.path} | sha256sum`, 110_000);
        await echo.acceptedFlows(9);
        writeFileSync(start, "");
        await watch.reach(0.75, 60_000); // PRUNE, so SHRINK before it
        const [result, hashed] = await Promise.all([clients, nc]);
        expect(result.errors).toEqual([]);
        expect(result.ok).toBe(8);
        expect(result.bytesReceived).toBe(8 * (2 << 20));
        expect(sha256sumOutput(hashed.stdout)).toBe(file.sha256);
        const s = engine.stats();
        expect(watch.over).toBe(0);
        expect(watch.peak).toBeLessThanOrEqual(LIMIT);
        expect(watch.peak).toBeGreaterThanOrEqual(0.75 * LIMIT);
        // The budget did limit the flows: writes were cut short for it, and PRUNE refused reordered data.
        expect(s.memorySendLimited).toBeGreaterThan(0);
        expect(s.memoryDroppedOutOfOrder).toBeGreaterThan(0);
        expect(echo.problems).toEqual([]);
        expect(echo.counters.tcpBytes).toBe(8 * (2 << 20) + 8_000_000);
      },
      150_000,
    );

    it(
      "at REFUSE (90 % held by flows nobody reads) a new connection from the kernel gets RST: ECONNREFUSED",
      async () => {
        const { ns, addresses, engine, watch } = engineInNamespace((e, w) => new Hoarder(e, w), false);
        // Senders that never finish: their data is held, paused, until the budget is full.
        for (let i = 0; i < 6; i++) spawnIn(ns, ["sh", "-c", `nc ${addresses.v4(20 + i)} 5000 < /dev/zero`], 60_000);
        await watch.reach(0.9, 30_000);
        expect(engine.stats().memoryInUse).toBeLessThanOrEqual(LIMIT);
        const refusedBefore = engine.stats().memoryRefusedFlows;
        const probe =
          "const s = require('node:net').connect(80, process.argv[1]);" +
          "s.on('connect', () => { console.log('connected'); s.destroy(); });" +
          "s.on('error', (e) => console.log(e.code));";
        for (const host of [addresses.v4(99), addresses.v6(99)]) {
          const result = await runIn(ns, [process.execPath, "-e", probe, host], 15_000);
          expect(result.stdout.trim()).toBe("ECONNREFUSED");
        }
        // At least the two probes (a sender that connected late is refused too).
        expect(engine.stats().memoryRefusedFlows).toBeGreaterThanOrEqual(refusedBefore + 2);
        expect(watch.over).toBe(0);
      },
      60_000,
    );
  },
  [canUseNetns, addonBuilt, hasCommand("nc", ["-h"], "netcat-openbsd")],
);
