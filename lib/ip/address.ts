/**
 * Which addresses a flow may use. The engine terminates any unicast destination, so the only
 * question is whether an address can be one end of a conversation on a real link.
 *
 * IPv4 (RFC 1122 §3.2.1.3, RFC 6890): 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback: a host
 * "MUST NOT appear outside a host", so from a TUN device it is a martian), 224.0.0.0/4 (multicast,
 * RFC 5771) and 255.255.255.255 (limited broadcast) are refused either way. Directed broadcasts cannot
 * be told apart without interface prefixes, which the engine does not have.
 *
 * IPv6 (RFC 4291): :: (unspecified, §2.5.2: "must never be assigned ... never be used as the
 * destination"), ::1 (loopback, §2.5.3: "must never be sent on any link ... must be dropped") and
 * ff00::/8 (multicast, §2.7) are refused either way.
 */
import { read32 } from "../wire/bytes.js";

/** True if an IPv4 address (as an unsigned 32-bit number) can be a unicast flow end. */
export function isUnicast4(a: number): boolean {
  const first = a >>> 24;
  if (first === 0 || first === 127) return false;
  if (first >= 224 && first <= 239) return false;
  return a !== 0xffffffff;
}

/** True if the 16 bytes at `off` are an IPv6 address that can be a unicast flow end. */
export function isUnicast6(b: Uint8Array, off: number): boolean {
  if (b[off] === 0xff) return false;
  // :: and ::1: the first 15 bytes zero and the last 0 or 1.
  if (read32(b, off) === 0 && read32(b, off + 4) === 0 && read32(b, off + 8) === 0) {
    const last = read32(b, off + 12);
    if (last === 0 || last === 1) return false;
  }
  return true;
}

/** IPv4 multicast (224/4) or limited broadcast: packets to these never get an ICMP error (RFC 1122 §3.2.2). */
export function isMulticastOrBroadcast4(a: number): boolean {
  const first = a >>> 24;
  return (first >= 224 && first <= 239) || a === 0xffffffff;
}
