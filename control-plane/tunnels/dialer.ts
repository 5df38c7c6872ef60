// Reverse tunnels, dialling side (bob, who opens no inbound port). The node
// keeps `size` idle tunnels open to its partner: each connection to Envoy's
// reverse-dial socket becomes one CONNECT ferry-tunnel.<peer>.svc over bob's
// mTLS link to the partner. When a tunnel starts carrying bytes (the partner's
// TLS handshake to bob's gateway), the node connects it to bob's own public
// listener and pipes both ways, then dials a replacement. Tunnels that fail
// are re-dialled with back-off.
import { connect, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { pipeBothWays } from './broker.ts';

export interface DialerCounts {
  idle: number;
  active: number;
  /** Tunnels that carried calls, in all. */
  used: number;
  lastError?: string;
  lastErrorAt?: string;
}

/** A tunnel that closes sooner than this without carrying anything counts as a failure (back-off). */
const HEALTHY_AFTER_MS = 2000;

export class TunnelDialer {
  readonly peer: string;
  private readonly socketPath: string;
  private readonly target: { host: string; port: number };
  private readonly size: number;
  private readonly log: Logger;
  private idle = 0;
  private active = 0;
  private used = 0;
  private failures = 0;
  private lastError: string | undefined;
  private lastErrorAt: number | undefined;
  private stopped = false;
  private readonly open = new Set<Socket>();
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(opts: { peer: string; socketPath: string; publicListener: { host: string; port: number }; size: number; log: Logger }) {
    this.peer = opts.peer;
    this.socketPath = opts.socketPath;
    this.target = opts.publicListener;
    this.size = opts.size;
    this.log = opts.log;
  }

  start(): void {
    this.fill();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    for (const s of this.open) s.destroy();
  }

  counts(): DialerCounts {
    return {
      idle: this.idle, active: this.active, used: this.used,
      ...(this.lastError ? { lastError: this.lastError, lastErrorAt: new Date(this.lastErrorAt!).toISOString() } : {}),
    };
  }

  /** Opens tunnels until `size` are idle. */
  private fill(): void {
    while (!this.stopped && this.idle < this.size && !this.retryTimer) this.dial();
  }

  private dial(): void {
    this.idle++;
    const openedAt = Date.now();
    const tunnel = connect({ path: this.socketPath });
    tunnel.setNoDelay(true);
    this.open.add(tunnel);
    let inUse = false;
    const onIdleEnd = (err?: Error) => {
      this.open.delete(tunnel);
      if (inUse) return;
      this.idle--;
      if (this.stopped) return;
      // Closed without carrying anything: the partner or this node's Envoy is not reachable (yet).
      if (err || Date.now() - openedAt < HEALTHY_AFTER_MS) {
        this.failures++;
        this.lastError = err?.message ?? `the tunnel to ${this.peer} closed at once (is ${this.peer} reachable, and does it have a REVERSE-TUNNEL route to this domain?)`;
        this.lastErrorAt = Date.now();
        this.scheduleRetry();
      } else {
        this.fill();
      }
    };
    tunnel.once('error', (e) => onIdleEnd(e));
    tunnel.once('close', () => onIdleEnd());
    tunnel.once('data', (first: Buffer) => {
      // The partner's first bytes (its TLS ClientHello): this tunnel now carries a connection to this node's gateway.
      inUse = true;
      this.idle--;
      this.active++;
      this.used++;
      this.failures = 0;
      this.lastError = undefined;
      // A socket keeps what is written before it connects, in order: the first bytes, then the rest.
      const gateway = connect(this.target, () => gateway.setNoDelay(true));
      gateway.write(first);
      pipeBothWays(tunnel, gateway, () => { this.active--; });
      this.fill(); // a spare for the next call
    });
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.stopped) return;
    const wait = Math.min(30_000, 250 * 2 ** Math.min(this.failures, 7));
    this.log.warn({ peer: this.peer, err: this.lastError, retryInMs: wait }, 'reverse tunnel failed; dialling again');
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.fill();
    }, wait);
    this.retryTimer.unref();
  }
}
