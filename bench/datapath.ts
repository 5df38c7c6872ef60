// bench/datapath: Ferry's data path side by side with (a) a direct link and
// (c) an equivalent nginx mTLS reverse-proxy pair, in the same run:
//   latency    1 KB POSTs at a fixed 1,000 req/s over keep-alive (HTTP/1.1, h2c, gRPC unary), h2load
//   max rate   the highest HTTP/1.1 rate with p99 <= 10 ms (h2load --rps, 16 connections)
//   throughput one 1 GiB download and 16 parallel 64 MiB downloads (curl): direct TCP, direct TLS, Ferry, nginx pair
//   footprint  RSS of an idle node (control plane + Envoy) and its peak under the load above
// Every path ends at the same origin: a Debian nginx (HTTP) or the gRPC echo of examples/.
// Writes bench/results/datapath.{json,md}. Run: npm run bench -- datapath
import { chmodSync, readFileSync, rmSync, truncateSync, writeFileSync, closeSync, openSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createDomainCa, issueGatewayCert } from '../certs/authority.ts';
import { GRPC_ECHO_METHOD, grpcEchoCall, startGrpcEcho } from '../examples/echo-services.ts';
import { TestNode, docs, freePorts, partnerDomain, routeTo, service, tempDir } from '../test/support/harness.ts';
import { locateEnvoy } from '../envoy/locate.ts';
import { startEnvoyPair, type EnvoyInstance, median, pss, round, rss, rssSampler, runTimed, spread, startNginxWith, totalCpu, type NginxInstance } from './lib.ts';
import { machine, percentile } from './machine.ts';

const RESULTS = join(import.meta.dirname, 'results', 'datapath.json');
const RUNS = Number(process.env.DATAPATH_RUNS ?? 3);
/** Requests per latency point (at RATE req/s: LAT_REQUESTS / RATE seconds). */
const LAT_REQUESTS = Number(process.env.DATAPATH_LAT_REQUESTS ?? 5000);
const RATE = 1000;
const LAT_CONNS = 4;
const MAXRATE_CONNS = 16;
/** The search stops here (the generator's own limit is well above it). */
const MAXRATE_CAP = 60_000;
const MAXRATE_STEP_S = Number(process.env.DATAPATH_STEP_S ?? 3);
const BIG = Number(process.env.DATAPATH_BIG_MIB ?? 1024) * 2 ** 20;
const PARALLEL = 16;
/**
 * nginx's proxy_buffer_size (and proxy_buffers) in the pair: with buffering off it is the size of each read
 * from upstream. nginx's default (one page, 4k) held the pair to ~400 MiB/s in a trial here, 64k to ~700:
 * the pair is measured tuned. DATAPATH_NGINX_BUFFER='' measures nginx's default.
 */
const NGINX_BUFFER = process.env.DATAPATH_NGINX_BUFFER ?? '64k';
const SMALL = BIG / PARALLEL;
const PATHS = ['direct', 'envoy', 'ferry', 'nginx'] as const;
type Path = (typeof PATHS)[number];
const PROTOS = ['http1', 'http2', 'grpc'] as const;
type Proto = (typeof PROTOS)[number];

const reply1k = 'r'.repeat(1024);

interface Setup {
  alice: TestNode;
  bob: TestNode;
  origin: NginxInstance;
  nginxA: NginxInstance;
  nginxB: NginxInstance;
  envoyPair: { a: EnvoyInstance; b: EnvoyInstance };
  ports: Record<'o1' | 'o2' | 'o3' | 'a1' | 'a2' | 'b' | 'grpc' | 'ea', number>;
  work: string;
  bobCaFile: string;
  envoys: { alice: number; bob: number };
}

/** h2load target for a protocol and path: URI plus extra arguments. */
function target(s: Setup, proto: Proto, path: Path): string[] {
  const p = s.ports;
  const grpc = proto === 'grpc';
  const urlPath = grpc ? GRPC_ECHO_METHOD : '/lat';
  const h1 = proto === 'http1' ? ['--h1'] : [];
  const grpcHeaders = grpc ? ['-H', 'content-type: application/grpc', '-H', 'te: trailers', '-d', join(s.work, 'grpc.bin')] : ['-d', join(s.work, 'body.bin')];
  if (path === 'direct') return [...h1, ...grpcHeaders, `http://127.0.0.1:${proto === 'http1' ? p.o1 : grpc ? p.grpc : p.o2}${urlPath}`];
  if (path === 'envoy') return [...h1, ...grpcHeaders, `http://127.0.0.1:${p.ea}${urlPath}`];
  if (path === 'ferry') return [...h1, ...grpcHeaders, '--connect-to', `127.0.0.1:${s.alice.ports.internal}`, `http://${grpc ? 'greeter' : 'echo'}.bob.svc${urlPath}`];
  return [...h1, ...grpcHeaders, `http://127.0.0.1:${proto === 'http1' ? p.a1 : p.a2}${urlPath}`];
}

const proxyPids = (s: Setup, path: Path): number[] =>
  path === 'ferry' ? [s.envoys.alice, s.envoys.bob] : path === 'envoy' ? [s.envoyPair.a.pid, s.envoyPair.b.pid] : path === 'nginx' ? [...s.nginxA.pids(), ...s.nginxB.pids()] : [];

