/**
 * The SOCKS5 UDP request header (RFC 1928 §7), which every datagram through a UDP ASSOCIATE relay
 * carries:
 *
 *   +----+------+------+----------+----------+----------+
 *   |RSV | FRAG | ATYP | DST.ADDR | DST.PORT |   DATA   |
 *   +----+------+------+----------+----------+----------+
 *   | 2  |  1   |  1   | Variable |    2     | Variable |
 *
 * ATYP 1: IPv4 (4 bytes), 3: a name (one length byte, then the name), 4: IPv6 (16 bytes). Written
 * into a buffer the caller owns and parsed as an offset into the datagram, so a datagram costs no
 * object here (the `socks` package's createUDPFrame/parseUDPFrame allocate per datagram and throw on
 * truncated input; spec/proxy/socks5-frame.spec.ts checks these against them).
 */
import { isIP } from "node:net";
import { parseIpv4 } from "../wire/ipv4.js";
import { parseIpv6 } from "../wire/ipv6.js";
import type { Endpoint } from "./options.js";

export const ATYP_IPV4 = 1;
export const ATYP_NAME = 3;
export const ATYP_IPV6 = 4;

/** The header for `target`, made once per association (the destination of a flow never changes). */
export function udpHeader(target: Endpoint): Buffer {
  const family = isIP(target.host);
  let header: Buffer;
  if (family === 4) {
    header = Buffer.alloc(10);
    header[3] = ATYP_IPV4;
    header.writeUInt32BE(parseIpv4(target.host), 4);
  } else if (family === 6) {
    header = Buffer.alloc(22);
    header[3] = ATYP_IPV6;
    parseIpv6(target.host, header, 4);
  } else {
    const name = Buffer.from(target.host, "latin1");
    if (name.length > 255) throw new RangeError(`a SOCKS5 name has at most 255 bytes: ${target.host}`);
    header = Buffer.alloc(7 + name.length);
    header[3] = ATYP_NAME;
    header[4] = name.length;
    name.copy(header, 5);
  }
  header.writeUInt16BE(target.port, header.length - 2);
  return header;
}

/**
 * Where the data of a datagram from the relay starts, or -1 if it is not one to deliver: truncated,
 * an unknown ATYP, or a fragment (FRAG != 0: "An implementation that does not support fragmentation
 * MUST drop any datagram whose FRAG field is other than X'00'", RFC 1928 §7).
 */
export function udpDataOffset(datagram: Uint8Array): number {
  if (datagram.length < 4 || datagram[2] !== 0) return -1;
  let end: number;
  switch (datagram[3]) {
    case ATYP_IPV4:
      end = 4 + 4 + 2;
      break;
    case ATYP_IPV6:
      end = 4 + 16 + 2;
      break;
    case ATYP_NAME:
      if (datagram.length < 5) return -1;
      end = 5 + datagram[4]! + 2;
      break;
    default:
      return -1;
  }
  return end <= datagram.length ? end : -1;
}
