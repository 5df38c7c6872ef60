// Runs the reverse tunnels the translation asks for: a broker per partner that
// dials into this node (ir.reverseTunnels), a dialer per partner this node
// dials (ir.reverseDialers). Route statuses read their counts; a change of
// readiness asks for a new translation so `ferry describe` stays true.
import type { Logger } from 'pino';
import type { Ir } from '../translate/ir.ts';
import { TunnelBroker } from './broker.ts';
import { TunnelDialer } from './dialer.ts';

export interface TunnelManagerDeps {
  /** This node's public listener, where dialled tunnels deliver the partner's connections. */
  publicListener: { address: string; port: number };
  log: Logger;
  /** Idle tunnels kept open per partner (FERRY_REVERSE_TUNNELS, default 4). */
  size?: number;
  /** Readiness of some tunnel changed: re-translate (statuses). */
  onChange: () => void;
}

export class TunnelManager {
  private readonly brokers = new Map<string, { broker: TunnelBroker; key: string }>();
  private readonly dialers = new Map<string, { dialer: TunnelDialer; key: string }>();
  private readonly deps: TunnelManagerDeps;
  private readonly ready = new Map<string, boolean>();
  private readonly watch: NodeJS.Timeout;

  constructor(deps: TunnelManagerDeps) {
    this.deps = deps;
    // Counts change with traffic; readiness (any tunnel up) is what statuses show.
    this.watch = setInterval(() => this.checkReadiness(), 500);
    this.watch.unref();
  }

  /** Starts and stops brokers and dialers to match the latest translation. */
  async sync(ir: Ir): Promise<void> {
    const log = this.deps.log;
    const wantedBrokers = new Map(ir.reverseTunnels.map((t) => [t.peer, t]));
    for (const [peer, b] of this.brokers) {
      const t = wantedBrokers.get(peer);
      if (!t || `${t.inSocket}|${t.outSocket}` !== b.key) { this.brokers.delete(peer); await b.broker.stop(); }
    }
    for (const t of ir.reverseTunnels) {
      if (this.brokers.has(t.peer)) continue;
      const broker = new TunnelBroker(t.peer, t, log.child({ peer: t.peer }));
      this.brokers.set(t.peer, { broker, key: `${t.inSocket}|${t.outSocket}` });
      await broker.start();
    }
    const wantedDialers = new Map(ir.reverseDialers.map((d) => [d.peer, d]));
    for (const [peer, d] of this.dialers) {
      if (wantedDialers.get(peer)?.socket !== d.key) { this.dialers.delete(peer); d.dialer.stop(); }
    }
    const host = ['0.0.0.0', '::'].includes(this.deps.publicListener.address) ? '127.0.0.1' : this.deps.publicListener.address;
    for (const d of ir.reverseDialers) {
      if (this.dialers.has(d.peer)) continue;
      const dialer = new TunnelDialer({ peer: d.peer, socketPath: d.socket, publicListener: { host, port: this.deps.publicListener.port }, size: this.deps.size ?? 4, log: log.child({ peer: d.peer }) });
      this.dialers.set(d.peer, { dialer, key: d.socket });
      dialer.start();
    }
  }

  /** For route statuses: the tunnels with `peer`, on either side. */
  describe(peer: string): { ready: boolean; reason: string } | undefined {
    const d = this.dialers.get(peer)?.dialer.counts();
    if (d) {
      const up = d.idle + d.active;
      return { ready: up > 0 && !d.lastError, reason: `${d.idle} idle and ${d.active} busy tunnel(s) open to ${peer}, ${d.used} used so far${d.lastError ? `; last error ${d.lastErrorAt}: ${d.lastError}` : ''}` };
    }
    const b = this.brokers.get(peer)?.broker.counts();
    if (b) {
      return { ready: b.idle + b.active > 0, reason: `${b.idle} idle and ${b.active} busy tunnel(s) from ${peer}${b.idle + b.active === 0 ? ` (none yet: ${peer}'s node must run a REVERSE-TUNNEL route from this domain and reach this node's public port)` : ''}` };
    }
    return undefined;
  }

  async stop(): Promise<void> {
    clearInterval(this.watch);
    for (const d of this.dialers.values()) d.dialer.stop();
    await Promise.all([...this.brokers.values()].map((b) => b.broker.stop()));
    this.dialers.clear();
    this.brokers.clear();
  }

  private checkReadiness(): void {
    let changed = false;
    for (const peer of new Set([...this.brokers.keys(), ...this.dialers.keys()])) {
      const now = this.describe(peer)?.ready ?? false;
      if (this.ready.get(peer) !== now) { this.ready.set(peer, now); changed = true; }
    }
    if (changed) this.deps.onChange();
  }
}
