// Issue 12.5 (the store half) and issue 14's conflicts, at the REST API: a
// write the store cannot make is answered with its real cause (507 when the
// disk is full, not 500 "cannot rollback"), a stale resourceVersion is 409, and
// the API goes on answering reads and writes that fit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildApi } from '../../control-plane/api/server.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { StoreCache } from '../../control-plane/store/cache.ts';
import { ControlPlaneMetrics } from '../../control-plane/metrics.ts';
import type { NodeStatus } from '../../control-plane/api/status.ts';

const svc = (name: string, pad = '') => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name, ...(pad ? { annotations: { 'ferry.secretflow/note': pad } } : {}) },
  spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 8080 }] },
});

test('a full disk answers 507 with the cause; conflicts answer 409; the API keeps serving', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-store-api-'));
  const store = new SqliteStore(join(dir, 'ferry.db'), { maxPageCount: 40 });
  const cache = new StoreCache(store);
  await cache.start();
  const metrics = new ControlPlaneMetrics({ processMetrics: false });
  metrics.observeStore(store, cache);
  const status = async (): Promise<NodeStatus> => ({
    domain: 'alice', listeners: { public: '', internal: '', api: '' },
    envoy: { ready: true, adopted: false, restarts: 0 },
    xds: { converged: true, proxies: [], recentNacks: [] }, resources: [],
  });
  const listener = { address: '127.0.0.1', port: 1 };
  const app = await buildApi({
    config: { domain: 'alice', listeners: { public: listener, internal: listener, api: listener, envoyAdmin: listener, xds: listener } },
    store, cache, apiToken: 't', status, metrics, certs: {} as never, log: pino({ level: 'silent' }),
  });
  const auth = { authorization: 'Bearer t' };
  try {
    const small = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: auth, payload: { resources: [svc('small')] } });
    assert.equal(small.statusCode, 200, small.body);
    const big = Array.from({ length: 50 }, (_, i) => svc(`big-${i}`, 'x'.repeat(8000)));
    const full = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: auth, payload: { resources: big } });
    assert.equal(full.statusCode, 507, full.body);
    assert.match(full.json<{ error: string }>().error, /^the store's disk is full \(.*database or disk is full\): nothing was written; free space and retry$/);
    const list = await app.inject({ method: 'GET', url: '/api/v1/resources/Service', headers: auth });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json<{ items: { metadata: { name: string } }[] }>().items.map((i) => i.metadata.name), ['small']);
    const got = (await app.inject({ method: 'GET', url: '/api/v1/resources/Service/small', headers: auth })).json<{ metadata: { resourceVersion: string } }>();
    const put = (rv: string) => app.inject({ method: 'PUT', url: '/api/v1/resources/Service/small', headers: auth, payload: { ...svc('small', 'v2'), metadata: { name: 'small', annotations: { 'ferry.secretflow/note': rv }, resourceVersion: rv } } });
    assert.equal((await put(got.metadata.resourceVersion)).statusCode, 200);
    const stale = await put(got.metadata.resourceVersion);
    assert.equal(stale.statusCode, 409);
    const del = await app.inject({ method: 'DELETE', url: `/api/v1/resources/Service/small?resourceVersion=${got.metadata.resourceVersion}`, headers: auth });
    assert.equal(del.statusCode, 409, 'a delete naming an old version is a conflict too');
    const scrape = await metrics.registry.metrics();
    assert.match(scrape, /^ferry_store_operations_total\{op="apply",kind="",result="error_full"\} 1$/m);
    assert.match(scrape, /^ferry_store_operations_total\{op="apply",kind="",result="conflict"\} 1$/m);
  } finally {
    await app.close();
    cache.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
