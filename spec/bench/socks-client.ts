/**
 * Measuring aid (issue 8): what a SOCKS5 CONNECT costs the proxy's process, without the TUN, the
 * engine or namespaces: on loopback only, microsocks (a child process) in front of a TCP server (a
 * child node process that writes "ok\n" and closes each connection). This process's CPU time (user +
 * system) per connection, for each way of dialling, alternated within each round:
 *
 *   direct    lib/proxy/direct.ts's dialer straight to the server: the floor (a socket, connect, a read)
 *   socks5    lib/proxy/socks5.ts's dialer: the `socks` library's handshake on our socket
 *   minimal   the same round trips (greeting, [username/password,] CONNECT) written by hand on the same
 *             kind of socket: what the protocol's writes and reads cost without the library
 *
 *   node dist/spec/bench/socks-client.js [connections] [rounds] [auth|noauth] [direct,socks5,minimal]
 *
 * Each dial reads the server's "ok\n" and its FIN, then closes; CONCURRENCY dials run at a time.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { connect as netConnect, type Socket } from "node:net";
import { DirectTcp } from "../../lib/proxy/direct.js";
import { Socks5Tcp } from "../../lib/proxy/socks5.js";
import { upstreamSocket, type BorrowedReads, type TcpDialer, type TcpSink } from "../../lib/proxy/upstream.js";

const [countText = "4000", roundsText = "3", authText = "noauth", only = ""] = process.argv.slice(2);
const COUNT = Math.max(100, Number(countText) | 0);
const ROUNDS = Math.max(1, Number(roundsText) | 0);
const AUTH = authText === "auth";
const CONCURRENCY = 32;
const SOCKS_PORT = 20_000 + (process.pid % 20_000);
const USER = { name: "bench", password: "bench-pass" };

const children: ChildProcess[] = [];
function stopChildren(): void {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
}
process.once("exit", stopChildren);

/** The server: a child node process on 127.0.0.1, port from its first line of output. */
async function startServer(): Promise<number> {
  const source = `const s=require("net").createServer(c=>{c.on("error",()=>{});c.end("ok\\n")});s.listen(0,"127.0.0.1",()=>console.log(s.address().port));`;
  const child = spawn(process.execPath, ["-e", source], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.stdout!.once("data", (line: Buffer) => resolve(Number(String(line).trim())));
    child.once("exit", (code) => reject(new Error(`server exited (${code})`)));
  });
}

async function startMicrosocks(): Promise<void> {
  const auth = AUTH ? ["-u", USER.name, "-P", USER.password] : [];
  children.push(spawn("microsocks", ["-i", "127.0.0.1", "-p", String(SOCKS_PORT), ...auth], { stdio: "ignore" }));
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = netConnect(SOCKS_PORT, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(true)));
      s.once("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("microsocks did not listen");
}

// ------------------------------------------------------------------ a sink as TcpRelay's, minimal

const READ_BUFFER = new Uint8Array(64 * 1024);
const SINK = Symbol("bench.sink");
type SinkSocket = Socket & { [SINK]?: BenchSink };
const READS: BorrowedReads = { buffer: READ_BUFFER, callback: () => true };

function onEnd(this: Socket): void {
  (this as SinkSocket)[SINK]?.finished(this);
}

class BenchSink implements TcpSink {
  readonly reads = READS;
  constructor(private readonly done: (error?: string) => void) {}
  adopt(socket: Socket): void {
    (socket as SinkSocket)[SINK] = this;
  }
  upstreamConnected(socket: Socket): void {
    socket.on("end", onEnd);
    socket.on("error", () => {});
  }
  upstreamFailed(reason: string): void {
    this.done(reason);
  }
  finished(socket: Socket): void {
    socket.destroy();
    this.done();
  }
}

