/**
 * `l3l4 http` (lib/cli/http.ts) without a device: its handler on NetStack over two engines joined on the
 * real clock (the TUN runs are in spec/integration/net-stack.spec.ts), and its command line.
 */
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import { describe, expect, it } from "vitest";
import { bodyChunks, HTTP_COMMAND, httpHandler, type HttpCounters } from "../../lib/cli/http.js";
import { main } from "../../lib/cli/main.js";
import { CLIENT6, SERVER4, SERVER6, useStreamPairs } from "../support/stream-pair.js";

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("l3l4 http", () => {
  const streamPair = useStreamPairs();

  function serve(): { get(path: string, options?: http.RequestOptions, body?: Buffer): Promise<{ status: number; body: Buffer }>; counters: HttpCounters } {
    const { a, b } = streamPair();
    const counters: HttpCounters = { requests: 0, bytesIn: 0, bytesOut: 0 };
    const server = http.createServer(httpHandler(counters));
    b.on("connection", (socket) => server.emit("connection", socket));
    return {
      counters,
      get: (path, options = {}, body) =>
        new Promise((resolve, reject) => {
          const host = (options.host as string | undefined) ?? SERVER4;
          const port = Number(options.port ?? 80);
          const req = http.request({ ...options, host, port, path, createConnection: () => a.connect({ host, port }) }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          });
          req.on("error", reject);
          req.end(body);
        }),
    };
  }

  it("GET /bytes/N sends N bytes of its pattern, and refuses absurd sizes", async () => {
    const { get, counters } = serve();
    const got = await get("/bytes/3000000");
    expect(got.status).toBe(200);
    const expected = Buffer.concat([...bodyChunks(3_000_000)]);
    expect(got.body.length).toBe(3_000_000);
    expect(sha256(got.body)).toBe(sha256(expected));
    expect(counters.bytesOut).toBe(3_000_000);
    expect((await get("/bytes/9999999999999")).status).toBe(400);
  });

  it("POST answers the body's size and sha256", async () => {
    const { get } = serve();
    const body = randomBytes(1_234_567);
    const got = await get("/anything", { method: "POST" }, body);
    expect(JSON.parse(String(got.body))).toEqual({ bytes: body.length, sha256: sha256(body) });
  });

  it("anything else says which address and port were reached, from where (IPv6 in brackets)", async () => {
    const { get } = serve();
    const got = await get("/where", { host: SERVER6, port: 8443 });
    expect(String(got.body)).toMatch(new RegExp(`^l3l4 http: you reached \\[${SERVER6}\\]:8443 from \\[${CLIENT6}\\]:\\d+ \\(GET /where\\)\\n$`));
  });

  it("is a command of l3l4: --help prints its usage; a bad option is one line and exit status 2", async () => {
    const lines: string[] = [];
    const io = { log: (line: string) => lines.push(line), error: (line: string) => lines.push(line) };
    expect(await main(["http", "--help"], io)).toBe(0);
    expect(lines.join("\n")).toBe(HTTP_COMMAND.usage);
    lines.length = 0;
    expect(await main(["http", "--upstream", "127.0.0.1:80"], io)).toBe(2);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^l3l4 http: /);
    lines.length = 0;
    expect(await main(["--help"], io)).toBe(0);
    expect(lines.join("\n")).toMatch(/^  http +a node:http server/m);
  });
});
