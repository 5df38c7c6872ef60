// The etcd v3 store backend: one key per object under a per-domain prefix
// (<prefix>objects/<kind>/<name>), its value the object without
// resourceVersion; etcd's mod_revision is the resourceVersion and etcd's
// revision the store revision, so a watch resumes exactly where etcd says.
// Writes are transactions comparing mod_revisions: all or nothing, and
// conflicts are etcd's own.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { Etcd3, type IOptions } from 'etcd3';
import type { Kind, Resource } from '../resources/types.ts';
import {
  byKindAndName, ConflictError, NotFoundError, specDocument, StoreWriteError,
  type ApplyResult, type ObjectStatus, type ResourceStore, type StoredResource, type StoreInfo, type Watch, type WatchEvent,
} from './store.ts';
import { WatchHub } from './watch-hub.ts';

export interface EtcdStoreConfig {
  endpoints: string[];
  /** Keys live under it; one domain, one prefix (default /ferry/<domain>/). */
  prefix: string;
  /** PEM files: the CA that signed etcd's certificates, and this client's certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Per-request deadline: a store that does not answer in time is unavailable (503), not a hang. */
  timeoutMs?: number;
}

/** What the store keeps in an object's value: everything but resourceVersion. */
interface Value { doc: Resource; generation: number; createdAt: string; status?: ObjectStatus }
interface Kv { key: Buffer; value: Buffer; mod_revision: string; create_revision: string }

type KvClient = {
  range(req: object, options?: object): Promise<{ header: { revision: string }; kvs: Kv[] }>;
  txn(req: object, options?: object): Promise<{ header: { revision: string }; succeeded: boolean; responses: { response_delete_range?: { prev_kvs: Kv[] } }[] }>;
  compact(req: object, options?: object): Promise<unknown>;
};

export function etcdClientOptions(config: EtcdStoreConfig): IOptions {
  const tls = config.tls;
  const secure = Boolean(tls?.ca || tls?.cert);
  const timeout = config.timeoutMs ?? 5000;
  return {
    hosts: config.endpoints.map((e) => `${secure ? 'https' : 'http'}://${e}`),
    dialTimeout: timeout,
    ...(secure ? {
      credentials: {
        rootCertificate: tls?.ca ? readFileSync(tls.ca) : Buffer.alloc(0),
        ...(tls?.cert ? { certChain: readFileSync(tls.cert), privateKey: readFileSync(tls.key ?? '') } : {}),
      },
    } : {}),
    // Unary calls get a deadline; watch streams live on.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
  };
}

export class EtcdStore implements ResourceStore {
  readonly info: StoreInfo;
  readonly client: Etcd3;
  private readonly kv: KvClient;
  private readonly prefix: string;
  /** The domain's prefix: objects/ below it, and the store's own keys (store-id, leader, replicas). */
  readonly root: string;
  private readonly hub = new WatchHub();

  constructor(config: EtcdStoreConfig, client = new Etcd3(etcdClientOptions(config))) {
    this.root = config.prefix;
    this.prefix = `${config.prefix}objects/`;
    this.info = { backend: 'etcd', location: `etcd://${config.endpoints.join(',')}${config.prefix}` };
    this.client = client;
    this.kv = (client as unknown as { kv: KvClient }).kv;
  }

  async revision(): Promise<number> {
    // A range that matches nothing still carries the cluster's revision.
    const res = await this.call('read', () => this.kv.range({ key: Buffer.from(`${this.prefix}\0`), count_only: true }));
    return Number(res.header.revision);
  }

  async list(kind?: string): Promise<{ items: StoredResource[]; revision: number }> {
    const key = Buffer.from(kind ? `${this.prefix}${kind}/` : this.prefix);
    const res = await this.call('read', () => this.kv.range({ key, range_end: prefixEnd(key) }));
    return { items: res.kvs.map(fromKv).sort(byKindAndName), revision: Number(res.header.revision) };
  }

