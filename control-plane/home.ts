// `ferry init`: a node's home directory with config, CA, gateway certificate
// and API token; and loading them back.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createDomainCa, issueGatewayCert, type CertAndKey } from '../certs/authority.ts';
import { defaultConfig, homePaths, writeConfig, type DEFAULT_PORTS, type NodeConfig } from './config.ts';

const DOMAIN_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function initHome(home: string, domain: string, ports: Partial<Record<keyof typeof DEFAULT_PORTS, number>> = {}): NodeConfig {
  if (!DOMAIN_ID.test(domain)) {
    throw new Error(`domain "${domain}" is not a valid domain id: use lowercase letters, digits and "-" (at most 63), e.g. alice`);
  }
  const paths = homePaths(home);
  if (existsSync(paths.config)) {
    throw new Error(`${paths.config} already exists: this home is initialised; use another --home or remove it`);
  }
  for (const dir of [home, paths.certs, paths.data, paths.logs, paths.run]) mkdirSync(dir, { recursive: true });
  chmodSync(paths.certs, 0o700);
  const config = defaultConfig(domain, ports);
  const ca = createDomainCa(domain);
  const gateway = issueGatewayCert(ca, domain);
  writeSecretFile(paths.caKey, ca.keyPem);
  writeFileSync(paths.caCert, ca.certPem);
  writeSecretFile(paths.gatewayKey, gateway.keyPem);
  writeFileSync(paths.gatewayCert, gateway.certPem);
  writeSecretFile(paths.apiToken, randomBytes(32).toString('base64url') + '\n');
  writeConfig(home, config);
  return config;
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
