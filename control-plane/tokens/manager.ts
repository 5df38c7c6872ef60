// Kuscia token authentication for a node: the issuer (inbound Token routes),
// the client (outbound Token routes), the handshake server, the keys they use
// (this domain's CA key, partners' CA certificates) and the tokens file that
// lets a restarted node keep its tokens.
import { existsSync, readFileSync, renameSync } from 'node:fs';
import type { Logger } from 'pino';
import { homePaths } from '../config.ts';
import { readCa, writeSecretFile } from '../home.ts';
import { decodePartnerCa } from '../resources/validate.ts';
import { GATEWAY_KINDS, groupResources, type ResourceSet } from '../resources/types.ts';
import { specChangedFor, type CacheChange, type StoreCache } from '../store/cache.ts';
import type { TranslationRuntime } from '../translate/resources-to-ir.ts';
import { rsaPublicKeyPem } from '../../interop/kuscia-handshake.ts';
import { splitPemCertificates } from '../../certs/authority.ts';
import { caPrivateKeys } from '../ca-rotation.ts';
import { TokenIssuer, type PartnerTokens, type SourceLookup } from './issuer.ts';
import { TokenClient, type ObtainedToken, type OutboundTokenRoute } from './client.ts';
import { startHandshakeServer } from './handshake-server.ts';

interface TokensFile {
  issued?: Record<string, PartnerTokens>;
  obtained?: Record<string, ObtainedToken>;
}

export interface TokenManagerDeps {
  home: string;
  domain: string;
  store: StoreCache;
  log: Logger;
  /** Translates and pushes now; resolves when Envoy runs the result. */
  install: () => Promise<void>;
  heartbeatMs?: number;
  /** Replicas (shared store): token sessions (handshake, rolling, heartbeats) run on the leader only; the others send the leader's tokens. */
  shared?: SharedTokens;
}

/** The leader's obtained tokens, shared with the other replicas through the store (control-plane/store/shared-secrets.ts). */
export interface SharedTokens {
  isLeader(): boolean;
  publish(obtained: Record<string, ObtainedToken>): void;
  obtained(): Record<string, ObtainedToken>;
  /** Tokens this domain issued, as every replica published them; and publishing one issued here. */
  issued(): Record<string, PartnerTokens>;
  publishIssued(source: string, state: PartnerTokens): void;
}

export class TokenManager {
  readonly issuer: TokenIssuer;
  client: TokenClient;
  private readonly newClient: (restored: Record<string, ObtainedToken>) => TokenClient;
  private readonly deps: TokenManagerDeps;
  private readonly paths;
  private server: Awaited<ReturnType<typeof startHandshakeServer>> | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private keyCache = new Map<string, string[]>();

  constructor(deps: TokenManagerDeps) {
    this.deps = deps;
    this.paths = homePaths(deps.home);
    const saved = this.readFile();
    const privateKeys = () => this.ownPrivateKeys();
    const persist = () => this.writeFile();
    const install = () => this.install();
    this.issuer = new TokenIssuer({
      domain: deps.domain, privateKeys, lookup: (s) => this.lookupSource(s), install, persist,
      ...(deps.shared ? { issued: (source: string, state: PartnerTokens) => deps.shared!.publishIssued(source, state) } : {}),
    }, saved.issued);
    for (const [source, state] of Object.entries(deps.shared?.issued() ?? {})) this.issuer.merge(source, state);
    this.newClient = (restored) => new TokenClient({
      domain: deps.domain,
      privateKeys,
      publicKey: () => rsaPublicKeyPem(readCa(deps.home).certPem),
      egressSocket: this.paths.egressSocket,
      install,
      persist,
      log: deps.log,
      ...(deps.heartbeatMs ? { heartbeatMs: deps.heartbeatMs } : {}),
    }, restored);
    this.client = this.newClient(deps.shared ? deps.shared.obtained() : (saved.obtained ?? {}));
    deps.store.on('change', (c: CacheChange) => { if (specChangedFor(c, GATEWAY_KINDS)) this.refresh(); }); // job kinds never change the gateway
    deps.store.on('resync', () => this.refresh());
  }