interface Point {
  requests: number;
  ok: number;
  reqPerS: number;
  p50: number;
  p90: number;
  p99: number;
  /** Load generator CPU, % of one core. */
  genCpuPct: number;
  /** CPU ms both proxies spent per 1,000 requests. */
  proxyCpuMsPer1k: number;
}

/** One h2load run at a fixed total rate; latencies from its per-request log. */
export async function h2loadPoint(s: Setup, proto: Proto, path: Path, rate: number, requests: number, conns: number): Promise<Point> {
  const log = join(s.work, `h2load-${proto}-${path}.log`);
  rmSync(log, { force: true });
  const pids = proxyPids(s, path);
  const cpu0 = totalCpu(pids);
  const r = await runTimed('h2load', ['-n', String(requests), '-c', String(conns), '-m', '1', '-t', '1', '--rps', String(rate / conns), '--log-file', log, ...target(s, proto, path)], 120_000);
  const cpu1 = totalCpu(pids);
  if (r.code !== 0) throw new Error(`h2load ${proto} ${path} exited ${r.code}: ${r.stderr}${r.stdout}`);
  const rows = readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split('\t').map(Number));
  const ok = rows.filter((x) => x[1]! >= 200 && x[1]! < 300);
  const lat = ok.map((x) => x[2]! / 1000);
  const reqPerS = Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(r.stdout)?.[1] ?? NaN);
  return {
    requests, ok: ok.length, reqPerS,
    p50: round(percentile(lat, 50), 3), p90: round(percentile(lat, 90), 3), p99: round(percentile(lat, 99), 3),
    genCpuPct: round((100 * r.cpuS) / r.wallS, 1),
    proxyCpuMsPer1k: round(((cpu1 - cpu0) * 1000 * 1000) / requests, 1),
  };
}

async function latency(s: Setup) {
  const out: Record<string, Record<string, Point[]>> = {};
  for (const proto of PROTOS) {
    out[proto] = {};
    for (const path of PATHS) {
      await h2loadPoint(s, proto, path, RATE, 500, LAT_CONNS); // warm-up: connections, upstream pools
      out[proto]![path] = [];
    }
    for (let run = 0; run < RUNS; run++) {
      for (const path of PATHS) {
        const pt = await h2loadPoint(s, proto, path, RATE, LAT_REQUESTS, LAT_CONNS);
        if (pt.ok !== pt.requests) throw new Error(`latency ${proto} ${path}: ${pt.requests - pt.ok} failed requests`);
        out[proto]![path]!.push(pt);
        console.log(`latency ${proto} ${path} run ${run + 1}: p50 ${pt.p50} p90 ${pt.p90} p99 ${pt.p99} ms, ${pt.reqPerS} req/s, h2load CPU ${pt.genCpuPct}%`);
      }
    }
  }
  return out;
}

/**
 * Raises the HTTP/1.1 rate by 25% a step until p99 > 10 ms, a failed request
 * or the rate is not kept (< 95%); a failing step is tried once more (the
 * machine is shared) and fails only if both tries fail.
 */
async function maxRate(s: Setup, path: Path) {
  const steps: (Point & { target: number; pass: boolean })[] = [];
  let best = 0;
  for (let rate = 1000; rate <= MAXRATE_CAP; rate = Math.round(rate * 1.25)) {
    let pass = false;
    for (let attempt = 0; attempt < 2 && !pass; attempt++) {
      const pt = await h2loadPoint(s, 'http1', path, rate, Math.round(rate * MAXRATE_STEP_S), MAXRATE_CONNS);
      pass = pt.ok === pt.requests && pt.p99 <= 10 && pt.reqPerS >= 0.95 * rate;
      steps.push({ ...pt, target: rate, pass });
      console.log(`max rate ${path} ${rate}/s: ${pt.reqPerS} req/s, p99 ${pt.p99} ms, ${pt.ok}/${pt.requests} ok, h2load CPU ${pt.genCpuPct}% -> ${pass ? 'pass' : 'fail'}`);
    }
    if (!pass) break;
    best = rate;
  }
  return { best, steps };
}

interface Stream {
  mibPerS: number;
  genCpuPct: number;
  /** CPU seconds both proxies spent per GiB moved. */
  proxyCpuSPerGiB: number;
}

type StreamPath = 'tcp' | 'tls' | 'envoy' | 'ferry' | 'nginx';

