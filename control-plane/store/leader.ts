// Which replica of a domain does the singleton work (certificate renewal and
// CA rotation, token rolling and heartbeats, link probes). Over etcd: a lease
// (TTL <= 5 s, kept alive while this process runs) and a leader key created
// only if absent under that lease; when the leader dies its lease expires,
// the key goes, and a waiting replica takes it. Every replica also registers
// itself (<prefix>replicas/<id>) under its lease with a heartbeat time, for
// `ferry status`. The embedded store has one replica, always the leader.
import { EventEmitter } from 'node:events';
import type { Etcd3, Lease } from 'etcd3';
import type { EtcdStore } from './etcd.ts';

export interface ReplicaInfo {
  id: string;
  /** Where its API and xDS listen, for the operator. */
  api: string;
  xds: string;
  startedAt: string;
  heartbeatAt: string;
}

/** Emits 'elected' and 'deposed'. */
export interface Leadership extends EventEmitter {
  readonly id: string;
  readonly isLeader: boolean;
  leader(): Promise<string | undefined>;
  replicas(): Promise<ReplicaInfo[]>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class LocalLeadership extends EventEmitter implements Leadership {
  readonly id: string;
  isLeader = false;
  private readonly self: ReplicaInfo;
  constructor(self: Omit<ReplicaInfo, 'heartbeatAt' | 'startedAt'>) {
    super();
    this.id = self.id;
    this.self = { ...self, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
  }
  async leader() { return this.id; }
  async replicas() { return [{ ...this.self, heartbeatAt: new Date().toISOString() }]; }
  async start() { this.isLeader = true; this.emit('elected'); }
  async stop() { if (this.isLeader) { this.isLeader = false; this.emit('deposed'); } }
}

export interface EtcdLeadershipOptions {
  /** Lease TTL in seconds: how long a dead leader holds leadership at most (default 3, at most 5). */
  ttlSeconds?: number;
  heartbeatMs?: number;
  onError?: (e: Error) => void;
}

export class EtcdLeadership extends EventEmitter implements Leadership {
  readonly id: string;
  isLeader = false;
  private readonly client: Etcd3;
  private readonly leaderKey: string;
  private readonly replicasPrefix: string;
  private readonly self: ReplicaInfo;
  private readonly ttl: number;
  private readonly heartbeatMs: number;
  private readonly onError: (e: Error) => void;
  private lease: Lease | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private campaigning = false;
  private failing = false;

  constructor(store: EtcdStore, self: Omit<ReplicaInfo, 'heartbeatAt' | 'startedAt'>, opts: EtcdLeadershipOptions = {}) {
    super();
    this.client = store.client;
    this.leaderKey = `${store.root}leader`;
    this.replicasPrefix = `${store.root}replicas/`;
    this.id = self.id;
    this.self = { ...self, startedAt: new Date().toISOString(), heartbeatAt: new Date().toISOString() };
    this.ttl = Math.min(5, Math.max(1, opts.ttlSeconds ?? 3));
    this.heartbeatMs = opts.heartbeatMs ?? 1000;
    this.onError = opts.onError ?? (() => undefined);
  }

  async leader(): Promise<string | undefined> {
    return (await this.client.get(this.leaderKey).string()) ?? undefined;
  }

  async replicas(): Promise<ReplicaInfo[]> {
    const all = await this.client.getAll().prefix(this.replicasPrefix).strings();
    return Object.values(all).map((v) => JSON.parse(v) as ReplicaInfo).sort((a, b) => a.id.localeCompare(b.id));
  }

  async start(): Promise<void> {
    await this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.step('stopping');
    // Revoking the lease drops the leader key now: another replica need not wait for the TTL.
    await this.lease?.revoke().catch(() => undefined);
  }

  /** Every heartbeat: keep (or get) a lease, refresh this replica's entry, and campaign if nobody leads. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.lease) await this.newLease();
      this.self.heartbeatAt = new Date().toISOString();
      await this.lease!.put(`${this.replicasPrefix}${this.id}`).value(JSON.stringify(this.self));
      await this.campaign();
      this.failing = false;
    } catch (e) {
      // Once per outage, not every heartbeat.
      if (!this.failing) this.onError(e as Error);
      this.failing = true;
    }
    if (!this.stopped) {
      this.timer = setTimeout(() => { void this.tick(); }, this.heartbeatMs);
      this.timer.unref();
    }
  }

  private async newLease(): Promise<void> {
    const lease = this.client.lease(this.ttl, { autoKeepAlive: true });
    lease.on('lost', () => {
      // Kept alive no more (etcd unreachable past the TTL): another replica may lead now.
      if (this.lease === lease) this.lease = undefined;
      this.step('lease lost');
    });
    await lease.grant();
    this.lease = lease;
  }

  private async campaign(): Promise<void> {
    if (this.campaigning || !this.lease) return;
    this.campaigning = true;
    try {
      const leaseId = await this.lease.grant();
      const res = await this.client.if(this.leaderKey, 'Create', '==', 0).then(this.client.put(this.leaderKey).value(this.id).lease(leaseId)).else(this.client.get(this.leaderKey)).commit();
      const holder = res.succeeded ? this.id : res.responses[0]?.response_range?.kvs[0]?.value.toString();
      if (holder === this.id && !this.isLeader) {
        this.isLeader = true;
        this.emit('elected');
      } else if (holder !== this.id && this.isLeader) {
        this.step(`${holder ?? 'nobody'} leads now`);
      }
    } finally {
      this.campaigning = false;
    }
  }

  private step(reason: string): void {
    if (!this.isLeader) return;
    this.isLeader = false;
    this.emit('deposed', reason);
  }
}