  async start(): Promise<void> {
    this.server = await startHandshakeServer(this.paths.handshakeSocket, this.issuer, this.deps.log);
    this.refresh();
  }

  async stop(): Promise<void> {
    clearTimeout(this.expiryTimer);
    this.client.stop();
    await this.server?.close();
  }

  /**
   * This replica now leads (or leads no more): a new leader continues the
   * sessions from the tokens the old one shared; a follower runs none.
   */
  leadershipChanged(): void {
    if (!this.deps.shared) return;
    this.client.stop();
    if (this.deps.shared.isLeader()) this.client = this.newClient(this.deps.shared.obtained());
    if (!this.server) return; // not started yet: start() follows the routes
    this.refresh();
    void this.install().catch(() => undefined);
  }

  /** Another replica issued a token to a partner: accept it here too. */
  issuedElsewhere(source: string, state: PartnerTokens): void {
    if (!this.issuer.merge(source, state)) return;
    this.writeFile();
    void this.install().catch(() => undefined);
  }

  private leads(): boolean {
    return !this.deps.shared || this.deps.shared.isLeader();
  }

  /** Token state per partner and direction, for /metrics. */
  states(): { peer: string; direction: 'inbound' | 'outbound'; revision: number; lastHeartbeatAt?: number }[] {
    const now = Date.now();
    return [
      ...this.client.states().map((s) => ({ ...s, direction: 'outbound' as const })),
      ...[...this.issuer.partners].map(([peer, p]) => ({
        peer, direction: 'inbound' as const,
        revision: p.tokens.some((t) => t.expiresAt > now) ? p.revision : 0,
        ...(p.lastHeartbeatAt ? { lastHeartbeatAt: p.lastHeartbeatAt } : {}),
      })),
    ];
  }

  /** What translation needs: tokens in and out, status sentences, socket paths. */
  runtime(): TranslationRuntime {
    return {
      tokens: {
        inbound: this.issuer.accepted(),
        outbound: this.leads() ? this.client.outbound() : this.followerOutbound(),
        describe: (direction, peer) => (direction === 'outbound' ? (this.leads() ? this.client.describe(peer) : this.followerDescribe(peer)) : this.issuer.describe(peer)),
      },
      sockets: { handshake: this.paths.handshakeSocket, egress: this.paths.egressSocket, run: this.paths.run },
    };
  }


  /** Follows the stored routes: sessions for outbound Token routes, forget sources without one. */
  private refresh(): void {
    const set = groupResources(this.deps.store.list());
    this.client.sync(this.leads() ? this.outboundRoutes(set) : []);
    const inbound = new Set(set.routes.filter((r) => r.spec.destination === this.deps.domain && r.spec.authenticationType === 'Token').map((r) => r.spec.source));
    if (this.issuer.retain(inbound)) this.writeFile();
    this.scheduleExpiry();
  }

  private outboundRoutes(set: ResourceSet): OutboundTokenRoute[] {
    const out: OutboundTokenRoute[] = [];
    for (const r of set.routes) {
      if (r.spec.source !== this.deps.domain || r.spec.authenticationType !== 'Token') continue;
      const keys = this.partnerKeys(set, r.spec.destination);
      if (!keys.length) continue; // the route's status already says the partner Domain is missing
      out.push({ id: `${r.kind}/${r.metadata.name}`, destination: r.spec.destination, periodSeconds: r.spec.tokenConfig?.rollingUpdatePeriod ?? 0, destinationKeys: [...keys].reverse() });
    }
    return out;
  }

