// Keeps the gateway certificate short-lived and fresh: renews it at two
// thirds of its lifetime (and at start when it is too old or too long-lived),
// writes it to <home>/certs, and hands it to the translator, which sends it
// to Envoy over SDS: new handshakes use the new certificate, open connections
// go on undisturbed.
import { renameSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { issueGatewayCert, inspectCertificate, type CertAndKey, type CertificateFacts } from '../certs/authority.ts';
import { homePaths } from './config.ts';
import { readCa, readGatewayCert, writeSecretFile } from './home.ts';

/** setTimeout's longest wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CertStatus {
  ca: CertificateFacts;
  gateway: CertificateFacts & { renewAt: string; lifetimeSeconds: number };
}

export class CertRenewer {
  private timer: NodeJS.Timeout | undefined;
  private current: CertAndKey;
  private readonly opts: { home: string; domain: string; lifetimeSeconds: number; onRenewed: (gateway: CertAndKey) => void; log: Logger };

  constructor(opts: CertRenewer['opts']) {
    this.opts = opts;
    this.current = readGatewayCert(opts.home);
  }

  get gateway(): CertAndKey {
    return this.current;
  }

  /** When the current certificate is due: a third of the configured lifetime before it expires. */
  renewAt(): Date {
    const facts = inspectCertificate(this.current.certPem);
    return new Date(facts.notAfter.getTime() - (this.opts.lifetimeSeconds * 1000) / 3);
  }

  start(): void {
    const facts = inspectCertificate(this.current.certPem);
    // A certificate valid for much longer than the configured lifetime (issued under an older setting) is replaced now.
    const tooLong = facts.notAfter.getTime() - Date.now() > this.opts.lifetimeSeconds * 1000 * 1.01 + 10 * 60_000;
    if (tooLong || this.renewAt().getTime() <= Date.now()) this.renew(tooLong ? 'valid for longer than the configured lifetime' : 'due');
    else this.schedule();
  }

  /** Issues a new gateway certificate now; returns its facts. */
  renew(reason: string): CertificateFacts {
    const paths = homePaths(this.opts.home);
    const next = issueGatewayCert(readCa(this.opts.home), this.opts.domain, { lifetimeSeconds: this.opts.lifetimeSeconds });
    // Write beside, then rename: a reader never sees half a key.
    writeSecretFile(`${paths.gatewayKey}.new`, next.keyPem);
    writeFileSync(`${paths.gatewayCert}.new`, next.certPem);
    renameSync(`${paths.gatewayKey}.new`, paths.gatewayKey);
    renameSync(`${paths.gatewayCert}.new`, paths.gatewayCert);
    this.current = next;
    const facts = inspectCertificate(next.certPem);
    this.opts.log.info({ reason, serial: facts.serial, notAfter: facts.notAfter.toISOString() }, 'gateway certificate renewed');
    this.opts.onRenewed(next);
    this.schedule();
    return facts;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.renewAt().getTime() - Date.now(), MAX_TIMER_MS));
    this.timer = setTimeout(() => {
      if (this.renewAt().getTime() <= Date.now()) this.renew('due');
      else this.schedule(); // the timer was clamped: keep waiting
    }, wait);
    this.timer.unref();
  }

  status(): CertStatus {
    return {
      ca: inspectCertificate(readCa(this.opts.home).certPem),
      gateway: { ...inspectCertificate(this.current.certPem), renewAt: this.renewAt().toISOString(), lifetimeSeconds: this.opts.lifetimeSeconds },
    };
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
