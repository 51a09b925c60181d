/**
 * Numbers the packet oracle needs, typed in from their registries and RFCs (not imported from
 * lib/wire, which they check).
 */

/** IANA "Assigned Internet Protocol Numbers" (also IPv6 Next Header values, RFC 8200 §4). */
export const Proto = {
  HOP_BY_HOP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ICMPV6: 58,
  NO_NEXT: 59,
  DEST_OPTS: 60,
} as const;

/** TCP control bits, RFC 9293 §3.1 (and CWR, ECE from RFC 3168 §23.2), by their bit in octet 13. */
export const Flag = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** TCP option kinds: RFC 9293 §3.2 (0, 1, 2), RFC 7323 §2.2 and §3.2 (3, 8), RFC 2018 §2 and §3 (4, 5). */
export const OptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WSCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** ICMPv4 types (RFC 792) and ICMPv6 types (RFC 4443 §2.1) the specs use. */
export const Icmp4 = { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11, PARAMETER_PROBLEM: 12 } as const;
export const Icmp6 = { DEST_UNREACHABLE: 1, PACKET_TOO_BIG: 2, TIME_EXCEEDED: 3, PARAMETER_PROBLEM: 4, ECHO_REQUEST: 128, ECHO_REPLY: 129 } as const;
