// Several replicas of one domain over a shared store (etcd): which one leads
// (and so does the singleton work), the domain's certificates shared through
// the store, and what `ferry status` and /readyz say about it. With the
// embedded store there is one replica, the leader, and nothing is shared.
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { homePaths, type NodeConfig } from './config.ts';
import { EtcdStore } from './store/etcd.ts';
import { EtcdLeadership, LocalLeadership, type Leadership, type ReplicaInfo } from './store/leader.ts';
import { SharedCerts, SharedIssuedTokens, SharedTokenState } from './store/shared-secrets.ts';
import type { PartnerTokens } from './tokens/issuer.ts';
import type { SharedTokens } from './tokens/manager.ts';
import { readStoreKey } from './store/secrets.ts';
import type { ResourceStore } from './store/store.ts';

export interface StoreStatus {
  backend: string;
  location: string;
  /** The store revision this replica's view has reached. */
  revision: number;
  reachable: boolean;
  error?: string;
  leader?: string;
  self: string;
  isLeader: boolean;
  replicas: ReplicaInfo[];
}

export interface SingletonWork {
  /** This replica now leads: start the singleton work. */
  elected(): void;
  /** It leads no more: stop it. */
  deposed(reason: string): void;
  /** Another replica changed the domain's certificates: reload them. */
  certsChanged(): void;
  /** The leader shared new tokens: a follower sends them from now on. */
  tokensChanged(): void;
  /** Another replica issued a token to a partner: accept it here too. */
  issuedTokensChanged(source: string, state: PartnerTokens): void;
}

export class Replication {
  readonly leadership: Leadership;
  private readonly certs: SharedCerts | undefined;
  private readonly tokens: SharedTokenState | undefined;
  private readonly issued: SharedIssuedTokens | undefined;
  private issuedAtStart: Record<string, PartnerTokens> = {};
  /** For the token manager: undefined with the embedded store (one replica). */
  readonly sharedTokens: SharedTokens | undefined;
  private readonly store: ResourceStore;
  private readonly log: Logger;

  private constructor(store: ResourceStore, leadership: Leadership, certs: SharedCerts | undefined, tokens: SharedTokenState | undefined, log: Logger, issued?: { shared: SharedIssuedTokens; atStart: Record<string, PartnerTokens> }) {
    this.store = store;
    this.leadership = leadership;
    this.certs = certs;
    this.tokens = tokens;
    this.issued = issued?.shared;
    this.issuedAtStart = issued?.atStart ?? {};
    this.sharedTokens = tokens && {
      isLeader: () => leadership.isLeader,
      publish: (obtained) => tokens.publish(obtained),
      obtained: () => tokens.obtained(),
      issued: () => this.issuedAtStart,
      publishIssued: (source, state) => this.issued?.publish(source, state),
    };
    this.log = log;
  }

  /** Before the node reads its certificates: with etcd, they come from (or go to) the store. */
  static async open(home: string, config: NodeConfig, store: ResourceStore, log: Logger): Promise<Replication> {
    const l = config.listeners;
    const self = { id: `${hostname()}-${l.api.port}`, api: `${l.api.address}:${l.api.port}`, xds: l.xds ? `${l.xds.address}:${l.xds.port}` : homePaths(home).xdsSocket };
    if (!(store instanceof EtcdStore)) return new Replication(store, new LocalLeadership(self), undefined, undefined, log);
    if (!config.storeKeyFile) throw new Error(`${homePaths(home).config}: storeKeyFile is required with a shared store (secrets in it are sealed with that key): set it, or run \`ferry init --store ... --store-key-file F\``);
    const key = readStoreKey(config.storeKeyFile);
    const certs = new SharedCerts(store, key, homePaths(home).certs, log);
    const tokens = new SharedTokenState(store, key, log);
    await tokens.load();
    const issued = new SharedIssuedTokens(store, key, log);
    const issuedAtStart = await issued.load();
    const how = await certs.sync();
    log.info({ certificates: how === 'from-store' ? 'taken from the store' : 'put into the store (first replica)' }, 'shared store: domain certificates in place');
    const leadership = new EtcdLeadership(store, self, {
      ...(process.env.FERRY_LEASE_TTL ? { ttlSeconds: Number(process.env.FERRY_LEASE_TTL) } : {}),
      onError: (e) => log.warn({ err: e.message }, 'leader election: etcd did not answer; retrying'),
    });
    return new Replication(store, leadership, certs, tokens, log, { shared: issued, atStart: issuedAtStart });
  }

  async start(work: SingletonWork): Promise<void> {
    this.leadership.on('elected', () => {
      this.log.info({ replica: this.leadership.id }, 'this replica leads: singleton work (certificate renewal, token rolling, link probes) runs here');
      work.elected();
    });
    this.leadership.on('deposed', (reason: string) => {
      this.log.warn({ replica: this.leadership.id, reason }, 'this replica leads no more: singleton work stopped');
      work.deposed(reason);
    });
    await this.certs?.follow(() => work.certsChanged());
    await this.tokens?.follow(() => { if (!this.leadership.isLeader) work.tokensChanged(); });
    await this.issued?.follow((source, state) => work.issuedTokensChanged(source, state));
    await this.leadership.start();
  }

  /** The leader renewed or rotated: the other replicas take the new files from the store. */
  publishCerts(): void {
    this.certs?.publish().catch((e: Error) => this.log.error({ err: e.message }, 'shared store: could not publish the renewed certificates; replicas keep the old ones until the next renewal'));
  }

  async status(revision: number): Promise<StoreStatus> {
    const base = { ...this.store.info, revision, self: this.leadership.id, isLeader: this.leadership.isLeader };
    try {
      await this.store.revision();
      const [leader, replicas] = await Promise.all([this.leadership.leader(), this.leadership.replicas()]);
      return { ...base, reachable: true, ...(leader ? { leader } : {}), replicas };
    } catch (e) {
      return { ...base, reachable: false, error: (e as Error).message, replicas: [] };
    }
  }

  async stop(): Promise<void> {
    await this.certs?.stop();
    await this.tokens?.stop();
    await this.issued?.stop();
    await this.leadership.stop();
  }
}