  async get(kind: string, name: string): Promise<StoredResource | undefined> {
    const res = await this.call('read', () => this.kv.range({ key: this.key(kind, name) }));
    return res.kvs[0] ? fromKv(res.kvs[0]) : undefined;
  }

  async apply(resources: readonly Resource[]): Promise<ApplyResult[]> {
    const docs = resources.map((r) => ({ r, doc: specDocument(r) }));
    // Read, decide, write-if-nothing-moved; a concurrent write to one of these keys makes it read again.
    for (let attempt = 0; ; attempt++) {
      const current = await Promise.all(docs.map(({ r }) => this.call('read', () => this.kv.range({ key: this.key(r.kind, r.metadata.name) })).then((res) => res.kvs[0])));
      const now = new Date().toISOString();
      const results: ApplyResult[] = [];
      const compare: object[] = [];
      const success: object[] = [];
      docs.forEach(({ r, doc }, i) => {
        const kv = current[i];
        const expected = r.metadata.resourceVersion;
        if (expected !== undefined && expected !== '' && kv?.mod_revision !== expected) throw new ConflictError(r.kind, r.metadata.name, expected, kv?.mod_revision);
        const key = this.key(r.kind, r.metadata.name);
        compare.push(kv ? { key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision } : { key, target: 'Create', result: 'Equal', create_revision: '0' });
        const old = kv ? (JSON.parse(kv.value.toString()) as Value) : undefined;
        if (old && isDeepStrictEqual(old.doc, doc)) {
          results.push({ kind: r.kind, name: r.metadata.name, action: 'unchanged' });
          return;
        }
        const value: Value = { doc, generation: (old?.generation ?? 0) + 1, createdAt: old?.createdAt ?? now, ...(old?.status ? { status: old.status } : {}) };
        success.push({ request_put: { key, value: Buffer.from(JSON.stringify(value)) } });
        results.push({ kind: r.kind, name: r.metadata.name, action: old ? 'configured' : 'created' });
      });
      if (!success.length) return results;
      const res = await this.call('write', () => this.kv.txn({ compare, success }));
      if (res.succeeded) return results;
      if (attempt > 1000) throw new StoreWriteError('the store could not write: the objects kept changing under this write; retry', 503);
    }
  }

  async updateStatus(kind: string, name: string, status: ObjectStatus, resourceVersion?: string): Promise<StoredResource> {
    for (;;) {
      const kv = (await this.call('read', () => this.kv.range({ key: this.key(kind, name) }))).kvs[0];
      if (!kv) throw new NotFoundError(`${kind} ${name} not found`);
      if (resourceVersion !== undefined && kv.mod_revision !== resourceVersion) throw new ConflictError(kind, name, resourceVersion, kv.mod_revision);
      const old = JSON.parse(kv.value.toString()) as Value;
      if (isDeepStrictEqual(old.status, status)) return fromKv(kv);
      const value: Value = { ...old, status };
      const key = this.key(kind, name);
      const res = await this.call('write', () => this.kv.txn({
        compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
        success: [{ request_put: { key, value: Buffer.from(JSON.stringify(value)) } }],
      }));
      if (res.succeeded) return toStored(value, res.header.revision);
    }
  }

