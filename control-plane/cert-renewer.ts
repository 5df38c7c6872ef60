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
import { caRotation, finishCaRotation, publishedCaBundle, startCaRotation, type CaRotation } from './ca-rotation.ts';

/** setTimeout's longest wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface CertStatus {
  ca: CertificateFacts;
  gateway: CertificateFacts & { renewAt: string; lifetimeSeconds: number };
  /** A CA rotation in its overlap window: partners must trust both CAs before activateAt. */
  rotation?: CaRotation;
}

export class CertRenewer {
  private timer: NodeJS.Timeout | undefined;
  private caTimer: NodeJS.Timeout | undefined;
  private current: CertAndKey;
  private readonly opts: {
    home: string; domain: string; lifetimeSeconds: number; log: Logger;
    onRenewed: (gateway: CertAndKey) => void;
    /** The CA bundle partners must trust changed (a rotation started or finished). */
    onCaChanged?: (bundlePem: string) => void;
  };

  constructor(opts: CertRenewer['opts']) {
    this.opts = opts;
    this.current = readGatewayCert(opts.home);
  }

  get gateway(): CertAndKey {
    return this.current;
  }

  /** Another replica renewed (shared store): take the files it wrote here. */
  reload(): void {
    this.current = readGatewayCert(this.opts.home);
    if (this.timer) this.schedule();
  }

  /** When the current certificate is due: a third of the configured lifetime before it expires. */
  renewAt(): Date {
    const facts = inspectCertificate(this.current.certPem);
    return new Date(facts.notAfter.getTime() - (this.opts.lifetimeSeconds * 1000) / 3);
  }

  start(): void {
    const rotation = caRotation(this.opts.home);
    if (rotation && new Date(rotation.activateAt).getTime() <= Date.now()) {
      this.finishCaRotation('the overlap window ended while the node was down');
      return;
    }
    this.scheduleCaActivation();
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
    const rotation = caRotation(this.opts.home);
    return {
      ca: inspectCertificate(readCa(this.opts.home).certPem),
      gateway: { ...inspectCertificate(this.current.certPem), renewAt: this.renewAt().toISOString(), lifetimeSeconds: this.opts.lifetimeSeconds },
      ...(rotation ? { rotation } : {}),
    };
  }

  /**
   * Starts a CA rotation: the next CA is published beside the current one
   * (partners apply the bundle `ferry cert export` prints) and takes over
   * when the overlap window ends.
   */
  startCaRotation(overlapSeconds: number): CaRotation {
    const rotation = startCaRotation(this.opts.home, this.opts.domain, overlapSeconds);
    this.opts.log.info({ activateAt: rotation.activateAt, next: rotation.next.serial }, 'CA rotation started: partners must apply the CA bundle before it takes over');
    this.opts.onCaChanged?.(publishedCaBundle(this.opts.home));
    this.scheduleCaActivation();
    return rotation;
  }

  /** The next CA takes over now: the gateway certificate is re-issued from it. */
  finishCaRotation(reason: string): void {
    clearTimeout(this.caTimer);
    finishCaRotation(this.opts.home);
    this.opts.log.info({ reason }, 'CA rotation finished: the new CA signs the gateway certificate');
    this.opts.onCaChanged?.(publishedCaBundle(this.opts.home));
    this.renew('the new CA took over');
  }

  private scheduleCaActivation(): void {
    clearTimeout(this.caTimer);
    const rotation = caRotation(this.opts.home);
    if (!rotation) return;
    const wait = new Date(rotation.activateAt).getTime() - Date.now();
    this.caTimer = setTimeout(() => {
      if (new Date(rotation.activateAt).getTime() <= Date.now()) this.finishCaRotation('the overlap window ended');
      else this.scheduleCaActivation();
    }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
    this.caTimer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.caTimer);
  }
}
