/**
 * NetStack against the Linux kernel over a real TUN device in a namespace the test made:
 * - `l3l4 http` (lib/cli/http.ts: node:http on NetStack) answers curl for any
 *   address and port, IPv4 and IPv6, and carries 20 MB down and 20 MB up byte-exact;
 * - node:https on NetStack, with a certificate openssl makes now, answers `curl -k`;
 * - node:http's client and undici, dialling through stack.connect, download 20 MB from a python
 *   http.server inside the namespace. No socket of this process's namespace dials anything: the
 *   test counts net.Socket.prototype.connect calls and the server logs the engine's address.
 */
import { dirname, basename } from "node:path";
import { createHash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { afterAll, afterEach, expect, it, vi } from "vitest";
import { Client } from "undici";
import { bodyChunks, startHttpServer, type HttpServer } from "../../lib/cli/http.js";
import { DEVICE_OPTIONS, deviceOptions, parseCommandLine } from "../../lib/cli/options.js";
import { L3L4Builder } from "../../lib/builder.js";
import { NetStack } from "../../lib/stream/net-stack.js";
import { runTun, type TunRunner } from "../../lib/tun/runner.js";
import { useNetns, type Netns } from "../support/netns.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import { eventually } from "../support/stream-pair.js";
import { hasOpenssl, selfSignedCert, type KeyAndCert } from "../support/tls-cert.js";
import {
  addonBuilt,
  randomFile,
  runIn,
  sha256sumOutput,
  shellIn,
  spawnIn,
  testAddresses,
  tunInNamespace,
  useCleanup,
  useRandomFiles,
  type Addresses,
} from "./harness.js";

const MB = 1_000_000;

/** An IPv6 address as Node and the engine print it, in brackets ("[fd12::1]"). */
function canonical(ipv6: string): string {
  return new URL(`http://[${ipv6}]/`).hostname;
}

function patternSha256(length: number): string {
  const hash = createHash("sha256");
  for (const chunk of bodyChunks(length)) hash.update(chunk);
  return hash.digest("hex");
}

/** Counts connect() calls of net.Socket in this process: a client given createConnection or a connector must make none. */
function countHostDials(): { readonly count: number; restore(): void } {
  const spy = vi.spyOn(net.Socket.prototype, "connect");
  return {
    get count() {
      return spy.mock.calls.length;
    },
    restore: () => spy.mockRestore(),
  };
}

describeIntegration(
  "NetStack over TUN against the Linux stack",
  () => {
    const netns = useNetns("l3l4-ns-");
    useCleanup();
    useRandomFiles();
    const servers: HttpServer[] = [];
    const runners: TunRunner[] = [];
    let credentials: KeyAndCert | undefined;
    afterAll(() => credentials?.remove());
    afterEach(async () => {
      // Registered after useNetns: runs before the namespaces are deleted.
      await Promise.all(servers.splice(0).map((server) => server.close()));
      await Promise.all(runners.splice(0).map((runner) => runner.shutdown()));
    });

    function httpServerInNamespace(): { ns: Netns; addresses: Addresses; server: HttpServer } {
      const ns = netns();
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses);
      const server = startHttpServer(deviceOptions(parseCommandLine(["--quiet"], DEVICE_OPTIONS)), { device, log: () => {} });
      servers.push(server);
      return { ns, addresses, server };
    }

    it("l3l4 http answers curl for any address and port, IPv4 and IPv6", async () => {
      const { ns, addresses, server } = httpServerInNamespace();
      const targets = [
        [addresses.v4(7), 80],
        [addresses.v4(200), 8080],
        [addresses.v4(33), 65535],
        [addresses.v6(0x42), 443],
        [addresses.v6(0xbeef), 8000],
      ] as const;
      for (const [host, port] of targets) {
        const url = host.includes(":") ? `http://[${host}]:${port}/hello` : `http://${host}:${port}/hello`;
        const result = await runIn(ns, ["curl", "-sS", "--max-time", "10", url], 15_000);
        expect(result.stderr).toBe("");
        const reached = host.includes(":") ? `${canonical(host)}:${port}` : `${host}:${port}`;
        const from = host.includes(":") ? `${canonical(addresses.tunV6)}:` : `${addresses.tunV4}:`;
        expect(result.stdout).toContain(`you reached ${reached} from ${from}`);
        expect(result.stdout).toContain("(GET /hello)");
      }
      expect(server.counters.requests).toBe(targets.length);
      expect(server.stack.stats.tcpAccepted).toBe(targets.length);
    }, 60_000);

    it("20 MB down (IPv4) and 20 MB up (IPv6), byte-exact", async () => {
      const { ns, addresses, server } = httpServerInNamespace();
      const down = await shellIn(ns, `curl -sS --max-time 60 http://${addresses.v4(9)}:8080/bytes/${20 * MB} | sha256sum`, 70_000);
      expect(down.stderr).toBe("");
      expect(sha256sumOutput(down.stdout)).toBe(patternSha256(20 * MB));
      const file = randomFile(20 * MB);
      const up = await runIn(ns, ["curl", "-sS", "--max-time", "60", "-T", file.path, `http://[${addresses.v6(9)}]/upload`], 70_000);
      expect(up.stderr).toBe("");
      expect(JSON.parse(up.stdout)).toEqual({ bytes: 20 * MB, sha256: file.sha256 });
      expect(server.counters.bytesIn).toBe(20 * MB);
    }, 150_000);

    it("node:https on NetStack with a certificate openssl made now answers curl -k, and curl --cacert", async () => {
      const ns = netns();
      const addresses = testAddresses();
      credentials ??= selfSignedCert(["l3l4.test"]);
      const device = tunInNamespace(ns, addresses);
      const engine = new L3L4Builder<number>().build();
      const stack = new NetStack(engine);
      // A TLSSocket over a stream that is not a net.Socket has no address getters (Node reads them from
      // a libuv handle): the FlowSocket under it has them.
      const reached: string[] = [];
      const server = https.createServer({ key: credentials.key, cert: credentials.cert }, (req, res) => {
        res.end(`secure ${(req.socket as unknown as { encrypted?: boolean }).encrypted === true}\n`);
      });
      stack.on("connection", (socket) => {
        reached.push(`${socket.localAddress} ${socket.localPort}`);
        server.emit("connection", socket);
      });
      runners.push(runTun(engine, device, stack));
      const insecure = await runIn(ns, ["curl", "-sS", "-k", "--max-time", "10", `https://${addresses.v4(5)}:443/`], 15_000);
      expect(insecure.stderr).toBe("");
      expect(insecure.stdout).toBe("secure true\n");
      // The certificate really is the one served: curl verifies it when told to trust it.
      const verified = await runIn(
        ns,
        ["curl", "-sS", "--max-time", "10", "--cacert", credentials.certFile, "--resolve", `l3l4.test:8443:${addresses.v6(5)}`, "https://l3l4.test:8443/"],
        15_000,
      );
      expect(verified.stderr).toBe("");
      expect(verified.stdout).toBe("secure true\n");
      expect(reached).toEqual([`${addresses.v4(5)} 443`, `${canonical(addresses.v6(5)).slice(1, -1)} 8443`]);
      server.close();
    }, 60_000);

    /** A python http.server in the namespace on the kernel's TUN address, serving `file`'s directory. */
    async function pythonServer(ns: Netns, bind: string, port: number, dir: string) {
      const server = spawnIn(ns, ["python3", "-u", "-m", "http.server", String(port), "--bind", bind, "--directory", dir], 120_000);
      await server.waitForOutput(/Serving HTTP/, 10_000);
      return server;
    }

    /** Our engine on the namespace's TUN device, dialling from v4(7) / v6(7) of the routed prefix. */
    function clientStack(ns: Netns) {
      const addresses = testAddresses();
      const device = tunInNamespace(ns, addresses);
      const engine = new L3L4Builder<number>().build();
      const stack = new NetStack(engine, { localAddresses: [addresses.v4(7), addresses.v6(7)] });
      runners.push(runTun(engine, device, stack));
      return { addresses, stack };
    }

    it("node:http's client over stack.connect downloads 20 MB from python's http.server in the namespace", async () => {
      const ns = netns();
      const { addresses, stack } = clientStack(ns);
      const file = randomFile(20 * MB);
      const python = await pythonServer(ns, addresses.tunV4, 8000, dirname(file.path));
      const dials = countHostDials();
      try {
        const result = await new Promise<{ status: number | undefined; bytes: number; sha256: string }>((resolve, reject) => {
          const req = http.get(
            {
              host: addresses.tunV4,
              port: 8000,
              path: `/${basename(file.path)}`,
              createConnection: () => stack.connect({ host: addresses.tunV4, port: 8000 }),
            },
            (res) => {
              const hash = createHash("sha256");
              let bytes = 0;
              res.on("data", (chunk: Buffer) => {
                hash.update(chunk);
                bytes += chunk.length;
              });
              res.on("end", () => resolve({ status: res.statusCode, bytes, sha256: hash.digest("hex") }));
              res.on("error", reject);
            },
          );
          req.on("error", reject);
        });
        expect(result).toEqual({ status: 200, bytes: 20 * MB, sha256: file.sha256 });
        expect(dials.count).toBe(0);
      } finally {
        dials.restore();
      }
      expect(stack.stats.tcpConnected).toBe(1);
      // The server saw the engine's address, not one of this namespace's (its log line, on stderr).
      await eventually(() => python.stderr().includes(`${addresses.v4(7)} - - `), "python's log of the request");
    }, 90_000);

    it("undici over stack.connect (its connector option) downloads 20 MB over IPv6", async () => {
      const ns = netns();
      const { addresses, stack } = clientStack(ns);
      const file = randomFile(20 * MB);
      const python = await pythonServer(ns, addresses.tunV6, 8001, dirname(file.path));
      const small = randomFile(12345); // in the same directory
      const dials = countHostDials();
      let connectorCalls = 0;
      const client = new Client(`http://[${addresses.tunV6}]:8001`, {
        connect: (_options, callback) => {
          connectorCalls++;
          const socket = stack.connect({ host: addresses.tunV6, port: 8001 });
          socket.once("connect", () => callback(null, socket as unknown as net.Socket));
          socket.once("error", (error) => callback(error, null));
          return socket as unknown as net.Socket;
        },
      });
      try {
        const response = await client.request({ method: "GET", path: `/${basename(file.path)}` });
        expect(response.statusCode).toBe(200);
        const hash = createHash("sha256");
        let bytes = 0;
        for await (const chunk of response.body) {
          hash.update(chunk as Buffer);
          bytes += (chunk as Buffer).length;
        }
        expect(bytes).toBe(20 * MB);
        expect(hash.digest("hex")).toBe(file.sha256);
        // A second request: python's HTTP/1.0 server closed the first connection, so undici dials again.
        const again = await client.request({ method: "GET", path: `/${basename(small.path)}` });
        expect(again.statusCode).toBe(200);
        const body = Buffer.from(await again.body.arrayBuffer());
        expect(createHash("sha256").update(body).digest("hex")).toBe(small.sha256);
        expect(dials.count).toBe(0);
      } finally {
        dials.restore();
        await client.close();
      }
      // Every connection undici made came from its connector, over the engine.
      expect(connectorCalls).toBeGreaterThanOrEqual(2);
      expect(stack.stats.tcpConnected).toBe(connectorCalls);
      await eventually(() => python.stderr().includes(`${addresses.v6(7)} - - `), "python's log of the request");
    }, 90_000);
  },
  [canUseNetns, addonBuilt, hasCommand("curl", ["--version"], "curl"), hasCommand("python3", ["--version"], "python3"), hasOpenssl],
);
