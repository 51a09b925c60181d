/**
 * A packetdrill-like text script on top of TcpHarness. One event per line:
 *
 *   // comment (also #)
 *   0.000 < S 0:0(0) win 65535 <mss 1460,sackOK,TS val 100 ecr 0,nop,wscale 7>
 *   0.000 > S. 0:0(0) ack 1 <mss 1460,sackOK,TS val 0 ecr 100,nop,wscale 3>
 *   +0.010 < . 1:1(0) ack 1 win 512
 *   +0 < P. 1:101(100) ack 1
 *   +0 > . 1:1(0) ack 101
 *   +0.040 > none                  // nothing sent (and nothing waiting)
 *   +0 send(1000)                  // also: send("text"), close, abort, pause, resume
 *   +0 rx(100)                     // the first 100 bytes the peer sent were delivered, in order
 *   +0 state ESTABLISHED           // l4State (or "gone")
 *   +0 closed 1                    // l4Rx(flow, null) calls so far
 *   +0 remote-closed 1             // l4RemoteClosed calls so far
 *   +0 flows 0                     // engine.flowCount
 *
 * Times: `0.250` is absolute (seconds from the start), `+0.2` relative to the previous line. Before
 * each line the clock moves to its time, running the timers that fall due on the way; a `>` line also
 * checks that its packet left at exactly that time (the virtual clock makes timers exact).
 *
 * Packets follow TcpHarness's conventions: relative sequence numbers (the peer's from its ISN, the
 * engine's from its ISN), flags in packetdrill letters (S F R P . and any order). Where packetdrill
 * differs:
 * - A `>` line without `<...>` options does not check options (packetdrill would want none); with
 *   options, the list is exact: an option not listed must be absent. `...` inside `<>` means "and
 *   whatever else". The engine's TS val is not checked (its ecr is); `nop`/`eol` are layout, ignored.
 * - An injected `TS val V ecr E`: V is sent as is; E is replaced by the engine's last TSval, as a
 *   well-behaved peer echoes it (0 on a SYN).
 * - SACK blocks are written `sack 1001:2001 3001:4001`, relative like the sequence numbers.
 */
import type { TcpState } from "../../lib/api.js";
import type { SegIn, SegOut, TcpHarness } from "./tcp-harness.js";

export interface ScriptOptions {
  /** Accepted difference between a `>` line's time and the packet's (ms); default 0. */
  toleranceMs?: number;
}

interface ParsedOptions {
  any: boolean;
  mss?: number;
  wscale?: number;
  sackOK: boolean;
  ts?: [number, number];
  sack?: Array<[number, number]>;
}

/** Run a script against a harness. Throws on the first line that fails, naming it. */
export function runScript(h: TcpHarness, script: string, options: ScriptOptions = {}): void {
  const tolerance = options.toleranceMs ?? 0;
  let last = h.now;
  const lines = script.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!;
    const text = raw.replace(/\/\/.*$/, "").replace(/#.*$/, "").trim();
    if (text === "") continue;
    try {
      const m = /^(\+?)(\d+(?:\.\d+)?)\s+(.*)$/.exec(text);
      if (m === null) throw new Error("a line starts with a time: 0.100 or +0.1");
      const secs = Number(m[2]);
      const t = Math.round((m[1] === "+" ? last / 1000 + secs : secs) * 1_000_000) / 1000;
      last = t;
      const body = m[3]!.trim();
      if (body.startsWith("<")) {
        h.at(t);
        h.in(parseInbound(body.slice(1).trim()));
      } else if (body.startsWith(">")) {
        h.advance(t);
        const rest = body.slice(1).trim();
        if (rest === "none") {
          h.outNothing();
        } else {
          const e = parseOutbound(rest);
          const p = h.out(e);
          if (Math.abs(p.time - t) > tolerance) {
            throw new Error(`packet sent at ${p.time / 1000} s, the script says ${t / 1000} s: ${h.line(p)}`);
          }
        }
      } else {
        h.at(t);
        command(h, body);
      }
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new Error(`script line ${n + 1}: ${raw.trim()}\n${msg}`);
    }
  }
}

function command(h: TcpHarness, body: string): void {
  const m = /^([a-z-]+)\s*(?:\(\s*(.*?)\s*\)|\s+(.*))?$/.exec(body);
  if (m === null) throw new Error(`unknown line ${JSON.stringify(body)}`);
  const name = m[1]!;
  const arg = (m[2] ?? m[3] ?? "").trim();
  const num = (): number => {
    const v = Number(arg);
    if (arg === "" || !Number.isFinite(v)) throw new Error(`${name} needs a number, got ${JSON.stringify(arg)}`);
    return v;
  };
  switch (name) {
    case "send": {
      const data = /^".*"$/.test(arg) ? (JSON.parse(arg) as string) : num();
      const want = typeof data === "number" ? data : new TextEncoder().encode(data).length;
      const taken = h.app.send(data);
      if (taken !== want) throw new Error(`l4Tx took ${taken} of ${want} bytes`);
      return;
    }
    case "close":
      return h.app.close();
    case "abort":
      return h.app.abort();
    case "pause":
      return h.app.pause();
    case "resume":
      return h.app.resume();
    case "rx":
      h.expectRx(num());
      return;
    case "state": {
      const want = arg === "gone" ? undefined : (arg as TcpState);
      h.expectState(want);
      return;
    }
    case "closed":
      if (h.app.closedCount !== num()) throw new Error(`l4Rx(flow, null) called ${h.app.closedCount} times, expected ${arg}`);
      return;
    case "remote-closed":
      if (h.app.remoteClosedCount !== num()) throw new Error(`l4RemoteClosed called ${h.app.remoteClosedCount} times, expected ${arg}`);
      return;
    case "flows":
      if (h.flowCount !== num()) throw new Error(`flowCount is ${h.flowCount}, expected ${arg}`);
      return;
    default:
      throw new Error(`unknown command ${JSON.stringify(name)}`);
  }
}

