// bench/envoy-tuning: which Envoy settings pay for themselves on this
// workload (issue 19), measured as interleaved A/B runs of stock Envoy mTLS
// pairs that differ in one setting from the baseline (Envoy's defaults:
// one worker per core, one HTTP/2 link, no access logs):
//   c1         --concurrency 1 (one worker per Envoy)
//   h1-link    the link as a pool of HTTP/1.1 connections (nginx's way)
//   log-json   access logs on both, Ferry's 24 JSON fields
//   log-text   the same fields as one text line
//   no-request-id, stats-off   no x-request-id generated; no stats kept
// and an nginx mTLS pair as the anchor. Each point: HTTP/1.1 and h2 clients
// (h2load, 4 keep-alive connections, fixed 1,000 req/s, 1 KB POSTs), added
// latency over direct and the proxies' CPU per 1,000 requests. Runs are
// interleaved (every variant once per round) so load drifting on the shared
// machine touches all alike; the report shows each variant as a ratio to the
// baseline of the same round. Writes bench/results/envoy-tuning.{json,md}.
// Run: npm run bench -- envoy-tuning   (ENVOY_TUNING_ROUNDS, default 5)
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createDomainCa, issueGatewayCert } from '../certs/authority.ts';
import { freePorts, tempDir } from '../test/support/harness.ts';
import { locateEnvoy } from '../envoy/locate.ts';
import { median, round, runHeader, runTimed, startEnvoyPair, startNginxWith, totalCpu, type EnvoyInstance, type NginxInstance, type PairAccessLog } from './lib.ts';
import { percentile } from './machine.ts';

const ROUNDS = Number(process.env.ENVOY_TUNING_ROUNDS ?? 5);
const REQUESTS = Number(process.env.ENVOY_TUNING_REQUESTS ?? 4000);
const RATE = 1000;
const CONNS = 4;

interface Variant { name: string; what: string; args?: string[]; link?: 'h1' | 'h2'; logs?: PairAccessLog; hcmExtra?: Record<string, unknown>; bootstrapExtra?: Record<string, unknown> }
const VARIANTS: Variant[] = [
  { name: 'baseline', what: 'Envoy defaults: a worker per core, one HTTP/2 link, no access logs' },
  { name: 'c1', what: '--concurrency 1', args: ['--concurrency', '1'] },
  { name: 'h1-link', what: 'the link as an HTTP/1.1 connection pool', link: 'h1' },
  { name: 'log-json', what: 'access logs, Ferry\'s 24 fields as JSON', logs: 'ferry-json' },
  { name: 'log-text', what: 'access logs, the same fields as a text line', logs: 'text' },
  { name: 'no-request-id', what: 'generate_request_id: false (no x-request-id made)', hcmExtra: { generate_request_id: false } },
  { name: 'stats-off', what: 'stats_config rejecting every stat (no counters or histograms kept)', bootstrapExtra: { stats_config: { stats_matcher: { reject_all: true } } } },
];
const PROTOS = ['http1', 'http2'] as const;
type Proto = (typeof PROTOS)[number];

interface Point { p50: number; p99: number; cpuMsPer1k: number }

async function point(work: string, proto: Proto, port: number, pids: number[], requests: number): Promise<Point> {
  const log = join(work, 'h2load.log');
  rmSync(log, { force: true });
  const cpu0 = totalCpu(pids);
  const r = await runTimed('h2load', ['-n', String(requests), '-c', String(CONNS), '-m', '1', '-t', '1', '--rps', String(RATE / CONNS), '--log-file', log,
    ...(proto === 'http1' ? ['--h1'] : []), '-d', join(work, 'body.bin'), `http://127.0.0.1:${port}/lat`], 120_000);
  const cpu1 = totalCpu(pids);
  if (r.code !== 0) throw new Error(`h2load exited ${r.code}: ${r.stderr}${r.stdout}`);
  const rows = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
  const ok = rows.filter((x) => x[1]! >= 200 && x[1]! < 300);
  if (ok.length !== requests) throw new Error(`${requests - ok.length} of ${requests} requests failed through port ${port}`);
  const lat = ok.map((x) => x[2]! / 1000);
  return { p50: percentile(lat, 50), p99: percentile(lat, 99), cpuMsPer1k: ((cpu1 - cpu0) * 1e6) / requests };
}

const portOf = (p: { port: number; h2port?: number }, proto: Proto) => (proto === 'http2' ? p.h2port ?? p.port : p.port);

