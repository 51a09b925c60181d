/**
 * node:http answering every address and port routed into a TUN device, in a few lines: the engine's
 * TCP flows as sockets (NetStack), handed to a plain http.Server. `l3l4 http` (lib/cli/http.ts) is
 * the full command, with downloads, uploads, pcap and tracing.
 *
 *   npx tsc -b && sudo node dist/examples/http_server.js web0
 *   sudo ip addr add 10.99.0.1/24 dev web0; sudo ip route add 10.99.1.0/24 dev web0
 *   curl http://10.99.1.7/ http://10.99.1.8:8080/
 */
import http from "node:http";
import { L3L4Builder, NetStack, openTun, runTun } from "../lib/index.js";

const [name = "l3l4h"] = process.argv.slice(2);
const device = openTun({ name });
const engine = new L3L4Builder<number>().mtu(device.mtu).build();
const stack = new NetStack(engine);
// The runner reads the device into the engine and writes what it sends; the stack turns flows into sockets.
runTun(engine, device, stack, { handleSignals: { graceMs: 2000 } });

const server = http.createServer((req, res) => {
  res.end(`you reached ${req.socket.localAddress} port ${req.socket.localPort} from ${req.socket.remoteAddress}\n`);
});
stack.on("connection", (socket) => server.emit("connection", socket));
console.log(`answering every address on ${device.name} (mtu ${device.mtu}); Ctrl-C to stop`);
