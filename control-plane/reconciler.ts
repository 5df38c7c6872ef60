// Store (through its cache) -> translate -> IR -> Envoy resources -> snapshot -> ADS, coalescing
// bursts of changes. The translation steps are pure; this is the edge that
// runs them and keeps the outcome (statuses, errors) for the API.
import type { Logger } from 'pino';
import type { NodeConfig } from './config.ts';
import { specChangedFor, type CacheChange, type StoreCache } from './store/cache.ts';
import { GATEWAY_KINDS, groupResources, type Resource } from './resources/types.ts';
import { translateToIr, type TranslationRuntime } from './translate/resources-to-ir.ts';
import type { Ir, ResourceStatus } from './translate/ir.ts';
import { translateToEnvoy, type GatewayKeyMaterial } from './xds/ir-to-envoy.ts';
import { buildSnapshot, checkReferences, type Snapshot } from './ads/snapshot.ts';
import { EncodeCache } from '../envoy/proto-json.ts';
import type { AdsServer, Nack } from './ads/server.ts';
import { Quarantine, changedSince, fingerprintsOf, namedIn, provenance, resourceKey } from './isolation.ts';
import type { ControlPlaneMetrics } from './metrics.ts';

export interface ReconcileOutcome {
  snapshotVersion?: string;
  statuses: ResourceStatus[];
  /** A translation bug: the previous configuration stays in force. */
  error?: string;
  at: string;
}

export interface ReconcilerDeps {
  store: StoreCache;
  config: NodeConfig;
  ownCaPem: string;
  gateway: GatewayKeyMaterial;
  accessLogDir: string;
  ads: AdsServer;
  log: Logger;
  metrics?: ControlPlaneMetrics;
  /** Tokens and socket paths (control-plane/tokens); absent in tests that need none. */
  runtime?: () => TranslationRuntime;
  /** Each successful translation's IR, for the parts of the node that run what it asks (reverse tunnels). */
  onTranslated?: (ir: Ir) => void;
  /** Each translation's statuses, to be written as the objects' conditions. */
  onStatuses?: (statuses: ResourceStatus[]) => void;
}

export class Reconciler {
  outcome: ReconcileOutcome = { statuses: [], at: new Date().toISOString() };
  private timer: NodeJS.Timeout | undefined;
  /** A change that may alter Envoy's configuration is waiting to be translated. */
  private configPending = false;
  private firstChangeAt = 0;
  private snapshot: Snapshot | undefined;
  private readonly encodeCache = new EncodeCache();
  /** Resources left out of Envoy's configuration until they change (isolation.ts). */
  readonly quarantine = new Quarantine();
  /**
   * What the recent snapshots were built from (a NACK may answer one that a
   * newer snapshot has replaced already), and what the last snapshot every
   * Envoy accepted was built from.
   */
  private readonly inputs = new Map<string, { resources: Resource[]; fingerprints: Map<string, string>; names: Map<string, string> }>();
  private lastTranslated: Map<string, string> | undefined;
  private lastConverged: Map<string, string> | undefined;

  private readonly deps: ReconcilerDeps;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;

  constructor(deps: ReconcilerDeps, debounceMs = 20, maxDelayMs = 200) {
    this.deps = deps;
    this.debounceMs = debounceMs;
    this.maxDelayMs = maxDelayMs;
    // A status write changes no configuration: only spec changes are translated.
    deps.store.on('change', (c: CacheChange) => { if (specChangedFor(c, GATEWAY_KINDS)) this.schedule(); }); // job kinds never change the gateway
    deps.store.on('resync', () => this.schedule());
    deps.ads.on('converged', (version: string) => {
      const inputs = this.inputs.get(version);
      if (inputs) this.lastConverged = inputs.fingerprints;
    });
    deps.ads.on('nack', (e: { nack: Nack }) => this.onNack(e.nack));
  }

  /**
   * Envoy refused the configuration: find the Ferry resources behind it (named
   * in Envoy's message, else those changed since Envoy last accepted
   * everything), leave them out with Envoy's message, and serve the rest.
   */
  private onNack(nack: Nack): void {
    const inputs = this.inputs.get(nack.snapshotVersion.replace(/\+held$/, ''));
    if (!inputs) return; // about a configuration long replaced
    const named = new Set(namedIn(nack.message, inputs.names));
    const culprits = named.size ? inputs.resources.filter((r) => named.has(resourceKey(r))) : changedSince(inputs.resources, this.lastConverged);
    if (!culprits.length) return; // nothing to blame: readiness stays false with Envoy's message
    for (const r of culprits) {
      this.quarantine.add(r, `Envoy refused its configuration: ${nack.message}`, 'correct this resource and apply it again; until then it is left out and everything else is served');
    }
    this.deps.log.warn({ resources: culprits.map(resourceKey), error: nack.message }, 'Envoy refused a configuration: the resources behind it are left out, the rest is served');
    this.schedule();
  }

