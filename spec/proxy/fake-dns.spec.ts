/** --dns fake-ip answers (lib/proxy/fake-dns.ts), parsed back with dns-packet as a resolver would. */
import * as dnsPacket from "dns-packet";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FakeDns } from "../../lib/proxy/fake-dns.js";
import { FakeIpPool } from "../../lib/proxy/fake-ip.js";
import { parseCidr } from "../../lib/proxy/options.js";

const setup = () => {
  const pool = new FakeIpPool(parseCidr("198.18.0.0/15"), parseCidr("fc00::/18"), 100);
  return { pool, dns: new FakeDns(pool) };
};
/** The response's rcode (dns-packet decodes it; its types do not say so). */
const rcode = (action: unknown) => (dnsPacket.decode((action as { response: Buffer }).response) as { rcode?: string }).rcode;
const query = (name: string, type: dnsPacket.RecordType, id = 4242) =>
  dnsPacket.encode({ id, type: "query", flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type, class: "IN" }] });

describe("FakeDns", () => {
  it("answers A and AAAA with the name's fake addresses, echoing ID, question and RD", () => {
    const { pool, dns } = setup();
    for (const type of ["A", "AAAA"] as const) {
      const action = dns.handle(query("www.example.test", type));
      expect(action.kind).toBe("answer");
      const answer = dnsPacket.decode((action as { response: Buffer }).response);
      expect(answer).toMatchObject({ id: 4242, type: "response", rcode: "NOERROR", flag_rd: true, flag_ra: true, flag_aa: true });
      expect(answer.questions).toEqual([{ name: "www.example.test", type, class: "IN" }]);
      const entry = pool.lookup("www.example.test")!;
      expect(answer.answers).toMatchObject([{ name: "www.example.test", type, ttl: 1, data: type === "A" ? entry.v4 : entry.v6 }]);
    }
    expect(pool.size).toBe(1);
  });

  it("leaves other types and classes, several questions and odd names to the real resolver", () => {
    const { dns } = setup();
    expect(dns.handle(query("example.test", "MX")).kind).toBe("forward");
    expect(dns.handle(query("4.3.2.1.in-addr.arpa", "PTR")).kind).toBe("forward");
    expect(dns.handle(query("bad name!.test", "A")).kind).toBe("forward");
    const two = dnsPacket.encode({ type: "query", questions: [{ name: "a.test", type: "A" }, { name: "b.test", type: "A" }] });
    expect(dns.handle(two).kind).toBe("forward");
  });

  it("drops responses and garbage, answers FORMERR to a broken query and NOTIMP to another opcode", () => {
    const { dns } = setup();
    const response = dnsPacket.encode({ type: "response", questions: [{ name: "a.test", type: "A" }], answers: [] });
    expect(dns.handle(response).kind).toBe("drop");
    expect(dns.handle(Uint8Array.of(1, 2, 3)).kind).toBe("drop");
    const broken = Buffer.from(query("a.test", "A")).subarray(0, 15);
    const formerr = dns.handle(broken);
    expect(dnsPacket.decode((formerr as { response: Buffer }).response)).toMatchObject({ id: 4242, type: "response", rcode: "FORMERR" });
    const notify = Buffer.from(query("a.test", "A"));
    notify[2] = (notify[2]! & 0x87) | (4 << 3); // opcode NOTIFY
    expect(rcode(dns.handle(notify))).toBe("NOTIMP");
  });

  it("answers SERVFAIL when every name in a full table is in use", () => {
    const pool = new FakeIpPool(parseCidr("198.18.0.0/30"), parseCidr("fc00::/18"), 100);
    const dns = new FakeDns(pool);
    const only = pool.lookup("busy.test")!;
    only.users = 1;
    pool.lookup("busy2.test")!.users = 1;
    const action = dns.handle(query("new.test", "A"));
    expect(rcode(action)).toBe("SERVFAIL");
  });

  it("never throws on random bytes", () => {
    const { dns } = setup();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        expect(["answer", "forward", "drop"]).toContain(dns.handle(bytes).kind);
      }),
    );
  });
});
