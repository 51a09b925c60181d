/**
 * node:http, node:https and node:tls on FlowSockets, client and server on two engines joined on the
 * real clock: Node's own HTTP and TLS code, unchanged, byte-exact both ways.
 */
import { createHash, randomFillSync, type Hash } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { Duplex, Writable } from "node:stream";
import net from "node:net";
import tls from "node:tls";
import { Client } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { NetStack } from "../../lib/stream/net-stack.js";
import { describeIntegration } from "../support/privileges.js";
import { closed, SERVER4, SERVER6, useStreamPairs } from "../support/stream-pair.js";
import { hasOpenssl, selfSignedCert, type KeyAndCert } from "../support/tls-cert.js";

const MB = 1_000_000;

/** Writes `bytes` random bytes to `out` with backpressure, then ends it; resolves with their sha256. */
function sendRandom(out: Writable, bytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let sent = 0;
    const pump = (): void => {
      while (sent < bytes) {
        const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(64 * 1024, bytes - sent)));
        hash.update(chunk);
        sent += chunk.length;
        if (!out.write(chunk)) {
          out.once("drain", pump);
          return;
        }
      }
      out.end(() => resolve(hash.digest("hex")));
    };
    out.once("error", reject);
    pump();
  });
}

/** Reads `input` to its end; resolves with the byte count and sha256. */
function receive(input: NodeJS.ReadableStream): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash: Hash = createHash("sha256");
    let bytes = 0;
    input.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    input.once("end", () => resolve({ bytes, sha256: hash.digest("hex") }));
    input.once("error", reject);
  });
}

/**
 * A node:http(s) server whose handler reads the request body, then answers with `responseBytes`
 * random bytes, giving the request's size and hash in headers and the response's in trailers.
 */
function hashingHandler(responseBytes: number) {
  return (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void receive(req).then(async (got) => {
      res.writeHead(200, { "x-request-bytes": String(got.bytes), "x-request-sha256": got.sha256, Trailer: "x-response-sha256" });
      const sha256 = await new Promise<string>((resolve) => {
        const hash = createHash("sha256");
        let sent = 0;
        const pump = (): void => {
          while (sent < responseBytes) {
            const chunk = randomFillSync(Buffer.allocUnsafe(Math.min(64 * 1024, responseBytes - sent)));
            hash.update(chunk);
            sent += chunk.length;
            if (!res.write(chunk)) {
              res.once("drain", pump);
              return;
            }
          }
          resolve(hash.digest("hex"));
        };
        pump();
      });
      res.addTrailers({ "x-response-sha256": sha256 });
      res.end();
    });
  };
}

interface Exchange {
  requestSha256: string;
  status: number | undefined;
  headers: http.IncomingHttpHeaders;
  trailers: NodeJS.Dict<string>;
  response: { bytes: number; sha256: string };
}

/** POST `requestBytes` random bytes with `request`; read the whole response. */
async function exchange(request: http.ClientRequest, requestBytes: number): Promise<Exchange> {
  const responded = new Promise<http.IncomingMessage>((resolve, reject) => {
    request.once("response", resolve);
    request.once("error", reject);
  });
  const requestSha256 = await sendRandom(request, requestBytes);
  const res = await responded;
  const response = await receive(res);
  return { requestSha256, status: res.statusCode, headers: res.headers, trailers: res.trailers, response };
}

function serveOn(stack: NetStack, server: { emit(event: "connection", socket: Duplex): boolean }): void {
  stack.on("connection", (socket) => server.emit("connection", socket));
}