  /** RSA public keys of a partner, from its Domain.spec.cert (a rotation bundle lists the current CA, then the next). */
  private partnerKeys(set: ResourceSet, domain: string): string[] {
    const cert = set.domains.find((d) => d.metadata.name === domain)?.spec.cert;
    if (!cert) return [];
    const cached = this.keyCache.get(cert);
    if (cached) return cached;
    let keys: string[] = [];
    try {
      keys = splitPemCertificates(decodePartnerCa(cert)).map(rsaPublicKeyPem);
    } catch {
      keys = [];
    }
    this.keyCache.set(cert, keys);
    return keys;
  }

  private lookupSource(source: string): SourceLookup {
    const set = groupResources(this.deps.store.list());
    const route = set.routes.find((r) => r.spec.source === source && r.spec.destination === this.deps.domain);
    if (!route) return { ok: false, message: `${this.deps.domain} has no route from ${source}: apply a ClusterDomainRoute ${source} -> ${this.deps.domain} with authenticationType Token` };
    if (route.spec.authenticationType !== 'Token') return { ok: false, message: `the route ${source} -> ${this.deps.domain} authenticates by ${route.spec.authenticationType}, not Token` };
    const keys = this.partnerKeys(set, source);
    if (!keys.length) return { ok: false, message: `${source} is not a partner of ${this.deps.domain} with a usable certificate (Domain ${source}, spec.cert)` };
    return { ok: true, periodSeconds: route.spec.tokenConfig?.rollingUpdatePeriod ?? 0, publicKeys: keys };
  }

  private ownPrivateKeys(): string[] {
    return caPrivateKeys(this.deps.home);
  }

  private async install(): Promise<void> {
    await this.deps.install();
    this.scheduleExpiry();
  }

  /** Expired tokens leave Envoy's routes when they expire. */
  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    const at = this.issuer.nextExpiry();
    if (at === undefined) return;
    this.expiryTimer = setTimeout(() => { void this.install().catch(() => undefined); }, Math.min(Math.max(0, at - Date.now()) + 50, 2 ** 31 - 1));
    this.expiryTimer.unref();
  }

  private readFile(): TokensFile {
    if (!existsSync(this.paths.tokens)) return {};
    try {
      return JSON.parse(readFileSync(this.paths.tokens, 'utf8')) as TokensFile;
    } catch (e) {
      this.deps.log.warn({ err: (e as Error).message }, 'tokens file unreadable: starting without tokens (partners re-handshake)');
      return {};
    }
  }

  /** A follower sends the leader's tokens: per destination of this node's outbound Token routes. */
  private followerOutbound(): Map<string, { value: string } | { pending: string }> {
    const shared = this.deps.shared!.obtained();
    const out = new Map<string, { value: string } | { pending: string }>();
    for (const r of this.outboundRoutes(groupResources(this.deps.store.list()))) {
      const t = shared[r.destination];
      out.set(r.destination, t && t.expiresAt > Date.now() ? { value: t.token } : { pending: `waiting for the leader replica's token for ${r.destination}` });
    }
    return out;
  }

  private followerDescribe(peer: string): { ready: boolean; reason: string; fix?: string } | undefined {
    const t = this.deps.shared!.obtained()[peer];
    if (!t || t.expiresAt <= Date.now()) return { ready: false, reason: `no token: the leader replica has none for ${peer} yet (token sessions run on the leader)` };
    return { ready: true, reason: `token revision ${t.revision} obtained ${new Date(t.obtainedAt).toISOString()} by the leader replica` };
  }

  private writeFile(): void {
    if (this.deps.shared?.isLeader()) this.deps.shared.publish(this.client.obtained());
    const data: TokensFile = { issued: Object.fromEntries(this.issuer.partners), obtained: this.client.obtained() };
    writeSecretFile(`${this.paths.tokens}.new`, JSON.stringify(data));
    // rename is atomic: a crash leaves the old or the new file, never half of one
    renameSync(`${this.paths.tokens}.new`, this.paths.tokens);
  }
}
