// KusciaAPI over TLS and mTLS, as Kuscia serves it: alice with protocol MTLS,
// bob with TLS, each on an HTTP port of its own. SecretFlow's PyPI client
// (test/support/kusciaapi_pypi_tls.py) connects the way Kuscia's docs say
// (ca.crt, kusciaapi-server.crt/.key, the token) and is refused without a
// client certificate, with one from another CA, in plaintext, with a wrong
// token. Then a job created over HTTPS runs to Succeeded through both nodes
// with the test engine, watched over HTTPS, with Kuscia's task details.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { ROOT, TestNode, docs, freePorts, partnerDomain, routeTo, tempDir, waitFor } from '../support/harness.ts';
import { kusciaToken } from '../support/kusciaapi-client.ts';
import { testEngineAppImage } from '../support/test-engine-app.ts';
import { createDomainCa, issueServiceCert } from '../../certs/authority.ts';
import { byStep, runPythonClient } from '../support/python-client.ts';

const python = join(process.env.FERRY_KUSCIA_VENV ?? join(ROOT, '.tools', 'kuscia-venv'), 'bin', 'python');
const grpcurl = process.env.FERRY_GRPCURL ?? join(ROOT, '.tools', 'grpcurl', 'bin', 'grpcurl');
const noGrpcurl = existsSync(grpcurl) ? false : `no ${grpcurl}: scripts/setup.sh builds it (go install)`;

interface Tls { ca: string; cert?: string; key?: string }
const certsOf = (node: TestNode) => ({ ca: join(node.home, 'certs', 'ca.crt'), cert: join(node.home, 'certs', 'kusciaapi-server.crt'), key: join(node.home, 'certs', 'kusciaapi-server.key') });
const pem = (tls: Tls) => ({ ca: readFileSync(tls.ca), ...(tls.cert ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key!) } : {}) });

/** One KusciaAPI call over HTTPS (JSON). */
function httpsCall(port: number, tls: Tls, token: string, path: string, body: unknown): Promise<{ http: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', ...pem(tls), headers: { token, 'content-type': 'application/json' }, timeout: 20_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => { text += d; }).on('end', () => resolve({ http: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** WatchJob over HTTPS: the job's states in order until Succeeded (Kuscia's concatenated JSON, split as it comes). */
function watchOverHttps(port: number, tls: Tls, token: string, job: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const states: string[] = [];
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/job/watch', method: 'POST', ...pem(tls), headers: { token, 'content-type': 'application/json' } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8').on('data', (d: string) => {
        buffer += d;
        let depth = 0;
        let inString = false;
        let start = 0;
        for (let i = 0; i < buffer.length; i++) {
          const c = buffer[i];
          if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; } else if (c === '"') inString = true;
          else if (c === '{') depth++;
          else if (c === '}' && --depth === 0) {
            const e = JSON.parse(buffer.slice(start, i + 1)) as { object?: { job_id: string; status?: { state?: string } } };
            start = i + 1;
            if (e.object?.job_id !== job) continue;
            const state = e.object.status?.state ?? '';
            if (states.at(-1) !== state) states.push(state);
            if (state === 'Succeeded') { req.destroy(); resolve(states); return; }
          }
        }
        buffer = buffer.slice(start);
      }).on('end', () => resolve(states));
    });
    req.on('error', (e) => (states.at(-1) === 'Succeeded' ? resolve(states) : reject(e)));
    req.end(JSON.stringify({ timeout_seconds: 150 }));
  });
}

async function runPython(script: string, args: unknown): Promise<{ code: number | null; steps: Record<string, any>; out: string; err: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await runPythonClient(python, script, args);
  return { code: r.code, steps: byStep(r.lines), out: r.out, err: r.err };
}