export async function download(s: Setup, path: StreamPath, parallel: number): Promise<Stream> {
  const bytes = parallel === 1 ? BIG : SMALL;
  const file = parallel === 1 ? 'big' : 'small';
  const base = path === 'tcp' ? [`http://127.0.0.1:${s.ports.o1}`]
    : path === 'tls' ? [`https://bob:${s.ports.o3}`]
    : path === 'envoy' ? [`http://127.0.0.1:${s.ports.ea}`]
    : path === 'ferry' ? [`http://echo.bob.svc`]
    : [`http://127.0.0.1:${s.ports.a1}`];
  const args = ['-sS', '--fail', '--http1.1', '--max-time', '300', '-w', '%{size_download}\\n'];
  if (path === 'tls') args.push('--cacert', s.bobCaFile, '--resolve', `bob:${s.ports.o3}:127.0.0.1`);
  if (path === 'ferry') args.push('--connect-to', `echo.bob.svc:80:127.0.0.1:${s.alice.ports.internal}`);
  if (parallel > 1) args.push('-Z', '--parallel-max', String(parallel), '--parallel-immediate');
  for (let i = 0; i < parallel; i++) args.push('-o', '/dev/null', `${base[0]}/bytes/${file}`);
  const pids = path === 'tcp' || path === 'tls' ? [] : proxyPids(s, path);
  const cpu0 = totalCpu(pids);
  const r = await runTimed('curl', args, 300_000);
  const cpu1 = totalCpu(pids);
  const got = r.stdout.trim().split('\n').reduce((a, l) => a + Number(l), 0);
  if (r.code !== 0 || got !== bytes * parallel) throw new Error(`download ${path} x${parallel}: exit ${r.code}, ${got} bytes: ${r.stderr}`);
  return {
    mibPerS: round((got / 2 ** 20) / r.wallS, 0),
    genCpuPct: round((100 * r.cpuS) / r.wallS, 1),
    proxyCpuSPerGiB: round((cpu1 - cpu0) / (got / 2 ** 30), 2),
  };
}

async function throughput(s: Setup) {
  const out: Record<string, Record<StreamPath, Stream[]>> = { one: { tcp: [], tls: [], envoy: [], ferry: [], nginx: [] }, parallel16: { tcp: [], tls: [], envoy: [], ferry: [], nginx: [] } };
  await download(s, 'tcp', 1); // warm-up: the files in the page cache, the origin's workers
  await download(s, 'tcp', PARALLEL);
  for (let run = 0; run < RUNS; run++) {
    for (const [kind, n] of [['one', 1], ['parallel16', PARALLEL]] as const) {
      for (const path of ['tcp', 'tls', 'envoy', 'ferry', 'nginx'] as const) {
        const st = await download(s, path, n);
        out[kind]![path].push(st);
        console.log(`throughput ${kind} ${path} run ${run + 1}: ${st.mibPerS} MiB/s, curl CPU ${st.genCpuPct}%, proxies ${st.proxyCpuSPerGiB} CPU s/GiB`);
      }
    }
  }
  return out;
}

function nodeFootprint(node: TestNode, envoy: number) {
  const cp = node.pid!;
  return { controlPlaneMb: round(rss(cp), 0), envoyMb: round(rss(envoy), 0), totalMb: round(rss(cp) + rss(envoy), 0), totalPssMb: round(pss(cp) + pss(envoy), 0) };
}

