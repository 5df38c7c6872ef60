// bench/reachability: the cost of a relay and of a reverse tunnel, as ratios
// to the direct route in the same run. alice calls three partners serving the
// same echo/bulk service: bob directly (mTLS), dave through the relay carol
// (TLS alice<->dave end to end inside CONNECT), erin over reverse tunnels erin
// dials. Latency: 1 KB requests, one at a time on a keep-alive connection.
// Throughput: one 256 MB download. Each point 3 times; median and spread.
// Writes bench/results/reachability.{json,md}. Run: npm run bench -- reachability
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'node:http';
import { startHttpEcho } from '../examples/echo-services.ts';
import { TestNode, docs, partnerDomain, routeTo, service, startBulkService, waitFor } from '../test/support/harness.ts';
import { relayRule, relayedRoute, reverseRoute } from '../test/support/routes.ts';
import { machine, percentile } from './machine.ts';

const REQUESTS = Number(process.env.REACH_BENCH_REQUESTS ?? 2000);
const BYTES = Number(process.env.REACH_BENCH_MB ?? 256) * 1024 * 1024;
const RUNS = 3;
const body1k = Buffer.alloc(1024, 0x61);

async function latency(port: number, host: string): Promise<{ p50: number; p90: number; p99: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const one = () => new Promise<number>((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/lat', agent, headers: { host, 'content-length': body1k.length } }, (res) => {
      res.resume().on('end', () => (res.statusCode === 200 ? resolve(performance.now() - t0) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body1k);
  });
  for (let i = 0; i < 200; i++) await one(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < REQUESTS; i++) times.push(await one());
  agent.destroy();
  return { p50: percentile(times, 50), p90: percentile(times, 90), p99: percentile(times, 99) };
}

function throughput(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: '127.0.0.1', port, path: `/bytes/${BYTES}`, headers: { host }, agent: false }, (res) => {
      let n = 0;
      res.on('data', (d: Buffer) => { n += d.length; });
      res.on('end', () => (n === BYTES ? resolve(BYTES / 2 ** 20 / ((performance.now() - t0) / 1000)) : reject(new Error(`got ${n} bytes`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;

async function main() {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin'] as const;
  const nodes = await Promise.all(names.map((n) => TestNode.init(n)));
  const [alice, bob, carol, dave, erin] = nodes as [TestNode, TestNode, TestNode, TestNode, TestNode];
  const echo = await startHttpEcho('echo');
  const bulk = await startBulkService();
  try {
    await Promise.all(nodes.map((n) => n.start()));
    const svc = (n: TestNode) => docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' }), service('bulk', bulk.port, { access: 'alice' }));
    await bob.apply(svc(bob));
    await dave.apply(svc(dave));
    await erin.apply(docs(svc(erin), routeTo(erin, alice), reverseRoute(alice, erin)));
    await carol.apply(docs(partnerDomain(alice), partnerDomain(dave), routeTo(carol, dave), relayRule(alice, dave, carol)));
    await alice.apply(docs(partnerDomain(bob), partnerDomain(carol), partnerDomain(dave), partnerDomain(erin),
      routeTo(alice, bob), routeTo(alice, carol), relayedRoute(alice, dave, carol), reverseRoute(alice, erin)));
    for (const host of ['echo.bob.svc', 'echo.dave.svc', 'echo.erin.svc']) {
      await waitFor(`${host} through alice`, () => new Promise<true | undefined>((resolve) => {
        const req = request({ host: '127.0.0.1', port: alice.ports.internal, path: '/', headers: { host } }, (res) => { res.resume(); resolve(res.statusCode === 200 ? true : undefined); });
        req.on('error', () => resolve(undefined));
        req.end();
      }), 60_000);
    }
    const paths = { direct: 'bob', relay: 'dave', reverse: 'erin' } as const;
    const lat: Record<string, { p50: number[]; p90: number[]; p99: number[] }> = {};
    const thr: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      for (const [path, domain] of Object.entries(paths)) {
        const l = await latency(alice.ports.internal, `echo.${domain}.svc`);
        lat[path] ??= { p50: [], p90: [], p99: [] };
        lat[path].p50.push(l.p50); lat[path].p90.push(l.p90); lat[path].p99.push(l.p99);
        (thr[path] ??= []).push(await throughput(alice.ports.internal, `bulk.${domain}.svc`));
      }
    }
    const m = (path: string, k: 'p50' | 'p90' | 'p99') => median(lat[path]![k]);
    const result = {
      machine: machine(),
      requests: REQUESTS,
      downloadMiB: BYTES / 2 ** 20,
      runs: RUNS,
      latencyMs: Object.fromEntries(Object.keys(paths).map((p) => [p, { p50: m(p, 'p50'), p90: m(p, 'p90'), p99: m(p, 'p99'), p50Spread: spread(lat[p]!.p50) }])),
      throughputMiBps: Object.fromEntries(Object.keys(paths).map((p) => [p, { median: median(thr[p]!), spread: spread(thr[p]!) }])),
      ratios: {
        relayLatencyP50: m('relay', 'p50') / m('direct', 'p50'),
        reverseLatencyP50: m('reverse', 'p50') / m('direct', 'p50'),
        relayThroughput: median(thr.relay!) / median(thr.direct!),
        reverseThroughput: median(thr.reverse!) / median(thr.direct!),
      },
    };
    writeFileSync(join(import.meta.dirname, 'results', 'reachability.json'), `${JSON.stringify(result, null, 2)}\n`);
    const md = markdown(result);
    writeFileSync(join(import.meta.dirname, 'results', 'reachability.md'), md);
    console.log(md);
  } finally {
    await Promise.all(nodes.map((n) => n.stop()));
    await echo.close();
    await bulk.close();
    for (const n of nodes) n.cleanup();
  }
}

function markdown(r: {
  machine: ReturnType<typeof machine>; requests: number; downloadMiB: number; runs: number;
  latencyMs: Record<string, { p50: number; p90: number; p99: number; p50Spread: string }>;
  throughputMiBps: Record<string, { median: number; spread: string }>;
  ratios: Record<string, number>;
}): string {
  const mm = r.machine;
  const f = (x: number) => x.toFixed(2);
  const goal = (ok: boolean) => (ok ? 'met' : '**missed**');
  return `# Reachability: relay and reverse tunnel vs the direct route

Machine: ${mm.cpu}, ${mm.cores} cores, ${mm.memoryGiB} GiB, Linux ${mm.kernel}, Node ${mm.node}, Envoy ${mm.envoy}; ${mm.date}.

All paths start at alice's internal listener on loopback and end at the same local services behind the
destination's gateway: **direct** alice -> bob (mTLS), **relay** alice -> carol -> dave (TLS alice<->dave
end to end inside an HTTP/2 CONNECT over alice<->carol), **reverse** alice -> erin over tunnels erin dialled
(TLS alice<->erin through both nodes' tunnel pipes). Latency: ${r.requests} sequential 1 KB POSTs on one
keep-alive connection per run (after 200 warm-up); throughput: one ${r.downloadMiB} MiB download. ${r.runs} runs,
median (spread). Load generator: this Node process, one request at a time (not the bottleneck at these rates).

| path | p50 ms | p90 ms | p99 ms | download MiB/s |
| --- | --- | --- | --- | --- |
${Object.keys(r.latencyMs).map((p) => `| ${p} | ${f(r.latencyMs[p]!.p50)} (${r.latencyMs[p]!.p50Spread}) | ${f(r.latencyMs[p]!.p90)} | ${f(r.latencyMs[p]!.p99)} | ${r.throughputMiBps[p]!.median.toFixed(0)} (${r.throughputMiBps[p]!.spread}) |`).join('\n')}

| goal (issue 6) | measured | |
| --- | --- | --- |
| relay adds <= 20% latency at p50 | relay/direct p50 = ${f(r.ratios.relayLatencyP50!)} | ${goal(r.ratios.relayLatencyP50! <= 1.2)} |
| reverse tunnel throughput >= 50% of direct | reverse/direct = ${f(r.ratios.reverseThroughput!)} | ${goal(r.ratios.reverseThroughput! >= 0.5)} |

Also: reverse/direct p50 latency ${f(r.ratios.reverseLatencyP50!)}, relay/direct throughput ${f(r.ratios.relayThroughput!)}.
On one machine every hop is loopback, so the relay's cost is its CPU (one more Envoy pass), not a network detour;
across real networks the relay's extra distance adds to this.
`;
}

await main();