describe('KusciaAPI over TLS and mTLS', () => {
  let alice: TestNode;
  let bob: TestNode;
  let http: { alice: number; bob: number };
  const other: Record<string, string> = {};

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0 into .tools/kuscia-venv), or set FERRY_KUSCIA_VENV`);
    const [a, b] = await freePorts(2);
    http = { alice: a!, bob: b! };
    [alice, bob] = await Promise.all([
      TestNode.init('alice', { initArgs: ['--kusciaapi-protocol', 'MTLS', '--kusciaapi-http-port', String(http.alice)] }),
      TestNode.init('bob', { initArgs: ['--kusciaapi-protocol', 'TLS', '--kusciaapi-http-port', String(http.bob)] }),
    ]);
    await Promise.all([alice, bob].map((n) => n.start({ FERRY_JOB_RESYNC_MS: '2000' })));
    const app = testEngineAppImage(['svc']);
    await alice.apply(docs(app, partnerDomain(bob), routeTo(alice, bob)));
    await bob.apply(docs(app, partnerDomain(alice), routeTo(bob, alice)));
    // What a stranger holds: its own CA, and a client pair that CA signed.
    const dir = tempDir('mallory');
    const ca = createDomainCa('mallory');
    const pair = issueServiceCert(ca, { commonName: 'KusciaAPI', organization: 'mallory', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], days: 1 });
    for (const [k, v] of Object.entries({ other_ca: ca.certPem, other_cert: pair.certPem, other_key: pair.keyPem })) writeFileSync(other[k] = join(dir, k), v);
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('the server pair is made at first start, signed by the domain CA, with Kuscia\'s names', () => {
    const c = certsOf(alice);
    const cert = new X509Certificate(readFileSync(c.cert));
    assert.ok(cert.checkIssued(new X509Certificate(readFileSync(c.ca))));
    assert.match(cert.subject, /CN=KusciaAPI/);
    assert.match(cert.subjectAltName ?? '', /DNS:kusciaapi/);
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
  });

  test('MTLS at alice: the PyPI client with Kuscia\'s files; refused without a client certificate, with another CA\'s, in plaintext, with a wrong token', async () => {
    const r = await runPython('kusciaapi_pypi_tls.py', { grpc: `127.0.0.1:${alice.ports.kusciaGrpc}`, http: `127.0.0.1:${http.alice}`, ...certsOf(alice), token: kusciaToken(alice), mode: 'MTLS', domain: 'bob', ...other });
    assert.equal(r.code, 0, `client failed: ${r.err}\n${r.out}`);
    const s = r.steps;
    assert.deepEqual(s['grpc QueryDomain'], { step: 'grpc QueryDomain', ok: true, code: 0, domain_id: 'bob' });
    assert.equal(s['grpc healthZ'].ready, true);
    assert.equal(s['grpc wrong token'].grpc, 'UNAUTHENTICATED');
    assert.match(s['grpc wrong token'].details, /^token: missing or wrong/);
    // Plaintext and a server the client does not trust fail at the handshake, as with Kuscia.
    for (const refused of ['grpc plaintext', 'grpc untrusted server']) {
      assert.equal(s[refused].ok, false, refused);
      assert.equal(s[refused].grpc, 'UNAVAILABLE', `${refused}: ${JSON.stringify(s[refused])}`);
    }
    // A client certificate that is missing or of another CA: every call refused, saying why.
    for (const refused of ['grpc no client cert', 'grpc client cert of another CA']) {
      assert.equal(s[refused].grpc, 'UNAUTHENTICATED', `${refused}: ${JSON.stringify(s[refused])}`);
      assert.match(s[refused].details, /^client certificate: none was sent, or it is not signed by this domain's CA/);
    }
    assert.deepEqual(s['https QueryDomain'], { step: 'https QueryDomain', http: 200, code: 0, domain_id: 'bob' });
    assert.deepEqual(s['https wrong token'], { step: 'https wrong token', http: 401, code: 11102 });
    // Over HTTPS a refused client certificate is told why, in Kuscia's envelope (and the node logs it).
    assert.equal(s['https no client cert'].http, 401);
    assert.equal(s['https no client cert'].code, 11102);
    assert.match(s['https no client cert'].message, /^client certificate: none was sent: MTLS needs a certificate signed by this domain's CA/);
    assert.equal(s['https client cert of another CA'].http, 401);
    assert.match(s['https client cert of another CA'].message, /^client certificate: "CN=KusciaAPI, O=mallory" is not signed by this domain's CA \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
    await waitFor('the refused certificates in alice\'s log', async () => (/KusciaAPI HTTPS: client certificate refused/.test(readFileSync(join(alice.home, 'logs', 'node.out'), 'utf8')) ? true : undefined), 10_000);
  });

  test('TLS at bob: a server certificate only; the token still required', async () => {
    const r = await runPython('kusciaapi_pypi_tls.py', { grpc: `127.0.0.1:${bob.ports.kusciaGrpc}`, http: `127.0.0.1:${http.bob}`, ...certsOf(bob), token: kusciaToken(bob), mode: 'TLS', domain: 'alice', ...other });
    assert.equal(r.code, 0, `client failed: ${r.err}\n${r.out}`);
    const s = r.steps;
    assert.equal(s['grpc QueryDomain'].domain_id, 'alice');
    assert.equal(s['grpc wrong token'].grpc, 'UNAUTHENTICATED');
    assert.equal(s['grpc plaintext'].grpc, 'UNAVAILABLE');
    assert.equal(s['grpc untrusted server'].grpc, 'UNAVAILABLE');
    assert.equal(s['https QueryDomain'].domain_id, 'alice');
    assert.equal(s['https wrong token'].http, 401);
  });

  test('grpcurl as Kuscia\'s docs run it: server reflection lists the services and answers a call, behind the token and the client certificate', { skip: noGrpcurl }, () => {
    const c = certsOf(alice);
    const tls = ['--cert', c.cert, '--key', c.key, '--cacert', c.ca];
    const run = (args: string[]) => spawnSync(grpcurl, args, { encoding: 'utf8', timeout: 30_000 });
    const target = `127.0.0.1:${alice.ports.kusciaGrpc}`;
    const listed = run([...tls, '-H', `Token: ${kusciaToken(alice)}`, target, 'list']);
    assert.equal(listed.status, 0, listed.stderr);
    for (const svc of ['DomainService', 'DomainRouteService', 'JobService', 'AppImageService', 'HealthService', 'DomainDataSourceService', 'DomainDataService', 'DomainDataGrantService']) assert.match(listed.stdout, new RegExp(`^kuscia\\.proto\\.api\\.v1alpha1\\.kusciaapi\\.${svc}$`, 'm'));
    const q = run([...tls, '-H', `Token: ${kusciaToken(alice)}`, '-d', '{"domain_id": "bob"}', target, 'kuscia.proto.api.v1alpha1.kusciaapi.DomainService.QueryDomain']);
    assert.equal(q.status, 0, q.stderr);
    const answer = JSON.parse(q.stdout) as { status?: { code?: number }; data: { domain_id: string; role: string } };
    assert.deepEqual([answer.status?.code ?? 0, answer.data.domain_id, answer.data.role], [0, 'bob', 'partner'], q.stdout);
    const described = run([...tls, '-H', `Token: ${kusciaToken(alice)}`, target, 'describe', 'kuscia.proto.api.v1alpha1.kusciaapi.QueryDomainRequest']);
    assert.match(described.stdout, /string domain_id = 2;/);
    // The data-source messages have proto3 optional fields: their descriptors link for Go's strict protodesc too.
    const sources = run([...tls, '-H', `Token: ${kusciaToken(alice)}`, '-d', '{"domain_id": "alice"}', target, 'kuscia.proto.api.v1alpha1.kusciaapi.DomainDataSourceService.ListDomainDataSource']);
    assert.equal(sources.status, 0, sources.stderr);
    assert.match(sources.stdout, /"datasourceId": "default-data-source"|"datasource_id": "default-data-source"/);
    const optional = run([...tls, '-H', `Token: ${kusciaToken(alice)}`, target, 'describe', 'kuscia.proto.api.v1alpha1.kusciaapi.UpdateDomainDataSourceRequest']);
    assert.equal(optional.status, 0, optional.stderr);
    assert.match(optional.stdout, /string name = 5;/);
    // Reflection too needs the token, and the handshake a client certificate.
    const noToken = run([...tls, target, 'list']);
    assert.notEqual(noToken.status, 0);
    assert.match(noToken.stderr, /Unauthenticated|token: missing or wrong/);
    const noCert = run(['-connect-timeout', '3', '--cacert', c.ca, '-H', `Token: ${kusciaToken(alice)}`, target, 'list']);
    assert.notEqual(noCert.status, 0);
    assert.match(noCert.stderr, /client certificate: none was sent/);
  });

  test('a job created over HTTPS runs to Succeeded at both nodes, watched over HTTPS, with task details', async () => {
    const a = { ...certsOf(alice) };
    const b = { ca: certsOf(bob).ca };
    const aToken = kusciaToken(alice);
    const bToken = kusciaToken(bob);
    const watched = watchOverHttps(http.alice, a, aToken, 'tls-job');
    const parties = [{ domain_id: 'alice', role: 'server' }, { domain_id: 'bob', role: 'client' }];
    const created = await httpsCall(http.alice, a, aToken, '/api/v1/job/create', {
      job_id: 'tls-job', initiator: 'alice', max_parallelism: 1,
      tasks: [{ alias: 'psi', app_image: 'test-engine', parties, task_input_config: JSON.stringify({ default: { lines: ['hello'] } }) },
        { alias: 'train', app_image: 'test-engine', parties, dependencies: ['psi'], task_input_config: '{}' }],
    });
    assert.deepEqual([created.http, created.body.status.code, created.body.data.job_id], [200, 0, 'tls-job'], JSON.stringify(created.body));
    await waitFor('the job awaiting approval at bob', async () => ((await httpsCall(http.bob, b, bToken, '/api/v1/job/query', { job_id: 'tls-job' })).body.data?.status?.state === 'AwaitingApproval' ? true : undefined), 60_000);
    const approved = await httpsCall(http.bob, b, bToken, '/api/v1/job/approve', { job_id: 'tls-job', result: 'APPROVE_RESULT_ACCEPT' });
    assert.equal(approved.body.status.code, 0, JSON.stringify(approved.body));
    const states = await watched;
    console.log(`watched at alice: ${states.join(' -> ')}`);
    // The transitions as they happened: each state once, in the job's order, ending Succeeded.
    const order = ['Pending', 'AwaitingApproval', 'Running', 'Succeeded'];
    assert.equal(states.at(-1), 'Succeeded', JSON.stringify(states));
    assert.ok(states.includes('Running'), JSON.stringify(states));
    assert.deepEqual(states.filter((x) => order.includes(x)), [...states].sort((x, y) => order.indexOf(x) - order.indexOf(y)), JSON.stringify(states));
    const atBob = await waitFor('Succeeded at bob', async () => {
      const q = await httpsCall(http.bob, b, bToken, '/api/v1/job/query', { job_id: 'tls-job' });
      return q.body.data?.status?.state === 'Succeeded' ? q.body.data : undefined;
    }, 60_000);
    const q = await httpsCall(http.alice, a, aToken, '/api/v1/job/query', { job_id: 'tls-job' });
    for (const [node, data] of [['alice', q.body.data], ['bob', atBob]] as const) {
      for (const t of data.status.tasks) {
        assert.equal(t.state, 'Succeeded', `${node} ${t.alias}`);
        assert.equal(t.progress, 1);
        assert.ok(t.create_time && t.start_time && t.end_time, `${node} ${t.alias} times: ${JSON.stringify(t)}`);
        assert.ok(Date.parse(t.create_time) <= Date.parse(t.end_time) && Date.parse(t.start_time) <= Date.parse(t.end_time), JSON.stringify(t));
        // Each node lists every party's endpoints (the engine's Cluster port "svc"): its own from its task's
        // allocated ports, the other's as the Service that party's runtime made for the task, in its domain.
        for (const p of t.parties as { domain_id: string; endpoints: { port_name: string; scope: string; endpoint: string }[] }[]) {
          assert.deepEqual(p.endpoints, [{ port_name: 'svc', scope: 'Cluster', endpoint: `${t.task_id}-svc.${p.domain_id}.svc` }], `${node}: ${JSON.stringify(p)}`);
        }
      }
    }
    // The psi task ended before train started, at both.
    const [psi, train] = q.body.data.status.tasks;
    assert.ok(Date.parse(psi.end_time) <= Date.parse(train.start_time), JSON.stringify([psi, train]));
  });
});
