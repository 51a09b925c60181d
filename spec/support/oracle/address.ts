/**
 * IP address text for the packet oracle (independent of lib/wire): IPv4 dotted decimal, IPv6 as
 * RFC 4291 §2.2 writes it (eight hex groups, one "::" for a run of zero groups, an optional dotted
 * IPv4 tail), printed as RFC 5952 §4 recommends (lower case, no leading zeros, the longest run of two
 * or more zero groups shortened to "::", the first such run on a tie).
 */

export function ipv4Bytes(text: string): Uint8Array {
  const parts = text.split(".");
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${JSON.stringify(text)}`);
    out[i] = Number(p);
  });
  return out;
}

export function ipv6Bytes(text: string): Uint8Array {
  const bad = (): Error => new Error(`not an IPv6 address: ${JSON.stringify(text)}`);
  // An IPv4 tail (RFC 4291 §2.2 form 3) stands for the last two groups: rewrite it as them.
  let hexText = text;
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.slice(lastColon + 1).includes(".")) {
    const v4 = ipv4Bytes(text.slice(lastColon + 1));
    hexText = `${text.slice(0, lastColon + 1)}${(v4[0]! * 256 + v4[1]!).toString(16)}:${(v4[2]! * 256 + v4[3]!).toString(16)}`;
  }
  const halves = hexText.split("::");
  if (halves.length > 2) throw bad();
  const parseGroups = (s: string): number[] => {
    if (s === "") return [];
    return s.split(":").map((g) => {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
      return parseInt(g, 16);
    });
  };
  const head = parseGroups(halves[0]!);
  const tail = halves.length === 2 ? parseGroups(halves[1]!) : [];
  let groups: number[];
  if (halves.length === 2) {
    if (head.length + tail.length > 7) throw bad();
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    if (head.length !== 8) throw bad();
    groups = head;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** IPv4 or IPv6 text to bytes (a ':' means IPv6). */
export function addressBytes(text: string): Uint8Array {
  return text.includes(":") ? ipv6Bytes(text) : ipv4Bytes(text);
}

export function addressText(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new Error(`an address of ${bytes.length} octets`);
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(bytes[2 * i]! * 256 + bytes[2 * i + 1]!);
  // RFC 5952 §4.2: the longest run of at least two zero groups, the first of equal runs.
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(":");
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** The canonical text of an address given as text (so "2001:DB8::0:1" equals "2001:db8::1"). */
export function canonicalAddress(text: string): string {
  return addressText(addressBytes(text));
}
