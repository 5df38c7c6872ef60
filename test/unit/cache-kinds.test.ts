// The cache says which kinds' specs changed, so the gateway (translation, tokens)
// is not woken by job objects: a KusciaTask created per task must not re-push
// Envoy's configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { StoreCache, specChangedFor, type CacheChange } from '../../control-plane/store/cache.ts';
import { GATEWAY_KINDS } from '../../control-plane/resources/types.ts';
import { tempDir } from '../support/harness.ts';

test('changes name their kinds; only gateway kinds matter to the gateway; status writes never do', async () => {
  const store = new SqliteStore(join(tempDir('cache-kinds'), 'ferry.db'));
  const cache = new StoreCache(store);
  await cache.start();
  const next = () => new Promise<CacheChange>((resolve) => cache.once('change', resolve));
  try {
    let change = next();
    await store.apply([{ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'KusciaTask', metadata: { name: 't1' }, spec: {} }]);
    assert.deepEqual((await change).specKinds, ['KusciaTask']);
    assert.equal(specChangedFor(await change, GATEWAY_KINDS), false, 'a job object does not wake the gateway');

    change = next();
    await store.apply([{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo' }, spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 80 }] } }]);
    assert.equal(specChangedFor(await change, GATEWAY_KINDS), true, 'a Service does');

    change = next();
    await store.updateStatus('Service', 'echo', { conditions: [] });
    assert.equal(specChangedFor(await change, GATEWAY_KINDS), false, 'a status write does not');
    assert.equal(specChangedFor({ spec: true, revision: 1 }, GATEWAY_KINDS), true, 'unknown kinds (after a relist): assume it matters');
  } finally {
    cache.stop();
    await store.close();
  }
});
