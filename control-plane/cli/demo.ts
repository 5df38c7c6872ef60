// `ferry demo` (what `npm run demo` runs): two domains on this machine, alice
// and bob, connected by hand the way an admin would, then calls across in both
// directions over HTTP/1.1, HTTP/2 and gRPC, then SecretFlow's PSI as a job
// between them (`ferry demo psi`: only that part).
import { request as httpRequest } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { homePaths, readConfig, writeConfig } from '../config.ts';
import { domainDataFile, psiDatasets, psiJob, psiPartyData, psiResult, psiTaskInputConfig } from './demo-psi.ts';
import { initHome, readCa } from '../home.ts';
import { startNode, type RunningNode } from '../node.ts';
import { freePorts } from '../util/ports.ts';
import { ApiClient } from './client.ts';
import { table } from './format.ts';
import { startGrpcEcho, startHttpEcho, grpcEchoCall, type Echo } from '../../examples/echo-services.ts';

interface DemoDomain {
  name: string;
  home: string;
  ports: { public: number; internal: number; api: number };
  node?: RunningNode;
  echo?: Echo;
  greeter?: Echo;
}

interface CallResult {
  call: string;
  protocol: string;
  status: string;
  latencyMs: number;
  detail: string;
}

const ROOT = join(import.meta.dirname, '..', '..');
const PSI_ROWS = 100_000;
const PSI_OVERLAP = 40_000;

