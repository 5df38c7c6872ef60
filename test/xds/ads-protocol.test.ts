// The ADS server's protocol behaviour, driven by scripted clients that follow
// Envoy's state machines (test/support/ads-client.ts), for both variants.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AdsServer } from '../../control-plane/ads/server.ts';
import { buildSnapshot } from '../../control-plane/ads/snapshot.ts';
import { ControlPlaneMetrics } from '../../control-plane/metrics.ts';
import { TYPE } from '../../control-plane/xds/envoy-types.ts';
import type { EnvoyResources } from '../../control-plane/xds/ir-to-envoy.ts';
import { DeltaClient, SotwClient } from '../support/ads-client.ts';

const cluster = (name: string, port = 9000) => ({
  name, type: 'STATIC', connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
});
const routeConfig = (name: string, clusterName: string) => ({
  name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: clusterName } }] }],
});
const listener = (name: string, port: number) => ({ name, address: { socket_address: { address: '127.0.0.1', port_value: port } } });

function resources(clusters: string[], routes: [string, string][] = []): EnvoyResources {
  return { clusters: clusters.map((c) => cluster(c)), listeners: [listener('l1', 1)], routes: routes.map(([n, c]) => routeConfig(n, c)), secrets: [] };
}

describe('ADS protocol', () => {
  let server: AdsServer;
  let target: string;
  const metrics = new ControlPlaneMetrics({ processMetrics: false });
  const clients: { close(): void }[] = [];
  const track = <T extends { close(): void }>(c: T) => { clients.push(c); return c; };

  before(async () => {
    server = new AdsServer(pino({ level: 'silent' }), metrics);
    target = `127.0.0.1:${await server.listen('127.0.0.1', 0)}`;
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  test('delta: wildcard and named subscriptions, per-resource versions, removals', async () => {
    server.setSnapshot(buildSnapshot(resources(['a', 'b'], [['r1', 'a'], ['r2', 'b']])));
    const c = track(new DeltaClient(target, 'd1'));
    c.subscribe(TYPE.cluster);
    c.subscribe(TYPE.routeConfiguration, ['r1']);
    await c.until(() => c.held.get(TYPE.cluster)?.size === 2 && c.held.get(TYPE.routeConfiguration)?.size === 1);
    assert.deepEqual([...c.held.get(TYPE.routeConfiguration)!.keys()], ['r1'], 'only the named route');

    // Change only cluster b: only b is sent.
    const before = c.received.length;
    server.setSnapshot(buildSnapshot({ ...resources(['a'], [['r1', 'a']]), clusters: [cluster('a'), cluster('b', 9001)] }));
    await c.until(() => c.received.length > before);
    const update = c.received.slice(before).find((r) => r.typeUrl === TYPE.cluster)!;
    assert.deepEqual(update.names, ['b']);

    // Remove cluster b: removed_resources, once routes are acknowledged.
    server.setSnapshot(buildSnapshot(resources(['a'], [['r1', 'a']])));
    await c.until(() => c.held.get(TYPE.cluster)?.size === 1);
    assert.ok(c.received.some((r) => r.removed.includes('b')));
    await c.until(() => server.converged());
  });

  test('delta: a reconnecting proxy with initial_resource_versions gets only what changed', async () => {
    const snapshot = buildSnapshot(resources(['a', 'b']));
    server.setSnapshot(snapshot);
    const first = track(new DeltaClient(target, 'd2'));
    first.subscribe(TYPE.cluster);
    await first.until(() => first.held.get(TYPE.cluster)?.size === 2);
    const held = Object.fromEntries(first.held.get(TYPE.cluster)!);
    first.close();

    const again = track(new DeltaClient(target, 'd2'));
    again.subscribe(TYPE.cluster, [], held);
    await again.until(() => again.received.length >= 1);
    assert.deepEqual(again.received[0]!.names, [], 'nothing re-sent: the proxy already has every version');
  });

  test('delta: a stale nonce is not taken as an ACK', async () => {
    server.setSnapshot(buildSnapshot(resources(['s1'])));
    const c = track(new DeltaClient(target, 'd3'));
    c.decide = () => ({ nack: 'hold' }); // answer nothing useful yet
    c.subscribe(TYPE.cluster);
    await c.until(() => c.received.length >= 1);
    const proxy = () => server.proxies().find((p) => p.node === 'd3')!;
    await c.until(() => Boolean(proxy()?.types.clusters?.nack));
    c.send({ type_url: TYPE.cluster, response_nonce: 'no-such-nonce' });
    c.send({ type_url: TYPE.cluster, response_nonce: c.received[0]!.nonce }); // already answered: stale now
    await new Promise((r) => setImmediate(r));
    assert.notEqual(proxy().types.clusters?.ackedVersion, server.snapshot!.version);
    c.close();
  });

  test('NACK: recorded with the detail, counted, and not re-sent until the configuration changes', async () => {
    for (const Client of [DeltaClient, SotwClient]) {
      server.setSnapshot(buildSnapshot(resources(['n1'])));
      const c = track(new Client(target, `nack-${Client.name}`));
      c.decide = (r) => (r.names.includes('bad') ? { nack: 'cluster bad: malformed IP address' } : undefined);
      c.subscribe(TYPE.cluster);
      c.subscribe(TYPE.listener);
      await c.until(() => c.count(TYPE.cluster) === 1 && c.count(TYPE.listener) === 1);
      const nacksBefore = (await metrics.xdsNacks.get()).values.reduce((s, v) => s + v.value, 0);
      server.setSnapshot(buildSnapshot({ ...resources(['n1', 'bad']) }));
      await c.until(() => c.count(TYPE.cluster) === 2);
      const proxy = () => server.proxies().find((p) => p.node === `nack-${Client.name}`)!;
      await c.until(() => Boolean(proxy().types.clusters?.nack));
      assert.equal(proxy().types.clusters!.nack!.message, 'cluster bad: malformed IP address');
      assert.ok(server.nacks.some((n) => n.nack.message.includes('malformed')));
      assert.equal((await metrics.xdsNacks.get()).values.reduce((s, v) => s + v.value, 0), nacksBefore + 1);
      assert.equal(server.converged(), false);

      // An unrelated change (listener) goes out; the rejected clusters are not re-sent.
      server.setSnapshot(buildSnapshot({ ...resources(['n1', 'bad']), listeners: [listener('l1', 2)] }));
      await c.until(() => c.count(TYPE.listener) === 2);
      assert.equal(c.count(TYPE.cluster), 2, `${Client.name}: rejected clusters not re-sent`);

      // A fixed configuration is sent and acknowledged.
      c.decide = () => {};
      server.setSnapshot(buildSnapshot({ ...resources(['n1', 'good']), listeners: [listener('l1', 2)] }));
      await c.until(() => c.count(TYPE.cluster) >= 3 && !proxy().types.clusters?.nack && server.converged());
      c.close();
    }
  });

  test('sotw: full sets for wildcard types, a removal is an omission, named routes only', async () => {
    server.setSnapshot(buildSnapshot(resources(['x', 'y'], [['r1', 'x'], ['r2', 'y']])));
    const c = track(new SotwClient(target, 's1'));
    c.subscribe(TYPE.cluster);
    c.subscribe(TYPE.routeConfiguration, ['r2']);
    await c.until(() => c.held.get(TYPE.cluster)?.size === 2 && c.held.get(TYPE.routeConfiguration)?.size === 1);
    assert.deepEqual([...c.held.get(TYPE.routeConfiguration)!.keys()], ['r2']);
    server.setSnapshot(buildSnapshot(resources(['x'], [['r1', 'x'], ['r2', 'x']])));
    await c.until(() => c.held.get(TYPE.cluster)?.size === 1);
    assert.deepEqual([...c.held.get(TYPE.cluster)!.keys()], ['x']);
    c.close();
  });

  test('sotw: new names with the already acknowledged nonce are a subscription change, not a stale request', async () => {
    server.setSnapshot(buildSnapshot(resources(['x'], [['r1', 'x'], ['r2', 'x']])));
    const c = track(new SotwClient(target, 's2'));
    c.subscribe(TYPE.routeConfiguration, ['r1']);
    await c.until(() => c.held.get(TYPE.routeConfiguration)?.size === 1);
    const acked = c.received.at(-1)!;
    // What Envoy does when a new listener needs another route: same nonce, more names.
    c.send({ type_url: TYPE.routeConfiguration, response_nonce: acked.nonce, version_info: acked.version, resource_names: ['r1', 'r2'] });
    await c.until(() => c.received.length > 1);
    assert.deepEqual(c.received.at(-1)!.names.sort(), ['r1', 'r2']);
    c.close();
  });

  test('make-before-break: a removed cluster stays until the routes that used it are acknowledged', async () => {
    for (const Client of [DeltaClient, SotwClient]) {
      server.setSnapshot(buildSnapshot(resources(['keep', 'old'], [['r', 'old']])));
      const c = track(new Client(target, `mbb-${Client.name}`));
      c.subscribe(TYPE.cluster);
      c.subscribe(TYPE.routeConfiguration, ['r']);
      await c.until(() => c.held.get(TYPE.cluster)?.size === 2 && c.held.get(TYPE.routeConfiguration)?.size === 1);
      // Route r moves from cluster old to keep; cluster old goes away.
      const clustersBefore = c.count(TYPE.cluster);
      server.setSnapshot(buildSnapshot(resources(['keep'], [['r', 'keep']])));
      await c.until(() => c.held.get(TYPE.cluster)?.size === 1);
      const order = c.received.filter((r) => r.typeUrl === TYPE.cluster || r.typeUrl === TYPE.routeConfiguration).slice(-2).map((r) => r.typeUrl);
      assert.deepEqual(order, [TYPE.routeConfiguration, TYPE.cluster], `${Client.name}: route update before the cluster removal`);
      assert.ok(c.count(TYPE.cluster) > clustersBefore);
      c.close();
    }
  });

  test('convergence is measured', async () => {
    const h = await metrics.xdsConvergence.get();
    const count = h.values.find((v) => v.metricName === 'ferry_xds_convergence_seconds_count')?.value ?? 0;
    assert.ok(count >= 1, 'at least one change converged');
  });
});
