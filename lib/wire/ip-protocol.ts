/** IANA protocol numbers ("Assigned Internet Protocol Numbers") that l3l4 speaks or walks past. */
export const IpProtocol = {
  HOP_BY_HOP: 0,
  ICMP: 1,
  TCP: 6,
  UDP: 17,
  IPV6_ROUTING: 43,
  IPV6_FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  IPV6_NO_NEXT: 59,
  IPV6_DEST_OPTS: 60,
} as const;
export type IpProtocol = (typeof IpProtocol)[keyof typeof IpProtocol];
