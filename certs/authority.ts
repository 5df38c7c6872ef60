// The domain's certificate authority and the gateway certificate it signs.
// The CA key is RSA because Kuscia partners encrypt the token handshake to the
// public key in the domain's CA certificate (shared/KUSCIA-WIRE.md).
// Identity: a gateway certificate carries the SPIFFE ID spiffe://<domain>/ferry/gateway
// (URI SAN) and the domain id as DNS SAN and CN; partners verify it with Envoy's
// SPIFFE validator, which trusts each partner CA for its own domain only.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import forge from 'node-forge';

export interface CertAndKey {
  certPem: string;
  keyPem: string;
}

const DAY_MS = 24 * 3600 * 1000;

export function gatewaySpiffeId(domain: string): string {
  return `spiffe://${domain}/ferry/gateway`;
}

function rsaKeyPair(bits: number): { pub: forge.pki.rsa.PublicKey; priv: forge.pki.rsa.PrivateKey; keyPem: string } {
  // node:crypto generates the key natively (fast); forge signs certificates.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const priv = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
  const pub = forge.pki.setRsaPublicKey(priv.n, priv.e);
  return { pub, priv, keyPem };
}

/** node-forge writes CRLF line ends; PEM files here use LF like OpenSSL. */
function pemWithLf(pem: string): string {
  return pem.replace(/\r\n/g, '\n');
}

function serialNumber(): string {
  // Positive 128-bit serial (top bit cleared so DER does not read it as negative).
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

/** Creates a self-signed RSA CA for `domain`, valid for `days` (default 10 years). */
export function createDomainCa(domain: string, opts: { days?: number; bits?: number; now?: Date } = {}): CertAndKey {
  const { pub, priv, keyPem } = rsaKeyPair(opts.bits ?? 2048);
  const now = opts.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + (opts.days ?? 3650) * DAY_MS);
  const name = [{ name: 'commonName', value: `${domain} Ferry CA` }, { name: 'organizationName', value: domain }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(priv, forge.md.sha256.create());
  return { certPem: pemWithLf(forge.pki.certificateToPem(cert)), keyPem };
}

/** Gateway certificates are short-lived and renewed automatically (control-plane/cert-renewer.ts). */
export const DEFAULT_GATEWAY_LIFETIME_SECONDS = 24 * 3600;

/** A leaf certificate signed by the domain CA, usable by servers and clients, valid from 5 minutes ago for `lifetimeMs`. */
function issueLeaf(ca: CertAndKey, opts: { commonName: string; organization: string; altNames: object[]; lifetimeMs: number; now?: Date }): CertAndKey {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const { pub, keyPem } = rsaKeyPair(2048);
  const now = opts.now ?? new Date();
  const cert = forge.pki.createCertificate();
  cert.publicKey = pub;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + opts.lifetimeMs);
  cert.setSubject([{ name: 'commonName', value: opts.commonName }, { name: 'organizationName', value: opts.organization }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: opts.altNames },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: pemWithLf(forge.pki.certificateToPem(cert)), keyPem };
}

/** Issues the gateway's certificate for `domain`, signed by the domain CA. */
export function issueGatewayCert(ca: CertAndKey, domain: string, opts: { days?: number; lifetimeSeconds?: number; now?: Date; ipAddresses?: string[] } = {}): CertAndKey {
  return issueLeaf(ca, {
    commonName: domain,
    organization: domain,
    lifetimeMs: opts.days !== undefined ? opts.days * DAY_MS : (opts.lifetimeSeconds ?? DEFAULT_GATEWAY_LIFETIME_SECONDS) * 1000,
    altNames: [
      { type: 6, value: gatewaySpiffeId(domain) }, // URI
      { type: 2, value: domain }, // DNS
      ...(opts.ipAddresses ?? []).map((ip) => ({ type: 7, ip })), // IP (a server reached by address)
    ],
    ...(opts.now ? { now: opts.now } : {}),
  });
}

/**
 * A service's server certificate signed by the domain CA (KusciaAPI's
 * kusciaapi-server.crt): DNS and IP SANs as given; usable as a client
 * certificate too, since Kuscia's clients present this very pair in mTLS.
 */
export function issueServiceCert(ca: CertAndKey, opts: { commonName: string; organization: string; dnsNames: string[]; ipAddresses: string[]; days: number; now?: Date }): CertAndKey {
  return issueLeaf(ca, {
    commonName: opts.commonName,
    organization: opts.organization,
    lifetimeMs: opts.days * DAY_MS,
    altNames: [...opts.dnsNames.map((value) => ({ type: 2, value })), ...opts.ipAddresses.map((ip) => ({ type: 7, ip }))],
    ...(opts.now ? { now: opts.now } : {}),
  });
}

export interface CertificateFacts {
  serial: string;
  notBefore: Date;
  subject: string;
  issuer: string;
  isCa: boolean;
  notAfter: Date;
  publicKeyType: string | undefined;
  uris: string[];
  dnsNames: string[];
}

/** Every certificate in a PEM bundle, each ending in a newline. */
export function splitPemCertificates(pem: string): string[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => `${b}\n`);
}

/**
 * Parses one PEM certificate, or throws an error that says what is wrong.
 * Used for certificates that arrive from outside (partner Domain.spec.cert).
 */
export function inspectCertificate(pem: string): CertificateFacts {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) {
    throw new Error(`expected exactly one PEM certificate (BEGIN CERTIFICATE), found ${blocks.length}`);
  }
  let x: X509Certificate;
  try {
    x = new X509Certificate(blocks[0] as string);
  } catch (e) {
    throw new Error(`not a valid X.509 certificate: ${(e as Error).message}`);
  }
  const sans = (x.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    serial: x.serialNumber.toLowerCase(),
    notBefore: new Date(x.validFrom),
    subject: x.subject.replace(/\n/g, ', '),
    issuer: x.issuer.replace(/\n/g, ', '),
    isCa: x.ca,
    notAfter: new Date(x.validTo),
    publicKeyType: x.publicKey.asymmetricKeyType,
    uris: sans.filter((s) => s.startsWith('URI:')).map((s) => s.slice(4)),
    dnsNames: sans.filter((s) => s.startsWith('DNS:')).map((s) => s.slice(4)),
  };
}