export async function setup(): Promise<Setup> {
  const work = tempDir('bench-datapath');
  chmodSync(work, 0o755); // nginx workers (user nobody) read the download files
  cleanups.push(async () => rmSync(work, { recursive: true, force: true }));
  writeFileSync(join(work, 'body.bin'), Buffer.alloc(1024, 0x61));
  const msg = Buffer.from(JSON.stringify({ message: 'm'.repeat(1000) }));
  const frame = Buffer.alloc(5);
  frame.writeUInt32BE(msg.length, 1);
  writeFileSync(join(work, 'grpc.bin'), Buffer.concat([frame, msg]));
  // Sparse files for the downloads: the origin reads zero pages, never a disk.
  for (const [f, size] of [['big', BIG], ['small', SMALL]] as const) {
    closeSync(openSync(join(work, f), 'w'));
    truncateSync(join(work, f), size);
    chmodSync(join(work, f), 0o644);
    spawnSync('cat', [join(work, f)], { stdio: 'ignore' }); // into the page cache: every run reads memory
  }
  const [aliceCa, bobCa] = [createDomainCa('alice'), createDomainCa('bob')];
  const aliceGw = issueGatewayCert(aliceCa, 'alice');
  const bobGw = issueGatewayCert(bobCa, 'bob', { ipAddresses: ['127.0.0.1'] });
  const bobCaFile = join(work, 'bob-ca.pem');
  writeFileSync(bobCaFile, bobCa.certPem);
  const [o1, o2, o3, a1, a2, b, ea, eb, eaAdmin, ebAdmin] = (await freePorts(10)) as [number, number, number, number, number, number, number, number, number, number];
  const grpcEcho = await startGrpcEcho('greeter');
  cleanups.push(() => grpcEcho.close());
  const keepalive = 'keepalive_requests 100000000; keepalive_timeout 3600s;';
  // The origin: HTTP/1.1, h2c (prior knowledge) and TLS ports; 1 KB answers, sparse files under /bytes/.
  const origin = await startNginxWith('origin', `
  access_log off; sendfile on; tcp_nopush on; ${keepalive}
  server {
    listen 127.0.0.1:${o1} reuseport; listen 127.0.0.1:${o2} http2; listen 127.0.0.1:${o3} ssl;
    ssl_certificate @DIR@/bob.crt; ssl_certificate_key @DIR@/bob.key;
    client_max_body_size 0;
    location /bytes/ { alias ${work}/; }
    location / { return 200 "${reply1k}"; }
  }`, { files: { 'bob.crt': bobGw.certPem, 'bob.key': bobGw.keyPem }, waitPorts: [o1, o2, o3] });
  cleanups.push(() => origin.stop());
  // The nginx pair: A plain on loopback (HTTP/1.1 and h2c ports) -> mTLS -> B -> origin.
  // nginx proxies upstream in HTTP/1.1 only (proxy_pass); gRPC goes as HTTP/2 (grpc_pass), as Ferry carries it.
  // Request buffering stays at nginx's default (on): with it off, nginx 1.22 answered ~0.3% of the
  // HTTP/2 clients' POSTs with 502 (B closed a keep-alive connection A reused: "upstream prematurely closed").
  const stream = `proxy_buffering off; ${NGINX_BUFFER ? `proxy_buffer_size ${NGINX_BUFFER}; proxy_buffers 8 ${NGINX_BUFFER}; proxy_busy_buffers_size ${2 * parseInt(NGINX_BUFFER)}k;` : ''} client_max_body_size 0; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;`;
  const upKeep = 'keepalive 256; keepalive_requests 100000000; keepalive_timeout 3600s;';
  const nginxB = await startNginxWith('b', `
  access_log @DIR@/access.log combined buffer=64k flush=1s; ${keepalive}
  upstream origin { server 127.0.0.1:${o1}; ${upKeep} }
  upstream grpc_origin { server 127.0.0.1:${grpcEcho.port}; ${upKeep} }
  server {
    listen 127.0.0.1:${b} ssl http2;
    ssl_certificate @DIR@/bob.crt; ssl_certificate_key @DIR@/bob.key;
    ssl_client_certificate @DIR@/alice-ca.pem; ssl_verify_client on;
    location /ferry.demo.Echo/ { grpc_pass grpc://grpc_origin; }
    location / { proxy_pass http://origin; ${stream} }
  }`, { files: { 'bob.crt': bobGw.certPem, 'bob.key': bobGw.keyPem, 'alice-ca.pem': aliceCa.certPem }, waitPorts: [b] });
  cleanups.push(() => nginxB.stop());
  const upstreamTls = (p: 'proxy' | 'grpc') => `${p}_ssl_certificate @DIR@/alice.crt; ${p}_ssl_certificate_key @DIR@/alice.key; ${p}_ssl_trusted_certificate @DIR@/bob-ca.pem; ${p}_ssl_verify on; ${p}_ssl_name bob; ${p}_ssl_server_name on; ${p}_ssl_session_reuse on;`;
  const nginxA = await startNginxWith('a', `
  access_log @DIR@/access.log combined buffer=64k flush=1s; ${keepalive}
  upstream b_http { server 127.0.0.1:${b}; ${upKeep} }
  upstream b_grpc { server 127.0.0.1:${b}; ${upKeep} }
  server {
    listen 127.0.0.1:${a1}; listen 127.0.0.1:${a2} http2;
    location /ferry.demo.Echo/ { grpc_pass grpcs://b_grpc; ${upstreamTls('grpc')} }
    location / { proxy_pass https://b_http; ${stream} ${upstreamTls('proxy')} }
  }`, { files: { 'alice.crt': aliceGw.certPem, 'alice.key': aliceGw.keyPem, 'bob-ca.pem': bobCa.certPem }, waitPorts: [a1, a2] });
  cleanups.push(() => nginxA.stop());
  // The floor: two stock Envoys (Ferry's binary, static config, Envoy's defaults, no access logs) as an mTLS pair.
  const envoyPair = await startEnvoyPair({
    envoyBin: locateEnvoy().bin, dir: work, ports: { a: ea, b: eb, adminA: eaAdmin, adminB: ebAdmin }, origin: o1, grpcOrigin: grpcEcho.port, grpcPrefix: '/ferry.demo.Echo/',
    alice: { ...aliceGw, caPem: aliceCa.certPem }, bob: { ...bobGw, caPem: bobCa.certPem },
  });
  cleanups.push(async () => { await Promise.all([envoyPair.a.stop(), envoyPair.b.stop()]); });
  // Ferry: alice -> bob, bob serves echo (the origin, HTTP/1.1) and greeter (the gRPC echo, h2c).
  const [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
  cleanups.push(async () => { await Promise.all([alice.stop(), bob.stop()]); alice.cleanup(); bob.cleanup(); });
  await Promise.all([alice.start(), bob.start()]);
  await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
  await bob.apply(docs(partnerDomain(alice), service('echo', o1, { access: 'alice' }), service('greeter', grpcEcho.port, { access: 'alice', protocol: 'GRPC' })));
  const envoys = { alice: (await alice.status()).envoy.pid!, bob: (await bob.status()).envoy.pid! };
  const s: Setup = { alice, bob, origin, nginxA, nginxB, envoyPair, ports: { o1, o2, o3, a1, a2, b, ea, grpc: grpcEcho.port }, work, bobCaFile, envoys };
  // Every path answers before anything is measured.
  for (const [host, port] of [['x', o1], ['x', ea], ['echo.bob.svc', alice.ports.internal], ['x', a1]] as const) {
    const res = await post(port, host);
    if (res.status !== 200 || res.body !== reply1k) throw new Error(`path via ${port} (${host}) does not answer: ${res.status} ${res.body.slice(0, 200)}`);
  }
  for (const [t, authority] of [[`127.0.0.1:${grpcEcho.port}`, 'x'], [`127.0.0.1:${alice.ports.internal}`, 'greeter.bob.svc'], [`127.0.0.1:${a2}`, 'x'], [`127.0.0.1:${ea}`, 'x']] as const) {
    const reply = await grpcEchoCall(t, authority, 'ping');
    if (reply.message !== 'ping') throw new Error(`gRPC via ${t} answered ${JSON.stringify(reply)}`);
  }
  return s;
}

/** POST /lat with a Host header (fetch would not send one). */
function post(port: number, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/lat', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('x');
  });
}

