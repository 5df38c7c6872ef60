// DomainDataGrant signatures, Kuscia's scheme: RSA PKCS#1 v1.5 over SHA-256
// of the spec without its signature, serialized as Go's encoding/json writes
// Kuscia's DomainDataGrantSpec (struct field order, omitempty fields left out,
// map keys sorted, expirationTime as metav1.Time: RFC 3339 in UTC, seconds),
// base64 (standard). The author signs with its domain key; the grantee
// verifies with the author's certificate (Domain.spec.cert). Pure.
import { createSign, createVerify, X509Certificate } from 'node:crypto';
import type { DomainDataGrantSpec } from './spec.ts';

/** A string as Go's encoding/json writes it (HTML-safe: <, >, & escaped; U+2028/2029 escaped). */
function goString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function goTime(t: string): string {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) throw new Error(`expirationTime ${t} is not a time`);
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const strings = (xs: readonly string[]) => `[${xs.map(goString).join(',')}]`;

/** The bytes Kuscia signs: json.Marshal(spec) with Signature "". */
export function grantSigningBytes(spec: DomainDataGrantSpec): Buffer {
  const parts: string[] = [`"author":${goString(spec.author ?? '')}`, `"domainDataID":${goString(spec.domainDataID ?? '')}`];
  // signature: omitempty, and empty while signing
  parts.push(`"grantDomain":${goString(spec.grantDomain ?? '')}`);
  const l = spec.limit;
  if (l) {
    const lp: string[] = [];
    if (l.expirationTime) lp.push(`"expirationTime":${goString(goTime(l.expirationTime))}`);
    if (l.useCount) lp.push(`"useCount":${l.useCount}`);
    if (l.grantMode?.length) lp.push(`"grantMode":${strings(l.grantMode)}`);
    if (l.flowID) lp.push(`"flowID":${goString(l.flowID)}`);
    if (l.components?.length) lp.push(`"components":${strings(l.components)}`);
    if (l.initiator) lp.push(`"initiator":${goString(l.initiator)}`);
    if (l.inputConfig) lp.push(`"inputConfig":${goString(l.inputConfig)}`);
    parts.push(`"limit":{${lp.join(',')}}`);
  }
  const d = spec.description;
  if (d && Object.keys(d).length) {
    const keys = Object.keys(d).sort((a, b) => (Buffer.from(a) < Buffer.from(b) ? -1 : 1));
    parts.push(`"description":{${keys.map((k) => `${goString(k)}:${goString(d[k]!)}`).join(',')}}`);
  }
  return Buffer.from(`{${parts.join(',')}}`, 'utf8');
}

/** The signature (base64) of a spec, by the author's RSA key (PEM). */
export function signGrant(spec: DomainDataGrantSpec, keyPem: string): string {
  return createSign('sha256').update(grantSigningBytes(spec)).sign(keyPem, 'base64');
}

/**
 * Whether the spec's signature verifies against one of the author's
 * certificates (PEMs: a CA rotation's bundle has two). Undefined: it does;
 * else why not.
 */
export function grantSignatureProblem(spec: DomainDataGrantSpec, certPems: readonly string[]): string | undefined {
  if (!spec.signature) return `DomainDataGrant from ${spec.author} is not signed`;
  const sig = Buffer.from(spec.signature, 'base64');
  if (!sig.length || sig.toString('base64') !== spec.signature.replace(/\s/g, '')) return 'signature: not base64';
  const bytes = grantSigningBytes(spec);
  for (const pem of certPems) {
    try {
      if (createVerify('sha256').update(bytes).verify(new X509Certificate(pem).publicKey, sig)) return undefined;
    } catch {
      // not an RSA certificate, or not a certificate: try the next
    }
  }
  return `signature: does not verify with ${spec.author}'s certificate (Domain ${spec.author} spec.cert): the grant was altered or signed with another key`;
}
