/**
 * Why a packet was dropped. Parsers return one of these instead of throwing; 0 means the packet is fine.
 * The engine counts drops per reason (see stats.ts), like gVisor's MalformedPacketsReceived counters.
 */
export const Drop = {
  OK: 0,
  /** Shorter than the header it claims to have, or than its length fields say. */
  TRUNCATED: 1,
  /** IP version nibble is neither 4 nor 6, or does not match the expected family. */
  BAD_VERSION: 2,
  /** IPv4 IHL < 5, TCP data offset < 5, or a header length past the packet's end. */
  BAD_HEADER_LENGTH: 3,
  /** A length field (IPv4 total length, IPv6 payload length, UDP length) that is impossible. */
  BAD_LENGTH: 4,
  /** Internet checksum mismatch. */
  BAD_CHECKSUM: 5,
  /** A malformed TCP option list or IPv6 extension header. */
  BAD_OPTIONS: 6,
  /** IPv6 extension header chain longer than we walk, or a header that may not appear where it does. */
  BAD_EXTENSION_CHAIN: 7,
  /** Addresses or ports no packet may carry (multicast source, port 0, ...). */
  BAD_ADDRESS: 8,
  /** Protocol we do not terminate. */
  UNSUPPORTED_PROTOCOL: 9,
  /** A fragment (reassembly is the engine's business, not the parser's). */
  FRAGMENT: 10,
  /** ICMP type/code we do not handle or a malformed ICMP message. */
  BAD_ICMP: 11,
  /** UDP checksum of zero over IPv6 (RFC 8200 §8.1: mandatory). */
  ZERO_UDP_CHECKSUM_V6: 12,
  /** TCP flag combination no stack sends (SYN+FIN, SYN+RST, no flags at all ...). */
  BAD_FLAGS: 13,
} as const;

export type DropReason = (typeof Drop)[keyof typeof Drop];

const NAMES: readonly string[] = (() => {
  const out: string[] = [];
  for (const [k, v] of Object.entries(Drop)) out[v] = k.toLowerCase();
  return out;
})();

/** The reason as a stable snake_case name ("bad_checksum"), for stats and traces. */
export function dropReasonName(reason: number): string {
  return NAMES[reason] ?? `unknown_${reason}`;
}