/** The hand-written client: the same writes and reads as the library's, no pipelining. */
function minimalDial(target: { host: string; port: number }, done: (error?: string) => void): void {
  const socket = upstreamSocket();
  let step = 0;
  let pending: Buffer = Buffer.alloc(0);
  const octets = target.host.split(".").map(Number);
  socket.connect(SOCKS_PORT, "127.0.0.1");
  socket.write(Buffer.from(AUTH ? [5, 2, 0, 2] : [5, 1, 0]));
  const request = Buffer.from([5, 1, 0, 1, ...octets, target.port >> 8, target.port & 255]);
  socket.on("data", (chunk: Buffer) => {
    if (step === 3) return; // "ok\n"
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (step === 0 && pending.length >= 2) {
      if (pending[1] === 2) {
        const user = Buffer.from(USER.name);
        const pass = Buffer.from(USER.password);
        socket.write(Buffer.concat([Buffer.from([1, user.length]), user, Buffer.from([pass.length]), pass]));
        step = 1;
      } else {
        socket.write(request);
        step = 2;
      }
      pending = pending.subarray(2);
    } else if (step === 1 && pending.length >= 2) {
      socket.write(request);
      step = 2;
      pending = pending.subarray(2);
    } else if (step === 2 && pending.length >= 10) {
      step = 3;
    }
  });
  socket.on("end", () => {
    socket.destroy();
    done(step === 3 ? undefined : "minimal: ended early");
  });
  socket.on("error", (e) => done(`minimal: ${e.message}`));
}

type Variant = "direct" | "socks5" | "minimal";

async function runVariant(variant: Variant, serverPort: number): Promise<{ usPerConn: number; perSecond: number }> {
  const server = { host: "127.0.0.1", port: serverPort };
  const socksServer = {
    host: "127.0.0.1",
    port: SOCKS_PORT,
    username: AUTH ? USER.name : undefined,
    password: AUTH ? USER.password : undefined,
    name: "socks5://127.0.0.1",
    timeoutMs: Number(process.env["BENCH_SOCKS_TIMEOUT_MS"] ?? 10_000),
  };
  const dialer: TcpDialer = variant === "direct" ? new DirectTcp(10_000) : new Socks5Tcp(socksServer);
  let started = 0;
  let finished = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const next = (error?: string): void => {
      if (error !== undefined) {
        reject(new Error(`${variant}: ${error}`));
        return;
      }
      if (started > 0) finished++;
      if (finished === COUNT) resolve();
      if (started >= COUNT) return;
      started++;
      if (variant === "minimal") minimalDial(server, next);
      else dialer.dial(server, new BenchSink(next));
    };
    for (let i = 0; i < CONCURRENCY; i++) {
      started++;
      if (variant === "minimal") minimalDial(server, next);
      else dialer.dial(server, new BenchSink(next));
    }
  });
  const ms = performance.now() - t0;
  const d = process.cpuUsage(cpu0);
  return { usPerConn: (d.user + d.system) / COUNT, perSecond: (COUNT * 1000) / ms };
}

const serverPort = await startServer();
await startMicrosocks();
const variants = (["direct", "socks5", "minimal"] as Variant[]).filter((v) => only === "" || only.split(",").includes(v));
for (const v of variants) await runVariant(v, serverPort); // warm-up: the JIT
const results = new Map<Variant, number[]>(variants.map((v) => [v, []]));
for (let r = 0; r < ROUNDS; r++) {
  for (const v of variants) {
    const { usPerConn, perSecond } = await runVariant(v, serverPort);
    results.get(v)!.push(usPerConn);
    console.log(`round ${r + 1} ${v.padEnd(8)} ${usPerConn.toFixed(1).padStart(7)} µs/conn ${perSecond.toFixed(0).padStart(6)} conn/s`);
  }
}
for (const v of variants) {
  const runs = results.get(v)!.sort((a, b) => a - b);
  console.log(`${v.padEnd(8)} median ${runs[runs.length >> 1]!.toFixed(1)} µs/conn (${AUTH ? "username/password" : "no auth"}, ${COUNT} connections, ${CONCURRENCY} at a time)`);
}
stopChildren();
process.exit(0);
