// bench/xds: the control plane with a real Envoy at 1, 1k and 10k Services
// (each Service = one cluster + one public route per allowed partner + one
// local route), and with 1,000 simulated ADS clients (delta, then SotW).
// Writes bench/results/xds.{json,md}. Run: npm run bench -- xds
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { request } from 'node:http';
import { startHttpEcho } from '../examples/echo-services.ts';
import { TestNode, waitFor } from '../test/support/harness.ts';
import { DeltaClient, SotwClient } from '../test/support/ads-client.ts';
import { TYPE } from '../control-plane/xds/envoy-types.ts';
import { machine, percentile } from './machine.ts';
import { rssMb as rssOf } from '../test/support/harness.ts';

/** RSS in whole MB, or undefined when the process is gone. */
const rssMb = (pid: number | undefined) => {
  try {
    return pid ? Math.round(rssOf(pid)) : undefined;
  } catch {
    return undefined;
  }
};

const RESULTS = join(import.meta.dirname, 'results', 'xds.json');
const SIZES = (process.env.XDS_BENCH_SIZES ?? '1,1000,10000').split(',').map(Number);
const CHANGE_SAMPLES = Number(process.env.XDS_BENCH_SAMPLES ?? 15);
const CLIENTS = Number(process.env.XDS_BENCH_CLIENTS ?? 1000);
const CLIENT_SERVICES = Number(process.env.XDS_BENCH_CLIENT_SERVICES ?? 1000);
/** Which parts to run: envoy (real Envoy at each size), clients (simulated proxies). Results of a skipped part are kept from the last run. */
const PHASES = new Set((process.env.XDS_BENCH_PHASES ?? 'envoy,clients').split(','));

/** How many engines (echo servers, each on an address of its own) the Services are spread over. */
const BACKENDS = Number(process.env.XDS_BENCH_BACKENDS ?? 8);
type Backend = { host: string; port: number };
let backends: Backend[] = [];
/** The i-th Service's backend: Services on one backend share its cluster (translate/resources-to-ir.ts). */
const serviceDoc = (name: string, i: number) => {
  const b = backends[i % backends.length]!;
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, annotations: { 'kuscia.secretflow/access-domain': 'bob' } },
    spec: { type: 'ExternalName', externalName: b.host, ports: [{ port: b.port }] },
  };
};

function get(port: number, host: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host }, agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', () => resolve(0));
    req.end();
  });
}

async function applyAll(node: TestNode, docs: unknown[]): Promise<void> {
  const res = await node.api('/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resources: docs }) });
  if (res.status !== 200) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
}

/** Nodes to stop if the run is interrupted (they would otherwise outlive it). */
const nodes: TestNode[] = [];
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.all(nodes.map((n) => n.stop())).finally(() => process.exit(130));
  });
}

async function main() {
  const results: Record<string, unknown> = { machine: machine(), definitions: {
    route: `a Service exposed to one partner: its own public scope and RouteConfiguration (1 virtual host: 1 route + refusals), 1 local virtual host on the internal listener; the Services are spread over ${BACKENDS} echo servers (127.0.0.1-${BACKENDS}), so ${BACKENDS} shared clusters`,
    simulatedClients: `clients follow Envoy's delta or SotW state machine, subscribe to clusters and listeners (wildcard), ACK every response; 10 shared gRPC channels; on a node with ${CLIENT_SERVICES} Services`,
    changeLatency: 'POST /api/v1/apply of one new Service until a request to it through Envoy answers 200 (polled back to back)',
    initialSync: 'real Envoy SIGKILLed; time until the restarted Envoy has acknowledged everything (/readyz), includes the 250 ms restart back-off',
    clientsConverge: 'one new Service applied until every simulated proxy and the real Envoy acknowledged it (/readyz)',
  } };
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, 'utf8')) as Record<string, unknown>) : {};
  const echoes = await Promise.all(Array.from({ length: BACKENDS }, (_, i) => startHttpEcho('bench', 0, `127.0.0.${i + 1}`)));
  backends = echoes.map((e, i) => ({ host: `127.0.0.${i + 1}`, port: e.port }));
  const echo = { port: 0, close: () => Promise.all(echoes.map((e) => e.close())) };
  if (PHASES.has('envoy')) results.withRealEnvoy = await realEnvoyPhase(echo.port);
  else results.withRealEnvoy = previous.withRealEnvoy;
  if (PHASES.has('clients')) results.simulatedClients = await clientsPhase(echo.port);
  else results.simulatedClients = previous.simulatedClients;
  if (!PHASES.has('envoy') && !PHASES.has('clients') && previous.machine) results.machine = previous.machine; // report only
  await echo.close();
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(RESULTS.replace(/json$/, 'md'), report(results));
  console.log(`wrote ${RESULTS} and xds.md`);
}

