// The chart's wiring, run for real: two releases (alice and bob) rendered by
// helm, each pod's init container, Ferry node and official-Envoy container
// started here as processes with the command lines, env and volumes of the
// rendered manifest (test/helm/pod.ts), their readiness probes passing, and
// a call carried from alice's engines to bob's service through both pods.
// The CA Secrets come from the chart's pre-install Job, run the same way;
// its publish step talks to a stand-in of the Kubernetes API (no cluster
// here) that keeps the Secret it is given.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';
import { curl, freePorts, tempDir, waitFor } from '../support/harness.ts';
import { find, k8sTools, podSpecs, render, type K8sTools } from '../helm/chart.ts';
import { LocalPod, imageBin } from '../helm/pod.ts';

const tools = k8sTools();
const skip = typeof tools === 'string' ? tools : false;
const T = tools as K8sTools;

/** Secrets by namespace/name, as the stand-in API server keeps them (base64 data). */
interface FakeApi { url: { host: string; port: string }; token: string; caPem: string; secrets: Map<string, Record<string, string>>; calls: string[]; server: Server }

async function startFakeApi(): Promise<FakeApi> {
  const ca = createDomainCa('kube');
  const cert = issueGatewayCert(ca, 'kube', { ipAddresses: ['127.0.0.1'] });
  const token = 'sa-token-for-the-init-job';
  const secrets = new Map<string, Record<string, string>>();
  const calls: string[] = [];
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c; });
    req.on('end', () => {
      calls.push(`${req.method} ${req.url}`);
      const send = (code: number, obj: object) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      if (req.headers.authorization !== `Bearer ${token}`) return send(401, { kind: 'Status', code: 401 });
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(req.url ?? '');
      if (!m) return send(404, { kind: 'Status', code: 404 });
      const [, ns, name] = m;
      if (req.method === 'GET' && name) {
        const s = secrets.get(`${ns}/${name}`);
        return s ? send(200, { kind: 'Secret', metadata: { name }, data: s }) : send(404, { kind: 'Status', code: 404, reason: 'NotFound' });
      }
      if (req.method === 'POST' && !name) {
        const obj = JSON.parse(body) as { kind: string; metadata: { name: string }; data: Record<string, string> };
        if (obj.kind !== 'Secret') return send(400, { kind: 'Status', code: 400 });
        const key = `${ns}/${obj.metadata.name}`;
        if (secrets.has(key)) return send(409, { kind: 'Status', code: 409, reason: 'AlreadyExists' });
        secrets.set(key, obj.data);
        return send(201, obj);
      }
      return send(405, { kind: 'Status', code: 405 });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: { host: '127.0.0.1', port: String((server.address() as AddressInfo).port) }, token, caPem: ca.certPem, secrets, calls, server };
}

