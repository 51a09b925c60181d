/**
 * A self-signed certificate made at test time with openssl (Debian's openssl package): an EC P-256
 * key and a one-day certificate for the given names (IP addresses become iPAddress SANs).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { run } from "./netns.js";
import { hasCommand } from "./privileges.js";

export const hasOpenssl = hasCommand("openssl", ["version"], "openssl");

export interface KeyAndCert {
  key: string;
  cert: string;
  /** The certificate's file, for clients that take a CA file (curl --cacert). */
  certFile: string;
  /** Removes the files. */
  remove(): void;
}

export function selfSignedCert(names: readonly string[]): KeyAndCert {
  const dir = mkdtempSync(join(tmpdir(), "l3l4-tls-"));
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  const san = names.map((n) => (isIP(n) === 0 ? `DNS:${n}` : `IP:${n}`)).join(",");
  run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "1", "-subj", `/CN=${names[0] ?? "l3l4-test"}`,
    "-addext", `subjectAltName=${san}`,
  ], 20_000);
  return {
    key: readFileSync(keyFile, "utf8"),
    cert: readFileSync(certFile, "utf8"),
    certFile,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