async function realEnvoyPhase(echoPort: number): Promise<Record<string, unknown>[]> {
  const echo = { port: echoPort };
  const node = await TestNode.init('alice');
  nodes.push(node);
  const bobCa = (await TestNode.init('bob')).caBase64();
  try {
    await node.start();
    await applyAll(node, [{ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner', cert: bobCa } }]);
    let existing = 0;
    const bySize: Record<string, unknown>[] = [];
    for (const size of SIZES) {
      const docs = [];
      for (let i = existing; i < size; i++) docs.push(serviceDoc(`svc${i}`, i));
      const t0 = performance.now();
      if (docs.length) await applyAll(node, docs);
      await node.waitReady(120_000);
      const applyMs = performance.now() - t0;
      existing = size;

      const samples: number[] = [];
      for (let k = 0; k < CHANGE_SAMPLES; k++) {
        const name = `probe-${size}-${k}`;
        const start = performance.now();
        await applyAll(node, [serviceDoc(name, k)]);
        // Back-to-back polling: the measurement's resolution is one request (~1 ms).
        while ((await get(node.ports.internal, `${name}.alice.svc`)) !== 200) {
          if (performance.now() - start > 60_000) throw new Error(`${name} not serving after 60 s`);
        }
        samples.push(performance.now() - start);
        existing++;
      }
      const status = await node.status();
      let initialSyncMs: number | undefined;
      if (size === Math.max(...SIZES)) {
        const t = performance.now();
        process.kill(status.envoy.pid!, 'SIGKILL');
        await waitFor('new Envoy', async () => { const s = await node.status(); return s.envoy.pid && s.envoy.pid !== status.envoy.pid ? true : undefined; }, 60_000);
        await node.waitReady(120_000);
        initialSyncMs = performance.now() - t;
      }
      const row = {
        services: size,
        applyAllToAckedMs: Math.round(applyMs),
        changeP50Ms: Math.round(percentile(samples, 50)),
        changeP99Ms: Math.round(percentile(samples, 99)),
        ...(initialSyncMs ? { initialSyncMs: Math.round(initialSyncMs) } : {}),
        controlPlaneRssMb: rssMb(node.pid),
        envoyRssMb: rssMb((await node.status()).envoy.pid),
        // The machine is shared: the 1-minute load average when the row was taken says how noisy it is.
        load1: Number(loadavg()[0]!.toFixed(2)),
      };
      console.log(JSON.stringify(row));
      bySize.push(row);
    }
    return bySize;
  } finally {
    await node.stop();
    node.cleanup();
  }
}

/** Simulated proxies, on a fresh node holding CLIENT_SERVICES Services (and its real Envoy). */
async function clientsPhase(echoPort: number): Promise<Record<string, unknown>[]> {
  const echo = { port: echoPort };
  const clientNode = await TestNode.init('carol');
  nodes.push(clientNode);
  try {
    await clientNode.start();
    await applyAll(clientNode, Array.from({ length: CLIENT_SERVICES }, (_, i) => serviceDoc(`svc${i}`, i)));
    await clientNode.waitReady(120_000);
    let existing = CLIENT_SERVICES;
    const node = clientNode;
    const clientRuns: Record<string, unknown>[] = [];
    for (const Variant of [DeltaClient, SotwClient]) {
      const channels = Array.from({ length: 10 }, () => new grpc.Client(`127.0.0.1:${node.ports.xds}`, grpc.credentials.createInsecure()));
      const clients = Array.from({ length: CLIENTS }, (_, i) => {
        const c = new Variant(channels[i % channels.length]!, `sim-${i}`);
        c.subscribe(TYPE.cluster);
        c.subscribe(TYPE.listener);
        return c;
      });
      const t0 = performance.now();
      // Every simulated proxy connected, subscribed and acknowledged (plus the real Envoy).
      await waitFor('all simulated proxies in sync', async () => {
        const s = (await node.status()) as unknown as { xds: { converged: boolean; proxies: unknown[] } };
        return s.xds.converged && s.xds.proxies.length >= CLIENTS + 1 ? true : undefined;
      }, 600_000);
      const syncMs = performance.now() - t0;
      const samples: number[] = [];
      for (let k = 0; k < 5; k++) {
        const start = performance.now();
        await applyAll(node, [serviceDoc(`sim-${Variant === DeltaClient ? "delta" : "sotw"}-${k}`, k)]);
        await node.waitReady(120_000);
        samples.push(performance.now() - start);
      }
      const row = {
        variant: Variant === DeltaClient ? 'delta' : 'sotw',
        clients: CLIENTS,
        services: existing,
        initialSyncAllMs: Math.round(syncMs),
        changeAllAckedP50Ms: Math.round(percentile(samples, 50)),
        changeAllAckedMaxMs: Math.round(Math.max(...samples)),
        controlPlaneRssMb: rssMb(node.pid),
        load1: Number(loadavg()[0]!.toFixed(2)),
      };
      console.log(JSON.stringify(row));
      clientRuns.push(row);
      for (const c of clients) c.close();
      for (const ch of channels) ch.close();
      existing += 5;
    }
    return clientRuns;
  } finally {
    await clientNode.stop();
    clientNode.cleanup();
  }
}

type Row = Record<string, number | string | undefined>;

/** The Markdown report: every number next to its goal. */
function report(r: Record<string, unknown>): string {
  const m = r.machine as Record<string, unknown>;
  const sizes = r.withRealEnvoy as Row[];
  const clients = r.simulatedClients as Row[];
  const biggest = sizes.at(-1)!;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const lines = [
    '# bench/xds results',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}; Node ${m.node}; Envoy ${m.envoy}; ${m.date}.`,
    'Generated by `npm run bench -- xds` (bench/xds.ts); raw numbers in xds.json.',
    '',
    '## With a real Envoy',
    '',
    '| Services | apply all -> acked (ms) | one change p50 (ms) | one change p99 (ms) | initial sync (ms) | control plane RSS (MB) | Envoy RSS (MB) | load (1 min) |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...sizes.map((s) => `| ${s.services} | ${s.applyAllToAckedMs} | ${s.changeP50Ms} | ${s.changeP99Ms} | ${s.initialSyncMs ?? ''} | ${s.controlPlaneRssMb} | ${s.envoyRssMb} | ${s.load1 ?? ''} |`),
    '',
    '## Simulated ADS clients',
    '',
    '| variant | clients | Services | initial sync of all (ms) | one change, all acked p50 (ms) | max (ms) | control plane RSS (MB) | load (1 min) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...clients.map((c) => `| ${c.variant} | ${c.clients} | ${c.services} | ${c.initialSyncAllMs} | ${c.changeAllAckedP50Ms} | ${c.changeAllAckedMaxMs} | ${c.controlPlaneRssMb} | ${c.load1 ?? ''} |`),
    '',
    '## Goals',
    '',
    '| goal | measured | verdict |',
    '| --- | --- | --- |',
    `| one route change p50 <= 50 ms with 10k routes | ${biggest.changeP50Ms} ms at ${biggest.services} Services | ${verdict(Number(biggest.changeP50Ms) <= 50)} |`,
    `| 10k-route initial sync <= 2 s | ${biggest.initialSyncMs} ms | ${verdict(Number(biggest.initialSyncMs) <= 2000)} |`,
    ...clients.map((c) => `| ${c.clients} clients all ACK within 1 s (${c.variant}) | ${c.changeAllAckedP50Ms} ms p50, ${c.changeAllAckedMaxMs} ms max | ${verdict(Number(c.changeAllAckedMaxMs) <= 1000)} |`),
    `| RSS <= 200 MB at 10k routes and 1,000 clients | ${Math.max(Number(biggest.controlPlaneRssMb), ...clients.map((c) => Number(c.controlPlaneRssMb)))} MB (largest seen) | ${verdict(Math.max(Number(biggest.controlPlaneRssMb), ...clients.map((c) => Number(c.controlPlaneRssMb))) <= 200)} |`,
    '',
    '## Why the goals are missed, and what would meet them',
    '',
    '- **One change at 10k Services (~1 s, goal 50 ms).** The control plane\'s share is about 100-150 ms at 10k (translation',
    '  and encoding are memoized per stored object, so only the changed Service is re-encoded; what remains is walking',
    '  10k entries, concatenating the cached virtual hosts and hashing the result). Most of the time is Envoy: RDS is not',
    '  incremental, so each change makes Envoy rebuild the `public` and `internal` RouteConfigurations, 10k virtual hosts',
    '  each. Meeting 50 ms needs per-Service route configurations: Scoped RDS keyed by `Host` on the public listener',
    '  (one small RouteConfiguration per Service, delta-updated), and the same for local calls on the internal listener.',
    '- **Initial sync of 10k (~7 s, goal 2 s).** Envoy creating 10k clusters dominates (its CDS update of 1k clusters',
    '  takes ~0.7 s here); the control plane\'s first full encoding takes ~2 s. A Service per cluster is the cost driver;',
    '  sharing one cluster per backend address (many Services point at one host:port) would cut it.',
    '- **1,000 SotW clients (~15 s, goal 1 s).** State of the world must re-send every cluster on every change: 1,000',
    '  clusters to 1,000 clients is ~150 MB per change. Delta meets the goal (below 1 s); Ferry\'s own Envoys use delta,',
    '  SotW is served for compatibility.',
    '- **RSS (~770 MB with 1,000 clients, goal 200 MB).** The idle control plane is ~160 MB (Node with type stripping,',
    '  protobufjs holding 488 Envoy protos, Fastify, gRPC); 1,000 delta streams add per-stream, per-resource version',
    '  state (1M map entries) and in-flight response buffers. Compact per-stream version vectors and loading only the',
    '  protos in use would be the first steps.',
    '',
    '## Definitions',
    '',
    ...Object.entries(r.definitions as Record<string, string>).map(([k, v]) => `- ${k}: ${v}`),
    '',
  ];
  return lines.join('\n');
}

await main();
process.exit(0);
