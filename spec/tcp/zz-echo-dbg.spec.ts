import { it } from "vitest";
import { EchoPair } from "../../examples/echo-pair.js";
import { describe as d } from "../../lib/wire/describe.js";
it("dbg", () => {
  for (let k = 0; k < 40; k++) {
    const seed = 777000 + k;
    const pair = new EchoPair({ flows: 1000, bytesPerFlow: 10_000, family: 4, seed, faults: "delay=1,jitter=0.5,loss=0.05,reorder=0.05,duplicate=0.01,corrupt=0.001" });
    const rings = new Map<string, string[]>();
    pair.link.onEvent = (e) => {
      if (e.kind !== "deliver" && e.kind !== "lose") return;
      const s = d(e.packet);
      const m = /:(10\d\d\d)\b/.exec(s);
      if (!m) return;
      let r = rings.get(m[1]!); if (!r) { r = []; rings.set(m[1]!, r); }
      r.push(`${e.time.toFixed(1)} ${e.kind} ${e.direction} ${s}`); if (r.length > 80) r.shift();
    };
    const origRx = pair.clientCb.handlers.l4Rx!;
    let dumped = false;
    pair.clientCb.handlers.l4Rx = (flow, data) => {
      if (data === null && !dumped) {
        const st: any = (flow as any).state;
        origRx(flow, data);
        const r = pair.report();
        if (r.problems.some((x) => x.includes("ended after"))) {
          dumped = true;
          console.log("SEED", seed, r.problems.filter((x) => x.includes("ended after")), "clientstate", pair.client.l4State(flow), JSON.stringify(pair.client.stats().drops), "rstIn", pair.client.stats().tcpResetsReceived, "rstOut", pair.client.stats().tcpResetsSent, "srvRstOut", pair.server.stats().tcpResetsSent, "now", pair.link.clock.now());
          console.log((rings.get(String(flow.srcPort)) ?? []).join("\n"));
        }
        return;
      }
      origRx(flow, data);
    };
    pair.start();
    pair.runToCompletion();
    if (dumped) break;
  }
}, 600000);
