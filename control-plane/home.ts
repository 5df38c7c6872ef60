// `ferry init`: a node's home directory with config, CA, gateway certificate
// and API token; and loading them back.
import { createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainCa, issueGatewayCert, type CertAndKey } from '../certs/authority.ts';
import { defaultConfig, homePaths, writeConfig, type DEFAULT_PORTS, type NodeConfig } from './config.ts';

const DOMAIN_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface InitOptions {
  /** An existing CA (restored from a backup, or a Kubernetes Secret) instead of a new one. */
  ca?: CertAndKey;
  /** An existing API token instead of a new random one. */
  apiToken?: string;
  /** Address of the internal and API listeners (default 127.0.0.1). */
  bind?: string;
}

export function initHome(home: string, domain: string, ports: Partial<Record<keyof typeof DEFAULT_PORTS, number>> = {}, opts: InitOptions = {}): NodeConfig {
  if (!DOMAIN_ID.test(domain)) {
    throw new Error(`domain "${domain}" is not a valid domain id: use lowercase letters, digits and "-" (at most 63), e.g. alice`);
  }
  if (opts.ca) checkCa(opts.ca, domain);
  if (opts.apiToken !== undefined && !/^[\x21-\x7e]{16,}$/.test(opts.apiToken)) throw new Error('--api-token-file: the token must be at least 16 printable characters, without spaces');
  const paths = homePaths(home);
  if (existsSync(paths.config)) {
    throw new Error(`${paths.config} already exists: this home is initialised; use another --home or remove it`);
  }
  // The home is its owner's alone: keys, store, logs, bootstrap and the sockets in run/.
  for (const dir of [home, paths.certs, paths.data, paths.logs, paths.run]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  const config = defaultConfig(domain, ports);
  if (opts.bind) config.listeners.internal.address = config.listeners.api.address = opts.bind;
  const ca = opts.ca ?? createDomainCa(domain);
  const gateway = issueGatewayCert(ca, domain);
  writeSecretFile(paths.caKey, ca.keyPem);
  writeFileSync(paths.caCert, ca.certPem);
  writeSecretFile(paths.gatewayKey, gateway.keyPem);
  writeFileSync(paths.gatewayCert, gateway.certPem);
  writeSecretFile(paths.apiToken, (opts.apiToken ?? randomBytes(32).toString('base64url')) + '\n');
  writeSecretFile(paths.xdsSecret, randomBytes(32).toString('base64url') + '\n');
  writeConfig(home, config);
  return config;
}

/** A supplied CA must be a CA certificate with its own key, or nothing is written. */
function checkCa(ca: CertAndKey, domain: string): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
  } catch (e) {
    throw new Error(`--ca-cert: not a PEM certificate (${(e as Error).message})`);
  }
  if (!cert.ca) throw new Error(`--ca-cert: "${cert.subject.replace(/\n/g, ', ')}" is not a CA certificate (basicConstraints CA:FALSE): give the domain's CA, not a gateway certificate`);
  let matches: boolean;
  try {
    matches = cert.checkPrivateKey(createPrivateKey(ca.keyPem));
  } catch (e) {
    throw new Error(`--ca-key: not a PEM private key (${(e as Error).message})`);
  }
  if (!matches) throw new Error(`--ca-key: the key does not belong to the certificate in --ca-cert (domain ${domain})`);
}

/**
 * Closes a home made by an older Ferry (0755 directories, 0644 files): the
 * home and its directories become 0700, the files in them 0600 (certificates
 * included: partners get the CA from `ferry cert export`). Run at every start.
 */
export function secureHome(home: string, opts: { traversable?: boolean } = {}): string[] {
  const paths = homePaths(home);
  const notOurs: string[] = [];
  // Only what this user owns can be changed: a mounted volume (a Kubernetes
  // emptyDir, owned by root, group fsGroup) is left as it is, and reported.
  const tighten = (path: string, mode: number) => {
    const st = lstatSync(path);
    if ((st.mode & 0o777) === mode || (st.isFile() && (st.mode & 0o077) === 0)) return;
    if (process.getuid && st.uid !== process.getuid()) notOurs.push(path);
    else chmodSync(path, mode);
  };
  for (const dir of [home, paths.certs, paths.data, paths.logs, paths.run]) {
    if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Tasks under another user reach their own directory in data/tasks: the home and data/ let them pass, not list.
    tighten(dir, opts.traversable && (dir === home || dir === paths.data) ? 0o711 : 0o700);
    for (const name of readdirSync(dir)) {
      const f = join(dir, name);
      if (lstatSync(f).isFile()) tighten(f, lstatSync(f).mode & 0o700);
    }
  }
  return notOurs;
}

/**
 * What `ferry start` does to the home before anything else: a private umask
 * (the node's and its Envoy's files and sockets are their user's alone), the
 * home closed, socket paths checked, and the pid file written: the first
 * write, so a full or read-only disk stops the start here, before Envoy or
 * any port.
 */
export function prepareRun(home: string, opts: { traversable?: boolean } = {}): { notOurs: string[] } {
  const paths = homePaths(home);
  process.umask(0o077);
  const notOurs = secureHome(home, opts);
  for (const s of [paths.xdsSocket, paths.adminSocket]) {
    if (Buffer.byteLength(s) > 107) throw new Error(`the Unix socket path ${s} is longer than 107 bytes: use a shorter --home`);
  }
  try {
    writeFileSync(paths.pid, `${process.pid}\n`);
  } catch (err) {
    throw Object.assign(err as Error, { path: paths.pid });
  }
  return { notOurs };
}

/** The per-home xDS secret (made on first use for homes from before it existed). */
export function xdsSecret(home: string): string {
  const path = homePaths(home).xdsSecret;
  if (!existsSync(path)) writeSecretFile(path, randomBytes(32).toString('base64url') + '\n');
  return readFileSync(path, 'utf8').trim();
}

/** Writes a secret (a key, the API token) readable by its owner only. */
export function writeSecretFile(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600); // mode is ignored when the file already existed
}

export function readCa(home: string): CertAndKey {
  const p = homePaths(home);
  return { certPem: readFileSync(p.caCert, 'utf8'), keyPem: readFileSync(p.caKey, 'utf8') };
}

export function readGatewayCert(home: string): CertAndKey {
  const p = homePaths(home);
  return { certPem: readFileSync(p.gatewayCert, 'utf8'), keyPem: readFileSync(p.gatewayKey, 'utf8') };
}

export function readApiToken(home: string): string {
  return readFileSync(homePaths(home).apiToken, 'utf8').trim();
}