describe("node:http on NetStack, client and server on two engines", () => {
  const streamPair = useStreamPairs();

  it("POSTs 50 MB and gets 50 MB back, byte-exact both ways", async () => {
    const { a, b } = streamPair();
    const server = http.createServer(hashingHandler(50 * MB));
    serveOn(b, server);
    const request = http.request({
      method: "POST",
      host: SERVER4,
      port: 80,
      path: "/upload",
      createConnection: () => a.connect({ host: SERVER4, port: 80 }),
    });
    const result = await exchange(request, 50 * MB);
    expect(result.status).toBe(200);
    expect(result.headers["x-request-bytes"]).toBe(String(50 * MB));
    expect(result.headers["x-request-sha256"]).toBe(result.requestSha256);
    expect(result.response.bytes).toBe(50 * MB);
    expect(result.trailers["x-response-sha256"]).toBe(result.response.sha256);
    expect(a.stats.tcpConnected).toBe(1);
    expect(b.stats.tcpAccepted).toBe(1);
    server.close();
  }, 120_000);

  it("a keep-alive Agent reuses one FlowSocket for sequential requests (IPv6)", async () => {
    const { a, b } = streamPair();
    const server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress}`));
    });
    serveOn(b, server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The Agent's connection factory: every socket it makes is a FlowSocket.
    (agent as unknown as { createConnection: () => Duplex }).createConnection = () => a.connect({ host: SERVER6, port: 8080 });
    const bodies: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
        http.get({ host: SERVER6, port: 8080, path: `/${i}`, agent }, resolve).once("error", reject),
      );
      bodies.push(String((await receiveAll(res)).toString()));
    }
    expect(bodies).toEqual([0, 1, 2, 3, 4].map((i) => `GET /${i} from fd00:200::1`));
    expect(a.stats.tcpConnected).toBe(1);
    const sockets = Object.values(agent.freeSockets).flat();
    expect(sockets).toHaveLength(1);
    const isClosed = closed(sockets[0]!);
    agent.destroy();
    await isClosed;
    server.close();
  });

  it("undici reads 20 MB responses that end with their connection (its parser paused as the FIN comes)", async () => {
    const { a, b } = streamPair();
    const body = Buffer.alloc(20 * MB, 0x61);
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { connection: "close", "content-length": body.length });
      res.end(body);
    });
    serveOn(b, server);
    for (let i = 0; i < 3; i++) {
      const client = new Client(`http://${SERVER4}:80`, {
        connect: (_options, callback) => {
          const socket = a.connect({ host: SERVER4, port: 80 });
          socket.once("connect", () => callback(null, socket as unknown as net.Socket));
          socket.once("error", (error) => callback(error, null));
        },
      });
      try {
        const response = await client.request({ method: "GET", path: "/" });
        let bytes = 0;
        for await (const chunk of response.body) bytes += (chunk as Buffer).length;
        expect(bytes).toBe(body.length);
      } finally {
        await client.close();
      }
    }
    server.close();
  }, 60_000);

  it("undici's Client over stack.connect (its connector): keep-alive, then a response that ends with the connection", async () => {
    const { a, b } = streamPair();
    const server = http.createServer(hashingHandler(5 * MB));
    serveOn(b, server);
    let connectorCalls = 0;
    const client = new Client(`http://${SERVER4}:8080`, {
      connect: (_options, callback) => {
        connectorCalls++;
        const socket = a.connect({ host: SERVER4, port: 8080 });
        socket.once("connect", () => callback(null, socket as unknown as net.Socket));
        socket.once("error", (error) => callback(error, null));
      },
    });
    try {
      for (const close of [false, false, true]) {
        const response = await client.request({ method: "POST", path: "/", body: "ping", headers: close ? { connection: "close" } : {} });
        expect(response.statusCode).toBe(200);
        const got = await receive(response.body);
        expect(got.bytes).toBe(5 * MB);
        expect(response.trailers["x-response-sha256"]).toBe(got.sha256);
      }
      expect(connectorCalls).toBe(1); // one connection for all three
    } finally {
      await client.close();
      server.close();
    }
  }, 60_000);

  it("the server answers 400 to garbage and the client sees the connection close", async () => {
    const { a, b } = streamPair();
    const server = http.createServer((_req, res) => res.end("unreachable"));
    serveOn(b, server);
    const socket = a.connect({ host: SERVER4, port: 80 });
    const answer = receiveAll(socket);
    socket.write("NOT HTTP AT ALL\r\n\r\n");
    expect(String(await answer)).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    server.close();
  });
});

function receiveAll(input: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    input.on("data", (chunk: Buffer) => chunks.push(chunk));
    input.once("end", () => resolve(Buffer.concat(chunks)));
    input.once("error", reject);
  });
}

describeIntegration(
  "node:https and node:tls on NetStack, with a certificate openssl made for the test",
  () => {
    const streamPair = useStreamPairs();
    let credentials: KeyAndCert;
    beforeAll(() => {
      credentials = selfSignedCert([SERVER4]);
    });
    afterAll(() => credentials?.remove());

    it("https: 10 MB each way through TLS on FlowSockets, the certificate verified against itself", async () => {
      const { a, b } = streamPair();
      const server = https.createServer({ key: credentials.key, cert: credentials.cert }, hashingHandler(10 * MB));
      serveOn(b, server);
      const request = https.request({
        method: "PUT",
        host: SERVER4,
        port: 443,
        path: "/",
        ca: credentials.cert,
        createConnection: (options: tls.ConnectionOptions) =>
          tls.connect({ ...options, socket: a.connect({ host: SERVER4, port: 443 }) }),
      } as https.RequestOptions);
      const result = await exchange(request, 10 * MB);
      expect(result.status).toBe(200);
      expect(result.headers["x-request-sha256"]).toBe(result.requestSha256);
      expect(result.trailers["x-response-sha256"]).toBe(result.response.sha256);
      server.close();
    }, 60_000);

    it("tls: a TLSSocket over a FlowSocket reports the peer certificate and half-closes", async () => {
      const { a, b } = streamPair({ b: { allowHalfOpen: true } });
      const server = tls.createServer({ key: credentials.key, cert: credentials.cert, allowHalfOpen: true }, (socket) => {
        const got: Buffer[] = [];
        socket.on("data", (d: Buffer) => got.push(d));
        socket.on("end", () => socket.end(`you said ${Buffer.concat(got).toString()}`));
      });
      serveOn(b, server);
      const client = tls.connect({ socket: a.connect({ host: SERVER4, port: 853 }), ca: credentials.cert, servername: undefined, host: SERVER4 });
      await new Promise<void>((resolve, reject) => client.once("secureConnect", resolve).once("error", reject));
      expect(client.authorized).toBe(true);
      expect(client.getPeerCertificate().subject?.CN).toBe(SERVER4);
      const answer = receiveAll(client);
      client.end("hello");
      expect(String(await answer)).toBe("you said hello");
      server.close();
    });
  },
  [hasOpenssl],
);
