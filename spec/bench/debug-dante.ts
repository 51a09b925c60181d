import { SocksClient } from "socks";
import { Netns } from "../support/netns.js";
import { killChildren } from "../integration/harness.js";
import { deletePLinks, removeNetnsFiles, SOCKS_PORT, startDante, testUser, tun2socksTopology } from "../integration/proxy-servers.js";
import { nginxServer, type BenchPath } from "./tun-paths.js";
const made: Netns[] = [];
const t = await tun2socksTopology(() => { const ns = Netns.create("l3l4-dbg-"); made.push(ns); return ns; });
const user = testUser();
const auth = process.argv[2] !== "none"; await startDante(t.proxyNs, { address: t.proxyAddress, external: t.external, ...(auth ? { user } : {}) });
const path = { name: "x", client: t.client, server: t.server, host: t.addresses.v4(2), proxy: undefined as never, close: async () => {} } as BenchPath;
await nginxServer(path);
let done = 0;
const deadline = performance.now() + 5000;
async function worker() {
  while (performance.now() < deadline) {
    const { socket } = await SocksClient.createConnection({ proxy: { host: t.proxyAddress, port: SOCKS_PORT, type: 5, ...(auth ? { userId: user.name, password: user.password } : {}) }, command: "connect", destination: { host: path.host, port: 8081 } });
    await new Promise<void>((resolve) => { socket.on("data", () => {}); socket.on("close", () => resolve()); socket.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); });
    done++;
  }
}
const cpu0 = process.cpuUsage();
await Promise.all(Array.from({ length: 64 }, worker));
const cpu = process.cpuUsage(cpu0);
console.log(`dante alone (node socks client, 64 at once): ${(done / 5).toFixed(0)} conn/s; client cpu ${((cpu.user + cpu.system) / done).toFixed(0)} us/conn`);
killChildren(); deletePLinks(); for (const ns of made) ns.destroy(); removeNetnsFiles();
process.exit(0);
