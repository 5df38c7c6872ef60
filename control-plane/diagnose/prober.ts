// Checks every outbound partner link now and then (and soon after a change),
// so a route's status says not only that it is configured but whether it
// works, and if not, which step fails: connect (with the errno), TLS (with the
// verification error), authentication, authorisation. `ferry describe route`
// shows it; a change of outcome asks for a new translation.
import type { Logger } from 'pino';
import type { Ir } from '../translate/ir.ts';
import { checkPeer, type Gateway, type Step } from './client.ts';
import { askRelay, relayHops, type RelayHop } from './relay-check.ts';

export interface ProberDeps {
  gateway: Gateway;
  log: Logger;
  /** Between checks of a working link (FERRY_PROBE_MS, default 30 s); a failing one is checked again sooner. */
  intervalMs?: number;
  onChange: () => void;
  /** This node's gateway certificate and key: to ask a relay directly why it refuses (relay-check.ts). */
  credentials?: () => { certPem: string; keyPem: string };
}

interface Result { step: Step; at: number }

export class LinkProber {
  private readonly results = new Map<string, Result>();
  private peers: string[] = [];
  private hops = new Map<string, RelayHop>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly deps: ProberDeps;
  private readonly intervalMs: number;

  constructor(deps: ProberDeps) {
    this.deps = deps;
    this.intervalMs = deps.intervalMs ?? 30_000;
  }

  /** Follows the translation: which partners this node calls. A changed set is checked at once. */
  sync(ir: Ir): void {
    this.hops = relayHops(ir);
    const peers = ir.peers.filter((p) => p.gateway === 'ferry').map((p) => p.domain).sort(); // a Kuscia gateway has no diagnose service
    if (peers.join() === this.peers.join()) return;
    this.peers = peers;
    for (const peer of [...this.results.keys()]) if (!peers.includes(peer)) this.results.delete(peer);
    this.schedule(500);
  }

  describe(peer: string): { ok: boolean; reason: string; fix?: string; step?: string; detail?: string } | undefined {
    const r = this.results.get(peer);
    if (!r) return undefined;
    const at = new Date(r.at).toISOString();
    return r.step.ok
      ? { ok: true, reason: `checked ${at}: ${r.step.detail}` }
      : { ok: false, reason: `the last check (${at}) failed at ${r.step.step}: ${r.step.detail}`, step: r.step.step, detail: r.step.detail, ...(r.step.fix ? { fix: r.step.fix } : {}) };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /** This replica leads no more: no checks until the next sync (a new election), which checks at once. */
  pause(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.peers = [];
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    this.timer = setTimeout(() => { void this.run(); }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    if (this.running) return this.schedule(1000);
    this.running = true;
    let changed = false;
    let failing = false;
    try {
      for (const peer of this.peers) {
        let step = await checkPeer(this.deps.gateway, peer).catch((e: Error) => ({ step: 'check', ok: false, detail: e.message }) as Step);
        // Through a relay, a refusal looks like a TLS failure: ask the relay itself.
        const hop = this.hops.get(peer);
        if (!step.ok && hop && this.deps.credentials) {
          const self = this.deps.gateway.domain;
          const refusal = await askRelay(self, peer, hop, this.deps.credentials());
          if (refusal) step = { step: 'relay', ok: false, detail: refusal, fix: `${hop.relay} must agree to carry ${self} -> ${peer}: apply there a route ${self} -> ${peer} with transit THIRD-DOMAIN via ${hop.relay}` };
        }
        const before = this.results.get(peer);
        if (!before || before.step.ok !== step.ok || before.step.detail !== step.detail) changed = true;
        if (before && before.step.ok !== step.ok) this.deps.log.info({ peer, ok: step.ok, step: step.step, detail: step.detail }, 'partner link check changed');
        this.results.set(peer, { step, at: Date.now() });
        failing ||= !step.ok;
      }
    } finally {
      this.running = false;
    }
    if (changed) this.deps.onChange();
    if (this.peers.length) this.schedule(failing ? Math.min(this.intervalMs, 2000) : this.intervalMs); // none: paused (not the leader) or no partner
  }
}