async function main() {
  const started = Date.now();
  const loadBefore = loadavg().map((x) => round(x, 2));
  const work = tempDir('bench-envoy-tuning');
  chmodSync(work, 0o755);
  writeFileSync(join(work, 'body.bin'), Buffer.alloc(1024, 0x61));
  const stops: (() => Promise<void>)[] = [];
  try {
    const [aliceCa, bobCa] = [createDomainCa('alice'), createDomainCa('bob')];
    const alice = { ...issueGatewayCert(aliceCa, 'alice'), caPem: aliceCa.certPem };
    const bob = { ...issueGatewayCert(bobCa, 'bob', { ipAddresses: ['127.0.0.1'] }), caPem: bobCa.certPem };
    const [origin, origin2, na, na2, nb] = (await freePorts(5)) as [number, number, number, number, number];
    const keepalive = 'keepalive_requests 100000000; keepalive_timeout 3600s;';
    const originNginx: NginxInstance = await startNginxWith('origin', `access_log off; ${keepalive}
  server { listen 127.0.0.1:${origin}; listen 127.0.0.1:${origin2} http2; location / { return 200 "${'r'.repeat(1024)}"; } }`, { waitPorts: [origin, origin2] });
    stops.push(() => originNginx.stop());
    // The anchor: nginx A (plain) -> mTLS, HTTP/1.1 keep-alive pool -> nginx B -> origin, as bench/datapath.ts runs it.
    const upKeep = 'keepalive 256; keepalive_requests 100000000; keepalive_timeout 3600s;';
    const stream = 'proxy_buffering off; proxy_buffer_size 64k; proxy_buffers 8 64k; proxy_busy_buffers_size 128k; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;';
    const nginxB = await startNginxWith('b', `access_log @DIR@/access.log combined buffer=64k flush=1s; ${keepalive}
  upstream origin { server 127.0.0.1:${origin}; ${upKeep} }
  server { listen 127.0.0.1:${nb} ssl http2; ssl_certificate @DIR@/bob.crt; ssl_certificate_key @DIR@/bob.key;
    ssl_client_certificate @DIR@/alice-ca.pem; ssl_verify_client on; location / { proxy_pass http://origin; ${stream} } }`,
    { files: { 'bob.crt': bob.certPem, 'bob.key': bob.keyPem, 'alice-ca.pem': aliceCa.certPem }, waitPorts: [nb] });
    stops.push(() => nginxB.stop());
    const nginxA = await startNginxWith('a', `access_log @DIR@/access.log combined buffer=64k flush=1s; ${keepalive}
  upstream b { server 127.0.0.1:${nb}; ${upKeep} }
  server { listen 127.0.0.1:${na}; listen 127.0.0.1:${na2} http2; location / { proxy_pass https://b; ${stream}
    proxy_ssl_certificate @DIR@/alice.crt; proxy_ssl_certificate_key @DIR@/alice.key; proxy_ssl_trusted_certificate @DIR@/bob-ca.pem;
    proxy_ssl_verify on; proxy_ssl_name bob; proxy_ssl_server_name on; proxy_ssl_session_reuse on; } }`,
    { files: { 'alice.crt': alice.certPem, 'alice.key': alice.keyPem, 'bob-ca.pem': bobCa.certPem }, waitPorts: [na, na2] });
    stops.push(() => nginxA.stop());

    // h2 clients reach the origin and nginx A on their h2c ports (an Envoy listener takes both).
    const pairs: Record<string, { port: number; h2port?: number; pids: number[] }> = { direct: { port: origin, h2port: origin2, pids: [] }, nginx: { port: na, h2port: na2, pids: [...nginxA.pids(), ...nginxB.pids()] } };
    for (const v of VARIANTS) {
      const dir = join(work, v.name);
      mkdirSync(dir);
      const [a, b, adminA, adminB] = (await freePorts(4)) as [number, number, number, number];
      const pair: { a: EnvoyInstance; b: EnvoyInstance } = await startEnvoyPair({
        envoyBin: locateEnvoy().bin, dir, ports: { a, b, adminA, adminB }, origin, grpcOrigin: origin, grpcPrefix: '/grpc-unused/', alice, bob,
        ...(v.args ? { args: v.args } : {}), ...(v.link ? { link: v.link } : {}), ...(v.logs ? { accessLogs: v.logs } : {}),
        ...(v.hcmExtra ? { hcmExtra: v.hcmExtra } : {}), ...(v.bootstrapExtra ? { bootstrapExtra: v.bootstrapExtra } : {}),
      });
      stops.push(async () => { await Promise.all([pair.a.stop(), pair.b.stop()]); });
      pairs[v.name] = { port: a, pids: [pair.a.pid, pair.b.pid] };
    }
    const names = Object.keys(pairs);
    const points: Record<Proto, Record<string, Point[]>> = { http1: {}, http2: {} };
    for (const proto of PROTOS) {
      for (const n of names) {
        await point(work, proto, portOf(pairs[n]!, proto), pairs[n]!.pids, 400); // warm-up: connections, pools
        points[proto][n] = [];
      }
      for (let round_ = 0; round_ < ROUNDS; round_++) {
        for (const n of names) {
          const p = await point(work, proto, portOf(pairs[n]!, proto), pairs[n]!.pids, REQUESTS);
          points[proto][n]!.push(p);
          console.log(`${proto} ${n} round ${round_ + 1}: p50 ${p.p50.toFixed(3)} p99 ${p.p99.toFixed(3)} ms, proxies ${p.cpuMsPer1k.toFixed(0)} CPU ms / 1k req`);
        }
      }
    }
    const results = { ...runHeader(loadBefore, started), rounds: ROUNDS, requests: REQUESTS, rate: RATE, variants: VARIANTS, points };
    writeFileSync(join(import.meta.dirname, 'results', 'envoy-tuning.json'), `${JSON.stringify(results, null, 1)}\n`);
    writeFileSync(join(import.meta.dirname, 'results', 'envoy-tuning.md'), report(results));
    console.log(report(results));
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

type Results = ReturnType<typeof runHeader> & { rounds: number; requests: number; rate: number; variants: Variant[]; points: Record<Proto, Record<string, Point[]>> };

export function report(r: Results): string {
  const m = r.machine;
  const lines = [
    '# Envoy settings, one at a time: interleaved A/B of stock Envoy mTLS pairs',
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Envoy ${m.envoy}; ${m.date}.`,
    `Load average before: ${r.loadavgBefore.join(' / ')}, after: ${r.loadavgAfter.join(' / ')} (the machine is shared; runs are interleaved so drift touches every variant alike). Took ${r.durationS} s.`,
    'Generated by `npm run bench -- envoy-tuning` (bench/envoy-tuning.ts); raw numbers in envoy-tuning.json.',
    '',
    `Each pair: client -> Envoy A (plain) -> mTLS link -> Envoy B -> origin (nginx, 1 KB answers). h2load, ${CONNS} keep-alive connections,`,
    `fixed ${r.rate} req/s, ${r.requests} 1 KB POSTs per run, ${r.rounds} rounds, every variant once per round. "added" = p50 over direct`,
    '(same round); ratios are to the baseline pair in the same round, then the median over rounds.',
    '',
    '| variant | what |',
    '| --- | --- |',
    ...r.variants.map((v) => `| ${v.name} | ${v.what} |`),
    '| nginx | the nginx mTLS pair of bench/datapath (HTTP/1.1 keep-alive link, buffered access logs): the anchor |',
    '',
  ];
  for (const proto of Object.keys(r.points) as Proto[]) {
    const pts = r.points[proto];
    const direct = pts.direct!;
    const base = pts.baseline!;
    lines.push(`## ${proto === 'http1' ? 'HTTP/1.1' : 'HTTP/2'} clients`, '', '| path | p50 ms | added p50 ms | added p50 / baseline | p99 ms | proxies CPU ms per 1k req | CPU / baseline |', '| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const [n, xs] of Object.entries(pts)) {
      const added = xs.map((p, i) => p.p50 - direct[i]!.p50);
      const addedRatio = n === 'direct' ? [] : xs.map((p, i) => (p.p50 - direct[i]!.p50) / (base[i]!.p50 - direct[i]!.p50));
      const cpuRatio = n === 'direct' ? [] : xs.map((p, i) => p.cpuMsPer1k / base[i]!.cpuMsPer1k);
      lines.push(`| ${n} | ${round(median(xs.map((p) => p.p50)), 3)} | ${n === 'direct' ? '' : round(median(added), 3)} | ${n === 'direct' ? '' : round(median(addedRatio), 2)} | ${round(median(xs.map((p) => p.p99)), 3)} | ${n === 'direct' ? '' : round(median(xs.map((p) => p.cpuMsPer1k)), 0)} | ${n === 'direct' ? '' : round(median(cpuRatio), 2)} |`);
    }
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

await main();