/** Split `FLAGS [s:e(l)] [ack N] [win N] [urg N] [<opts>]`. */
function parsePacket(text: string): {
  flags: string;
  seq?: number;
  end?: number;
  len?: number;
  ack?: number;
  win?: number;
  urg?: number;
  opts?: ParsedOptions;
} {
  let rest = text;
  let opts: ParsedOptions | undefined;
  const lt = rest.indexOf("<");
  if (lt >= 0) {
    const gt = rest.lastIndexOf(">");
    if (gt < lt) throw new Error("options start with < and end with >");
    opts = parseOptions(rest.slice(lt + 1, gt));
    rest = rest.slice(0, lt) + " " + rest.slice(gt + 1);
  }
  const words = rest.trim().split(/\s+/);
  const flags = words.shift();
  if (flags === undefined || flags === "") throw new Error("a packet line starts with its flags");
  const out: ReturnType<typeof parsePacket> = { flags };
  if (opts !== undefined) out.opts = opts;
  const range = words[0] !== undefined ? /^(-?\d+):(-?\d+)(?:\((\d+)\))?$/.exec(words[0]) : null;
  if (range !== null) {
    words.shift();
    out.seq = Number(range[1]);
    out.end = Number(range[2]);
    out.len = range[3] !== undefined ? Number(range[3]) : out.end - out.seq;
    if (out.end - out.seq !== out.len) throw new Error(`${words[0]}: end - start is not the length`);
  }
  while (words.length > 0) {
    const key = words.shift()!;
    const value = words.shift();
    if (value === undefined || !/^-?\d+$/.test(value)) throw new Error(`${key} needs a number`);
    if (key === "ack") out.ack = Number(value);
    else if (key === "win") out.win = Number(value);
    else if (key === "urg") out.urg = Number(value);
    else throw new Error(`unknown field ${JSON.stringify(key)}`);
  }
  return out;
}

function parseOptions(text: string): ParsedOptions {
  const o: ParsedOptions = { any: false, sackOK: false };
  for (const part of text.split(",").map((s) => s.trim())) {
    if (part === "" || part === "nop" || part === "eol") continue;
    if (part === "...") {
      o.any = true;
      continue;
    }
    const w = part.split(/\s+/);
    switch (w[0]) {
      case "mss":
        o.mss = Number(w[1]);
        break;
      case "wscale":
        o.wscale = Number(w[1]);
        break;
      case "sackOK":
        o.sackOK = true;
        break;
      case "TS":
        if (w[1] !== "val" || w[3] !== "ecr") throw new Error(`timestamps are written "TS val N ecr N": ${part}`);
        o.ts = [Number(w[2]), Number(w[4])];
        break;
      case "sack":
        o.sack = w.slice(1).map((b) => {
          const m = /^(-?\d+):(-?\d+)$/.exec(b);
          if (m === null) throw new Error(`sack blocks are written start:end: ${b}`);
          return [Number(m[1]), Number(m[2])] as [number, number];
        });
        break;
      default:
        throw new Error(`unknown option ${JSON.stringify(part)}`);
    }
  }
  return o;
}

function parseInbound(text: string): SegIn {
  const p = parsePacket(text);
  const s: SegIn = { flags: p.flags };
  if (p.seq !== undefined) s.seq = p.seq;
  if (p.len !== undefined && p.len > 0) s.data = p.len;
  if (p.ack !== undefined) s.ack = p.ack;
  if (p.win !== undefined) s.win = p.win;
  if (p.urg !== undefined) s.urg = p.urg;
  const o = p.opts;
  if (o !== undefined) {
    if (o.mss !== undefined) s.mss = o.mss;
    if (o.wscale !== undefined) s.wscale = o.wscale;
    if (o.sackOK) s.sackOK = true;
    s.ts = o.ts === undefined ? null : [o.ts[0], undefined];
    if (o.sack !== undefined) s.sack = o.sack;
  }
  return s;
}

function parseOutbound(text: string): SegOut {
  const p = parsePacket(text);
  const e: SegOut = { flags: p.flags };
  if (p.seq !== undefined) e.seq = p.seq;
  if (p.len !== undefined) e.len = p.len;
  if (p.ack !== undefined) e.ack = p.ack;
  if (p.win !== undefined) e.win = p.win;
  const o = p.opts;
  if (o !== undefined) {
    if (o.mss !== undefined || !o.any) e.mss = o.mss ?? null;
    if (o.wscale !== undefined || !o.any) e.wscale = o.wscale ?? null;
    if (o.sackOK || !o.any) e.sackOK = o.sackOK;
    if (o.ts !== undefined) e.ts = [undefined, o.ts[1]];
    else if (!o.any) e.ts = null;
    if (o.sack !== undefined) e.sack = o.sack;
    else if (!o.any) e.sack = null;
  }
  return e;
}
