// Item-by-item encoding with a cache must produce what Envoy decodes as the
// same message, and checkReferences must catch dangling references.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageType } from '../../envoy/protos.ts';
import { EncodeCache, decodeToJson, encodeJson, encodeJsonCached } from '../../envoy/proto-json.ts';
import { checkReferences } from '../../control-plane/ads/snapshot.ts';

const RouteConfiguration = messageType('envoy.config.route.v3.RouteConfiguration');
const routes = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({
  name: `r${i}`, match: { prefix: `/${i}`, headers: [{ name: 'kuscia-host', string_match: { exact: `s${i}.svc` } }] },
  route: { cluster: `c${i}`, timeout: '0s' }, request_headers_to_add: [{ header: { key: 'x', value: tag }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }],
}));
const config = (tag: string) => ({ name: 'public', virtual_hosts: [{ name: 'a', domains: ['*'], routes: routes(40, tag) }, { name: 'b', domains: ['b'], routes: routes(3, tag) }] });

test('cached item-by-item encoding decodes to the same message as a plain encoding', () => {
  const cache = new EncodeCache();
  const plain = decodeToJson(RouteConfiguration, encodeJson(RouteConfiguration, config('v1')));
  const cached = decodeToJson(RouteConfiguration, encodeJsonCached(RouteConfiguration, config('v1'), cache));
  assert.deepEqual(cached, plain);
  // A change is reflected (no stale cache hit), and unchanged items are reused.
  cache.nextGeneration();
  const changed = decodeToJson(RouteConfiguration, encodeJsonCached(RouteConfiguration, config('v2'), cache)) as { virtual_hosts: { routes: { request_headers_to_add: { header: { value: string } }[] }[] }[] };
  assert.equal(changed.virtual_hosts[0]!.routes[7]!.request_headers_to_add[0]!.header.value, 'v2');
});

test('checkReferences names a route to a missing cluster and a missing secret', () => {
  const problems = checkReferences({
    clusters: [{ name: 'c0' }],
    routes: [{ name: 'public', virtual_hosts: [{ routes: [{ route: { cluster: 'c0' } }, { route: { cluster: 'gone' } }] }] }],
    listeners: [{ name: 'l', filter_chains: [{ transport_socket: { typed_config: { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'gateway-cert' }] } } }, filters: [{ typed_config: { rds: { route_config_name: 'public' } } }] }] }],
    secrets: [],
  });
  assert.deepEqual(problems, ['listener l uses missing secret gateway-cert', 'route configuration public uses missing cluster gone']);
});
