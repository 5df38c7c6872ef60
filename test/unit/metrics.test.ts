// The /metrics exposition: Envoy's statistics curated into ferry_envoy_*
// families, route readiness, store operations, the scrape when Envoy is down,
// and the shipped Prometheus rules and Grafana dashboard (checked by promtool
// and against the documented metric names).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ControlPlaneMetrics, ENVOY_FAMILIES, curateEnvoyStats, parseExposition, renderFamilies, routeReadiness } from '../../control-plane/metrics.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { StoreCache } from '../../control-plane/store/cache.ts';
import { freePorts } from '../../control-plane/util/ports.ts';
import type { Resource } from '../../control-plane/resources/types.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const PROMTOOL = '/usr/bin/promtool';
const src = { domain: 'alice', admin: { address: '127.0.0.1', port: 1 }, publicListener: { address: '0.0.0.0', port: 1080 } };

// As Envoy 1.40 writes it with envoy/bootstrap.ts's stats tags (lines taken from a real run).
const ENVOY_TEXT = `# TYPE envoy_vhost_route_upstream_rq_xx counter
envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="2",envoy_virtual_host="peer-bob",envoy_route="outbound",direction="outbound",peer_domain="bob",route="alice-bob"} 4
envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="2",envoy_virtual_host="local-port-19000",envoy_route="outbound",direction="outbound",peer_domain="bob",route="alice-bob"} 3
envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="5",envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo"} 2
envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="2",envoy_virtual_host="relay-carol",envoy_route="relay"} 9
# TYPE envoy_vhost_route_upstream_rq_time histogram
envoy_vhost_route_upstream_rq_time_bucket{envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo",le="0.5"} 0
envoy_vhost_route_upstream_rq_time_bucket{envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo",le="250"} 2
envoy_vhost_route_upstream_rq_time_bucket{envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo",le="+Inf"} 2
envoy_vhost_route_upstream_rq_time_sum{envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo"} 300
envoy_vhost_route_upstream_rq_time_count{envoy_virtual_host="service-echo",envoy_route="inbound",direction="inbound",peer_domain="bob",service="echo"} 2
# TYPE envoy_cluster_upstream_cx_tx_bytes_total counter
envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="alice-to-bob-https"} 3841
envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="alice-to-my-partner-grpc"} 10
envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="service-echo"} 4002
envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="backend-10_0_0_7-8080-http"} 77
envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="ferry-xds"} 27379
# TYPE envoy_cluster_upstream_cx_connect_fail counter
envoy_cluster_upstream_cx_connect_fail{envoy_cluster_name="alice-to-bob-https"} 1
# TYPE envoy_cluster_ssl_fail_verify_san counter
envoy_cluster_ssl_fail_verify_san{envoy_cluster_name="alice-to-bob-https"} 0
# TYPE envoy_listener_ssl_connection_error counter
envoy_listener_ssl_connection_error{envoy_listener_address="0.0.0.0_1080"} 5
envoy_listener_ssl_connection_error{envoy_listener_address="127.0.0.1_9999"} 7
# TYPE envoy_http_downstream_rq_xx counter
envoy_http_downstream_rq_xx{envoy_response_code_class="4",envoy_http_conn_manager_prefix="public"} 1
envoy_http_downstream_rq_xx{envoy_response_code_class="4",envoy_http_conn_manager_prefix="admin"} 8
# TYPE envoy_http_downstream_cx_active gauge
envoy_http_downstream_cx_active{envoy_http_conn_manager_prefix="internal"} 2
`;

