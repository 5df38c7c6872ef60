// The store contract: one suite, run against every backend (store.test.ts
// for the embedded SQLite store, store-etcd.test.ts for etcd). What a backend
// must do for the node's parts to talk through it.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Resource, ServiceResource } from '../../control-plane/resources/types.ts';
import { ConflictError, type ResourceStore, type WatchEvent } from '../../control-plane/store/store.ts';
import { StoreCache, type CacheChange } from '../../control-plane/store/cache.ts';

export interface Backend {
  name: string;
  /** A fresh, empty store. */
  open(): Promise<ResourceStore>;
  /** Another client of the same store (another connection or process' view). */
  client(): Promise<ResourceStore>;
  /** Drops the change history up to the current revision, as compaction does. */
  compact(store: ResourceStore): Promise<void>;
  cleanup(): Promise<void>;
}

export function service(name: string, port = 8080, annotations?: Record<string, string>): ServiceResource {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port }] },
  };
}

export function route(name: string, host = 'bob.example.com'): Resource {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1',
    kind: 'ClusterDomainRoute',
    metadata: { name },
    spec: { source: 'alice', destination: 'bob', authenticationType: 'MTLS', endpoint: { host, ports: [{ name: 'http', port: 1080, protocol: 'HTTP' }] } },
  };
}

/** Collects a watch's events until `until` says enough (bounded by a timeout). */
function collect(store: ResourceStore, kinds: Parameters<ResourceStore['watch']>[0], from: number, until: (events: WatchEvent[]) => boolean, timeoutMs = 10_000): Promise<WatchEvent[]> {
  return new Promise((resolve, reject) => {
    const events: WatchEvent[] = [];
    const timer = setTimeout(() => { w.stop(); reject(new Error(`watch: only ${events.length} events after ${timeoutMs} ms: ${JSON.stringify(events.map((e) => e.type))}`)); }, timeoutMs);
    const w = store.watch(kinds, from, (e) => {
      events.push(e);
      if (until(events)) { clearTimeout(timer); w.stop(); resolve(events); }
    });
  });
}

const label = (e: WatchEvent) => (e.type === 'RESYNC' ? 'RESYNC' : `${e.type} ${e.object.kind}/${e.object.metadata.name}@${e.revision}`);

