// A real Prometheus scrapes two real Ferry nodes (one target each: /metrics on
// the API port) while alice calls bob's echo service with known bodies. PromQL
// must see those calls per peer on both sides: alice's outbound route and
// bob's inbound service. The exposition passes `promtool check metrics`, and
// every metric the shipped rules and dashboard use is in it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { ROOT, TestNode, curl, docs, freePorts, partnerDomain, routeTo, service, tempDir, waitFor } from '../support/harness.ts';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const missing = [PROMETHEUS, PROMTOOL].filter((p) => !existsSync(p));
const skip = missing.length ? `${missing.join(' and ')} not installed (Debian package prometheus: scripts/debian-tools.sh)` : false;

/** The ferry_* metric names a PromQL text (rules, dashboard) refers to. */
export function metricNames(promql: string): string[] {
  return [...new Set(promql.match(/\bferry_[a-z0-9_]+/g) ?? [])];
}

describe('Prometheus scrapes two nodes', { skip }, () => {
  let alice: TestNode, bob: TestNode, echo: Echo;
  let prometheus: ChildProcess | undefined;
  let promDir: string;
  let promPort: number;

  const query = async (promql: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> => {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`${promql}: ${body.error}`);
    return body.data.result;
  };
  /** A single-valued query's value (0 when it returns nothing). */
  const scalar = async (promql: string): Promise<number> => {
    const r = await query(promql);
    assert.ok(r.length <= 1, `${promql} returned ${r.length} series`);
    return r.length ? Number(r[0]!.value[1]) : 0;
  };
  const target = (n: TestNode) => `127.0.0.1:${n.ports.api}`;

  before(async () => {
    // Link checks once an hour: the only traffic on alice's route is the test's (and the first check).
    const env = { FERRY_PROBE_MS: '3600000' };
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(env), bob.start(env)]);
    await bob.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' })));
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));

    promDir = tempDir('prometheus');
    [promPort] = (await freePorts(1)) as [number];
    writeFileSync(join(promDir, 'prometheus.yml'), `global: { scrape_interval: 1s, scrape_timeout: 900ms, evaluation_interval: 1s }
rule_files: [${join(ROOT, 'deploy', 'prometheus', 'ferry-rules.yaml')}]
scrape_configs:
  - job_name: ferry
    static_configs:
      - targets: ['${target(alice)}']
        labels: { domain: alice }
      - targets: ['${target(bob)}']
        labels: { domain: bob }
`);
    const out = openSync(join(promDir, 'prometheus.log'), 'a');
    prometheus = spawn(PROMETHEUS, [
      `--config.file=${join(promDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn',
    ], { stdio: ['ignore', out, out] });
    await waitFor('Prometheus /-/ready', async () => ((await fetch(`http://127.0.0.1:${promPort}/-/ready`)).ok ? true : undefined));
    await waitFor('both targets up', async () => ((await query('up{job="ferry"} == 1')).length === 2 ? true : undefined));
  });

  after(async () => {
    if (prometheus?.pid && prometheus.exitCode === null) {
      const exited = new Promise((r) => prometheus!.once('exit', r));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus?.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all([alice?.stop(), bob?.stop()]);
    await echo?.close();
    alice?.cleanup();
    bob?.cleanup();
    if (promDir && !process.env.FERRY_KEEP_TEST_HOMES) rmSync(promDir, { recursive: true, force: true });
  });

  test('per-peer request counts and bytes of known traffic, on alice outbound and bob inbound', async () => {
    const a = `instance="${target(alice)}"`;
    const b = `instance="${target(bob)}"`;
    // Wait for alice's first link check (it goes through the route too), then take the baseline.
    await waitFor('alice-bob route ready in Prometheus', async () => ((await scalar(`ferry_route_ready{${a}, route="alice-bob", peer_domain="bob"}`)) === 1 ? true : undefined));
    const outRequests = `sum(ferry_envoy_requests_total{${a}, direction="outbound", peer_domain="bob", route="alice-bob"})`;
    const outSent = `sum(ferry_envoy_upstream_bytes_sent_total{${a}, direction="outbound", peer_domain="bob"})`;
    const inRequests = `sum(ferry_envoy_requests_total{${b}, direction="inbound", peer_domain="alice", service="echo"})`;
    const inSent = `sum(ferry_envoy_upstream_bytes_sent_total{${b}, direction="inbound", service="echo"})`;
    const inReceived = `sum(ferry_envoy_downstream_bytes_received_total{${b}, listener="public", peer_domain="alice"})`;
    const base = { outRequests: await scalar(outRequests), outSent: await scalar(outSent), inRequests: await scalar(inRequests), inSent: await scalar(inSent), inReceived: await scalar(inReceived) };
    assert.equal(base.inRequests, 0, 'nothing called bob\'s echo yet');

    const sizes = [10_000, 20_000, 30_000, 40_000, 50_000];
    for (const size of sizes) {
      const r = await curl(['--http1.1', '-H', 'Host: echo.bob.svc', '--data-binary', 'x'.repeat(size), `http://127.0.0.1:${alice.ports.internal}/upload`]);
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { bodyBytes: number }).bodyBytes, size);
    }
    // A refused call: bob answers 404 (unknown service), counted as 4xx on alice's route.
    const refused = await curl(['-H', 'Host: nope.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(refused.status, 404);
    const n = sizes.length;
    const body = sizes.reduce((x, y) => x + y, 0);

    await waitFor('the calls in Prometheus', async () =>
      (await scalar(outRequests)) >= base.outRequests + n + 1 && (await scalar(inRequests)) >= n ? true : undefined);
    assert.equal(await scalar(outRequests) - base.outRequests, n + 1, 'alice outbound: every call to bob, counted once');
    assert.equal(await scalar(`sum(ferry_envoy_requests_total{${a}, direction="outbound", peer_domain="bob", code_class="4xx"})`), 1, 'alice outbound: the refused call is a 4xx');
    assert.equal(await scalar(inRequests), n, 'bob inbound: the calls from alice to echo');
    const perPeer = await query(`sum by (peer_domain) (ferry_envoy_requests_total{${b}, direction="inbound", service="echo", code_class="2xx"})`);
    assert.deepEqual(perPeer.map((s) => [s.metric.peer_domain, Number(s.value[1])]), [['alice', n]]);

    // Bytes are counted on connections (request bodies plus HTTP headers and framing, TLS excluded): at least the
    // bodies, and less than 1 KiB per call on top.
    await waitFor('the bytes in Prometheus', async () => ((await scalar(inSent)) - base.inSent >= body && (await scalar(outSent)) - base.outSent >= body ? true : undefined));
    const within = (what: string, got: number, calls: number) => {
      assert.ok(got >= body && got < body + calls * 1024, `${what}: ${got} bytes for ${body} bytes of bodies in ${calls} calls`);
    };
    within('alice -> bob gateway (outbound, peer_domain=bob)', await scalar(outSent) - base.outSent, n + 1);
    within('bob -> echo service (inbound, service=echo)', await scalar(inSent) - base.inSent, n);
    within('bob public listener, received from alice (peer_domain=alice: alice\'s own filter chain)', await scalar(inReceived) - base.inReceived, n + 1);

    // Latency: every call to echo is in the histogram once Envoy flushed it (every 5 s).
    await waitFor('latency histogram', async () => ((await scalar(`sum(ferry_envoy_request_duration_seconds_count{${b}, direction="inbound", peer_domain="alice", service="echo"})`)) >= n ? true : undefined), 20_000);
    const p99 = await scalar(`histogram_quantile(0.99, sum by (le) (ferry_envoy_request_duration_seconds_bucket{${b}, direction="inbound", service="echo"}))`);
    assert.ok(p99 > 0 && Number.isFinite(p99), `p99 ${p99}`);
    assert.equal(await scalar(`ferry_envoy_up{${a}}`), 1);
    assert.equal(await scalar(`sum(ferry_xds_connected_proxies{${a}})`), 1);
  });

  test('promtool check metrics passes on /metrics', async () => {
    for (const n of [alice, bob]) {
      const text = await (await fetch(`http://${target(n)}/metrics`)).text();
      const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(r.status, 0, `${n.domain}: ${r.stdout}${r.stderr}`);
      assert.doesNotMatch(text, /^[a-z_]*\.[a-z_.]*[ {]/m, 'no dots in metric names');
    }
  });

  test('every metric the shipped rules and dashboard use is in the real exposition', async () => {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/label/__name__/values`);
    const scraped = new Set(((await res.json()) as { data: string[] }).data);
    const used = [
      ...metricNames(readFileSync(join(ROOT, 'deploy', 'prometheus', 'ferry-rules.yaml'), 'utf8')),
      ...metricNames(readFileSync(join(ROOT, 'deploy', 'grafana', 'ferry-dashboard.json'), 'utf8')),
    ];
    assert.ok(used.length > 10, `found ${used.length} metric names`);
    assert.deepEqual([...new Set(used)].filter((m) => !scraped.has(m)), [], 'metrics used but never scraped');
  });
});