const cleanups: (() => Promise<void>)[] = [];
export async function cleanup() {
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => console.error(`cleanup: ${(e as Error).message}`));
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

const stat = (xs: number[]) => ({ median: round(median(xs), 3), ...spread(xs) });

async function main() {
  for (const tool of ['h2load', 'curl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`bench/datapath needs ${tool} (scripts/debian-tools.sh installs nginx, nghttp2-client and curl)`);
  }
  const loadBefore = loadavg().map((x) => round(x, 2));
  const t0 = Date.now();
  try {
    const s = await setup();
    await new Promise((r) => setTimeout(r, 2000));
    const idle = { alice: nodeFootprint(s.alice, s.envoys.alice), bob: nodeFootprint(s.bob, s.envoys.bob), nginxAMb: round(s.nginxA.pids().reduce((a, p) => a + rss(p), 0), 0) };
    console.log(`idle: ${JSON.stringify(idle)}`);
    const sampler = rssSampler({ aliceNode: () => [s.alice.pid!, s.envoys.alice], aliceEnvoy: () => [s.envoys.alice], nginxA: () => s.nginxA.pids() });
    const lat = await latency(s);
    const rate = { direct: await maxRate(s, 'direct'), envoy: await maxRate(s, 'envoy'), ferry: await maxRate(s, 'ferry'), nginx: await maxRate(s, 'nginx') };
    const thr = await throughput(s);
    const peak = sampler.stop();
    const latencyMs = Object.fromEntries(PROTOS.map((proto) => [proto, Object.fromEntries(PATHS.map((path) => {
      const pts = lat[proto]![path]!;
      return [path, {
        p50: stat(pts.map((p) => p.p50)), p90: stat(pts.map((p) => p.p90)), p99: stat(pts.map((p) => p.p99)),
        reqPerS: round(median(pts.map((p) => p.reqPerS)), 0), genCpuPct: round(median(pts.map((p) => p.genCpuPct)), 1),
        proxyCpuMsPer1k: round(median(pts.map((p) => p.proxyCpuMsPer1k)), 1),
      }];
    }))]));
    const throughputMiBps = Object.fromEntries(Object.entries(thr).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([path, pts]) => [path, {
      ...stat(pts.map((p) => p.mibPerS)), genCpuPct: round(median(pts.map((p) => p.genCpuPct)), 1), proxyCpuSPerGiB: round(median(pts.map((p) => p.proxyCpuSPerGiB)), 2),
    }]))]));
    const results = {
      machine: machine(),
      loadavgBefore: loadBefore,
      loadavgAfter: loadavg().map((x) => round(x, 2)),
      durationS: Math.round((Date.now() - t0) / 1000),
      settings: { runs: RUNS, latencyRequests: LAT_REQUESTS, rate: RATE, latencyConnections: LAT_CONNS, maxRateConnections: MAXRATE_CONNS, maxRateStepS: MAXRATE_STEP_S, bigMiB: BIG / 2 ** 20, parallel: PARALLEL, smallMiB: SMALL / 2 ** 20, envoyWorkers: 'default (one per core: 2)', nginxWorkers: 'auto (2)', nginxProxyBuffer: NGINX_BUFFER },
      latencyMs,
      maxRate: Object.fromEntries(Object.entries(rate).map(([k, v]) => [k, v])),
      throughputMiBps,
      footprint: { idle, peakUnderLoadMb: Object.fromEntries(Object.entries(peak).map(([k, v]) => [k, round(v, 0)])) },
    };
    writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
    writeFileSync(RESULTS.replace(/json$/, 'md'), report(results));
    console.log(`wrote ${RESULTS} and datapath.md`);
  } finally {
    await cleanup();
  }
}

type Results = {
  machine: ReturnType<typeof machine>;
  loadavgBefore: number[];
  loadavgAfter: number[];
  durationS: number;
  settings: Record<string, unknown>;
  latencyMs: Record<string, Record<string, { p50: { median: number; min: number; max: number }; p90: { median: number; min: number; max: number }; p99: { median: number; min: number; max: number }; reqPerS: number; genCpuPct: number; proxyCpuMsPer1k: number }>>;
  maxRate: Record<string, { best: number; steps: { target: number; reqPerS: number; p99: number; genCpuPct: number; pass: boolean }[] }>;
  throughputMiBps: Record<string, Record<string, { median: number; min: number; max: number; genCpuPct: number; proxyCpuSPerGiB: number }>>;
  footprint: { idle: { alice: ReturnType<typeof nodeFootprint>; bob: ReturnType<typeof nodeFootprint>; nginxAMb: number }; peakUnderLoadMb: Record<string, number> };
};

/** The 1C2G goal's row, from psi-exchange.json (its own run; \`npm run bench\` runs it right before this one). */
function psiRow(): string {
  try {
    const p = JSON.parse(readFileSync(join(import.meta.dirname, 'results', 'psi-exchange.json'), 'utf8')) as { machine: { date: string }; direct: { ms: { median: number } }; ferry: { ms: { median: number } } };
    const ratio = p.ferry.ms.median / p.direct.ms.median;
    return `| 1C2G exchange through Ferry within 1.2x of direct ([psi-exchange.md](psi-exchange.md), ${p.machine.date}) | ${ratio.toFixed(2)}x (${p.ferry.ms.median} vs ${p.direct.ms.median} ms) | ${ratio <= 1.2 ? 'met' : '**missed**'} |\n`;
  } catch {
    return '';
  }
}

