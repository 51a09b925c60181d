/**
 * Measuring aid (issues 8 and 12): tun2socks.ts's new-connection rows for one path alone, so that a
 * profile covers just them:
 *
 *   node [--cpu-prof --cpu-prof-dir=DIR] dist/spec/bench/tun2socks-conn.js PATH [seconds] [runs]
 *
 * PATH: direct, socks5 (dante with username/password, as tun2socks.ts), socks5-noauth (dante),
 * microsocks (with username/password). The proxy runs in this process (tun-paths.ts); after a warm-up
 * run of 2 s, `runs` wrk runs of `seconds` (64 connections, `Connection: close`) print conn/s and this
 * process's CPU µs per connection. For an A/B, copy the compiled file into another build's
 * dist/spec/bench/ and run it there.
 */
import { directPath, nginxServer, socksPath, wrk, type BenchPath } from "./tun-paths.js";

const [which = "socks5", secondsText = "5", runsText = "3"] = process.argv.slice(2);
const seconds = Math.max(1, Number(secondsText) || 5);
const runs = Math.max(1, Number(runsText) | 0 || 3);

function make(): Promise<BenchPath> {
  switch (which) {
    case "direct":
      return directPath(1500);
    case "socks5":
      return socksPath(1500, { server: "dante" });
    case "socks5-noauth":
      return socksPath(1500, { server: "dante", auth: false });
    case "microsocks":
      return socksPath(1500, { server: "microsocks" });
    default:
      throw new Error(`PATH: direct, socks5, socks5-noauth or microsocks, not ${which}`);
  }
}

const path = await make();
try {
  await nginxServer(path);
  await wrk(path, 2, 64);
  for (let r = 0; r < runs; r++) {
    const from = process.cpuUsage();
    const result = await wrk(path, seconds, 64);
    const d = process.cpuUsage(from);
    const conns = Math.max(1, result.requestsPerSecond * seconds);
    console.log(`${which}: ${result.requestsPerSecond.toFixed(0)} conn/s, ${((d.user + d.system) / conns).toFixed(1)} µs/conn (user ${(d.user / conns).toFixed(1)}, system ${(d.system / conns).toFixed(1)}), ${result.errors} errors`);
  }
} finally {
  await path.close();
}
process.exit(0);