describe('Envoy statistics, curated', () => {
  const text = renderFamilies(curateEnvoyStats(parseExposition(ENVOY_TEXT), src));
  const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));

  test('route requests by peer, route or service and response class; virtual hosts summed', () => {
    assert.ok(lines.includes('ferry_envoy_requests_total{direction="outbound",peer_domain="bob",route="alice-bob",code_class="2xx"} 7'), text);
    assert.ok(lines.includes('ferry_envoy_requests_total{direction="inbound",peer_domain="bob",service="echo",code_class="5xx"} 2'), text);
    assert.ok(!text.includes('relay'), 'routes without Ferry\'s labels are left out');
  });

  test('latency in seconds', () => {
    assert.ok(lines.includes('ferry_envoy_request_duration_seconds_bucket{direction="inbound",peer_domain="bob",service="echo",le="0.0005"} 0'), text);
    assert.ok(lines.includes('ferry_envoy_request_duration_seconds_bucket{direction="inbound",peer_domain="bob",service="echo",le="0.25"} 2'), text);
    assert.ok(lines.includes('ferry_envoy_request_duration_seconds_bucket{direction="inbound",peer_domain="bob",service="echo",le="+Inf"} 2'), text);
    assert.ok(lines.includes('ferry_envoy_request_duration_seconds_sum{direction="inbound",peer_domain="bob",service="echo"} 0.3'), text);
  });

  test('clusters: partner gateways outbound by peer (names with dashes too), local services inbound; others left out', () => {
    assert.ok(lines.includes('ferry_envoy_upstream_bytes_sent_total{direction="outbound",peer_domain="bob"} 3841'), text);
    assert.ok(lines.includes('ferry_envoy_upstream_bytes_sent_total{direction="outbound",peer_domain="my-partner"} 10'), text);
    assert.ok(lines.includes('ferry_envoy_upstream_bytes_sent_total{direction="inbound",service="echo"} 4002'), text);
    // Services sharing one backend share its cluster: counted by backend.
    assert.ok(lines.includes('ferry_envoy_upstream_bytes_sent_total{direction="inbound",backend="10_0_0_7-8080-http"} 77'), text);
    assert.ok(lines.includes('ferry_envoy_upstream_connect_failures_total{direction="outbound",peer_domain="bob",reason="connect_fail"} 1'), text);
    assert.ok(lines.includes('ferry_envoy_tls_handshake_failures_total{direction="outbound",peer_domain="bob",reason="fail_verify_san"} 0'), text);
    assert.ok(!text.includes('xds'));
  });

  test('listeners: TLS failures of the public listener only; public and internal connection managers only', () => {
    assert.ok(lines.includes('ferry_envoy_tls_handshake_failures_total{direction="inbound",reason="connection_error"} 5'), text);
    assert.ok(lines.includes('ferry_envoy_downstream_requests_total{listener="public",direction="inbound",code_class="4xx"} 1'), text);
    assert.ok(lines.includes('ferry_envoy_downstream_connections_active{listener="internal",direction="outbound"} 2'), text);
    assert.equal(lines.filter((l) => l.includes('ferry_envoy_tls_handshake_failures_total{direction="inbound"')).length, 1);
    assert.ok(!text.includes('admin'));
  });

  test('HELP and TYPE once per family, no dots in names', () => {
    for (const name of Object.keys(ENVOY_FAMILIES)) assert.ok((text.match(new RegExp(`^# TYPE ${name} `, 'gm')) ?? []).length <= 1);
    assert.doesNotMatch(text, /^[a-z_]*\./m);
  });
});

test('Envoy down: control-plane metrics still served, ferry_envoy_up 0', async () => {
  const metrics = new ControlPlaneMetrics({ processMetrics: false });
  const [port] = (await freePorts(1)) as [number]; // nothing listens there
  const text = await metrics.exposition({ ...src, admin: { address: '127.0.0.1', port } }, 500);
  assert.match(text, /^ferry_envoy_up 0$/m);
  assert.match(text, /^ferry_xds_nacks_total\{type="listeners"\} 0$/m, 'NACK counters start at zero');
  assert.doesNotMatch(text, /ferry_envoy_requests_total/);
});

