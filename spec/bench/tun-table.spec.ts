/**
 * A smoke run of the translator bench (tun-table.ts, `npm run bench -- tun`): every translator at one
 * MTU, briefly. It checks that each path is built, measured and torn down, not how fast anything is:
 * speed belongs to the bench itself. Needs what the bench needs (root, pasta, slirp4netns, nginx,
 * wrk, iperf3) and the compiled command in dist/ (`npm ci` builds it).
 */
import { execFileSync } from "node:child_process";
import { expect, it } from "vitest";
import { addonBuilt } from "../integration/harness.js";
import { canUseNetns, describeIntegration, hasCommand } from "../support/privileges.js";
import { benchTunTable } from "./tun-table.js";
import { onPath, proxyTakes } from "./translators.js";

function ourNamespaces(): string[] {
  return execFileSync("ip", ["netns", "list"], { encoding: "utf8" })
    .split("\n")
    .map((line) => line.split(" ")[0]!)
    .filter((name) => name.startsWith(`l3l4-bt-c-${process.pid}-`) || name.startsWith(`l3l4-bt-s-${process.pid}-`));
}

describeIntegration(
  "the translator bench, briefly (npm run bench -- tun)",
  () => {
    it(
      "measures the proxy (with and without offloads), pasta, slirp4netns and a veth, and leaves no namespace behind",
      async () => {
        expect(proxyTakes("--offload")).toBe(true); // else the bench has no offload row
        const rows = await benchTunTable({ mtus: [1500], repeat: 1, seconds: 2, churn: 2 });
        const value = (name: string) => rows.find((r) => r.name === name)?.value;
        for (const t of ["veth", "pasta", "slirp4netns", "l3l4", "l3l4-offload"]) {
          for (const figure of ["TCP up", "TCP down", "4 up", "new conn/s", "ping", "churn last/first"]) {
            expect(value(`${t} mtu 1500 ${figure}`), `${t} ${figure}`).toBeGreaterThanOrEqual(0);
          }
        }
        // Ours carry data both ways, and their CPU time and RSS are read from /proc.
        for (const t of ["l3l4", "l3l4-offload"]) {
          expect(value(`${t} mtu 1500 TCP up`)).toBeGreaterThan(0);
          expect(value(`${t} mtu 1500 TCP down`)).toBeGreaterThan(0);
          expect(value(`${t} mtu 1500 new conn/s`)).toBeGreaterThan(0);
          expect(value(`${t} mtu 1500 CPU µs/conn`)).toBeGreaterThan(0);
          expect(value(`${t} mtu 1500 CPU ms/Gbit down`)).toBeGreaterThan(0);
          expect(Number.isFinite(value(`${t} mtu 1500 RSS growth under churn`))).toBe(true);
        }
        expect(ourNamespaces()).toEqual([]);
      },
      600_000,
    );
  },
  [
    canUseNetns,
    addonBuilt,
    hasCommand("iperf3", ["--version"], "iperf3"),
    hasCommand("nginx", ["-v"], "nginx-light"),
    onPath("wrk", "wrk"),
    onPath("pasta", "passt"),
    onPath("slirp4netns", "slirp4netns"),
    () => (proxyTakes("--help") ? { ok: true, why: "" } : { ok: false, why: "the compiled command in dist/ (npx tsc -b)" }),
  ],
);
