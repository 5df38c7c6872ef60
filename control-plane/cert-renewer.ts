// Keeps the gateway certificate short-lived and fresh: renews it at two
// thirds of its lifetime (and at start when it is too old or too long-lived),
// writes it to <home>/certs, and hands it to the translator, which sends it
// to Envoy over SDS: new handshakes use the new certificate, open connections
// go on undisturbed.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { issueGatewayCert, inspectCertificate, type CertAndKey, type CertificateFacts } from '../certs/authority.ts';
import { homePaths } from './config.ts';
import { readCa, readGatewayCert, writeSecretFile } from './home.ts';
import { caRotation, finishCaRotation, publishedCaBundle, startCaRotation, type CaRotation } from './ca-rotation.ts';
import { describeWriteError, type WriteFailures } from './write-failures.ts';

/** setTimeout's longest wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** After a failed renewal (a full disk...): retry after 1 s, doubling up to 1 min. */
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 60_000;

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
  private retryMs = RETRY_FIRST_MS;
  private readonly opts: {
    home: string; domain: string; lifetimeSeconds: number; log: Logger;
    /** Where a failed write is reported (status condition, metric); without it the error is only logged. */
    failures?: WriteFailures;
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
      this.guarded('ca-rotation', () => this.finishCaRotation('the overlap window ended while the node was down', true), () => this.start());
      return;
    }
    this.scheduleCaActivation();
    const facts = inspectCertificate(this.current.certPem);
    // A certificate valid for much longer than the configured lifetime (issued under an older setting) is replaced now.
    const tooLong = facts.notAfter.getTime() - Date.now() > this.opts.lifetimeSeconds * 1000 * 1.01 + 10 * 60_000;
    if (tooLong || this.renewAt().getTime() <= Date.now()) this.renewFromTimer(tooLong ? 'valid for longer than the configured lifetime' : 'due');
    else this.schedule();
  }

  /**
   * Runs a timer's work so that nothing throws out of the process: a failure
   * (ENOSPC while writing the new key...) keeps the current certificate, which
   * Envoy goes on serving, is reported, and the work is retried with back-off.
   */
  private guarded(what: string, work: () => void, retry: () => void): void {
    try {
      work();
      this.retryMs = RETRY_FIRST_MS;
      this.opts.failures?.ok(what);
    } catch (err) {
      if (this.opts.failures) this.opts.failures.record(what, err);
      else this.opts.log.error({ err: describeWriteError(err) }, `${what}: failed`);
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      clearTimeout(this.timer);
      this.timer = setTimeout(retry, wait);
      this.timer.unref();
    }
  }

  private renewFromTimer(reason: string): void {
    this.guarded('gateway-certificate', () => this.renew(reason), () => {
      if (this.renewAt().getTime() <= Date.now()) this.renewFromTimer(reason);
      else this.schedule();
    });
  }

  /** Issues a new gateway certificate now; returns its facts. */
  renew(reason: string): CertificateFacts {
    const paths = homePaths(this.opts.home);
    const next = issueGatewayCert(readCa(this.opts.home), this.opts.domain, { lifetimeSeconds: this.opts.lifetimeSeconds });
    // Write beside, then rename: a reader never sees half a key, and a failed
    // write (a full disk) leaves the current pair whole.
    let file = `${paths.gatewayKey}.new`;
    try {
      writeSecretFile(file, next.keyPem);
      file = `${paths.gatewayCert}.new`;
      writeFileSync(file, next.certPem);
      file = paths.gatewayKey;
      renameSync(`${paths.gatewayKey}.new`, paths.gatewayKey);
      file = paths.gatewayCert;
      renameSync(`${paths.gatewayCert}.new`, paths.gatewayCert);
    } catch (err) {
      for (const f of [`${paths.gatewayKey}.new`, `${paths.gatewayCert}.new`]) rmSync(f, { force: true });
      throw Object.assign(new Error(`could not write the renewed gateway certificate: ${describeWriteError(err, file)}`), { code: (err as NodeJS.ErrnoException).code });
    }
    this.current = next;
    this.opts.failures?.ok('gateway-certificate');
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
      if (this.renewAt().getTime() <= Date.now()) this.renewFromTimer('due');
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
  finishCaRotation(reason: string, fromTimer = false): void {
    clearTimeout(this.caTimer);
    finishCaRotation(this.opts.home);
    this.opts.log.info({ reason }, 'CA rotation finished: the new CA signs the gateway certificate');
    this.opts.onCaChanged?.(publishedCaBundle(this.opts.home));
    // From a timer, a failed write of the new certificate is retried (the rotation itself is done).
    if (fromTimer) this.renewFromTimer('the new CA took over');
    else this.renew('the new CA took over');
  }

  private scheduleCaActivation(): void {
    clearTimeout(this.caTimer);
    const rotation = caRotation(this.opts.home);
    if (!rotation) return;
    const wait = new Date(rotation.activateAt).getTime() - Date.now();
    this.caTimer = setTimeout(() => {
      if (new Date(rotation.activateAt).getTime() <= Date.now()) this.finishCaFromTimer();
      else this.scheduleCaActivation();
    }, Math.max(0, Math.min(wait, MAX_TIMER_MS)));
    this.caTimer.unref();
  }

  private finishCaFromTimer(): void {
    try {
      this.finishCaRotation('the overlap window ended', true);
      this.opts.failures?.ok('ca-rotation');
    } catch (err) {
      if (this.opts.failures) this.opts.failures.record('ca-rotation', err);
      else this.opts.log.error({ err: describeWriteError(err) }, 'CA rotation: could not finish');
      clearTimeout(this.caTimer);
      this.caTimer = setTimeout(() => this.finishCaFromTimer(), RETRY_MAX_MS);
      this.caTimer.unref();
    }
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.caTimer);
  }
}
