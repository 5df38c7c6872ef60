// CA rotation with an overlap window. `ferry cert rotate --ca` creates the next
// CA beside the current one; for the overlap window this domain publishes both
// (`ferry cert export` prints the bundle, partners apply it and trust both),
// still signs with the current one, and accepts tokens encrypted to either key.
// When the window ends (or `--finish`), the next CA becomes the CA, the gateway
// certificate is re-issued from it, and the old CA key is deleted.
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainCa, inspectCertificate, type CertificateFacts } from '../certs/authority.ts';
import { homePaths } from './config.ts';
import { readCa, writeSecretFile } from './home.ts';

export interface CaRotation {
  startedAt: string;
  /** When the next CA takes over (the end of the overlap window). */
  activateAt: string;
  next: CertificateFacts;
}

const files = (home: string) => {
  const { certs } = homePaths(home);
  return { nextCert: join(certs, 'ca-next.crt'), nextKey: join(certs, 'ca-next.key'), state: join(certs, 'ca-rotation.json'), previousCert: join(certs, 'ca-previous.crt') };
};

export function caRotation(home: string): CaRotation | undefined {
  const f = files(home);
  if (!existsSync(f.state) || !existsSync(f.nextCert)) return undefined;
  const state = JSON.parse(readFileSync(f.state, 'utf8')) as { startedAt: string; activateAt: string };
  return { ...state, next: inspectCertificate(readFileSync(f.nextCert, 'utf8')) };
}

/** The CA a finished rotation replaced (kept so what it signed can be recognised and re-issued). */
export const previousCaPath = (home: string) => files(home).previousCert;

/** Starts a rotation: the next CA exists and is published; the current one still signs. */
export function startCaRotation(home: string, domain: string, overlapSeconds: number, now = new Date()): CaRotation {
  const running = caRotation(home);
  if (running) throw new Error(`a CA rotation is already under way (the next CA takes over at ${running.activateAt}): finish it with \`ferry cert rotate --ca --finish\` first`);
  const f = files(home);
  const next = createDomainCa(domain, { now });
  writeSecretFile(f.nextKey, next.keyPem);
  writeFileSync(f.nextCert, next.certPem);
  writeFileSync(f.state, JSON.stringify({ startedAt: now.toISOString(), activateAt: new Date(now.getTime() + overlapSeconds * 1000).toISOString() }, null, 2));
  return caRotation(home)!;
}

/** Ends the overlap: the next CA becomes the CA; the old key is gone for good. */
export function finishCaRotation(home: string): void {
  const f = files(home);
  const p = homePaths(home);
  if (!caRotation(home)) throw new Error('no CA rotation is under way: start one with `ferry cert rotate --ca`');
  renameSync(p.caCert, f.previousCert);
  renameSync(f.nextKey, p.caKey); // replaces the old key (0600 kept: same mode)
  renameSync(f.nextCert, p.caCert);
  rmSync(f.state, { force: true });
}

/** What partners must trust: the CA, and during a rotation the next CA too (a PEM bundle). */
export function publishedCaBundle(home: string): string {
  const current = readCa(home).certPem;
  const f = files(home);
  return caRotation(home) ? current + readFileSync(f.nextCert, 'utf8') : current;
}

/** Keys that may decrypt a partner's token half: the CA's and, during a rotation, the next CA's. */
export function caPrivateKeys(home: string): string[] {
  const f = files(home);
  return [readCa(home).keyPem, ...(caRotation(home) && existsSync(f.nextKey) ? [readFileSync(f.nextKey, 'utf8')] : [])];
}