export async function runDemo(opts: { keep: boolean; part?: 'all' | 'psi' }): Promise<void> {
  const part = opts.part ?? 'all';
  // The PSI engine first: installing it (once) takes a while and needs no node.
  const psiApp = join(process.env.FERRY_ENGINES_DIR ?? join(ROOT, '.tools'), 'psi-venv', 'appimage-secretflow-psi.yaml');
  {
    // Every time: quick when done, and it writes the AppImage with this checkout's paths.
    const r = spawnSync('bash', [join(ROOT, 'scripts', 'engines.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) {
      if (part === 'psi') throw new Error('the PSI engine could not be installed (scripts/engines.sh, above)');
      console.log('(the PSI engine could not be installed, see above: the demo runs without its PSI job)\n');
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'ferry-demo-'));
  chmodSync(dir, 0o711); // a root node's tasks run as nobody and pass through here to their own directory
  const domains: DemoDomain[] = [];
  const say = (s: string) => console.log(s);
  let ok = false;
  try {
    for (const name of ['alice', 'bob']) {
      // Envoy admin and xDS stay on the Unix sockets in <home>/run; KusciaAPI's gRPC gets a free port (two nodes would both take 8083).
      const [pub, internal, api, kusciaApiGrpc] = (await freePorts(4)) as [number, number, number, number];
      const d: DemoDomain = { name, home: join(dir, name), ports: { public: pub, internal, api } };
      initHome(d.home, name, { ...d.ports, kusciaApiGrpc });
      // bob approves alice's PSI jobs by policy (docs/jobs.md "Approval").
      if (name === 'bob') writeConfig(d.home, { ...readConfig(d.home), jobs: { autoApprove: [{ partners: ['alice'], appImages: ['secretflow-psi'] }] } });
      domains.push(d);
    }
    const [alice, bob] = domains as [DemoDomain, DemoDomain];
    say(`1. ferry init alice, bob in ${dir} (public ports ${alice.ports.public}, ${bob.ports.public})`);

    for (const d of domains) {
      d.echo = await startHttpEcho(`echo@${d.name}`);
      d.greeter = await startGrpcEcho(`greeter@${d.name}`);
      const log = pino({ level: 'info' }, pino.destination({ dest: join(homePaths(d.home).logs, 'ferry.log'), mkdir: true, sync: true }));
      d.node = await startNode(d.home, log);
    }
    say('2. started both nodes (control plane + Envoy) and an HTTP and a gRPC echo service per domain');

    for (const [self, peer] of [[alice, bob], [bob, alice]] as const) {
      const peerCa = Buffer.from(readCa(peer.home).certPem).toString('base64');
      const resources = [
        { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: peer.name }, spec: { role: 'partner', cert: peerCa } },
        {
          apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'ClusterDomainRoute', metadata: { name: `${self.name}-${peer.name}` },
          spec: { source: self.name, destination: peer.name, authenticationType: 'MTLS', endpoint: { host: '127.0.0.1', ports: [{ name: 'https', port: peer.ports.public, protocol: 'HTTP', isTLS: true }] } },
        },
        serviceDoc('echo', self.echo!.port, peer.name, 'HTTP'),
        serviceDoc('greeter', self.greeter!.port, peer.name, 'GRPC'),
      ];
      await new ApiClient(self.home).call('POST', '/api/v1/apply', { resources });
    }
    say('3. exchanged CA certificates; applied Domains, routes both ways and Services (ferry apply)');
    await Promise.all(domains.map((d) => waitReady(d)));
    say('4. both Envoys acknowledged their configuration (/readyz)\n');

    const results: CallResult[] = [];
    for (const [from, to] of part === 'psi' ? [] : [[alice, bob], [bob, alice]] as const) {
      const label = `${from.name} -> echo.${to.name}.svc`;
      results.push(await timed(label, 'HTTP/1.1', () => http1Get(from.ports.internal, `echo.${to.name}.svc`)));
      results.push(await timed(label, 'HTTP/2', () => http2Get(from.ports.internal, `echo.${to.name}.svc`)));
      results.push(await timed(`${from.name} -> greeter.${to.name}.svc`, 'gRPC', async () => {
        const r = await grpcEchoCall(`127.0.0.1:${from.ports.internal}`, `greeter.${to.name}.svc`, 'hello');
        return { status: 'OK', detail: `${r.service} saw source ${r.source}` };
      }));
    }
    if (results.length) say(table([['CALL', 'PROTOCOL', 'STATUS', 'LATENCY', 'WHAT ARRIVED'], ...results.map((r) => [r.call, r.protocol, r.status, `${r.latencyMs.toFixed(1)} ms`, r.detail])]));
    ok = results.every((r) => r.status === '200' || r.status === 'OK');
    if (!ok) throw new Error('some demo calls failed: see the table and the logs above');
    if (existsSync(psiApp)) await psiPart(alice, bob, psiApp, say);
    say(`\nLogs: ${domains.map((d) => homePaths(d.home).logs).join('  ')}${opts.keep ? '' : ' (removed at exit; --keep keeps them)'}`);
    if (opts.keep) {
      say(`\nKept running (Ctrl-C stops). Try:\n  curl -H 'Host: echo.bob.svc' http://127.0.0.1:${alice.ports.internal}/\n  ./bin/ferry status --home ${alice.home}`);
      await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve); });
    }
  } finally {
    for (const d of domains) {
      await d.node?.stop();
      await d.echo?.close();
      await d.greeter?.close();
    }
    if (!opts.keep) rmSync(dir, { recursive: true, force: true });
    else console.log(`homes kept in ${dir}`);
  }
}