  async delete(kind: string, name: string, resourceVersion?: string): Promise<boolean> {
    const key = this.key(kind, name);
    if (resourceVersion === undefined) {
      const res = await this.call('write', () => this.kv.txn({ compare: [], success: [{ request_delete_range: { key, prev_kv: true } }] }));
      return (res.responses[0]?.response_delete_range?.prev_kvs.length ?? 0) > 0;
    }
    const res = await this.call('write', () => this.kv.txn({
      compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: resourceVersion }],
      success: [{ request_delete_range: { key } }],
      failure: [{ request_range: { key } }],
    }));
    if (res.succeeded) return true;
    const now = (res.responses[0] as { response_range?: { kvs: Kv[] } } | undefined)?.response_range?.kvs[0];
    if (!now) return false;
    throw new ConflictError(kind, name, resourceVersion, now.mod_revision);
  }

  watch(kinds: readonly string[], fromRevision: number, onEvent: (e: WatchEvent) => void): Watch {
    let stopped = false;
    const sub = this.hub.subscribe(kinds, [], onEvent, false);
    const resync = (reason: string) => {
      if (stopped) return;
      stopped = true;
      void this.revision().catch(() => 0).then((revision) => sub.push([{ type: 'RESYNC', revision, reason }]));
    };
    const pending = this.client.watch().prefix(this.prefix).startRevision(String(fromRevision + 1)).withPreviousKV().create();
    let watcher: Awaited<typeof pending> | undefined;
    pending.then((w) => {
      watcher = w;
      if (stopped) { void w.cancel(); return; }
      w.on('data', (res) => {
        if (stopped) return;
        const events: WatchEvent[] = [];
        for (const e of res.events) {
          const kv = e.kv as unknown as Kv;
          const revision = Number(kv.mod_revision);
          if (e.type === 'Delete') {
            const prev = e.prev_kv as unknown as Kv | undefined;
            if (!prev) continue;
            const last = fromKv(prev);
            events.push({ type: 'DELETED', revision, object: { ...last, metadata: { ...last.metadata, resourceVersion: String(revision) } } as StoredResource });
          } else {
            events.push({ type: kv.create_revision === kv.mod_revision ? 'ADDED' : 'MODIFIED', revision, object: fromKv(kv) });
          }
        }
        sub.push(events);
      });
      // Compacted past fromRevision, or the stream failed for good: the watcher lists again.
      w.on('error', (err) => resync(`etcd watch: ${err.message}`));
    }, (err: Error) => resync(`etcd watch: ${err.message}`));
    return { stop: () => { stopped = true; sub.stop(); void watcher?.cancel().catch(() => undefined); } };
  }

  /** This store's id (<prefix>store-id), created by the first node that opens an empty prefix when `create`. */
  async storeId(create: boolean): Promise<string | undefined> {
    const key = Buffer.from(`${this.root}store-id`);
    const read = async () => (await this.call('read', () => this.kv.range({ key }))).kvs[0]?.value.toString();
    const existing = await read();
    if (existing || !create) return existing;
    const id = randomUUID();
    // Replicas may start together: the first to create it wins, the others read it.
    await this.call('write', () => this.kv.txn({ compare: [{ key, target: 'Create', result: 'Equal', create_revision: '0' }], success: [{ request_put: { key, value: Buffer.from(id) } }] }));
    return read();
  }

  /** Drops history up to the current revision (etcd compaction). */
  async compactHistory(): Promise<void> {
    const revision = await this.revision();
    await this.kv.compact({ revision: String(revision), physical: true });
  }

  async close(): Promise<void> {
    this.hub.close();
    this.client.close();
  }

  private key(kind: string, name: string): Buffer {
    return Buffer.from(`${this.prefix}${kind}/${name}`);
  }

  /** etcd failures become StoreWriteError (503) naming the cause; ours (conflicts) pass through. */
  private async call<T>(op: 'read' | 'write', fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ConflictError || e instanceof NotFoundError) throw e;
      const cause = (e as Error).message;
      throw new StoreWriteError(`the store (${this.info.location}) could not ${op} (${cause}): nothing was ${op === 'read' ? 'read' : 'written'}; check that a quorum of etcd members is up, then retry`, 503, e);
    }
  }
}

function toStored(v: Value, modRevision: string): StoredResource {
  return {
    ...v.doc,
    metadata: { ...v.doc.metadata, resourceVersion: modRevision, generation: v.generation, creationTimestamp: v.createdAt },
    ...(v.status ? { status: v.status } : {}),
  } as StoredResource;
}

function fromKv(kv: Kv): StoredResource {
  return toStored(JSON.parse(kv.value.toString()) as Value, kv.mod_revision);
}

/** The range end that covers every key starting with `key`. */
function prefixEnd(key: Buffer): Buffer {
  const end = Buffer.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) { end[i]!++; return end.subarray(0, i + 1); }
  }
  return Buffer.from([0]);
}