describe('Helm chart: the pod runs, two domains call each other through it', { skip }, () => {
  const dir = skip ? '' : tempDir('helm-pod');
  let api: FakeApi;
  let echo: Echo;
  const pods: LocalPod[] = [];
  let ports: Record<'alice' | 'bob', { public: number; internal: number; api: number; envoyAdmin: number; xds: number; kusciaApiGrpc: number; kusciaApiHttp: number }>;
  const secretOf = (domain: string) => {
    const data = api.secrets.get(`${domain}/ferry-ca`);
    assert.ok(data, `Secret ${domain}/ferry-ca published`);
    return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  };

  /** The pre-install Job of one release: `ferry init`, then the publish step against the API. */
  async function runInitJob(domain: string, bin: string): Promise<string> {
    const { objects } = render(T, { domain }, 'ferry', domain);
    const job = podSpecs(find(objects, 'Job'))[0]!.spec;
    const sa = join(dir, `sa-${domain}`);
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), api.token);
    writeFileSync(join(sa, 'ca.crt'), api.caPem);
    writeFileSync(join(sa, 'namespace'), domain);
    const pod = new LocalPod(job, join(dir, `job-${domain}-${Date.now()}`), objects, {}, {
      PATH: `${bin}:${process.env.PATH}`,
      KUBERNETES_SERVICE_HOST: api.url.host, KUBERNETES_SERVICE_PORT: api.url.port,
      SERVICE_ACCOUNT_DIR: sa,
    });
    await pod.runInits();
    const r = await pod.runToEnd('publish');
    assert.equal(r.code, 0, r.output);
    return r.output;
  }

  before(async () => {
    api = await startFakeApi();
    echo = await startHttpEcho('echo@bob');
    const p = await freePorts(14);
    const take = () => ({ public: p.shift()!, internal: p.shift()!, api: p.shift()!, envoyAdmin: p.shift()!, xds: p.shift()!, kusciaApiGrpc: p.shift()!, kusciaApiHttp: p.shift()! });
    ports = { alice: take(), bob: take() };
  });

  after(async () => {
    await Promise.all(pods.map((pod) => pod.stop()));
    await echo?.close();
    await new Promise((r) => api?.server.close(r));
    if (process.env.FERRY_KEEP_TEST_HOMES) console.log(`kept ${dir}`);
    else if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the pre-install Job makes each domain\'s CA Secret once; a second run keeps it', async () => {
    const bin = imageBin(dir);
    for (const d of ['alice', 'bob']) assert.match(await runInitJob(d, bin), /created \(ca\.crt, ca\.key, api-token\)/);
    const first = secretOf('alice');
    assert.match(first['ca.crt']!, /BEGIN CERTIFICATE/);
    assert.match(first['ca.key']!, /PRIVATE KEY/);
    assert.match(await runInitJob('alice', bin), /exists: kept as it is/);
    assert.deepEqual(secretOf('alice'), first, 'the CA partners trust is never replaced');
    assert.ok(!api.calls.some((c) => c.startsWith('PUT') || c.startsWith('DELETE')));
  });

  test('alice and bob pods start from the rendered manifests and pass their readiness probes', async () => {
    const bin = imageBin(dir);
    const ca64 = (d: string) => Buffer.from(secretOf(d)['ca.crt']!).toString('base64');
    const values = {
      alice: {
        domain: 'alice',
        ports: ports.alice,
        apply: {
          resources: [
            { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner', cert: ca64('bob') } },
            { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'ClusterDomainRoute', metadata: { name: 'alice-bob' }, spec: { source: 'alice', destination: 'bob', authenticationType: 'MTLS', endpoint: { host: '127.0.0.1', ports: [{ name: 'https', port: ports.bob.public, protocol: 'HTTP', isTLS: true }] } } },
          ],
        },
      },
      bob: {
        domain: 'bob',
        ports: ports.bob,
        // bob's resources come from a ConfigMap its admin maintains.
        apply: { configMaps: ['bob-partners'] },
      },
    };
    const bobPartners = {
      'partners.yaml': [
        `apiVersion: kuscia.secretflow/v1alpha1\nkind: Domain\nmetadata: { name: alice }\nspec: { role: partner, cert: ${ca64('alice')} }\n`,
        `apiVersion: v1\nkind: Service\nmetadata:\n  name: echo\n  annotations: { kuscia.secretflow/access-domain: alice }\nspec: { type: ExternalName, externalName: 127.0.0.1, ports: [{ port: ${echo.port} }] }\n`,
      ].join('---\n'),
    };
    for (const domain of ['alice', 'bob'] as const) {
      const { objects } = render(T, values[domain], 'ferry', domain);
      const spec = podSpecs(find(objects, 'Deployment'))[0]!.spec;
      const pod = new LocalPod(spec, join(dir, `pod-${domain}`), objects, {
        secrets: { 'ferry-ca': secretOf(domain) },
        configMaps: { 'bob-partners': bobPartners },
      }, { PATH: `${bin}:${process.env.PATH}` });
      pods.push(pod);
      await pod.start();
    }
    await Promise.all(pods.map((p) => p.ready(90_000)));
  });

  test('a call from alice\'s internal port reaches bob\'s service through both pods, over mTLS with Kuscia headers', async () => {
    let last: unknown;
    const r = await waitFor('alice -> echo.bob.svc answers 200', async () => {
      const res = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${ports.alice.internal}/hello`]);
      last = res;
      return res.status === 200 ? res : undefined;
    }, 30_000).catch(async (e: Error) => {
      const status = await Promise.all((['alice', 'bob'] as const).map(async (d) => (await fetch(`http://127.0.0.1:${ports[d].api}/api/v1/status`, { headers: { authorization: `Bearer ${secretOf(d)['api-token']!.trim()}` } })).text()));
      throw new Error(`${e.message}; last answer ${JSON.stringify(last)}; status ${status.join('\n')}`);
    });
    const reply = JSON.parse(r.body) as EchoReply;
    assert.equal(reply.service, 'echo@bob');
    assert.equal(reply.path, '/hello');
    assert.equal(reply.kuscia['kuscia-source'], 'alice');
    // Unknown services are refused by bob, not served.
    const refused = await curl(['-H', 'Host: nothing.bob.svc', `http://127.0.0.1:${ports.alice.internal}/`]);
    assert.notEqual(refused.status, 200);
  });

  test('KusciaAPI in the pod: MTLS as Kuscia serves it, with the files Kuscia\'s clients read from the pod', async () => {
    const home = pods[0]!.volumes.get('home')!;
    const file = (f: string) => readFileSync(join(home, 'certs', f));
    const call = (path: string, body: unknown, withCert: boolean) => new Promise<{ http: number; body: any }>((resolve, reject) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const req = request({ host: '127.0.0.1', port: ports.alice.kusciaApiHttp, path, method: 'POST', ca: file('ca.crt'), ...(withCert ? { cert: file('kusciaapi-server.crt'), key: file('kusciaapi-server.key') } : {}),
        headers: { token: file('token').toString().trim(), 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ http: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
    const q = await call('/api/v1/domain/query', { domain_id: 'bob' }, true);
    assert.deepEqual([q.http, q.body.status.code, q.body.data.domain_id, q.body.data.role], [200, 0, 'bob', 'partner'], JSON.stringify(q.body));
    const noCert = await call('/api/v1/domain/query', { domain_id: 'bob' }, false);
    assert.deepEqual([noCert.http, noCert.body.status.code], [401, 11102]);
    // The token is Kuscia's, derived from the domain key: the same in every replica made from the CA Secret.
    const { createSign } = await import('node:crypto');
    assert.equal(file('token').toString().trim(), createSign('sha256').update('alice').sign(secretOf('alice')['ca.key']!).toString('base64').slice(0, 32));
  });

  test('the node runs no Envoy of its own: the pod\'s Envoy container serves, and /metrics answers on the API port', async () => {
    for (const [i, domain] of (['alice', 'bob'] as const).entries()) {
      const pod = pods[i]!;
      const home = pod.volumes.get('home')!;
      const token = secretOf(domain)['api-token']!.trim();
      const status = await (await fetch(`http://127.0.0.1:${ports[domain].api}/api/v1/status`, { headers: { authorization: `Bearer ${token}` } })).json() as { envoy: { pid?: number; ready: boolean } };
      assert.equal(status.envoy.ready, true);
      assert.equal(status.envoy.pid, undefined, 'no Envoy child of the node');
      assert.ok(pod.pid('envoy'), 'Envoy runs as the second container');
      const metrics = await (await fetch(`http://127.0.0.1:${ports[domain].api}/metrics`)).text();
      assert.match(metrics, /ferry_envoy_up\S* 1/);
      assert.ok(home);
    }
  });
});