/** SecretFlow's PSI between the two domains as a job: alice submits, bob approves by policy, both get the intersection. */
async function psiPart(alice: DemoDomain, bob: DemoDomain, psiApp: string, say: (s: string) => void): Promise<void> {
  say(`\n5. PSI: ${PSI_ROWS.toLocaleString('en')} rows at each domain, ${PSI_OVERLAP.toLocaleString('en')} in common, each a DomainData granted to the other; SecretFlow's engine (spu 0.9.5) as a job from alice, bob approving by policy, reading and writing through each node's DataMesh`);
  const app = YAML.parse(readFileSync(psiApp, 'utf8')) as object;
  const data = psiDatasets(PSI_ROWS, PSI_OVERLAP, 7);
  // Each domain's input is a DomainData of its own, granted to the other for this PSI (docs/datamesh.md); the engine reads it
  // and writes the intersection as a new DomainData through its node's DataMesh.
  for (const d of [alice, bob]) {
    const partner = d === alice ? bob.name : alice.name;
    const own = psiPartyData(d.home, d.name, partner, `demo-psi-${d.name}`, data[d.name as 'alice' | 'bob']);
    await new ApiClient(d.home).call('POST', '/api/v1/apply', { resources: [app, ...own] });
  }
  const started = performance.now();
  const outputs = ['demo-psi-result-alice', 'demo-psi-result-bob'];
  await new ApiClient(alice.home).call('POST', '/api/v1/jobs', psiJob('demo-psi', 'alice', ['alice', 'bob'], psiTaskInputConfig('PROTOCOL_ECDH', 'alice', ['alice', 'bob'], { inputs: ['demo-psi-alice', 'demo-psi-bob'], outputs })));
  const phases = await Promise.all([alice, bob].map((d) => jobEnd(d, 'demo-psi')));
  const seconds = (performance.now() - started) / 1000;
  const rows = [alice, bob].map((d, i) => {
    const log = readFileSync(join(homePaths(d.home).logs, 'tasks', 'demo-psi-psi.log'), 'utf8');
    const r = psiResult(log);
    return [d.name, phases[i]!, r ? String(r.intersection_count) : '-', r ? `${r.seconds} s` : '-', `DomainData ${outputs[i]} (${domainDataFile(d.home, `${outputs[i]}.csv`)})`];
  });
  say(table([['DOMAIN', 'JOB', 'INTERSECTION', 'ENGINE TIME', 'RESULT'], ...rows]));
  say(`job demo-psi: submitted to Succeeded at both in ${seconds.toFixed(1)} s (expected intersection ${PSI_OVERLAP})`);
  if (phases.some((p) => p !== 'Succeeded') || rows.some((r) => r[2] !== String(PSI_OVERLAP))) throw new Error(`the PSI job did not end as expected: ferry job describe demo-psi --home ${alice.home}`);
}

async function jobEnd(d: DemoDomain, name: string): Promise<string> {
  const deadline = Date.now() + 600_000;
  const client = new ApiClient(d.home);
  while (Date.now() < deadline) {
    const job = await client.call<{ status?: { phase?: string } }>('GET', `/api/v1/jobs/${name}`).catch(() => undefined);
    const phase = job?.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed' || phase === 'Cancelled' || phase === 'ApprovalReject') return phase;
    await new Promise((r) => setTimeout(r, 250));
  }
  return 'timed out';
}

function serviceDoc(name: string, port: number, peer: string, protocol: string) {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, annotations: { 'kuscia.secretflow/access-domain': peer, 'kuscia.secretflow/protocol': protocol } },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port }] },
  };
}

async function waitReady(d: DemoDomain): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const s = await d.node!.status();
    if (s.envoy.ready && s.xds.converged) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${d.name} did not become ready in 30 s: see ${homePaths(d.home).logs}`);
}

async function timed(call: string, protocol: string, fn: () => Promise<{ status: string; detail: string }>): Promise<CallResult> {
  const start = performance.now();
  try {
    const r = await fn();
    return { call, protocol, ...r, latencyMs: performance.now() - start };
  } catch (e) {
    return { call, protocol, status: 'FAILED', detail: (e as Error).message, latencyMs: performance.now() - start };
  }
}

function describeEcho(body: string, headers: Record<string, unknown>): string {
  try {
    const e = JSON.parse(body) as { service: string; kuscia: Record<string, string> };
    return `${e.service} saw source ${e.kuscia['kuscia-source']}`;
  } catch {
    return String(headers['kuscia-error-message'] ?? body.slice(0, 80));
  }
}

function http1Get(port: number, host: string): Promise<{ status: string; detail: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/demo', headers: { host }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve({ status: String(res.statusCode), detail: describeEcho(body, res.headers) }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end();
  });
}

function http2Get(port: number, authority: string): Promise<{ status: string; detail: string }> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const req = session.request({ ':path': '/demo', ':authority': authority });
    let status = '';
    let headers: Record<string, unknown> = {};
    let body = '';
    req.on('response', (h) => { status = String(h[':status']); headers = h; });
    req.setEncoding('utf8').on('data', (c: string) => { body += c; });
    req.on('end', () => { session.close(); resolve({ status, detail: describeEcho(body, headers) }); });
    req.on('error', (e) => { session.close(); reject(e); });
    req.setTimeout(10_000, () => req.close());
  });
}
