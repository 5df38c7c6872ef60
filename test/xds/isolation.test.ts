// Issue 12 item 3: one bad resource never stops the others being served. A
// resource whose Envoy configuration a real Envoy refuses is left out with
// Envoy's own message, the rest converges, and later changes keep flowing.
// The bad resources are put in the list directly, as a store written by an
// older Ferry (whose validation let them through) would hold them.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { Reconciler } from '../../control-plane/reconciler.ts';
import { backendClusterName } from '../../control-plane/translate/backends.ts';
import type { StoreCache } from '../../control-plane/store/cache.ts';
import type { Resource } from '../../control-plane/resources/types.ts';
import { ALICE, startEnvoyUnderXds } from '../support/envoy-xds.ts';
import { tempDir, waitFor } from '../support/harness.ts';

const service = (name: string, externalName: string, annotations?: Record<string, string>): Resource => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, ...(annotations ? { annotations } : {}) },
  spec: { type: 'ExternalName', externalName, ports: [{ port: 8080 }] },
});

/** The reconciler reads a list and listens for changes: that is all it needs of a store here. */
class ListStore extends EventEmitter {
  items: Resource[] = [];
  list(): Resource[] { return this.items; }
  set(r: Resource): void {
    this.items = [...this.items.filter((x) => x.kind !== r.kind || x.metadata.name !== r.metadata.name), r];
    this.emit('change', { spec: true });
  }
}

for (const variant of ['delta', 'sotw'] as const) {
  describe(`isolation of a resource Envoy refuses (${variant})`, () => {
    const stops: (() => Promise<void> | void)[] = [];
    after(async () => { for (const s of stops.reverse()) await s(); });

    for (const [what, bad, expected] of [
      ['a cluster address Envoy cannot parse (named in its message)', '999.1.1.1', /malformed IP address: 999\.1\.1\.1/],
      ['a string that is not UTF-8 (a lone surrogate)', 'a\uD800.example', /./],
    ] as const) {
      test(what, async () => {
        const envoy = await startEnvoyUnderXds('alice', variant);
        stops.push(() => envoy.stop());
        const store = new ListStore();
        store.items = [service('good', '127.0.0.1')];
        const reconciler = new Reconciler({ store: store as unknown as StoreCache, config: envoy.config, ownCaPem: ALICE.caPem, gateway: ALICE.gateway, accessLogDir: tempDir('iso-logs'), ads: envoy.ads, log: pino({ level: 'silent' }) }, 5, 50);
        stops.push(() => reconciler.stop());
        reconciler.reconcile();
        await waitFor('the first configuration', async () => (envoy.ads.converged() ? true : undefined));

        store.set(service('bad', bad));
        const status = await waitFor('the bad Service isolated', async () => reconciler.outcome.statuses.find((s) => s.name === 'bad' && s.isolated));
        assert.equal(status.ready, false);
        assert.match(status.reason, /^Envoy refused its configuration: /);
        assert.match(status.reason, expected);
        await waitFor('convergence without it', async () => (envoy.ads.converged() ? true : undefined));
        const clusters = await envoy.clusters();
        // Service clusters are named by backend (address, port, protocol): bad's is the only one on its address.
        assert.ok(clusters.includes('backend-127_0_0_1-8080-http') && !clusters.includes(backendClusterName({ protocol: 'HTTP', addresses: [bad], port: 8080 })), clusters.join());

        // Other changes keep flowing: a new Service is served, the good one changes.
        store.set(service('new', '127.0.0.2'));
        await waitFor('the new Service in Envoy', async () => ((await envoy.clusters()).includes('backend-127_0_0_2-8080-http') && envoy.ads.converged() ? true : undefined));
        assert.ok(reconciler.outcome.statuses.find((s) => s.name === 'bad')?.isolated, 'still isolated while unchanged');

        // Fixed: let back in.
        store.set(service('bad', '127.0.0.3'));
        await waitFor('the fixed Service in Envoy', async () => ((await envoy.clusters()).includes('backend-127_0_0_3-8080-http') && envoy.ads.converged() ? true : undefined));
        assert.equal(reconciler.outcome.statuses.find((s) => s.name === 'bad')?.isolated, undefined);
      });
    }
  });
}
