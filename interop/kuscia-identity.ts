// How a Kuscia gateway's client certificate names its domain. Kuscia's MTLS
// source presents spec.mTLSConfig.sourceClientCert with its domain key: in
// practice its domain certificate itself (self-signed, CN=<domain>) or a
// certificate its domain CA issued (CN=<domain>_ENVOY_EXTERNAL, no SPIFFE
// URI). Neither names the domain in a way a partner could not copy: what only
// that domain can produce is a certificate signed by its CA. So the receiver
// verifies the chain with depth 1 (the leaf signed directly by a trusted CA:
// no intermediate a partner could name after another partner's CA) and reads
// the caller from the leaf's issuer name, which then is the subject of the one
// trusted CA that signed it, provided no two Kuscia partners' CAs share a
// subject (callers check that: kusciaIssuerClashes).
import { X509Certificate } from 'node:crypto';
import { splitPemCertificates } from '../certs/authority.ts';

/**
 * A certificate's subject as Envoy (BoringSSL's X509_NAME_print_ex with
 * XN_FLAG_RFC2253) prints an issuer: RDNs last to first, joined by commas,
 * values escaped per RFC 2253, bytes above 0x7f as \XX. Undefined for a name
 * Ferry cannot reproduce exactly (an attribute without a short name, printed
 * by OpenSSL as a dotted OID and by BoringSSL as #hex).
 */
export function rfc2253Subject(pem: string): string | undefined {
  // Node prints the subject one RDN a line, already escaped per RFC 2253 (without the high-byte escape).
  const lines = new X509Certificate(pem).subject.split('\n');
  if (lines.some((l) => /^\d+(\.\d+)+=/.test(l) || /(^|\s\+\s)\d+(\.\d+)+=/.test(l))) return undefined;
  const escapeHigh = (s: string) => [...s].map((c) => (c.charCodeAt(0) < 0x80 ? c : [...Buffer.from(c, 'utf8')].map((b) => `\\${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''))).join('');
  // XN_FLAG_DN_REV reverses every entry, those of a multi-valued RDN too.
  return lines.reverse().map((l) => escapeHigh(l.split(' + ').reverse().join('+'))).join(',');
}

/**
 * A partner's gateway kind: the Domain's ferry.secretflow/gateway annotation,
 * else a Ferry CA (CN "<domain> Ferry CA", what `ferry init` makes) means a
 * Ferry node and any other CA (Kuscia's domain certificate) a Kuscia gateway.
 */
export function partnerGatewayKind(declared: string | undefined, caPem: string): 'ferry' | 'kuscia' {
  if (declared === 'ferry' || declared === 'kuscia') return declared;
  const first = splitPemCertificates(caPem)[0] ?? caPem;
  return /(^|\n)CN=.* Ferry CA(\n|$)/.test(new X509Certificate(first).subject) ? 'ferry' : 'kuscia';
}

/** The issuer names a Kuscia partner's client certificates carry: the subjects of the CAs in its Domain.spec.cert. */
export function kusciaIssuers(caPem: string): string[] | undefined {
  const names = splitPemCertificates(caPem).map(rfc2253Subject);
  return names.every((n): n is string => n !== undefined) ? [...new Set(names)] : undefined;
}

/**
 * Kuscia partners whose CA subject is also another Kuscia partner's: a
 * certificate issued under that name could come from either, so neither is
 * identified by certificate (one partner's CA never vouches for another).
 * Returns, per such partner, the other partners it clashes with.
 */
export function kusciaIssuerClashes(partners: readonly { domain: string; issuers: readonly string[] }[]): Map<string, string[]> {
  const owners = new Map<string, Set<string>>();
  for (const p of partners) for (const i of p.issuers) owners.set(i, (owners.get(i) ?? new Set()).add(p.domain));
  const clashes = new Map<string, string[]>();
  for (const p of partners) {
    const others = new Set<string>();
    for (const i of p.issuers) for (const d of owners.get(i) ?? []) if (d !== p.domain) others.add(d);
    if (others.size) clashes.set(p.domain, [...others].sort());
  }
  return clashes;
}