export function storeContract(backend: Backend): void {
  describe(`store contract: ${backend.name}`, () => {
    let store: ResourceStore;
    beforeEach(async () => { store = await backend.open(); });
    afterEach(async () => { await store.close(); await backend.cleanup(); });

    test('apply returns created, then unchanged, then configured; one action per resource in input order', async () => {
      assert.deepEqual(await store.apply([service('echo')]), [{ kind: 'Service', name: 'echo', action: 'created' }]);
      assert.deepEqual(await store.apply([service('echo')]), [{ kind: 'Service', name: 'echo', action: 'unchanged' }]);
      assert.deepEqual(await store.apply([service('c'), service('echo', 1), route('echo')]), [
        { kind: 'Service', name: 'c', action: 'created' },
        { kind: 'Service', name: 'echo', action: 'configured' },
        { kind: 'ClusterDomainRoute', name: 'echo', action: 'created' },
      ]);
    });

    test('key order and undefined properties are no change', async () => {
      await store.apply([service('echo', 8080, { a: '1', b: '2' })]);
      const r = service('echo', 8080, { b: '2', a: '1' });
      const shuffled = { spec: r.spec, metadata: { ...r.metadata, labels: undefined }, kind: r.kind, apiVersion: r.apiVersion } as Resource;
      assert.deepEqual(await store.apply([shuffled]), [{ kind: 'Service', name: 'echo', action: 'unchanged' }]);
      assert.equal((await store.get('Service', 'echo'))?.metadata.generation, 1);
    });

    test('resourceVersion is the store-wide revision: one batch, one revision; it grows with every write', async () => {
      const r0 = await store.revision();
      await store.apply([service('a'), service('b')]);
      const r1 = await store.revision();
      assert.ok(r1 > r0);
      const a = await store.get('Service', 'a');
      const b = await store.get('Service', 'b');
      assert.equal(a?.metadata.resourceVersion, String(r1));
      assert.equal(b?.metadata.resourceVersion, String(r1));
      await store.apply([service('b', 1)]);
      assert.ok((await store.revision()) > r1);
      assert.equal((await store.get('Service', 'a'))?.metadata.resourceVersion, String(r1), 'an untouched object keeps its version');
      const listed = await store.list();
      assert.equal(listed.revision, await store.revision());
      assert.deepEqual(listed.items.map((i) => `${i.kind}/${i.metadata.name}`), ['Service/a', 'Service/b']);
    });

    test('generation moves on spec changes only; updateStatus keeps spec and generation and moves resourceVersion', async () => {
      await store.apply([service('echo')]);
      await store.apply([service('echo', 9090)]);
      const before = (await store.get('Service', 'echo'))!;
      assert.equal(before.metadata.generation, 2);
      const condition = { type: 'Ready', status: 'True' as const, reason: 'Translated', message: 'ok', lastTransitionTime: new Date().toISOString() };
      const after = await store.updateStatus('Service', 'echo', { observedGeneration: 2, conditions: [condition] }, before.metadata.resourceVersion);
      assert.equal(after.metadata.generation, 2);
      assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion));
      const got = (await store.get('Service', 'echo'))!;
      assert.deepEqual(got.spec, before.spec);
      assert.deepEqual(got.status, { observedGeneration: 2, conditions: [condition] });
      assert.equal(got.metadata.creationTimestamp, before.metadata.creationTimestamp);
      // A spec write keeps the status; an apply cannot write status.
      await store.apply([{ ...service('echo', 7070), status: { conditions: [] } } as Resource]);
      const third = (await store.get('Service', 'echo'))!;
      assert.equal(third.metadata.generation, 3);
      assert.deepEqual(third.status, { observedGeneration: 2, conditions: [condition] });
    });

    test('a write naming an old resourceVersion is a conflict and changes nothing', async () => {
      await store.apply([service('echo')]);
      const v1 = (await store.get('Service', 'echo'))!.metadata.resourceVersion;
      await store.apply([service('echo', 9090)]);
      const stale = { ...service('echo', 1), metadata: { name: 'echo', resourceVersion: v1 } };
      await assert.rejects(store.apply([service('other'), stale]), (e: unknown) => e instanceof ConflictError && /changed since resourceVersion/.test(e.message));
      assert.equal(await store.get('Service', 'other'), undefined, 'the batch is all or nothing');
      await assert.rejects(store.updateStatus('Service', 'echo', { conditions: [] }, v1), ConflictError);
      await assert.rejects(store.delete('Service', 'echo', v1), ConflictError);
      const current = (await store.get('Service', 'echo'))!;
      assert.equal((current.spec as ServiceResource['spec']).ports[0]?.port, 9090);
      assert.equal(current.status, undefined);
      const fresh = { ...service('echo', 1), metadata: { name: 'echo', resourceVersion: current.metadata.resourceVersion } };
      assert.deepEqual(await store.apply([fresh]), [{ kind: 'Service', name: 'echo', action: 'configured' }]);
      await assert.rejects(store.apply([{ ...service('gone'), metadata: { name: 'gone', resourceVersion: '1' } }]), /deleted since|changed since/);
    });

    test('delete reports whether it existed; re-creating starts again at generation 1', async () => {
      await store.apply([service('echo'), service('keep')]);
      await store.apply([service('echo', 1)]);
      assert.equal(await store.delete('Service', 'echo'), true);
      assert.equal(await store.delete('Service', 'echo'), false);
      assert.deepEqual((await store.list()).items.map((r) => r.metadata.name), ['keep']);
      await store.apply([service('echo')]);
      assert.equal((await store.get('Service', 'echo'))?.metadata.generation, 1);
    });

    test('watch delivers every change after the revision, in order, deletes with their last state', async () => {
      const from = await store.revision();
      await store.apply([service('a')]);
      await store.apply([service('a', 1), route('r')]);
      const a = (await store.get('Service', 'a'))!;
      await store.updateStatus('Service', 'a', { observedGeneration: 2, conditions: [] });
      await store.delete('Service', 'a');
      const events = await collect(store, [], from, (e) => e.length >= 5);
      assert.deepEqual(events.map((e) => e.type), ['ADDED', 'MODIFIED', 'ADDED', 'MODIFIED', 'DELETED']);
      const revisions = events.map((e) => e.revision);
      assert.deepEqual(revisions, [...revisions].sort((x, y) => x - y), `in revision order: ${events.map(label).join(', ')}`);
      const deleted = events[4]!;
      assert.ok(deleted.type === 'DELETED');
      assert.equal((deleted.object.spec as ServiceResource['spec']).ports[0]?.port, 1, 'the deleted object as it last was');
      assert.equal(deleted.object.metadata.generation, a.metadata.generation);
      // Kinds filter, and a live change after the backlog.
      const only = collect(store, ['ClusterDomainRoute'], from, (e) => e.length >= 2);
      await store.apply([route('r', 'other.example.com'), service('z')]);
      assert.deepEqual((await only).map(label).map((l) => l.split('@')[0]), ['ADDED ClusterDomainRoute/r', 'MODIFIED ClusterDomainRoute/r']);
    });

    test('watch resumes from a revision: nothing at or before it is delivered again', async () => {
      await store.apply([service('a')]);
      const mid = await store.revision();
      await store.apply([service('b')]);
      await store.apply([service('c')]);
      const events = await collect(store, ['Service'], mid, (e) => e.length >= 2);
      assert.deepEqual(events.map((e) => (e.type === 'RESYNC' ? '' : e.object.metadata.name)), ['b', 'c']);
      assert.ok(events.every((e) => e.revision > mid));
    });

    test('a watcher whose revision was compacted gets RESYNC, and a cache lists again and catches up', async () => {
      await store.apply([service('a')]);
      const old = await store.revision();
      await store.apply([service('b')]);
      await store.apply([service('c')]);
      await backend.compact(store);
      const [first] = await collect(store, [], old, (e) => e.length >= 1);
      assert.equal(first?.type, 'RESYNC');
      const cache = new StoreCache(store);
      try {
        await cache.start();
        assert.deepEqual(cache.list().map((r) => r.metadata.name), ['a', 'b', 'c']);
        assert.equal(cache.revision, await store.revision());
      } finally {
        cache.stop();
      }
    });

    test('the cache follows the store and tells spec changes from status writes', async () => {
      const cache = new StoreCache(store);
      const changes: CacheChange[] = [];
      cache.on('change', (c: CacheChange) => changes.push(c));
      try {
        await cache.start();
        await store.apply([service('a')]);
        assert.ok(await cache.waitFor(await store.revision()));
        assert.equal(cache.get('Service', 'a')?.metadata.generation, 1);
        await store.updateStatus('Service', 'a', { observedGeneration: 1, conditions: [] });
        assert.ok(await cache.waitFor(await store.revision()));
        assert.deepEqual(cache.get('Service', 'a')?.status, { observedGeneration: 1, conditions: [] });
        await store.delete('Service', 'a');
        assert.ok(await cache.waitFor(await store.revision()));
        assert.equal(cache.get('Service', 'a'), undefined);
        assert.deepEqual(changes.map((c) => c.spec), [true, false, true]);
      } finally {
        cache.stop();
      }
    });

    test('1,000 concurrent read-modify-write updates from 10 clients lose no update', async () => {
      await store.apply([service('counter', 8080, { count: '0' })]);
      const clients = await Promise.all(Array.from({ length: 10 }, () => backend.client()));
      let conflicts = 0;
      try {
        const increment = async (client: ResourceStore) => {
          for (let attempt = 0; attempt < 1000; attempt++) {
            const cur = (await client.get('Service', 'counter'))!;
            const next = { ...service('counter', 8080, { count: String(Number(cur.metadata.annotations!.count) + 1) }), metadata: { name: 'counter', annotations: { count: String(Number(cur.metadata.annotations!.count) + 1) }, resourceVersion: cur.metadata.resourceVersion } };
            try {
              await client.apply([next]);
              return;
            } catch (e) {
              if (!(e instanceof ConflictError)) throw e;
              conflicts++;
            }
          }
          throw new Error('no write got through in 1000 attempts');
        };
        await Promise.all(clients.map(async (c) => { for (let i = 0; i < 100; i++) await increment(c); }));
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
      const final = (await store.get('Service', 'counter'))!;
      assert.equal(final.metadata.annotations?.count, '1000');
      assert.equal(final.metadata.generation, 1001);
      assert.ok(conflicts > 0, 'the writers did race (else this test proves nothing)');
    });
  });
}
