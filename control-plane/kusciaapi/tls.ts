// KusciaAPI's transport security, as Kuscia configures it: `protocol` NOTLS,
// TLS (server certificate) or MTLS (and a client certificate from the domain
// CA), the server pair kusciaapi-server.crt/.key in the certs directory,
// signed by the domain CA and made at first start (CN KusciaAPI, DNS SANs
// kusciaapi, localhost, the host name and `sans`). The Token is checked in
// every mode. Who may listen where is decided here too: beyond loopback only
// with TLS or MTLS.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { issueServiceCert } from '../../certs/authority.ts';
import type { NodeConfig } from '../config.ts';
import { readCa, writeSecretFile } from '../home.ts';
import { previousCaPath } from '../ca-rotation.ts';

export const PROTOCOLS = ['NOTLS', 'TLS', 'MTLS'] as const;
export type KusciaProtocol = (typeof PROTOCOLS)[number];

/** Where Kuscia keeps the pair (var/certs/kusciaapi-server.*); Ferry: <home>/certs. */
export const kusciaServerCertPaths = (home: string) => ({ cert: join(home, 'certs', 'kusciaapi-server.crt'), key: join(home, 'certs', 'kusciaapi-server.key') });

/** Kuscia makes the pair for 10 years; made again at start when expired. */
const CERT_DAYS = 3650;

export interface KusciaApiSettings {
  protocol: KusciaProtocol;
  /** Address of KusciaAPI's own listeners (gRPC; HTTP on a port of its own). */
  address: string;
  /** HTTP on the REST listener (same port); else on a listener of its own. */
  shared: boolean;
  /** Shared, but the REST listener is bound beyond loopback: HTTP is not served (NOTLS only). */
  sharedButExposed: boolean;
  sans: string[];
}

export function isLoopback(address: string): boolean {
  return /^127\.\d+\.\d+\.\d+$/.test(address) || address === '::1' || address === 'localhost';
}

/** ferry.yaml's kusciaApi block, checked (pure): an error names the field and the fix. */
export function kusciaApiSettings(config: NodeConfig): KusciaApiSettings {
  const k = config.kusciaApi ?? {};
  const protocol = (k.protocol ?? 'NOTLS') as KusciaProtocol;
  if (!PROTOCOLS.includes(protocol)) throw new Error(`kusciaApi.protocol in ferry.yaml: "${String(k.protocol)}" is not NOTLS, TLS or MTLS (Kuscia's names)`);
  const address = k.address ?? '127.0.0.1';
  if (address !== 'localhost' && !isIP(address)) throw new Error(`kusciaApi.address in ferry.yaml: "${address}" is not an IP address (e.g. 127.0.0.1, or 0.0.0.0 with protocol TLS or MTLS)`);
  if (!isLoopback(address) && protocol === 'NOTLS') {
    throw new Error(`kusciaApi.address in ferry.yaml: ${address} is not a loopback address, and without TLS the token would cross the network in clear: set kusciaApi.protocol to MTLS or TLS (ferry init --kusciaapi-protocol MTLS), or use 127.0.0.1`);
  }
  const sans = k.sans ?? [];
  if (!Array.isArray(sans) || sans.some((s) => typeof s !== 'string' || !s)) throw new Error('kusciaApi.sans in ferry.yaml: give host names and IP addresses for the server certificate, none empty (e.g. kusciaapi.alice.example,10.0.0.5)');
  const shared = k.httpPort === undefined || k.httpPort === config.listeners.api.port;
  if (shared && protocol !== 'NOTLS') {
    throw new Error(`kusciaApi.httpPort in ferry.yaml: with protocol ${protocol}, KusciaAPI HTTP needs a port of its own (Ferry's REST listener on ${config.listeners.api.port} is plain HTTP): set kusciaApi.httpPort (ferry init --kusciaapi-http-port N)`);
  }
  return { protocol, address, shared, sharedButExposed: shared && !isLoopback(config.listeners.api.address), sans };
}

