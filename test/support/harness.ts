// End-to-end test harness: real `ferry` processes (each running a real Envoy)
// on loopback ports of their own, in temp homes, stopped after the test.
// Waits on readiness signals (/readyz: Envoy acknowledged the current config).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, openSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts } from '../../control-plane/util/ports.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import type { Topology } from './netns.ts';

export const ROOT = resolve(import.meta.dirname, '..', '..');
const CLI = join(ROOT, 'control-plane', 'cli', 'main.ts');
const NODE_ARGS = ['--disable-warning=ExperimentalWarning'];

export { freePorts };

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `ferry-${prefix}-`));
}

/** A temp dir a task's engine may write in: a root node runs tasks as nobody (control-plane/runtime/task-user.ts). */
export function tempDirForTasks(prefix: string): string {
  const dir = tempDir(prefix);
  chmodSync(dir, 0o777);
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the ferry CLI to completion (inside a network namespace with `netns`). */
export function ferry(args: string[], input?: string, netns?: TestNodeNetns, timeoutMs = 60_000): CliResult {
  const [cmd, argv] = wrapIn(netns, process.execPath, [...NODE_ARGS, CLI, ...args]);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', input, timeout: timeoutMs });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until a TCP listener accepts connections at host:port. */
export async function waitForPort(what: string, host: string, port: number, timeoutMs = 20_000): Promise<void> {
  const { createConnection } = await import('node:net');
  await waitFor(what, () => new Promise<true | undefined>((resolve) => {
    const s = createConnection({ host, port }, () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(undefined));
  }), timeoutMs);
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 25;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

/** A network namespace of a test/support/netns.ts topology to run a node in. */
export interface TestNodeNetns {
  topology: Topology;
  /** The namespace's name in the topology. */
  name: string;
}

function wrapIn(netns: TestNodeNetns | undefined, cmd: string, args: string[]): [string, string[]] {
  return netns ? netns.topology.wrap(netns.name, cmd, args) : [cmd, args];
}

export class TestNode {
  readonly domain: string;
  readonly home: string;
  readonly ports: { public: number; internal: number; api: number; admin: number; xds: number; kusciaGrpc: number };
  /** Where the test process reaches the API, internal and admin listeners: 127.0.0.1, or the namespace's control address. */
  readonly host: string;
  readonly netns: TestNodeNetns | undefined;
  private child: ChildProcess | undefined;

  private constructor(domain: string, home: string, ports: number[], netns?: TestNodeNetns) {
    this.domain = domain;
    this.home = home;
    this.netns = netns;
    this.host = netns ? netns.topology.addr(netns.name) : '127.0.0.1';
    const [pub, internal, api, admin, xds, kusciaGrpc] = ports as [number, number, number, number, number, number];
    this.ports = { public: pub, internal, api, admin, xds, kusciaGrpc };
  }

  /**
   * `ferry init` in a fresh temp home with free ports. With `netns`, the node
   * (and every cli() call) runs inside that namespace: public listens on
   * 0.0.0.0, internal, api and envoyAdmin on the namespace's control address
   * (`host`, reachable from the test), xds on 127.0.0.1.
   */
  static async init(domain: string, opts: { xdsVariant?: 'delta' | 'sotw'; netns?: TestNodeNetns; initArgs?: string[]; socketsOnly?: boolean } = {}): Promise<TestNode> {
    const dir = tempDir(domain);
    chmodSync(dir, 0o711); // a root node's tasks run as nobody and pass through here to their own directory
    const node = new TestNode(domain, join(dir, 'home'), await freePorts(6), opts.netns);
    // Tests read Envoy's admin over TCP (ports.admin) beside the Unix sockets; socketsOnly: as `ferry init` does by default.
    const tcp = opts.socketsOnly ? [] : ['--admin-port', String(node.ports.admin), '--xds-port', String(node.ports.xds)];
    const r = node.cli(['init', domain, '--public-port', String(node.ports.public), '--internal-port', String(node.ports.internal),
      '--api-port', String(node.ports.api), ...tcp,
      '--kusciaapi-grpc-port', String(node.ports.kusciaGrpc), ...(opts.initArgs ?? [])]);
    if (r.code !== 0) throw new Error(`ferry init ${domain} failed: ${r.stderr}`);
    if (opts.netns) {
      const config = readConfig(node.home);
      const l = config.listeners;
      l.public.address = '0.0.0.0';
      l.internal.address = l.api.address = l.envoyAdmin!.address = node.host;
      l.xds!.address = '127.0.0.1';
      writeConfig(node.home, config);
    }
    if (opts.xdsVariant) {
      const path = join(node.home, 'ferry.yaml');
      writeFileSync(path, `${readFileSync(path, 'utf8')}xdsVariant: ${opts.xdsVariant}\n`);
    }
    return node;
  }

  cli(args: string[], input?: string): CliResult {
    return ferry([...args, '--home', this.home], input, this.netns);
  }

  /** `ferry start` in its own process group (so Envoy goes with it), then wait until ready. */
  async start(env: Record<string, string> = {}): Promise<void> {
    const out = openSync(join(this.home, 'logs', 'node.out'), 'a');
    const [cmd, argv] = wrapIn(this.netns, process.execPath, [...NODE_ARGS, CLI, 'start', '--home', this.home]); // `ip netns exec` execs: same pid
    this.child = spawn(cmd, argv, { stdio: ['ignore', out, out], env: { ...process.env, ...env } });
    await this.waitReady();
  }

  /** The node process (control plane). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get token(): string {
    return readFileSync(join(this.home, 'api-token'), 'utf8').trim();
  }

  async api(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(`http://${this.host}:${this.ports.api}${path}`, { ...init, headers: { authorization: `Bearer ${this.token}`, ...init.headers } });
  }

  async readyz(): Promise<{ ready: boolean; reasons: string[] }> {
    const res = await fetch(`http://${this.host}:${this.ports.api}/readyz`);
    return (await res.json()) as { ready: boolean; reasons: string[] };
  }

  /** Ready = Envoy live and every proxy acknowledged the current configuration. */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    try {
      await waitFor(`${this.domain} /readyz`, async () => ((await this.readyz()).ready ? true : undefined), timeoutMs);
    } catch (e) {
      // Say why: the node's own output (a crash, a port already in use) is the first thing to read.
      let out = '';
      try { out = readFileSync(join(this.home, 'logs', 'node.out'), 'utf8').trim().split('\n').slice(-30).join('\n'); } catch { /* no output */ }
      throw new Error(`${(e as Error).message}${out ? `; the node's last output:\n${out}` : ''}`);
    }
  }

  async status(): Promise<{ envoy: { pid?: number; restarts: number } } & Record<string, unknown>> {
    return (await (await this.api('/api/v1/status')).json()) as never;
  }

  /** Applies YAML through the CLI and waits until Envoy has acknowledged it. */
  async apply(yaml: string): Promise<void> {
    const r = this.cli(['apply', '-f', '-'], yaml);
    if (r.code !== 0) throw new Error(`ferry apply on ${this.domain} failed: ${r.stderr}`);
    await this.waitReady();
  }

  caBase64(): string {
    const r = this.cli(['cert', 'export']);
    if (r.code !== 0) throw new Error(r.stderr);
    return Buffer.from(r.stdout).toString('base64');
  }

  /** Runs the CLI without blocking this process's event loop (test servers and loads live in it). */
  cliAsync(args: string[]): Promise<CliResult> {
    const [cmd, argv] = wrapIn(this.netns, process.execPath, [...NODE_ARGS, CLI, ...args, '--home', this.home]);
    return new Promise((resolve) => {
      const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** `ferry stop --keep-envoy`: the node exits, its Envoy serves on for the next start() to adopt. */
  async stopKeepingEnvoy(): Promise<CliResult> {
    const child = this.child;
    this.child = undefined;
    const exited = child && child.exitCode === null ? new Promise((r) => child.once('exit', r)) : undefined;
    const r = await this.cliAsync(['stop', '--keep-envoy']);
    await exited;
    return r;
  }

  /** Kills the node process alone (SIGKILL), as a crash would; its Envoy keeps running. */
  async crash(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child?.pid || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    process.kill(child.pid, 'SIGKILL');
    await exited;
  }

  /** Stops the node (SIGTERM: it stops its Envoy), then kills anything left. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
      const timer = setTimeout(() => { try { process.kill(child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 8000);
      await exited;
      clearTimeout(timer);
    }
    // Envoy runs in its own session (it survives node crashes): never let it outlive the test.
    try {
      process.kill(Number(readFileSync(join(this.home, 'run', 'envoy.pid'), 'utf8')), 'SIGKILL');
    } catch { /* not running */ }
  }

  cleanup(): void {
    if (process.env.FERRY_KEEP_TEST_HOMES) return console.log(`kept ${this.home}`); // for debugging a failed test
    rmSync(join(this.home, '..'), { recursive: true, force: true });
  }
}

/** YAML for a partner Domain carrying the partner's CA. */
export function partnerDomain(partner: TestNode): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: ${partner.domain} }
spec: { role: partner, cert: ${partner.caBase64()} }
`;
}

/** YAML for an outbound MTLS route from `from` to `to`'s public port on `host` (loopback unless given). */
export function routeTo(from: TestNode, to: { domain: string; ports: { public: number } }, host = '127.0.0.1'): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
  authenticationType: MTLS
  endpoint: { host: ${host}, ports: [{ name: https, port: ${to.ports.public}, protocol: HTTP, isTLS: true }] }
`;
}

export function service(name: string, port: number, opts: { access?: string; protocol?: string } = {}): string {
  const annotations = [
    opts.access ? `kuscia.secretflow/access-domain: "${opts.access}"` : '',
    opts.protocol ? `kuscia.secretflow/protocol: ${opts.protocol}` : '',
  ].filter(Boolean).join(', ');
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations: { ${annotations} }
spec: { type: ExternalName, externalName: 127.0.0.1, ports: [{ port: ${port} }] }
`;
}

export const docs = (...parts: string[]) => parts.join('---\n');

export interface CurlResult {
  exit: number;
  status: number;
  /** HTTP version of the response as curl saw it: "1.1" or "2". */
  httpVersion: string;
  headers: Record<string, string>;
  body: string;
  stderr: string;
}

/**
 * Runs curl asynchronously (test servers may live in this process, so the
 * event loop must keep running); returns status, headers and body, or curl's
 * exit code when it failed below HTTP.
 */
export function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '--max-time', '20', '-D', '-', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.once('error', reject);
    child.once('close', (code) => resolve(parseCurlOutput(code ?? -1, stdout, stderr)));
  });
}

function parseCurlOutput(exit: number, text: string, stderr: string): CurlResult {
  const split = text.search(/\r?\n\r?\n/);
  const head = split >= 0 ? text.slice(0, split) : text;
  const body = split >= 0 ? text.slice(split).replace(/^\r?\n\r?\n/, '') : '';
  const lines = head.split(/\r?\n/);
  const statusLine = /^HTTP\/([\d.]+) (\d{3})/.exec(lines[0] ?? '');
  const status = Number(statusLine?.[2] ?? 0);
  const httpVersion = statusLine?.[1] ?? '';
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return { exit, status, httpVersion, headers, body, stderr };
}

/** A WebSocket echo server (the `ws` package) on a free loopback port. */
export async function startWebSocketEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const { WebSocketServer } = await import('ws');
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  server.on('connection', (socket, req) => {
    socket.send(JSON.stringify({ hello: req.headers['kuscia-source'] ?? null }));
    socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => {
      for (const c of server.clients) c.terminate();
      server.close(() => resolve());
    }),
  };
}

/** A TCP echo server on a free loopback port (stands for a brpc-style raw TCP engine link). */
export async function startTcpEcho(): Promise<{ port: number; close: () => Promise<void> }> {
  const { createServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.pipe(s); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

/**
 * Opens an HTTP CONNECT tunnel through `proxyPort` (as any http_proxy client
 * does) and returns the status line and the socket, ready for raw bytes.
 */
export async function connectTunnel(proxyPort: number, authority: string, httpVersion = '1.1'): Promise<{ status: number; headers: string; socket: import('node:net').Socket }> {
  const { connect } = await import('node:net');
  const socket = connect(proxyPort, '127.0.0.1');
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  socket.write(`CONNECT ${authority} HTTP/${httpVersion}\r\nHost: ${authority}\r\n\r\n`);
  let head = '';
  while (!head.includes('\r\n\r\n')) {
    const chunk = await new Promise<Buffer | null>((resolve) => { socket.once('data', resolve); socket.once('end', () => resolve(null)); });
    if (!chunk) break;
    head += chunk.toString('latin1');
  }
  const [headers = '', rest = ''] = head.split('\r\n\r\n');
  if (rest) socket.unshift(Buffer.from(rest, 'latin1'));
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? 0), headers, socket };
}

/** Resident memory of a process in MB (from /proc). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) / 1024;
}

/**
 * A bulk-data service: POST counts the bytes it receives (answering the
 * count), GET /bytes/<n> streams n bytes. Stands for PSI/model-shard transfers.
 */
export async function startBulkService(): Promise<{ port: number; close: () => Promise<void> }> {
  const { createServer } = await import('node:http');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      let n = 0;
      req.on('data', (d: Buffer) => { n += d.length; });
      req.on('end', () => res.end(String(n)));
      return;
    }
    let left = Number(/^\/bytes\/(\d+)/.exec(req.url ?? '')?.[1] ?? 0);
    res.writeHead(200, { 'content-length': String(left) });
    const pump = () => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    port: (server.address() as { port: number }).port,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

/** `from` calls `to`'s `echo` Service by mTLS: each trusts the other, `from` has its route, the Service admits `from`. */
export async function linkToEcho(from: TestNode, to: TestNode, echoPort: number): Promise<void> {
  await from.apply(docs(partnerDomain(to), routeTo(from, to)));
  await to.apply(docs(partnerDomain(from), service('echo', echoPort, { access: from.domain })));
}
