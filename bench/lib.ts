// Shared helpers of the data-path benchmarks (bench/datapath.ts, bench/psi-exchange.ts, bench/psi-1c2g.ts):
// external tools run with their CPU time, process CPU and RSS from /proc,
// nginx instances in temp dirs, Ferry nodes started in a cgroup, statistics.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { machine } from './machine.ts';
import { NGINX } from '../test/support/nginx.ts';
import { ROOT, TestNode, tempDir, waitForPort } from '../test/support/harness.ts';

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
export const spread = (xs: number[]) => ({ min: Math.min(...xs), max: Math.max(...xs) });
export const round = (x: number, digits = 2) => Number.isFinite(x) ? Number(x.toFixed(digits)) : x;

export interface Timed {
  code: number;
  stdout: string;
  stderr: string;
  wallS: number;
  /** CPU seconds (user + system) of the command and its children. */
  cpuS: number;
}

/**
 * Runs a command to completion asynchronously (servers may live in this
 * process), under bash so that `times` reports its CPU use; killed after
 * `timeoutMs` (every load run is bounded).
 */
export function runTimed(cmd: string, args: string[], timeoutMs = 120_000): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const script = '"$@"; s=$?; echo "@@times" >&2; times >&2; exit $s'; // times: the shell's line, then its children's
    const child = spawn('bash', ['-c', script, 'bash', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const t0 = performance.now();
    const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      const wallS = (performance.now() - t0) / 1000;
      const m = /@@times\n\S+ \S+\n(\d+)m([\d.]+)s (\d+)m([\d.]+)s/.exec(stderr);
      const cpuS = m ? Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) : NaN;
      resolve({ code: code ?? -1, stdout, stderr: stderr.replace(/@@times\n.*\n.*\n?/, ''), wallS, cpuS });
    });
  });
}

/** CPU seconds (user + system, all threads) a process has used, from /proc; 0 when gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return 0;
  }
}

export const totalCpu = (pids: number[]) => pids.reduce((s, p) => s + cpuSeconds(p), 0);

/** Resident memory in MB (0 when gone). */
export function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Proportional set size in MB (shared pages divided among their users), 0 when unavailable. */
export function pss(pid: number): number {
  try {
    return Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Direct children of a process (nginx workers of a master). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d));
    } catch { /* exited */ }
  }
  return out;
}