export interface KusciaServerTls {
  mtls: boolean;
  certPem: string;
  keyPem: string;
  /** The domain CA: verifies client certificates (MTLS); what clients trust. */
  caPem: string;
}

/** The server pair, made when missing or expired; refused with the fix when it does not fit the domain CA. */
export function kusciaServerTls(home: string, config: NodeConfig, settings: KusciaApiSettings, note: (msg: string) => void): KusciaServerTls | undefined {
  if (settings.protocol === 'NOTLS') return undefined;
  const ca = readCa(home);
  const paths = kusciaServerCertPaths(home);
  const haveCert = existsSync(paths.cert);
  const haveKey = existsSync(paths.key);
  if (haveCert !== haveKey) throw new Error(`${haveCert ? paths.key : paths.cert} is missing while ${haveCert ? paths.cert : paths.key} exists: remove both, and the node makes a new pair signed by the domain CA`);
  let expired = false;
  let stale = false;
  if (haveCert) {
    const certPem = readFileSync(paths.cert, 'utf8');
    // Signed by the CA a finished rotation replaced: ours, from before it; made again from the new CA.
    stale = signedByPreviousCa(certPem, home);
    if (!stale) expired = checkPair(certPem, readFileSync(paths.key, 'utf8'), ca.certPem, paths).expired;
  }
  if (!haveCert || expired || stale) {
    const ips = ['127.0.0.1', '::1', ...settings.sans.filter((s) => isIP(s)), ...(isIP(settings.address) && !['0.0.0.0', '::'].includes(settings.address) ? [settings.address] : [])];
    const dns = ['kusciaapi', 'localhost', hostname(), ...settings.sans.filter((s) => !isIP(s))];
    const pair = issueServiceCert(ca, { commonName: 'KusciaAPI', organization: config.domain, dnsNames: [...new Set(dns)], ipAddresses: [...new Set(ips)], days: CERT_DAYS });
    writeSecretFile(paths.key, pair.keyPem);
    writeFileSync(paths.cert, pair.certPem, { mode: 0o600 });
    const why = expired ? 'the KusciaAPI server certificate had expired: made a new one' : stale ? 'the KusciaAPI server certificate was signed by the CA a rotation replaced: made a new one (give MTLS clients the new pair and ca.crt)' : 'made the KusciaAPI server certificate';
    note(`${why} ${paths.cert} (signed by the domain CA; clients use it with ${paths.key} in MTLS, as Kuscia's)`);
  }
  return { mtls: settings.protocol === 'MTLS', certPem: readFileSync(paths.cert, 'utf8'), keyPem: readFileSync(paths.key, 'utf8'), caPem: ca.certPem };
}

function signedByPreviousCa(certPem: string, home: string): boolean {
  const previous = previousCaPath(home);
  if (!existsSync(previous)) return false;
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(readFileSync(previous, 'utf8'));
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false; // not a certificate: checkPair says so
  }
}

/** A pair someone may have put there: parsed, matching, and signed by the domain CA, or an error that says which and the fix. */
export function checkPair(certPem: string, keyPem: string, caPem: string, paths: { cert: string; key: string }, now = new Date()): { expired: boolean } {
  const fix = 'remove kusciaapi-server.crt and kusciaapi-server.key, and the node makes a new pair signed by the domain CA';
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch (e) {
    throw new Error(`${paths.cert}: not a PEM certificate (${(e as Error).message}): ${fix}`);
  }
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch (e) {
    throw new Error(`${paths.key}: not a PEM private key (${(e as Error).message}): ${fix}`);
  }
  if (!matches) throw new Error(`${paths.key}: the key does not belong to ${paths.cert}: ${fix}`);
  const ca = new X509Certificate(caPem);
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey)) {
    throw new Error(`${paths.cert}: not signed by this domain's CA (issuer "${cert.issuer.replace(/\n/g, ', ')}"), so MTLS clients holding the domain CA would not trust it: ${fix}`);
  }
  return { expired: new Date(cert.validTo) <= now };
}