test('route readiness: the peer is the other end of the route', async () => {
  const routes = [
    { kind: 'ClusterDomainRoute', metadata: { name: 'alice-bob' }, spec: { source: 'alice', destination: 'bob' } },
    { kind: 'ClusterDomainRoute', metadata: { name: 'carol-alice' }, spec: { source: 'carol', destination: 'alice' } },
    { kind: 'Domain', metadata: { name: 'bob' }, spec: {} },
  ];
  const statuses = [
    { kind: 'ClusterDomainRoute', name: 'alice-bob', ready: true, reason: '' },
    { kind: 'ClusterDomainRoute', name: 'carol-alice', ready: false, reason: 'x' },
    { kind: 'Domain', name: 'bob', ready: true, reason: '' },
  ];
  assert.deepEqual(routeReadiness('alice', routes, statuses), [
    { kind: 'ClusterDomainRoute', route: 'alice-bob', peer: 'bob', ready: true },
    { kind: 'ClusterDomainRoute', route: 'carol-alice', peer: 'carol', ready: false },
  ]);
  const metrics = new ControlPlaneMetrics({ processMetrics: false });
  metrics.routes = () => routeReadiness('alice', routes, statuses);
  const text = await metrics.registry.metrics();
  assert.match(text, /^ferry_route_ready\{kind="ClusterDomainRoute",route="carol-alice",peer_domain="carol"\} 0$/m);
});

test('store operations and sizes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-metrics-'));
  const store = new SqliteStore(join(dir, 'ferry.db'));
  const cache = new StoreCache(store);
  try {
    await cache.start();
    const metrics = new ControlPlaneMetrics({ processMetrics: false });
    metrics.observeStore(store, cache);
    const domain = { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner' } } as unknown as Resource;
    await store.apply([domain]);
    await store.apply([domain]);
    await store.delete('Domain', 'nobody');
    await cache.waitFor(await store.revision());
    const text = await metrics.registry.metrics();
    assert.match(text, /^ferry_store_operations_total\{op="apply",kind="Domain",result="created"\} 1$/m);
    assert.match(text, /^ferry_store_operations_total\{op="apply",kind="Domain",result="unchanged"\} 1$/m);
    assert.match(text, /^ferry_store_operations_total\{op="delete",kind="Domain",result="not_found"\} 1$/m);
    assert.match(text, /^ferry_store_resources\{kind="Domain"\} 1$/m);
  } finally {
    cache.stop();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('shipped rules and dashboard', () => {
  const rules = readFileSync(join(ROOT, 'deploy', 'prometheus', 'ferry-rules.yaml'), 'utf8');
  const dashboardText = readFileSync(join(ROOT, 'deploy', 'grafana', 'ferry-dashboard.json'), 'utf8');
  const doc = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');
  const names = (s: string) => [...new Set(s.match(/\bferry_[a-z0-9_]+/g) ?? [])];
  const family = (n: string) => n.replace(/_(bucket|sum|count)$/, '');

  test('the dashboard is valid JSON, and every panel queries something', () => {
    const d = JSON.parse(dashboardText) as { panels: { type: string; title: string; targets?: { expr: string }[] }[] };
    const panels = d.panels.filter((p) => p.type !== 'row');
    assert.ok(panels.length >= 10);
    for (const p of panels) assert.ok(p.targets?.length && p.targets.every((t) => t.expr.includes('ferry_')), p.title);
  });

  test('every metric the rules and dashboard use is documented and exported', async () => {
    const own = new Set((await new ControlPlaneMetrics().registry.getMetricsAsJSON()).map((m) => m.name));
    const known = (n: string) => own.has(family(n)) || own.has(n) || family(n) in ENVOY_FAMILIES || n === 'ferry_envoy_up';
    const used = [...new Set([...names(rules), ...names(dashboardText)])];
    assert.deepEqual(used.filter((n) => !known(n)), [], 'used but not exported');
    assert.deepEqual(used.filter((n) => !doc.includes(family(n))), [], 'used but not in docs/metrics.md');
    assert.deepEqual([...Object.keys(ENVOY_FAMILIES), ...own].filter((n) => !doc.includes(n) && !n.startsWith('ferry_process_') && !n.startsWith('ferry_nodejs_')), [], 'exported but not in docs/metrics.md');
  });

  test('promtool check rules and promtool test rules', { skip: existsSync(PROMTOOL) ? false : `${PROMTOOL} not installed (Debian package prometheus)` }, () => {
    for (const args of [['check', 'rules', 'ferry-rules.yaml'], ['test', 'rules', 'ferry-rules.test.yaml']]) {
      const r = spawnSync(PROMTOOL, args, { cwd: join(ROOT, 'deploy', 'prometheus'), encoding: 'utf8' });
      assert.equal(r.status, 0, `promtool ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
  });
});
