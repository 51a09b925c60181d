/**
 * The two-engine echo scenario end to end (lib/debug/echo-pair.ts over the in-memory link), checked
 * for everything spec/engine/two-engines.spec.ts promises; shared with spec/random-seed.spec.ts.
 * Every packet either engine puts on the link is checked with the packet oracle before the link's
 * faults touch it.
 */
import { expect } from "vitest";
import { EchoPair, type EchoPairOptions, type EchoReport } from "../../lib/debug/echo-pair.js";
import type { MemoryLink } from "../../lib/debug/link.js";
import { decodePacket, engineTcpProblems, summary } from "./oracle/decode.js";
import { Flag, Proto } from "./oracle/numbers.js";

/** The faults of the issue: 5% loss, 5% reordering, 1% duplication, 0.1% corruption, each way. */
export const LOSSY = "delay=1,jitter=0.5,loss=0.05,reorder=0.05,duplicate=0.01,corrupt=0.001";

/**
 * Check the packets sent on the link with the oracle (before any fault): well formed, checksums
 * right and, for TCP, the sender rules. Every SYN, FIN and RST and every UDP or ICMP packet is
 * checked, and every 8th plain ACK or data segment (checking all of a 100 MB transfer would
 * double the spec's time). Returns the problems found (the first few, as one-liners).
 */
export function watchWithOracle(link: MemoryLink): string[] {
  const problems: string[] = [];
  let plain = 0;
  link.onEvent = (e) => {
    if (e.kind !== "send" || problems.length >= 5) return;
    if (isPlainTcp(e.packet) && plain++ % 8 !== 0) return;
    const d = decodePacket(e.packet);
    const found = [...d.problems, ...(d.ip?.protocol === Proto.TCP ? engineTcpProblems(d) : [])];
    if (found.length > 0) problems.push(`${e.direction} at ${e.time} ms: ${summary(d)} (${found.join("; ")})`);
  };
  return problems;
}

/** A TCP segment without SYN, FIN or RST in an IP packet without options or extension headers. */
function isPlainTcp(p: Uint8Array): boolean {
  const v4 = p[0] === 0x45;
  const l4 = v4 ? 20 : 40;
  const protocol = v4 ? p[9] : p[0]! >> 4 === 6 ? p[6] : -1;
  return protocol === Proto.TCP && p.length >= l4 + 20 && (p[l4 + 13]! & (Flag.SYN | Flag.FIN | Flag.RST)) === 0;
}

function brief(r: EchoReport): string {
  return JSON.stringify({
    problems: r.problems.slice(0, 5),
    flowsVerified: r.flowsVerified,
    bytesSent: r.bytesSent,
    bytesEchoed: r.bytesEchoed,
    bytesVerified: r.bytesVerified,
    clientFlows: r.client.flows,
    serverFlows: r.server.flows,
    retransmits: r.client.tcpRetransmits + r.server.tcpRetransmits,
    virtualMs: r.virtualMs,
  });
}

/**
 * Runs an echo pair to the end and checks everything the issue names. Returns the report.
 * `allowHandshakeFailures`: flows whose SYN or SYN-ACK was lost on every try until the 15 s handshake
 * timeout are allowed (correct TCP on a lossy link; still gone once, on both engines).
 */
export function echoEndToEnd(options: EchoPairOptions, allowHandshakeFailures = false): EchoReport {
  const seed = options.seed;
  const pair = new EchoPair(options);
  const oracleProblems = watchWithOracle(pair.link);
  pair.start();
  const stall = pair.runToCompletion();
  const atFinish = pair.report();
  expect(stall, `seed ${seed}: ${stall} ${brief(atFinish)}`).toBeUndefined();

  // Finished: every flow closed on both engines (l4Rx(null) seen), no flow alive on either...
  expect(pair.client.flowCount, `seed ${seed}`).toBe(0);
  expect(pair.server.flowCount, `seed ${seed}`).toBe(0);
  // ... but the side that closed first keeps TIME-WAIT records (RFC 9293 §3.6) until 2*MSL passes.
  const clientStates = [...pair.echoClient.flows.keys()].map((f) => pair.client.l4State(f));
  expect(clientStates.filter((s) => s !== undefined && s !== "TIME-WAIT"), `seed ${seed}`).toEqual([]);

  expect(pair.runUntilGone(), `seed ${seed}: flows left after TIME-WAIT expiry`).toBe(true);
  const r = pair.report();
  expect(r.problems, `seed ${seed}`).toEqual([]);
  expect(oracleProblems, `seed ${seed}: packets the oracle rejects`).toEqual([]);
  if (!allowHandshakeFailures) expect(r.handshakeFailures, `seed ${seed}`).toBe(0);
  const connected = options.flows - r.handshakeFailures;
  const total = connected * options.bytesPerFlow;
  if (r.handshakeFailures === 0) expect(r.bytesSent, `seed ${seed}`).toBe(total);
  expect(r.bytesEchoed, `seed ${seed}`).toBe(total);
  expect(r.bytesVerified, `seed ${seed}: ${brief(r)}`).toBe(total);
  expect(r.flowsVerified, `seed ${seed}`).toBe(connected);
  // l4Rx(flow, null) exactly once per flow on each engine, and nothing left of any flow.
  for (const st of pair.echoClient.flows.values()) expect(st.gone, `seed ${seed}: client ${String(st.flow)}`).toBe(1);
  // One server flow per client flow that connected (plus, rarely, one opened by an old duplicate SYN
  // after the first had closed: it must be gone as well; or one whose SYN-ACKs were all lost).
  expect(pair.serverTuples(), `seed ${seed}`).toBeGreaterThanOrEqual(connected);
  expect(pair.serverTuples(), `seed ${seed}`).toBeLessThanOrEqual(options.flows);
  for (const st of pair.echoServer.flows.values()) expect(st.gone, `seed ${seed}: server ${String(st.flow)}`).toBe(1);
  for (const f of pair.echoClient.flows.keys()) expect(pair.client.l4State(f)).toBeUndefined();
  for (const f of pair.echoServer.flows.keys()) expect(pair.server.l4State(f)).toBeUndefined();
  expect(r.allGone).toBe(true);
  expect(EchoPair.ok(r, allowHandshakeFailures), `seed ${seed}`).toBe(true);
  // The counters agree with what the applications saw.
  expect(r.client.tcpFlowsOpened).toBe(options.flows);
  expect(r.client.tcpFlowsClosed).toBe(options.flows);
  expect(r.server.tcpFlowsOpened).toBe(pair.echoServer.flows.size);
  expect(r.server.tcpFlowsClosed).toBe(pair.echoServer.flows.size);
  return r;
}

