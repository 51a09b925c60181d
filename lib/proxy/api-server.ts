/**
 * --api HOST:PORT: a small HTTP server (node:http) that shows a running proxy.
 *
 *   GET /flows   a JSON array, one object per live flow (ProxyApp.flows(): the TUN-side 5-tuple,
 *                the name for fake-IP flows, the upstream, the state, bytes each way, when it
 *                started, and for TCP the engine's srtt, cwnd and retransmits)
 *   GET /stats   the proxy's totals and the engine's stats() (ProxyApp.stats())
 *
 * Read-only: anything else is 404 (405 for another method). It listens where it is told; give it a
 * loopback address unless the flows of this host are everyone's business.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Endpoint } from "./options.js";
import type { ProxyApp } from "./proxy.js";

export interface ApiServer {
  /** "http://127.0.0.1:9090" (the port the kernel chose, for port 0). */
  readonly url: string;
  close(): Promise<void>;
}

/** Listens on `endpoint`; rejects when it cannot (address in use, not an address of this host). */
export function startApiServer(app: Pick<ProxyApp, "flows" | "stats">, endpoint: Endpoint): Promise<ApiServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const route = path === "/flows" ? () => app.flows() : path === "/stats" ? () => app.stats() : undefined;
    if (route === undefined) {
      res.writeHead(404, { "content-type": "application/json" }).end(`${JSON.stringify({ error: "not found", paths: ["/flows", "/stats"] })}\n`);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "application/json" }).end(`${JSON.stringify({ error: "method not allowed" })}\n`);
      return;
    }
    const body = `${JSON.stringify(route(), null, 2)}\n`;
    res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(endpoint.port, endpoint.host, () => {
      server.off("error", reject);
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      resolve({
        url: `http://${host}:${address.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
