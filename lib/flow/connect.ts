/**
 * l4Connect's arguments, checked at the API boundary: every mistake throws InvalidArgumentError
 * naming the field, before the engine changes anything.
 */
import { InvalidArgumentError } from "../errors.js";
import { isUnicast4, isUnicast6 } from "../ip/address.js";
import { read32 } from "../wire/bytes.js";
import { parseIpv4 } from "../wire/ipv4.js";
import { parseIpv6 } from "../wire/ipv6.js";

/** What l4Connect takes. */
export interface ConnectOptions {
  protocol: "tcp" | "udp";
  /** Checked against the addresses when given. */
  family?: 4 | 6;
  /** The engine's end. */
  srcIp: string;
  srcPort: number;
  /** The peer. */
  dstIp: string;
  dstPort: number;
}

/** The flow l4Connect asks for: addresses as FlowRecord.addr keeps them (remote at 0, local at 16). */
export interface ConnectTuple {
  family: 4 | 6;
  addr: Uint8Array;
}

/** Check `o` (InvalidArgumentError for the first bad field) and return its addresses in wire form. */
export function connectTuple(o: ConnectOptions): ConnectTuple {
  if (typeof o !== "object" || o === null) throw new InvalidArgumentError("l4Connect needs an options object");
  if (o.protocol !== "tcp" && o.protocol !== "udp") {
    throw new InvalidArgumentError(`protocol must be "tcp" or "udp": ${String(o.protocol)}`);
  }
  const addr = new Uint8Array(32);
  const family = parseAddress(o.dstIp, addr, 0, "dstIp");
  const srcFamily = parseAddress(o.srcIp, addr, 16, "srcIp");
  if (family !== srcFamily) throw new InvalidArgumentError(`srcIp ${o.srcIp} and dstIp ${o.dstIp} differ in family`);
  if (o.family !== undefined && o.family !== family) {
    throw new InvalidArgumentError(`family ${String(o.family)} does not match the addresses (IPv${family})`);
  }
  const unicast = (off: number): boolean => (family === 4 ? isUnicast4(read32(addr, off)) : isUnicast6(addr, off));
  if (!unicast(0)) throw new InvalidArgumentError(`dstIp ${o.dstIp} is not a unicast address`);
  if (!unicast(16)) throw new InvalidArgumentError(`srcIp ${o.srcIp} is not a unicast address`);
  checkPort(o.srcPort, "srcPort");
  checkPort(o.dstPort, "dstPort");
  return { family, addr };
}

/** Parse an address string into `out` at `off`; its family. Throws InvalidArgumentError. */
function parseAddress(text: unknown, out: Uint8Array, off: number, name: string): 4 | 6 {
  if (typeof text !== "string") throw new InvalidArgumentError(`${name} must be an IP address string`);
  if (text.includes(":")) {
    if (!parseIpv6(text, out, off)) throw new InvalidArgumentError(`${name} is not an IPv6 address: ${text}`);
    return 6;
  }
  const v = parseIpv4(text);
  if (v < 0) throw new InvalidArgumentError(`${name} is not an IP address: ${text}`);
  out[off] = v >>> 24;
  out[off + 1] = v >>> 16;
  out[off + 2] = v >>> 8;
  out[off + 3] = v;
  return 4;
}

function checkPort(port: unknown, name: string): void {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new InvalidArgumentError(`${name} must be an integer in 1..65535: ${String(port)}`);
  }
}
