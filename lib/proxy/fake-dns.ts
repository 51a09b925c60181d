/**
 * The DNS side of --dns fake-ip: queries for A and AAAA records (RFC 1035, RFC 3596) are answered
 * here with the name's addresses from the fake-IP table; anything else is for the real resolver
 * (dns-relay.ts forwards it). Messages are parsed and built with the `dns-packet` package.
 *
 * The answer copies the query's ID, question and RD bit, sets QR, AA and RA (RFC 1035 §4.1.1), and
 * has a short TTL: a client that caches the address must not outlive the table's memory of it.
 * A query that is not one (a response, truncated, garbage) is dropped; an opcode other than QUERY
 * gets NOTIMP; a full table (every name in use) gets SERVFAIL.
 */
import * as dnsPacket from "dns-packet";
import { normalizeName, type FakeIpPool } from "./fake-ip.js";

/** Seconds a fake answer may be cached. */
export const FAKE_TTL = 1;

const RCODE_FORMERR = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NOTIMP = 4;

/** A name a SOCKS5 server or HTTP proxy can be given: letters, digits, '-', '_' and dots (LDH, RFC 1123 §2.1). */
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

export type DnsAction =
  | { readonly kind: "answer"; readonly response: Buffer; readonly name: string }
  | { readonly kind: "forward" }
  | { readonly kind: "drop" };

const FORWARD: DnsAction = { kind: "forward" };
const DROP: DnsAction = { kind: "drop" };

export class FakeDns {
  constructor(private readonly pool: FakeIpPool) {}

  /** What to do with one query (a UDP payload). */
  handle(query: Uint8Array): DnsAction {
    let packet: dnsPacket.DecodedPacket;
    const bytes = Buffer.from(query.buffer, query.byteOffset, query.byteLength);
    try {
      packet = dnsPacket.decode(bytes);
    } catch {
      return bytes.length >= 12 && (bytes[2]! & 0x80) === 0 ? this.error(bytes, RCODE_FORMERR) : DROP;
    }
    if (packet.type !== "query") return DROP;
    const flags = packet.flags ?? 0;
    if (((flags >> 11) & 0xf) !== 0) return this.error(bytes, RCODE_NOTIMP);
    const questions = packet.questions ?? [];
    const question = questions[0];
    if (questions.length !== 1 || question === undefined) return FORWARD;
    if ((question.class ?? "IN") !== "IN" || (question.type !== "A" && question.type !== "AAAA")) return FORWARD;
    const name = normalizeName(question.name);
    if (!HOSTNAME.test(name)) return FORWARD;
    const entry = this.pool.lookup(name);
    const base = {
      id: packet.id ?? 0,
      type: "response" as const,
      flags: (flags & dnsPacket.RECURSION_DESIRED) | dnsPacket.RECURSION_AVAILABLE | dnsPacket.AUTHORITATIVE_ANSWER,
      questions: [question],
    };
    if (entry === undefined) return { kind: "answer", name, response: dnsPacket.encode({ ...base, flags: base.flags | RCODE_SERVFAIL, answers: [] }) };
    const answer =
      question.type === "A"
        ? { type: "A" as const, name: question.name, class: "IN" as const, ttl: FAKE_TTL, data: entry.v4 }
        : { type: "AAAA" as const, name: question.name, class: "IN" as const, ttl: FAKE_TTL, data: entry.v6 };
    return { kind: "answer", name, response: dnsPacket.encode({ ...base, answers: [answer] }) };
  }

  /** A response with `rcode` and no sections to a query whose header is readable. */
  private error(query: Buffer, rcode: number): DnsAction {
    const flags = query.readUInt16BE(2);
    // The query's opcode and RD, RA, the rcode (QR is type "response").
    const response = dnsPacket.encode({
      id: query.readUInt16BE(0),
      type: "response",
      flags: (flags & 0x7900) | dnsPacket.RECURSION_AVAILABLE | rcode,
      questions: [],
      answers: [],
    });
    return { kind: "answer", name: "", response };
  }
}
