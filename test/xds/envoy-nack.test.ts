// A real Envoy rejects a configuration: the NACK is recorded with Envoy's
// error, the rejected version is not re-sent, Envoy keeps serving its last
// good configuration, and a fixed configuration is accepted. Both variants.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import pino from 'pino';
import { AdsServer } from '../../control-plane/ads/server.ts';
import { buildSnapshot } from '../../control-plane/ads/snapshot.ts';
import { defaultConfig } from '../../control-plane/config.ts';
import { EnvoySupervisor } from '../../control-plane/supervisor/envoy-supervisor.ts';
import { locateEnvoy } from '../../envoy/locate.ts';
import { curl, freePorts, tempDir, waitFor } from '../support/harness.ts';

/** One listener answering `body` directly, and `extra` clusters. */
function config(port: number, body: string, clusters: Record<string, unknown>[] = []) {
  return {
    clusters,
    secrets: [],
    routes: [{ name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }] }] }],
    listeners: [{
      name: 'l',
      address: { socket_address: { address: '127.0.0.1', port_value: port } },
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'l', rds: { route_config_name: 'r', config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      } }] }],
    }],
  };
}

// STATIC clusters need IP addresses; Envoy rejects a host name (our encoder cannot know).
const badCluster = { name: 'bad', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'bad', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'not-an-ip', port_value: 1 } } } }] }] } };

for (const variant of ['delta', 'sotw'] as const) {
  describe(`real Envoy rejects a configuration (${variant})`, () => {
    const stops: (() => Promise<void>)[] = [];
    after(async () => { for (const s of stops.reverse()) await s(); });

    test('NACK recorded, not re-sent, last good configuration kept, fix accepted', async () => {
      const [xds, admin, port] = (await freePorts(3)) as [number, number, number];
      const nodeConfig = { ...defaultConfig('nack', { xds, envoyAdmin: admin }), xdsVariant: variant };
      const ads = new AdsServer(pino({ level: 'silent' }));
      await ads.listen('127.0.0.1', xds);
      stops.push(() => ads.close());
      ads.setSnapshot(buildSnapshot(config(port, 'v1')));
      const dir = tempDir('nack');
      const sup = new EnvoySupervisor({ envoyBin: locateEnvoy().bin, bootstrapPath: join(dir, 'bootstrap.json'), logDir: dir, config: nodeConfig, log: pino({ level: 'silent' }) });
      sup.start();
      stops.push(() => sup.stop());
      await waitFor('Envoy to take v1', async () => (ads.converged() && (await sup.envoyReady()) ? true : undefined));
      assert.equal((await curl([`http://127.0.0.1:${port}/`])).body, 'v1');

      // v2: the listener's answer changes, and a cluster Envoy cannot accept arrives.
      const bad = buildSnapshot(config(port, 'v2', [badCluster]));
      ads.setSnapshot(bad);
      const nack = await waitFor('the NACK', async () => ads.proxies()[0]?.types.clusters?.nack);
      assert.match(nack.message, /malformed IP address: not-an-ip/);
      assert.equal(nack.snapshotVersion, bad.version);
      assert.equal(ads.converged(), false);
      assert.ok(ads.nacks.length >= 1);
      // Envoy still serves (with the route update, which it accepted; the cluster was refused alone).
      const served = (await curl([`http://127.0.0.1:${port}/`])).body;
      assert.ok(['v1', 'v2'].includes(served), served);
      const stats = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=cluster_manager.cds.update_rejected`)).text();
      const rejected = Number(/update_rejected: (\d+)/.exec(stats)?.[1]);
      assert.equal(rejected, 1, 'Envoy rejected the clusters once');

      // An unrelated change goes out; the rejected cluster is not sent again.
      ads.setSnapshot(buildSnapshot(config(port, 'v3', [badCluster])));
      await waitFor('v3 served', async () => ((await curl([`http://127.0.0.1:${port}/`])).body === 'v3' ? true : undefined));
      const stats2 = await (await fetch(`http://127.0.0.1:${admin}/stats?filter=cluster_manager.cds.update_rejected`)).text();
      assert.equal(Number(/update_rejected: (\d+)/.exec(stats2)?.[1]), 1, 'not re-sent: still one rejection');

      // The fix: accepted, NACK cleared, converged.
      ads.setSnapshot(buildSnapshot(config(port, 'v4', [{ ...badCluster, load_assignment: { cluster_name: 'bad', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } }])));
      await waitFor('convergence after the fix', async () => (ads.converged() ? true : undefined));
      assert.equal(ads.proxies()[0]!.types.clusters?.nack, undefined);
      assert.equal((await curl([`http://127.0.0.1:${port}/`])).body, 'v4');
    });

    // Issue 12 item 4: after a refused cluster, an unrelated change that Envoy
    // accepts must not make the node look converged: Envoy still lacks the
    // refused cluster, so it is sent again (and refused again) and readiness stays false.
    test('a refused cluster is never reported as running after a later accepted change', async () => {
      const [xds, admin, port] = (await freePorts(3)) as [number, number, number];
      const nodeConfig = { ...defaultConfig('nack2', { xds, envoyAdmin: admin }), xdsVariant: variant };
      const ads = new AdsServer(pino({ level: 'silent' }));
      await ads.listen('127.0.0.1', xds);
      stops.push(() => ads.close());
      ads.setSnapshot(buildSnapshot(config(port, 'v1')));
      const dir = tempDir('nack2');
      const sup = new EnvoySupervisor({ envoyBin: locateEnvoy().bin, bootstrapPath: join(dir, 'bootstrap.json'), logDir: dir, config: nodeConfig, log: pino({ level: 'silent' }) });
      sup.start();
      stops.push(() => sup.stop());
      await waitFor('Envoy to take v1', async () => (ads.converged() && (await sup.envoyReady()) ? true : undefined));

      const good = (name: string) => ({ ...badCluster, name, load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 1 } } } }] }] } });
      const v2 = buildSnapshot(config(port, 'v2', [badCluster]));
      ads.setSnapshot(v2);
      await waitFor('the NACK', async () => ads.proxies()[0]?.types.clusters?.nack);
      const v3 = buildSnapshot(config(port, 'v3', [badCluster, good('other')]));
      ads.setSnapshot(v3);
      await waitFor('v3 served', async () => ((await curl([`http://127.0.0.1:${port}/`])).body === 'v3' ? true : undefined));
      const clusters = await waitFor('the second answer about clusters', async () => {
        const t = ads.proxies()[0]?.types.clusters;
        return t && !t.pending && t.nack?.snapshotVersion === v3.version ? t : undefined;
      });
      assert.match(clusters.nack!.message, /malformed IP address: not-an-ip/);
      assert.equal(ads.converged(), false, 'Envoy runs without the refused cluster: not converged');
      const dump = await (await fetch(`http://127.0.0.1:${admin}/clusters?format=json`)).text();
      assert.ok(dump.includes('"other"') && !dump.includes('"bad"'), 'Envoy has "other" and not "bad"');

      // Once the bad cluster is gone from the configuration, the node converges.
      ads.setSnapshot(buildSnapshot(config(port, 'v4', [good('other')])));
      await waitFor('convergence without the bad cluster', async () => (ads.converged() ? true : undefined));
    });
  });
}