/** Samples the summed RSS of some process sets every `everyMs` and keeps the peak of each. */
export function rssSampler(sets: Record<string, () => number[]>, everyMs = 200) {
  const peak: Record<string, number> = Object.fromEntries(Object.keys(sets).map((k) => [k, 0]));
  const sample = () => {
    for (const [k, pids] of Object.entries(sets)) peak[k] = Math.max(peak[k]!, pids().reduce((s, p) => s + rss(p), 0));
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return { peak, stop: () => { clearInterval(timer); sample(); return peak; } };
}

export interface NginxInstance {
  pid: number;
  dir: string;
  /** Master and workers. */
  pids(): number[];
  stop(): Promise<void>;
}

/**
 * Starts a Debian nginx (`daemon off`, master + workers) with the given
 * `http { ... }` body in a temp dir; `files` are written there first
 * (certificates), and "@DIR@" in the body stands for the dir. Waits for `waitPorts`.
 */
export async function startNginxWith(name: string, httpBody: string, opts: { files?: Record<string, string>; waitPorts: number[]; workers?: number | 'auto' }): Promise<NginxInstance> {
  if (!NGINX) throw new Error('nginx is not installed (scripts/debian-tools.sh installs it)');
  const dir = tempDir(`bench-nginx-${name}`);
  mkdirSync(join(dir, 'tmp'));
  for (const [f, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, f), content, { mode: 0o600 });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, `
daemon off;
worker_processes ${opts.workers ?? 'auto'};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
${httpBody.replaceAll('@DIR@', dir)}
}
`);
  const log = openSync(join(dir, 'stderr.log'), 'a');
  const child: ChildProcess = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: ['ignore', log, log] });
  try {
    for (const p of opts.waitPorts) await waitForPort(`nginx ${name} on ${p}`, '127.0.0.1', p, 10_000);
  } catch (e) {
    child.kill('SIGKILL'); // a master that failed to start has no workers
    const why = `${(e as Error).message}: ${existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8') : ''}${readFileSync(join(dir, 'stderr.log'), 'utf8')}`;
    rmSync(dir, { recursive: true, force: true });
    throw new Error(why);
  }
  return {
    pid: child.pid!,
    dir,
    pids: () => [child.pid!, ...childrenOf(child.pid!)],
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM'); // the master stops its workers
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(force);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const CLI = join(ROOT, 'control-plane', 'cli', 'main.ts');

/**
 * `ferry start` for an initialised TestNode, optionally inside a cgroup: the
 * node joins it before it execs, so its Envoy (spawned by it) is in it from the
 * first byte. The node process is returned; stop it with stopNode().
 */
export async function startNode(node: TestNode, cgroupProcs: string[] = []): Promise<ChildProcess> {
  const out = openSync(join(node.home, 'logs', 'node.out'), 'a');
  const join_ = cgroupProcs.map((f) => `echo $$ > '${f}'`).join(' && ');
  const argv = [process.execPath, '--disable-warning=ExperimentalWarning', CLI, 'start', '--home', node.home];
  const child = spawn('sh', ['-c', `${join_ ? `${join_} && ` : ''}exec "$@"`, 'sh', ...argv], { stdio: ['ignore', out, out] });
  await node.waitReady();
  return child;
}

export function envoyPid(node: TestNode): number | undefined {
  try {
    return Number(readFileSync(join(node.home, 'run', 'envoy.pid'), 'utf8'));
  } catch {
    return undefined;
  }
}

export async function stopNode(node: TestNode, child: ChildProcess | undefined): Promise<void> {
  if (child?.pid && child.exitCode === null) {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(force);
  }
  const envoy = envoyPid(node);
  if (envoy) try { process.kill(envoy, 'SIGKILL'); } catch { /* gone */ }
}

export interface EnvoyInstance {
  pid: number;
  stop(): Promise<void>;
}

const T = {
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  httpOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  upTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  fileLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
};

const staticCluster = (name: string, port: number, extra: Record<string, unknown> = {}) => ({
  name, type: 'STATIC', connect_timeout: '5s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  ...extra,
});
const h2Upstream = { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': T.httpOptions, explicit_http_config: { http2_protocol_options: {} } } };
/** Access-log formats a pair can write: Envoy's default-ish JSON, Ferry's JSON fields, or one text line. */
export type PairAccessLog = boolean | 'ferry-json' | 'text';
const FERRY_FIELDS = ['time:%START_TIME%', 'request_id:%REQ(X-REQUEST-ID)%', 'source:%REQ(KUSCIA-SOURCE)%', 'peer:%METADATA(ROUTE:ferry:peer)%', 'destination:%METADATA(ROUTE:ferry:destination)%',
  'service:%METADATA(ROUTE:ferry:service)%', 'direction:%METADATA(ROUTE:ferry:direction)%', 'route:%ROUTE_NAME%', 'origin:%REQ(KUSCIA-ORIGIN-SOURCE)%', 'host:%REQ(:AUTHORITY)%',
  'method:%REQ(:METHOD)%', 'path:%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%', 'protocol:%PROTOCOL%', 'status:%RESPONSE_CODE%', 'grpc_status:%GRPC_STATUS_NUMBER%', 'flags:%RESPONSE_FLAGS%',
  'details:%RESPONSE_CODE_DETAILS%', 'bytes_in:%BYTES_RECEIVED%', 'bytes_out:%BYTES_SENT%', 'duration_ms:%DURATION%', 'upstream_host:%UPSTREAM_HOST%', 'upstream_cluster:%UPSTREAM_CLUSTER%',
  'upstream_failure:%UPSTREAM_TRANSPORT_FAILURE_REASON%', 'peer_identity:%DOWNSTREAM_PEER_URI_SAN%'].map((f) => [f.slice(0, f.indexOf(':')), f.slice(f.indexOf(':') + 1)] as const);
function logFormat(kind: PairAccessLog): Record<string, unknown> {
  if (kind === 'ferry-json') return { json_format: Object.fromEntries(FERRY_FIELDS) };
  if (kind === 'text') return { text_format_source: { inline_string: `${FERRY_FIELDS.map(([, v]) => v).join(' ')}\n` } };
  return { json_format: { time: '%START_TIME%', method: '%REQ(:METHOD)%', path: '%REQ(:PATH)%', status: '%RESPONSE_CODE%', duration_ms: '%DURATION%', bytes_in: '%BYTES_RECEIVED%', bytes_out: '%BYTES_SENT%', request_id: '%REQ(X-REQUEST-ID)%' } };
}
const hcm = (name: string, routes: unknown[], accessLog: string | undefined, kind: PairAccessLog = true, extra: Record<string, unknown> = {}) => ({
  name: 'envoy.filters.network.http_connection_manager',
  typed_config: {
    '@type': T.hcm, stat_prefix: name, codec_type: 'AUTO', ...extra,
    route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes }] },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': T.router } }],
    ...(accessLog ? { access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': T.fileLog, path: accessLog, log_format: logFormat(kind) } }] } : {}),
  },
});

/**
 * The physical floor: two stock Envoys (same binary as Ferry, static config,
 * Envoy's defaults) as an mTLS pair. A: plain listener (HTTP/1.1 or h2c) ->
 * HTTP/2 over mTLS -> B: TLS listener requiring a client certificate ->
 * origin over HTTP/1.1, or h2c for gRPC paths (prefix `grpcPrefix`).
 */
export async function startEnvoyPair(opts: {
  envoyBin: string; dir: string; ports: { a: number; b: number; adminA: number; adminB: number };
  origin: number; grpcOrigin: number; grpcPrefix: string;
  alice: { certPem: string; keyPem: string; caPem: string }; bob: { certPem: string; keyPem: string; caPem: string };
  accessLogs?: PairAccessLog;
  /** The link between the two: one multiplexed HTTP/2 connection (Envoy's way) or a pool of HTTP/1.1 connections (nginx's). */
  link?: 'h2' | 'h1';
  /** Extra Envoy arguments (e.g. --concurrency 1). */
  args?: string[];
  /** Extra fields of both HTTP connection managers (e.g. generate_request_id: false). */
  hcmExtra?: Record<string, unknown>;
  /** Extra top-level bootstrap fields of both (e.g. stats_config). */
  bootstrapExtra?: Record<string, unknown>;
}): Promise<{ a: EnvoyInstance; b: EnvoyInstance }> {
  const f = (name: string, content: string) => { const p = join(opts.dir, name); writeFileSync(p, content, { mode: 0o600 }); return p; };
  const certs = (who: 'alice' | 'bob') => ({ certificate_chain: { filename: f(`${who}.crt`, opts[who].certPem) }, private_key: { filename: f(`${who}.key`, opts[who].keyPem) } });
  const admin = (port: number) => ({ address: { socket_address: { address: '127.0.0.1', port_value: port } } });
  const a = {
    ...opts.bootstrapExtra,
    admin: admin(opts.ports.adminA),
    static_resources: {
      listeners: [{ name: 'in', address: { socket_address: { address: '127.0.0.1', port_value: opts.ports.a } }, filter_chains: [{ filters: [hcm('in', [{ match: { prefix: '/' }, route: { cluster: 'peer', timeout: '0s' } }], opts.accessLogs ? join(opts.dir, 'a-access.log') : undefined, opts.accessLogs, opts.hcmExtra)] }] }],
      clusters: [staticCluster('peer', opts.ports.b, {
        ...(opts.link === 'h1' ? {} : { typed_extension_protocol_options: h2Upstream }),
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': T.upTls, sni: 'bob', common_tls_context: {
          tls_certificates: [certs('alice')], alpn_protocols: [opts.link === 'h1' ? 'http/1.1' : 'h2'],
          validation_context: { trusted_ca: { filename: f('bob-ca.pem', opts.bob.caPem) }, match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'bob' } }] },
        } } },
      })],
    },
  };
  const b = {
    ...opts.bootstrapExtra,
    admin: admin(opts.ports.adminB),
    static_resources: {
      listeners: [{ name: 'public', address: { socket_address: { address: '127.0.0.1', port_value: opts.ports.b } }, filter_chains: [{
        filters: [hcm('public', [
          { match: { prefix: opts.grpcPrefix }, route: { cluster: 'grpc_origin', timeout: '0s' } },
          { match: { prefix: '/' }, route: { cluster: 'origin', timeout: '0s' } },
        ], opts.accessLogs ? join(opts.dir, 'b-access.log') : undefined, opts.accessLogs, opts.hcmExtra)],
        transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': T.downTls, require_client_certificate: true, common_tls_context: {
          tls_certificates: [certs('bob')], alpn_protocols: ['h2', 'http/1.1'],
          validation_context: { trusted_ca: { filename: f('alice-ca.pem', opts.alice.caPem) } },
        } } },
      }] }],
      clusters: [staticCluster('origin', opts.origin), staticCluster('grpc_origin', opts.grpcOrigin, { typed_extension_protocol_options: h2Upstream })],
    },
  };
  const start = async (name: string, config: unknown, adminPort: number, listenPort: number): Promise<EnvoyInstance> => {
    const path = f(`envoy-${name}.json`, JSON.stringify(config));
    const log = openSync(join(opts.dir, `envoy-${name}.log`), 'a');
    const child = spawn(opts.envoyBin, ['-c', path, '--disable-hot-restart', '--log-level', 'warn', ...(opts.args ?? [])], { stdio: ['ignore', log, log] });
    try {
      await waitForPort(`bare Envoy ${name}`, '127.0.0.1', listenPort, 20_000);
      await waitForPort(`bare Envoy ${name} admin`, '127.0.0.1', adminPort, 5_000);
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`${(e as Error).message}: ${readFileSync(join(opts.dir, `envoy-${name}.log`), 'utf8').slice(-2000)}`);
    }
    return {
      pid: child.pid!,
      stop: async () => {
        if (child.exitCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(force);
      },
    };
  };
  const bi = await start('b', b, opts.ports.adminB, opts.ports.b);
  try {
    return { a: await start('a', a, opts.ports.adminA, opts.ports.a), b: bi };
  } catch (e) {
    await bi.stop();
    throw e;
  }
}

/** The head every report's JSON starts with: the machine, the load before and after, how long it took. */
export function runHeader(loadBefore: number[], startedMs: number) {
  return {
    machine: machine(),
    loadavgBefore: loadBefore,
    loadavgAfter: loadavg().map((x) => round(x, 2)),
    durationS: Math.round((Date.now() - startedMs) / 1000),
  };
}