  /**
   * Coalesces changes: waits debounceMs after the last one, never more than
   * maxDelayMs after the first. `statusOnly`: only the statuses may differ (a
   * link check, a tunnel count), so the running configuration is not stale.
   */
  schedule(statusOnly = false): void {
    if (!statusOnly) this.configPending = true;
    const now = Date.now();
    if (!this.timer) this.firstChangeAt = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstChangeAt + this.maxDelayMs - now));
    const changedAt = this.firstChangeAt;
    this.timer = setTimeout(() => { this.timer = undefined; this.reconcile(changedAt); }, wait);
  }

  reconcile(changedAt = Date.now()): ReconcileOutcome {
    this.configPending = false;
    const { store, config, ownCaPem, gateway, ads, log, metrics } = this.deps;
    metrics?.translations.inc();
    const stopTimer = metrics?.translationSeconds.startTimer();
    const at = new Date().toISOString();
    let statuses: ResourceStatus[] = this.outcome.statuses;
    try {
      const { keep, left, conditions } = this.quarantine.select(store.list(), config.domain);
      const { resources, ir, snapshot } = this.translateIsolating(keep);
      statuses = [...ir.statuses, ...left].map((st) => {
        const c = conditions.get(`${st.kind}/${st.name}`);
        return c ? { ...st, conditions: c.map(({ type, field, message }) => ({ type, field, message })) } : st;
      });
      this.deps.onTranslated?.(ir);
      this.snapshot = snapshot;
      this.lastTranslated = fingerprintsOf(resources);
      this.inputs.delete(snapshot.version); // most recent last
      this.inputs.set(snapshot.version, { resources, fingerprints: this.lastTranslated, names: provenance(ir) });
      for (const old of this.inputs.keys()) if (this.inputs.size > 8) this.inputs.delete(old);
      stopTimer?.();
      ads.setSnapshot(this.snapshot, changedAt);
      this.outcome = { snapshotVersion: this.snapshot.version, statuses, at };
      this.deps.onStatuses?.(statuses);
    } catch (e) {
      metrics?.translationErrors.inc();
      log.error({ err: e }, 'translation failed; Envoy keeps the previous configuration');
      this.outcome = { snapshotVersion: this.snapshot?.version, statuses, error: (e as Error).message, at };
    }
    return this.outcome;
  }

  private translate(resources: Resource[]): { resources: Resource[]; ir: Ir; snapshot: Snapshot } {
    const { config, ownCaPem, gateway } = this.deps;
    const ir = translateToIr(groupResources(resources), config, ownCaPem, this.deps.accessLogDir, this.deps.runtime?.());
    const envoy = translateToEnvoy(ir, gateway);
    const problems = checkReferences(envoy);
    if (problems.length) throw new Error(`inconsistent configuration: ${problems.join('; ')}`);
    return { resources, ir, snapshot: buildSnapshot(envoy, this.snapshot, this.encodeCache) };
  }

  /**
   * A translation that fails is tried again without each resource changed
   * since the last good one (at most 16): the first whose absence makes it
   * succeed is left out with the error. Otherwise the error stands.
   */
  private translateIsolating(keep: Resource[]): { resources: Resource[]; ir: Ir; snapshot: Snapshot } {
    try {
      return this.translate(keep);
    } catch (e) {
      for (const suspect of changedSince(keep, this.lastTranslated).slice(0, 16)) {
        let result;
        try {
          result = this.translate(keep.filter((r) => r !== suspect));
        } catch {
          continue;
        }
        this.quarantine.add(suspect, `its translation failed: ${(e as Error).message}`, 'correct this resource and apply it again; until then it is left out and everything else is served');
        this.deps.log.warn({ resource: resourceKey(suspect), err: (e as Error).message }, 'a resource failed to translate: it is left out, the rest is served');
        return result;
      }
      throw e;
    }
  }

  /**
   * Translates now (no debounce) and resolves when every connected Envoy runs
   * the result, or after timeoutMs (then the caller goes on: Envoy catches up).
   * Used where another party acts on the change at once (a token handed out).
   */
  async installNow(timeoutMs = 10_000): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.reconcile();
    const { ads } = this.deps;
    // converged: every proxy runs the newest snapshot, which holds this change.
    const done = () => ads.converged();
    if (done()) return;
    await new Promise<void>((resolve) => {
      const check = () => { if (done()) finish(); };
      const finish = () => { clearTimeout(timer); ads.off('progress', check); resolve(); };
      const timer = setTimeout(finish, timeoutMs);
      ads.on('progress', check);
    });
  }

  /** This domain's published CA bundle changed (a CA rotation started or finished). */
  setOwnCa(pem: string): void {
    this.deps.ownCaPem = pem;
    this.schedule();
  }

  /** A new gateway certificate (renewal): translated and pushed like any change. */
  setGateway(gateway: GatewayKeyMaterial): void {
    this.deps.gateway = gateway;
    this.schedule();
  }

  /** A change is waiting to be translated: the running configuration is not the stored one yet. */
  get pending(): boolean {
    return this.timer !== undefined && this.configPending;
  }

  stop(): void {
    clearTimeout(this.timer);
  }
}
