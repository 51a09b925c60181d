/**
 * Measuring aid (issue 12): the packets a server engine sends per short request/response
 * connection, by flags, in memory (two engines joined by joinEngines, a NetStack on each):
 *
 *   node dist/spec/bench/short-conn-packets.js [proxy|relay|sync] [connections]
 *
 * The client sends one HTTP request with `Connection: close` and ends when the server does. The
 * server answers `proxy`-like (the response in a later turn of the event loop, its end in the turn
 * after, as `l3l4 proxy` gets an upstream's 'data' and 'end' when they arrive apart), `relay`-like
 * (end(response) in a later turn: the upstream's last data and its FIN read together, 'end' in the
 * nextTick after 'data'), or `sync` (end(response) in 'data'). Both engines are built as the `l3l4`
 * commands build theirs (cli/device.ts buildEngine: tcpAutocork). The aim is 3 per connection:
 * SYN-ACK, response + FIN, the ACK of the client's FIN.
 */
import { describe } from "../../lib/wire/describe.js";
import { CLIENT4, SERVER4, streamPair } from "../support/stream-pair.js";
import type { FlowSocket } from "../../lib/stream/flow-socket.js";

const [mode = "proxy", countText = "200"] = process.argv.slice(2);
if (mode !== "proxy" && mode !== "relay" && mode !== "sync") throw new Error(`mode: proxy, relay or sync, not ${mode}`);
const connections = Math.min(10_000, Math.max(1, Number(countText) | 0));
const RESPONSE = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";

const p = streamPair({ configure: (b) => b.tcpAutocork(true) });
const device = p.pair.devices[1];
const byFlags = new Map<string, number>();
let sent = 0;
const write = device.writeBatch.bind(device);
device.writeBatch = (pool, offsets, lengths, count) => {
  for (let i = 0; i < count; i++) {
    const line = describe(pool, offsets[i]!, lengths[i]!);
    const flags = (/TCP \[([^\]]*)\]/.exec(line)?.[1] ?? "other") + (/len=[1-9]/.test(line) ? " +data" : "");
    byFlags.set(flags, (byFlags.get(flags) ?? 0) + 1);
    sent++;
  }
  return write(pool, offsets, lengths, count);
};
p.b.on("connection", (socket: FlowSocket) => {
  socket.on("data", () => {
    if (mode === "sync") socket.end(RESPONSE);
    else if (mode === "relay") setImmediate(() => socket.end(RESPONSE));
    else setImmediate(() => (socket.write(RESPONSE), setImmediate(() => socket.end())));
  });
});
const started = performance.now();
for (let i = 0; i < connections; i++) {
  await new Promise<void>((resolve, reject) => {
    const c = p.a.connect({ host: SERVER4, port: 80, localAddress: CLIENT4 });
    c.on("connect", () => c.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    c.on("data", () => {});
    c.on("end", () => c.end());
    c.on("close", () => resolve());
    c.on("error", reject);
  });
}
const ms = performance.now() - started;
await new Promise((resolve) => setTimeout(resolve, 300)); // the last ACKs
const perConn = (n: number) => (n / connections).toFixed(2);
console.log(`${mode}: ${connections} connections, ${perConn(sent)} server packets each, ${(ms / connections).toFixed(3)} ms each`);
for (const [flags, n] of [...byFlags].sort((x, y) => y[1] - x[1])) console.log(`  [${flags}] ${perConn(n)}`);
p.pair.stop();
