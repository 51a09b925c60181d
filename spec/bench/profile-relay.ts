/** Profiling aid: iperf3 through one path for `seconds` (run under node --cpu-prof). */
import { iperf } from "../integration/topology.js";
import { directPath, iperfServer, socksPath } from "./tun-paths.js";
const [which = "socks5", direction = "down", mtu = "1500", seconds = "5"] = process.argv.slice(2);
const path = which === "direct" ? await directPath(Number(mtu)) : await socksPath(Number(mtu));
await iperfServer(path);
const cpu0 = process.cpuUsage();
const bits = await iperf(path.client, path.host, Number(seconds), direction === "down");
const cpu = process.cpuUsage(cpu0);
console.log(`${which} ${direction} mtu ${mtu}: ${(bits / 1e9).toFixed(2)} Gbit/s; proxy cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, sys ${(cpu.system / 1e6).toFixed(2)}), ${(((cpu.user + cpu.system) / 1e3) / ((bits * Number(seconds)) / 8 / 1e9)).toFixed(0)} ms per GB`);
await path.close();
process.exit(0);
