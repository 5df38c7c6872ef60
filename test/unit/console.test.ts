// The web console's server side (control-plane/api/console.ts, observe.ts,
// traffic.ts): its files are served with a strict CSP and need no token (they
// hold no data), everything it shows comes from token-guarded REST calls, the
// page has no inline script and puts no token in a URL, and the committed
// bundle is what its source builds to.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { buildApi, type ApiDeps } from '../../control-plane/api/server.ts';
import { CONSOLE_CSP, CONSOLE_ROOT } from '../../control-plane/api/console.ts';
import { partnerViews } from '../../control-plane/api/observe.ts';
import { TrafficRing, trafficSeries } from '../../control-plane/api/traffic.ts';
import { defaultConfig } from '../../control-plane/config.ts';
import { ControlPlaneMetrics } from '../../control-plane/metrics.ts';
import { ROOT } from '../support/harness.ts';

const TOKEN = 'console-token-0123456789abcdef';
const auth = { authorization: `Bearer ${TOKEN}` };

describe('console: files, headers and auth', () => {
  let app: Awaited<ReturnType<typeof buildApi>>;
  before(async () => {
    const metrics = new ControlPlaneMetrics({ processMetrics: false });
    metrics.tokens = () => [{ peer: 'bob', direction: 'outbound', revision: 3, lastHeartbeatAt: Date.now() - 4000 }];
    const deps = {
      config: defaultConfig('alice'),
      store: { list: async () => ({ items: [{ kind: 'Domain', metadata: { name: 'bob' }, spec: {} }, { kind: 'Domain', metadata: { name: 'alice' }, spec: {} }] }), get: async () => undefined, delete: async () => false } as unknown as ApiDeps['store'],
      apiToken: TOKEN,
      status: async () => ({ domain: 'alice', listeners: { public: '', internal: '', api: '' }, envoy: { ready: true, adopted: false, restarts: 0 }, xds: { converged: true, proxies: [], recentNacks: [] }, resources: [] }),
      metrics,
      certs: {} as ApiDeps['certs'],
      log: pino({ level: 'silent' }),
      linkCheck: (peer: string) => (peer === 'bob' ? { ok: false, reason: 'the last check failed at TCP connect: ECONNREFUSED', step: 'TCP connect', fix: 'start bob' } : undefined),
    } satisfies ApiDeps;
    app = await buildApi(deps);
    await app.ready();
  });
  after(async () => { await app?.close(); });

  test('/ui/ and its files answer without a token, with a strict CSP and no framing', async () => {
    for (const url of ['/ui/', '/ui/app.js', '/ui/app.css']) {
      const res = await app.inject({ method: 'GET', url });
      assert.equal(res.statusCode, 200, url);
      assert.equal(res.headers['content-security-policy'], CONSOLE_CSP, url);
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-frame-options'], 'DENY');
    }
    assert.match(CONSOLE_CSP, /script-src 'self'(;|$)/, 'scripts from this origin only: no inline, no eval, no other host');
    assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval|https?:|\*/);
    assert.match(CONSOLE_CSP, /frame-ancestors 'none'/);
    assert.match((await app.inject({ method: 'GET', url: '/ui/app.js' })).headers['content-type'] as string, /^text\/javascript/);
    const bare = await app.inject({ method: 'GET', url: '/ui' });
    assert.equal(bare.statusCode, 308);
    assert.equal(bare.headers.location, '/ui/');
  });

  test('only the built files are served: no path reaches the file system', async () => {
    for (const url of ['/ui/index.html', '/ui/..%2fbuild.ts', '/ui/%2e%2e%2f%2e%2e%2fpackage.json', '/ui/src%2fapi.ts', '/ui/nope.js']) {
      assert.equal((await app.inject({ method: 'GET', url })).statusCode, 404, url);
    }
  });

  test('the page has no inline script or style and loads nothing from another host', () => {
    const html = readFileSync(join(CONSOLE_ROOT, 'index.html'), 'utf8');
    for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /\ssrc="\/ui\/[^"]+"/, tag);
    assert.doesNotMatch(html, /<script\b[^>]*>[^<]+<\/script>/, 'no inline script');
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no other host');
    const bundle = readFileSync(join(CONSOLE_ROOT, 'dist', 'app.js'), 'utf8');
    assert.doesNotMatch(bundle, /https?:\/\/(?!www\.w3\.org)[a-z]/i, 'the bundle names no host (the SVG namespace aside)');
  });

  test('the page sends the token only as a bearer header, never in a URL or a cookie', () => {
    const src = readdirSync(join(CONSOLE_ROOT, 'src')).map((f) => readFileSync(join(CONSOLE_ROOT, 'src', f), 'utf8')).join('\n');
    assert.match(src, /authorization: `Bearer \$\{token/);
    assert.match(src, /sessionStorage/);
    assert.doesNotMatch(src, /localStorage|document\.cookie|[?&]token=/);
  });

  test('the REST calls the console makes need the token', async () => {
    for (const [method, url] of [['GET', '/api/v1/partners'], ['GET', '/api/v1/traffic'], ['POST', '/api/v1/diagnose/network/bob']] as const) {
      assert.equal((await app.inject({ method, url })).statusCode, 401, url);
      assert.equal((await app.inject({ method, url, headers: { authorization: 'Bearer wrong-token-0123456789abcd' } })).statusCode, 401, url);
    }
  });

  test('GET /api/v1/partners: token state, last link check, without this domain', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/partners', headers: auth });
    assert.equal(res.statusCode, 200);
    const { items } = res.json() as { items: { domain: string; tokens: { revision: number; heartbeatAgeSeconds: number }[]; linkCheck?: { step: string; fix: string } }[] };
    assert.deepEqual(items.map((i) => i.domain), ['bob']);
    assert.equal(items[0]!.tokens[0]!.revision, 3);
    assert.ok(items[0]!.tokens[0]!.heartbeatAgeSeconds >= 4);
    assert.equal(items[0]!.linkCheck!.step, 'TCP connect');
    assert.doesNotMatch(res.body, /BEGIN|PRIVATE|token-0123/, 'no key, no token value');
  });

  test('diagnose refuses a peer that is not a domain name, naming the field', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/diagnose/network/Bob%0d%0aX', headers: auth });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error, /^peer: /);
    const big = await app.inject({ method: 'POST', url: '/api/v1/diagnose/network/bob', headers: auth, payload: { bytes: 2 ** 40 } });
    assert.equal(big.statusCode, 400);
  });

  test('GET /api/v1/traffic answers the ring (empty without Envoy)', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/v1/traffic', headers: auth });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().intervalMs, 5000);
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/traffic?since=x', headers: auth })).statusCode, 400);
  });
});

describe('console: traffic samples', () => {
  const src = { domain: 'alice', publicListener: { address: '0.0.0.0', port: 1080 } };
  const envoy = [
    'envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="2",direction="outbound",peer_domain="bob",route="alice-bob",envoy_virtual_host="a",envoy_route="r"} 90',
    'envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="5",direction="outbound",peer_domain="bob",route="alice-bob",envoy_virtual_host="b",envoy_route="r"} 10',
    'envoy_vhost_route_upstream_rq_xx{envoy_response_code_class="2",direction="inbound",peer_domain="bob",service="echo",envoy_virtual_host="c",envoy_route="r"} 7',
    'envoy_cluster_upstream_cx_tx_bytes_total{envoy_cluster_name="alice-to-bob-1080"} 1000',
    'envoy_cluster_upstream_cx_rx_bytes_total{envoy_cluster_name="alice-to-bob-1080"} 5000',
    'envoy_cluster_upstream_cx_rx_bytes_total{envoy_cluster_name="service-echo"} 300',
  ].join('\n');

  test('requests and 5xx per partner (outbound) and partner and Service (inbound); bytes per partner or Service', () => {
    assert.deepEqual(trafficSeries(envoy, src), [
      { direction: 'inbound', peer: 'bob', service: 'echo', requests: 7, errors: 0, bytesSent: 0, bytesReceived: 0 },
      { direction: 'inbound', service: 'echo', requests: 0, errors: 0, bytesSent: 0, bytesReceived: 300 },
      { direction: 'outbound', peer: 'bob', requests: 100, errors: 10, bytesSent: 1000, bytesReceived: 5000 },
    ]);
  });

  test('the ring keeps one window of samples, oldest first', () => {
    const ring = new TrafficRing(() => ({ target: undefined, src }), 1000, 3000);
    for (let at = 1; at <= 5; at++) ring.push({ at, series: [] });
    assert.deepEqual(ring.since().map((s) => s.at), [3, 4, 5]);
    assert.deepEqual(ring.since(4).map((s) => s.at), [5]);
    for (const bad of [Number.NaN, 0, 5]) assert.equal(new TrafficRing(() => ({ target: undefined, src }), bad).intervalMs, 5000, `interval ${bad} keeps the default`);
  });

  test('partner views: the partners of the Domains and tokens, never this domain', () => {
    const v = partnerViews('alice', ['alice', 'bob'], [{ peer: 'carol', direction: 'inbound', revision: 1 }], [{ cert: 'partner-bob', notAfter: new Date('2030-01-01T00:00:00Z') }], () => undefined, 0);
    assert.deepEqual(v, [
      { domain: 'bob', tokens: [], caNotAfter: '2030-01-01T00:00:00.000Z' },
      { domain: 'carol', tokens: [{ direction: 'inbound', revision: 1 }] },
    ]);
  });
});

test('console/dist is what console/src builds to (npm run build:console)', { timeout: 60_000 }, async () => {
  const { buildConsole } = await import('../../console/build.ts');
  const built = await buildConsole();
  for (const [name, text] of built) assert.equal(readFileSync(join(ROOT, 'console', 'dist', name), 'utf8') === text, true, `console/dist/${name} is stale: run npm run build:console`);
});