export function report(r: Results): string {
  const m = r.machine;
  const f = (x: number, d = 2) => x.toFixed(d);
  const sg = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(2)}`;
  const ms = (x: { median: number; min: number; max: number }) => `${f(x.median)} (${f(x.min)}–${f(x.max)})`;
  const verdict = (ok: boolean) => (ok ? 'met' : '**missed**');
  const L = r.latencyMs;
  const T = r.throughputMiBps;
  const added = (proto: string, path: string, p: 'p50' | 'p90' | 'p99') => L[proto]![path]![p].median - L[proto]!.direct![p].median;
  const latRows = PROTOS.flatMap((proto) => PATHS.map((path) => {
    const x = L[proto]![path]!;
    const d = path === 'direct' ? '' : `${sg(added(proto, path, 'p50'))} / ${sg(added(proto, path, 'p90'))} / ${sg(added(proto, path, 'p99'))}`;
    return `| ${proto} | ${path} | ${ms(x.p50)} | ${ms(x.p90)} | ${ms(x.p99)} | ${d} | ${x.reqPerS} | ${x.proxyCpuMsPer1k || ''} | ${x.genCpuPct} |`;
  }));
  const thrRows = Object.entries(T).flatMap(([kind, v]) => Object.entries(v).map(([path, x]) =>
    `| ${kind === 'one' ? `one ${r.settings.bigMiB} MiB stream` : `${r.settings.parallel} x ${r.settings.smallMiB} MiB in parallel`} | ${path} | ${x.median} (${x.min}–${x.max}) | ${f(x.median / v.tls!.median)} | ${x.proxyCpuSPerGiB || ''} | ${x.genCpuPct} |`));
  const worstP50 = Math.max(...PROTOS.map((p) => added(p, 'ferry', 'p50')));
  const worstP99 = Math.max(...PROTOS.map((p) => added(p, 'ferry', 'p99')));
  const oneRatio = T.one!.ferry!.median / T.one!.tls!.median;
  const idleMb = r.footprint.idle.alice.totalMb;
  const vsNginx: string[] = [];
  for (const proto of PROTOS) for (const p of ['p50', 'p90', 'p99'] as const) if (L[proto]!.ferry![p].median > L[proto]!.nginx![p].median) vsNginx.push(`${proto} ${p} latency`);
  for (const [kind, v] of Object.entries(T)) if (v.ferry!.median < v.nginx!.median) vsNginx.push(`${kind === 'one' ? 'one-stream' : '16-stream'} throughput`);
  if (r.maxRate.ferry!.best < r.maxRate.nginx!.best) vsNginx.push('max rate');
  if (idleMb > r.footprint.idle.nginxAMb) vsNginx.push('idle memory');
  const steps = (path: string) => r.maxRate[path]!.steps.slice(-3).map((x) => `${x.target}${x.pass ? '' : ` (fail: ${x.reqPerS} req/s, p99 ${f(x.p99)} ms)`}`).join(', ');
  return `# Data path: Ferry vs a direct link and an nginx mTLS pair

Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}, Envoy ${m.envoy}; ${m.date}.
Load average (1/5/15 min) before: ${r.loadavgBefore.join(' / ')}, after: ${r.loadavgAfter.join(' / ')} (the machine is shared:
other work may have run at the same time; the figure after includes this benchmark's own load). Took ${r.durationS} s.
Generated by \`npm run bench -- datapath\` (bench/datapath.ts); raw numbers in datapath.json. \`npm run bench\`
runs this and [psi-exchange](psi-exchange.md) (the 1C2G profile); [xds](xds.md) and the others run only when named
(docs/benchmarks.md).

Everything runs on this one ${m.cores}-core machine over loopback: load generator, origin, both Ferry nodes
(control plane + Envoy each, Envoy with its default one worker per core) or both nginx (2 workers each).
The paths, all ending at the same origin:

- **direct**: client -> origin.
- **envoy** (the floor): client -> stock Envoy A -> HTTP/2 over mTLS -> stock Envoy B -> origin. Ferry's Envoy binary
  with a minimal static configuration and Envoy's defaults (router only, no access logs, default HTTP/2 windows):
  what Ferry's data path could cost at best.
- **ferry**: client -> alice's internal listener -> HTTP/2 over mTLS -> bob's public listener -> origin
  (HTTP/1.1 for an HTTP Service, h2c for a GRPC Service). Both nodes with default settings (access logs on).
- **nginx**: client -> nginx A (plain, loopback) -> mTLS (client certificate, verified both ways, RSA 2048 like Ferry's)
  -> nginx B -> origin. Keep-alive upstreams, response buffering off with ${r.settings.nginxProxyBuffer ? `\`proxy_buffer_size ${r.settings.nginxProxyBuffer}\` (nginx's 4k default held the pair to ~400 MiB/s in a trial)` : "nginx's default proxy_buffer_size"},
  request buffering at nginx's default (on: with it off nginx answered ~0.3% of HTTP/2 clients' POSTs with 502), access logs on (buffered). nginx 1.22 proxies HTTP upstream
  in **HTTP/1.1 only** (\`proxy_pass\`), so HTTP/1.1 and HTTP/2 clients cross the mTLS hop as HTTP/1.1 on a pool of
  connections; gRPC crosses it as HTTP/2 (\`grpc_pass grpcs://\`).

Origin: a Debian nginx answering 1 KB (HTTP/1.1, h2c and TLS ports, sparse files for downloads) and, for gRPC,
the gRPC echo of examples/echo-services.ts (grpc-js, in the benchmark's process).

## Latency at a fixed ${RATE.toLocaleString('en')} req/s

h2load, ${r.settings.latencyConnections} keep-alive connections, one request at a time each, \`--rps\` ${RATE / (r.settings.latencyConnections as number)} per connection
(a fixed rate), 1 KB request body, ~1 KB answer; ${r.settings.latencyRequests} requests per run after a 500-request warm-up,
${r.settings.runs} runs per point, interleaved across paths. Latency per request from h2load's \`--log-file\`
(from the request's start, so a stalled connection delays later sends instead of counting them as late:
at these utilisations that matters little). Median of the runs, (min–max) across runs, in ms. Nothing is pinned:
with ${m.cores} cores, reserving one for the generator would leave one for four Envoy workers and the origin; the
generator's own CPU (h2load, one thread) is reported instead, a few % of one core at this rate.

| protocol | path | p50 | p90 | p99 | added over direct p50 / p90 / p99 | req/s | proxies' CPU ms per 1k req | h2load CPU % |
| --- | --- | --- | --- | --- | --- | ---: | ---: | ---: |
${latRows.join('\n')}

## Highest rate with p99 <= 10 ms (HTTP/1.1)

h2load with ${r.settings.maxRateConnections} keep-alive connections, one request at a time each, fixed rate raised by 25% a step
(${r.settings.maxRateStepS} s a step) until p99 > 10 ms, a failed request or less than 95% of the rate achieved; a failing
step is tried twice and fails only if both tries fail. One search per path.

| path | highest passing rate (req/s) | last steps (req/s) |
| --- | ---: | --- |
${PATHS.map((p) => `| ${p} | ${r.maxRate[p]!.steps.every((x) => x.pass) ? `>= ${r.maxRate[p]!.best} (search stopped at ${MAXRATE_CAP})` : r.maxRate[p]!.best} | ${steps(p)} |`).join('\n')}

h2load's CPU at the last passing Ferry step: ${r.maxRate.ferry!.steps.filter((x) => x.pass).at(-1)?.genCpuPct ?? '-'}% of one core.
The load generator, the origin and both proxies share ${m.cores} cores: the ceiling is the machine's, and
Ferry's two Envoys (2 workers each) plus the origin compete with h2load for the same CPU.

## Throughput (downloads, curl)

Median MiB/s of ${r.settings.runs} runs (min–max). **tcp**: plain HTTP/1.1 from the origin (sendfile);
**tls**: HTTPS from the origin (TLS 1.3, nginx); **ferry** and **nginx** as above (mTLS between the proxies,
plain HTTP/1.1 at both ends).

| transfer | path | MiB/s | ratio to direct TLS | proxies' CPU s per GiB | curl CPU % |
| --- | --- | --- | ---: | ---: | ---: |
${thrRows.join('\n')}

## Footprint

| | control plane RSS (MB) | Envoy RSS (MB) | node total RSS (MB) | node total PSS (MB) |
| --- | ---: | ---: | ---: | ---: |
| alice idle | ${r.footprint.idle.alice.controlPlaneMb} | ${r.footprint.idle.alice.envoyMb} | ${r.footprint.idle.alice.totalMb} | ${r.footprint.idle.alice.totalPssMb} |
| bob idle | ${r.footprint.idle.bob.controlPlaneMb} | ${r.footprint.idle.bob.envoyMb} | ${r.footprint.idle.bob.totalMb} | ${r.footprint.idle.bob.totalPssMb} |

Peak under the load above (sampled every 200 ms through latency, max rate and throughput): alice's node
${r.footprint.peakUnderLoadMb.aliceNode} MB (its Envoy ${r.footprint.peakUnderLoadMb.aliceEnvoy} MB). nginx A (master + workers): ${r.footprint.idle.nginxAMb} MB idle,
${r.footprint.peakUnderLoadMb.nginxA} MB peak.

## Goals (ratios in this run)

| goal | measured | verdict |
| --- | --- | --- |
| added latency at p50 <= 0.3 ms over direct at 1,000 req/s | worst protocol ${sg(worstP50)} ms (http1 ${sg(added('http1', 'ferry', 'p50'))}, http2 ${sg(added('http2', 'ferry', 'p50'))}, grpc ${sg(added('grpc', 'ferry', 'p50'))}) | ${verdict(worstP50 <= 0.3)} |
| added latency at p99 <= 1 ms | worst protocol ${sg(worstP99)} ms (http1 ${sg(added('http1', 'ferry', 'p99'))}, http2 ${sg(added('http2', 'ferry', 'p99'))}, grpc ${sg(added('grpc', 'ferry', 'p99'))}) | ${verdict(worstP99 <= 1)} |
| one stream >= 50% of direct TLS | ${f(oneRatio)} (${T.one!.ferry!.median} vs ${T.one!.tls!.median} MiB/s) | ${verdict(oneRatio >= 0.5)} |
| at least equal to the nginx pair on every metric | ${vsNginx.length ? `behind on: ${vsNginx.join(', ')}` : 'equal or better on all'} | ${verdict(!vsNginx.length)} |
| idle node RSS <= 120 MB | ${idleMb} MB (control plane ${r.footprint.idle.alice.controlPlaneMb} + Envoy ${r.footprint.idle.alice.envoyMb}) | ${verdict(idleMb <= 120)} |
| highest rate with p99 < 10 ms | ${r.maxRate.ferry!.best} req/s (direct ${r.maxRate.direct!.best}, stock Envoy pair ${r.maxRate.envoy!.best}, nginx pair ${r.maxRate.nginx!.best}) | reported |
${psiRow()}| (context) Ferry vs the stock Envoy pair | p50 ${PROTOS.map((p) => `${p} ${sg(L[p]!.ferry!.p50.median - L[p]!.envoy!.p50.median)} ms`).join(', ')}; one stream ${f(T.one!.ferry!.median / T.one!.envoy!.median)}x; 16 streams ${f(T.parallel16!.ferry!.median / T.parallel16!.envoy!.median)}x; max rate ${r.maxRate.ferry!.best} vs ${r.maxRate.envoy!.best} | |

## Where Ferry stands, and why

- **Latency and request rate are Envoy's, not Ferry's configuration's.** The stock Envoy pair (Envoy's defaults, a
  router and nothing else) already adds ${PROTOS.map((p) => `${f(added(p, 'envoy', 'p50'))}`).join(' / ')} ms at p50 (HTTP/1.1 / HTTP/2 / gRPC) where the nginx pair adds
  ${PROTOS.map((p) => `${f(added(p, 'nginx', 'p50'))}`).join(' / ')} ms. The two Envoys spend ${L.http1!.envoy!.proxyCpuMsPer1k} ms of CPU per 1,000 HTTP/1.1 requests, the two nginx
  ${L.http1!.nginx!.proxyCpuMsPer1k} ms (${f(L.http1!.envoy!.proxyCpuMsPer1k / L.http1!.nginx!.proxyCpuMsPer1k, 1)}x): on this virtual machine Envoy costs several times nginx's CPU per request, and its latency and its
  request ceiling follow from that (the ceiling is CPU: ${m.cores} cores shared by h2load, the origin and both proxies).
  Ferry's own configuration on top of the floor (access logs on both listeners, per-route RBAC on the SPIFFE
  identity, Kuscia header rewriting, the retry policy, the bandwidth-limit filter on the internal listener) costs
  ${PROTOS.map((p) => `${sg(L[p]!.ferry!.p50.median - L[p]!.envoy!.p50.median)}`).join(' / ')} ms at p50 and ${L.http1!.ferry!.proxyCpuMsPer1k} vs ${L.http1!.envoy!.proxyCpuMsPer1k} ms CPU per 1,000 requests (in separate trials
  on the stock pair, the JSON access logs cost ~40 ms CPU per 1,000 requests and no p50, the unconfigured
  bandwidth-limit filter nothing measurable: docs/benchmarks.md). Running
  Envoy with one worker (\`--concurrency 1\`) did not change the floor's latency in a trial on this machine. The
  0.3 ms p50 goal is below what Envoy itself does here; meeting it needs a faster machine per request (bare metal)
  or a different proxy, not a Ferry setting.
- **Throughput: Ferry is ${T.one!.ferry!.median >= T.one!.nginx!.median && T.parallel16!.ferry!.median >= T.parallel16!.nginx!.median ? 'ahead of' : 'not ahead of'} the nginx pair** (one stream ${T.one!.ferry!.median} vs ${T.one!.nginx!.median} MiB/s,
  16 streams ${T.parallel16!.ferry!.median} vs ${T.parallel16!.nginx!.median} MiB/s). The two Envoys spend ${T.one!.ferry!.proxyCpuSPerGiB} CPU s per GiB, the two nginx ${T.one!.nginx!.proxyCpuSPerGiB}:
  nginx 1.22 proxies HTTP/1.1 upstream through its buffers, Envoy carries the bytes as HTTP/2 DATA over one
  mTLS connection. The direct TLS reference is one nginx serving over TLS with no proxy hop at all.
- **Memory: the control plane is a Node.js process.** Its RSS (${r.footprint.idle.alice.controlPlaneMb} MB idle) is above nginx's whole pair; Node itself
  starts at about 60 MB here, loading the Envoy API descriptors (protobufjs) adds about 35 MB, the rest of the
  control plane's modules about 40 MB. Envoy idles at ${r.footprint.idle.alice.envoyMb} MB. The 120 MB goal for both would need the control
  plane under ~${Math.max(0, 120 - r.footprint.idle.alice.envoyMb)} MB: not reachable by tuning alone (see the proposals in docs/benchmarks.md).
`;
}

if (process.argv[1] === import.meta.filename) {
  // --report: rewrite datapath.md from datapath.json (after a change to the text), measuring nothing.
  if (process.argv.includes('--report')) writeFileSync(RESULTS.replace(/json$/, 'md'), report(JSON.parse(readFileSync(RESULTS, 'utf8')) as Results));
  else await main();
}
