// Two (three) real Ferry nodes with real Envoys on loopback: alice and bob
// talk both ways over one mTLS port each; carol is a partner of bob only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import { readFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { startGrpcEcho, startHttpEcho, grpcEchoCall, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';
import { readCa } from '../../control-plane/home.ts';
import WebSocket from 'ws';
import { TestNode, curl, docs, freePorts, partnerDomain, routeTo, service, startWebSocketEcho, startTcpEcho, connectTunnel, tempDir, waitFor } from '../support/harness.ts';

// bob's Envoy speaks state-of-the-world ADS, alice's delta: both variants carry real traffic.
describe('two domains over one mTLS port', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  const echoes: Echo[] = [];
  let certDir: string;

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob', { xdsVariant: 'sotw' }), TestNode.init('carol')]);
    const [bobEcho, bobGrpc, aliceEcho, bobWs, bobTcp] = await Promise.all([startHttpEcho('echo@bob'), startGrpcEcho('greeter@bob'), startHttpEcho('echo@alice'), startWebSocketEcho(), startTcpEcho()]);
    echoes.push(bobEcho, bobGrpc, aliceEcho, bobWs, bobTcp);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob), service('echo', aliceEcho.port, { access: 'bob' })));
    await bob.apply(docs(
      partnerDomain(alice),
      partnerDomain(carol),
      routeTo(bob, alice),
      service('echo', bobEcho.port, { access: 'alice,carol' }),
      service('greeter', bobGrpc.port, { access: 'alice', protocol: 'GRPC' }),
      service('secret', bobEcho.port),
      service('chat', bobWs.port, { access: 'alice' }),
      service('link', bobTcp.port, { access: 'alice', protocol: 'TCP' }),
      service('closed-link', bobTcp.port, { access: 'carol', protocol: 'TCP' }),
    ));
    // Client certificates for the refusal tests.
    certDir = tempDir('certs');
    const write = (name: string, c: { certPem: string; keyPem: string }) => {
      writeFileSync(join(certDir, `${name}.crt`), c.certPem);
      writeFileSync(join(certDir, `${name}.key`), c.keyPem);
    };
    write('stranger', issueGatewayCert(createDomainCa('alice'), 'alice')); // an unknown CA claiming alice
    write('carol-as-alice', issueGatewayCert(readCa(carol.home), 'alice')); // carol's CA vouching for alice
    // alice's own CA, but a certificate that expired an hour ago.
    write('alice-expired', issueGatewayCert(readCa(alice.home), 'alice', { lifetimeSeconds: 60, now: new Date(Date.now() - 3600_000) }));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop(), carol?.stop()]);
    await Promise.all(echoes.map((e) => e.close()));
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  const viaAlice = (path: string, extra: string[] = []) =>
    curl([...extra, '-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}${path}`]);

  test('HTTP/1.1 call alice -> bob, with Kuscia headers set by alice', async () => {
    const r = await viaAlice('/hello?x=1', ['--http1.1', '-H', 'Kuscia-Source: mallory', '-H', 'Kuscia-Origin-Source: mallory']);
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as EchoReply;
    assert.equal(echo.service, 'echo@bob');
    assert.equal(echo.path, '/hello?x=1');
    assert.equal(echo.host, 'echo.bob.svc');
    // The engine's forged headers are overwritten, never trusted.
    assert.equal(echo.kuscia['kuscia-source'], 'alice');
    assert.equal(echo.kuscia['kuscia-origin-source'], 'alice');
    assert.equal(echo.kuscia['kuscia-host'], 'echo.bob.svc');
    assert.equal(echo.kuscia['kuscia-token'], undefined, 'the token stays between gateways');
  });

  test('HTTP/2 (h2c) call alice -> bob, with a request body', async () => {
    const r = await viaAlice('/upload', ['--http2-prior-knowledge', '--data-binary', 'x'.repeat(100_000)]);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.httpVersion, '2', 'answered over HTTP/2');
    assert.equal((JSON.parse(r.body) as EchoReply).bodyBytes, 100_000);
  });

  test('absolute-form request through http_proxy', async () => {
    const r = await curl(['--proxy', `http://127.0.0.1:${alice.ports.internal}`, 'http://echo.bob.svc/via-proxy']);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as EchoReply).path, '/via-proxy');
  });

  test('gRPC unary call alice -> bob', async () => {
    const reply = await grpcEchoCall(`127.0.0.1:${alice.ports.internal}`, 'greeter.bob.svc', 'ping');
    assert.deepEqual(reply, { service: 'greeter@bob', message: 'ping', source: 'alice' });
  });

  test('WebSocket alice -> bob (HTTP/1.1 upgrade, carried as extended CONNECT over HTTP/2 between the gateways)', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${alice.ports.internal}/chat`, { headers: { host: 'chat.bob.svc' } });
    const messages: string[] = [];
    const waiters: (() => void)[] = [];
    ws.on('message', (d) => { messages.push(d.toString()); for (const w of waiters.splice(0)) w(); });
    const until = (n: number) => new Promise<void>((resolve) => { const check = () => (messages.length >= n ? resolve() : void waiters.push(check)); check(); });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode} ${res.headers['kuscia-error-message'] ?? ''}`)));
    });
    await until(1);
    assert.deepEqual(JSON.parse(messages[0]!), { hello: 'alice' });
    ws.send('one');
    ws.send('two');
    await until(3);
    assert.deepEqual(messages.slice(1), ['one', 'two']);
    ws.close();
  });

  test('raw TCP alice -> bob: CONNECT on the internal listener, CONNECT over HTTP/2 across, TCP to the service', async () => {
    const { status, socket } = await connectTunnel(alice.ports.internal, 'link.bob.svc:7000');
    assert.equal(status, 200);
    const payload = Buffer.alloc(256 * 1024, 7);
    let received = 0;
    const done = new Promise<void>((resolve) => socket.on('data', (d: Buffer) => { received += d.length; if (received >= payload.length) resolve(); }));
    socket.write(payload);
    await done;
    assert.equal(received, payload.length, 'every byte came back through both gateways');
    socket.destroy();

    // HTTP/1.0 CONNECT, as `nc -X connect` and socat send it.
    const old = await connectTunnel(alice.ports.internal, 'link.bob.svc:7000', '1.0');
    assert.equal(old.status, 200);
    old.socket.destroy();

    const wrongKind = await connectTunnel(alice.ports.internal, 'echo.bob.svc:80');
    assert.equal(wrongKind.status, 404);
    assert.match(wrongKind.headers, /service echo\.bob\.svc speaks HTTP; CONNECT reaches only Services declared with protocol TCP/i);
    wrongKind.socket.destroy();
    const nowhere = await connectTunnel(alice.ports.internal, 'link.dave.svc:7000');
    assert.equal(nowhere.status, 404);
    assert.match(nowhere.headers, /alice\/internal => no route to link\.dave\.svc/i);
    nowhere.socket.destroy();

    const refused = await connectTunnel(alice.ports.internal, 'closed-link.bob.svc:7000');
    assert.equal(refused.status, 403, 'a TCP service not exposed to alice');
    assert.match(refused.headers, /kuscia-error-message: bob\/public => service closed-link\.bob\.svc is not exposed to spiffe:\/\/alice\/ferry\/gateway/i);
    refused.socket.destroy();
  });

  test('local ports: 127.0.0.1:<port> reaches a peer service over HTTP or raw TCP, for engines that can set neither Host nor a proxy', async () => {
    const [httpPort, tcpPort] = await freePorts(2);
    await alice.apply(routeTo(alice, bob).replace('metadata: { name: alice-bob }', `metadata: { name: alice-bob, annotations: { ferry.secretflow/local-ports: "${httpPort}:echo, ${tcpPort}:link/tcp" } }`));
    // Forged Kuscia-* headers from the engine are overwritten on a local port too.
    const r = await curl(['-H', 'Kuscia-Source: carol', '-H', 'Kuscia-Origin-Source: carol', '-H', 'Kuscia-Host: secret.bob.svc', '-H', 'Kuscia-Token: stolen', `http://127.0.0.1:${httpPort}/mapped`]);
    assert.equal(r.status, 200, r.body);
    const echo = JSON.parse(r.body) as EchoReply;
    assert.equal(echo.service, 'echo@bob');
    assert.equal(echo.host, 'echo.bob.svc');
    assert.equal(echo.kuscia['kuscia-source'], 'alice');
    assert.equal(echo.kuscia['kuscia-origin-source'], 'alice');
    assert.equal(echo.kuscia['kuscia-host'], 'echo.bob.svc');
    assert.equal(echo.kuscia['kuscia-token'], undefined);

    const socket = connect(tcpPort!, '127.0.0.1');
    await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
    const payload = Buffer.alloc(100_000, 3);
    let got = 0;
    const back = new Promise<void>((resolve) => socket.on('data', (d: Buffer) => { got += d.length; if (got >= payload.length) resolve(); }));
    socket.write(payload);
    await back;
    assert.equal(got, payload.length);
    socket.destroy();

    // A port the node already uses is refused, and the route says why.
    await alice.apply(routeTo(alice, bob).replace('metadata: { name: alice-bob }', `metadata: { name: alice-bob, annotations: { ferry.secretflow/local-ports: "${alice.ports.api}:echo" } }`));
    const d = alice.cli(['describe', 'route', 'alice-bob']);
    assert.match(d.stdout, new RegExp(`Reason:\\s+local port ${alice.ports.api} is already used by the node's api listener`));
    await alice.apply(routeTo(alice, bob));
  });

  test('a Service with several endpoints: requests spread, one Kuscia-Session-Id sticks to one endpoint', async () => {
    const [port] = await freePorts(1);
    const backends = await Promise.all([1, 2, 3].map((i) => startHttpEcho(`sticky@${i}`, port, `127.0.0.${i}`)));
    echoes.push(...backends);
    await bob.apply(`apiVersion: v1
kind: Service
metadata:
  name: sticky
  annotations: { kuscia.secretflow/access-domain: alice }
spec: { type: ExternalName, externalName: 127.0.0.1, externalIPs: [127.0.0.2, 127.0.0.3], ports: [{ port: ${port} }] }
`);
    const call = async (session: string) => {
      const r = await curl(['-H', 'Host: sticky.bob.svc', '-H', `Kuscia-Session-Id: ${session}`, `http://127.0.0.1:${alice.ports.internal}/`]);
      assert.equal(r.status, 200, r.body);
      return (JSON.parse(r.body) as EchoReply).service;
    };
    const same = new Set<string>();
    for (let i = 0; i < 10; i++) same.add(await call('task-42'));
    assert.equal(same.size, 1, `one session, one endpoint: ${[...same]}`);
    const spread = new Set<string>();
    for (let i = 0; i < 30; i++) spread.add(await call(`task-${i}`));
    assert.ok(spread.size >= 2, `sessions spread over the endpoints: ${[...spread]}`);
  });

  test('one request id in the JSON access logs of both domains', async () => {
    const id = `trace-${Date.now()}`;
    const r = await viaAlice('/traced', ['-H', `x-request-id: ${id}`]);
    assert.equal(r.status, 200);
    const entry = (home: string, file: string) => waitFor(`${file} to log ${id}`, async () => {
      const text = await readFile(join(home, 'logs', file), 'utf8').catch(() => '');
      const line = text.split('\n').find((l) => l.includes(id));
      return line ? (JSON.parse(line) as Record<string, unknown>) : undefined;
    });
    const [sent, received] = await Promise.all([entry(alice.home, 'access-internal.log'), entry(bob.home, 'access-public.log')]);
    assert.equal(sent.status, 200);
    assert.equal(sent.host, 'echo.bob.svc');
    assert.equal(sent.upstream_cluster, 'alice-to-bob-https');
    assert.equal(received.source, 'alice');
    assert.equal(received.peer_identity, 'spiffe://alice/ferry/gateway');
    assert.equal(received.service, 'echo');
    // bob's Services on the echo server's address share its cluster (translate/resources-to-ir.ts sharedBackends).
    assert.match(String(received.upstream_cluster), /^(service-echo|backend-127_0_0_1-\d+-http)$/);
    assert.equal(received.path, '/traced');
  });

  test('the other direction: bob -> alice', async () => {
    const r = await curl(['-H', 'Host: echo.alice.svc', `http://127.0.0.1:${bob.ports.internal}/back`]);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'bob');
  });

  test("bob's public port refuses a client without a certificate", async () => {
    const r = await curl(['-k', '-H', 'Kuscia-Host: echo.bob.svc', `https://127.0.0.1:${bob.ports.public}/`]);
    assert.equal(r.status, 0, 'no HTTP response at all');
    assert.notEqual(r.exit, 0);
  });

  /** A request to bob's public port as alice, with the client certificate `<cert>.crt`/`.key`. */
  const asAlice = (cert: string) => curl(['-k', '--cert', `${cert}.crt`, '--key', `${cert}.key`,
    '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc', '-H', 'Kuscia-Source: alice', `https://127.0.0.1:${bob.ports.public}/`]);
  const refusedAtHandshake = (r: { status: number; exit: number }) => {
    assert.equal(r.status, 0, 'no HTTP answer: the handshake fails');
    assert.notEqual(r.exit, 0);
  };

  test("bob's public port refuses a certificate from a CA bob does not trust", async () => {
    refusedAtHandshake(await asAlice(join(certDir, 'stranger')));
  });

  test("bob's public port refuses an expired certificate from a trusted partner's CA", async () => {
    refusedAtHandshake(await asAlice(join(certDir, 'alice-expired')));
    assert.equal((await asAlice(join(alice.home, 'certs', 'gateway'))).status, 200, "the same request with alice's current certificate passes");
  });

  test("a partner's CA is trusted for that partner only: carol's CA cannot vouch for alice", async () => {
    refusedAtHandshake(await asAlice(join(certDir, 'carol-as-alice')));
  });

  test("a partner's own filter chain (chosen by its ALPN token) trusts that partner's CA alone", async () => {
    const call = (cert: string, alpn: string) => new Promise<number>((resolve) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: bob.ports.public, path: '/', agent: false, rejectUnauthorized: false,
        cert: readFileSync(join(`${cert}.crt`)), key: readFileSync(join(`${cert}.key`)), ALPNProtocols: [alpn, 'http/1.1'],
        headers: { host: 'echo.bob.svc', 'kuscia-host': 'echo.bob.svc', 'kuscia-source': 'alice' },
      } as RequestOptions & { ALPNProtocols: string[] }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', () => resolve(0)); // the handshake was refused
      req.end();
    });
    const aliceCert = join(alice.home, 'certs', 'gateway');
    assert.equal(await call(aliceCert, 'ferry-from-alice'), 200, "alice on alice's chain");
    assert.equal(await call(join(certDir, 'carol-as-alice'), 'ferry-from-alice'), 0, "carol's CA on alice's chain");
    assert.equal(await call(aliceCert, 'ferry-from-carol'), 0, "alice's certificate on carol's chain");
  });

  test('a trusted partner claiming another domain in Kuscia-Source gets 403', async () => {
    const cert = join(carol.home, 'certs', 'gateway.crt');
    const key = join(carol.home, 'certs', 'gateway.key');
    const url = `https://127.0.0.1:${bob.ports.public}/`;
    const ok = await curl(['-k', '--cert', cert, '--key', key, '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc', '-H', 'Kuscia-Source: carol', url]);
    assert.equal(ok.status, 200, 'carol as herself is allowed');
    const forged = await curl(['-k', '--cert', cert, '--key', key, '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc', '-H', 'Kuscia-Source: alice', url]);
    assert.equal(forged.status, 403);
    assert.match(forged.headers['kuscia-error-message'] ?? '', /^bob\/public => Kuscia-Source "alice" \/ Kuscia-Origin-Source "" is not the caller proven by its client certificate \(spiffe:\/\/carol\/ferry\/gateway\)/);
    const body = JSON.parse(forged.body) as { domain: string; status: number; message: string };
    assert.equal(body.domain, 'bob');
    assert.equal(body.status, 403);
    const origin = await curl(['-k', '--cert', cert, '--key', key, '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc', '-H', 'Kuscia-Source: carol', '-H', 'Kuscia-Origin-Source: alice', url]);
    assert.equal(origin.status, 403, 'no relay is configured, so another origin is refused');
    const mismatch = await curl(['-k', '--cert', cert, '--key', key, '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: secret.bob.svc', '-H', 'Kuscia-Source: carol', url]);
    assert.equal(mismatch.status, 403, 'Kuscia-Host decides the target (Host may be rewritten on the way): carol may not call secret');
    assert.match(mismatch.headers['kuscia-error-message'] ?? '', /service secret\.bob\.svc is not exposed to spiffe:\/\/carol\/ferry\/gateway/);
  });

  test('a Service not exposed to the caller gets 403 with Kuscia-Error-Message', async () => {
    const r = await curl(['-H', 'Host: secret.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(r.status, 403);
    assert.equal(r.headers['kuscia-error-message'], "bob/public => service secret.bob.svc is not exposed to spiffe://alice/ferry/gateway: bob must list it in the Service's kuscia.secretflow/access-domain annotation");
    assert.equal((JSON.parse(r.body) as { domain: string }).domain, 'bob');
  });

  test('an unknown service gets 404 from the peer; an unknown domain gets 404 locally', async () => {
    const unknownService = await curl(['-H', 'Host: nothing.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(unknownService.status, 404);
    assert.match(unknownService.headers['kuscia-error-message'] ?? '', /^bob\/public => no service nothing\.bob\.svc in bob/);
    const unknownDomain = await curl(['-H', 'Host: echo.dave.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(unknownDomain.status, 404);
    assert.match(unknownDomain.headers['kuscia-error-message'] ?? '', /^alice\/internal => no route to echo\.dave\.svc/);
  });

  test('a peer that does not answer gives 503 naming the failure; describe explains a route that is not ready', async () => {
    const [deadPort] = await freePorts(1);
    await alice.apply(docs(partnerDomain(carol), routeTo(alice, { domain: 'carol', ports: { public: deadPort! } })));
    const r = await curl(['-H', 'Host: echo.carol.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(r.status, 503);
    assert.match(r.headers['kuscia-error-message'] ?? '', /^alice\/internal => peer unreachable: .*(refused|connect)/i);

    // A route to a domain alice has no Domain for: not ready, and said why.
    await alice.apply(routeTo(alice, { domain: 'dave', ports: { public: deadPort! } }));
    const d = alice.cli(['describe', 'route', 'alice-dave']);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Ready:\s+False/);
    assert.match(d.stdout, /Reason:\s+partner Domain dave is unknown/);
    assert.match(d.stdout, /Fix:\s+apply a Domain named dave/);
    const blocked = await curl(['-H', 'Host: echo.dave.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(blocked.status, 503);
    assert.match(blocked.headers['kuscia-error-message'] ?? '', /route ClusterDomainRoute\/alice-dave is not ready: partner Domain dave is unknown/);
  });

  test('a peer whose certificate does not verify gives 503 with the TLS reason', async () => {
    // alice is told (wrongly) that bob's CA is carol's: bob's gateway certificate cannot verify.
    await alice.apply(partnerDomain(carol).replace(`name: ${carol.domain} }`, 'name: mallory }') + '---\n' + routeTo(alice, { domain: 'mallory', ports: { public: bob.ports.public } }));
    const r = await curl(['-H', 'Host: echo.mallory.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(r.status, 503);
    assert.match(r.headers['kuscia-error-message'] ?? '', /^alice\/internal => peer unreachable: TLS_error:.*CERTIFICATE_VERIFY_FAILED/);
  });

  test('an invalid document is refused with the field named, and nothing changes', async () => {
    const before = bob.cli(['get', 'service', '-o', 'json']);
    const bad = docs(service('fresh', 9999, { access: 'alice' }), `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: bob-alice }
spec:
  source: bob
  destination: alice
  authenticationType: MTLS
  endpoint: { host: 127.0.0.1, ports: [{ name: https, port: "eighty", protocol: HTTP }] }
`);
    const r = bob.cli(['apply', '-f', '-'], bad);
    assert.notEqual(r.code, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    assert.match(r.stderr, /document 2 \(ClusterDomainRoute\/bob-alice\): spec\.endpoint\.ports\[0\]\.port/);
    assert.equal(bob.cli(['get', 'service', '-o', 'json']).stdout, before.stdout, 'the valid first document was not applied either');
    const yamlError = bob.cli(['apply', '-f', '-'], 'kind: [unclosed');
    assert.notEqual(yamlError.code, 0);
    assert.match(yamlError.stderr, /invalid YAML at line 1/);
  });

  test('ferry logs filters the access logs by peer and status', async () => {
    const id = `logs-${Date.now()}`;
    await viaAlice('/for-logs', ['-H', `x-request-id: ${id}`]);
    const ok = await waitFor('the request in ferry logs', async () => {
      const r = alice.cli(['logs', '--peer', 'bob', '--status', '2xx']);
      return r.stdout.includes(id) ? r : undefined;
    });
    assert.equal(ok.code, 0);
    const line = ok.stdout.split('\n').find((l) => l.includes(id))!;
    assert.match(line, /internal 200 GET echo\.bob\.svc\/for-logs from alice /);
    const failures = alice.cli(['logs', '--status', '5xx']);
    assert.ok(!failures.stdout.includes(id), 'a 200 is not a 5xx');
    assert.match(failures.stdout, / 503 GET echo\.carol\.svc\//, 'the 503 of the unreachable peer is there');
    const entry = await waitFor('the request in bob\'s logs', async () => bob.cli(['logs', '--peer', 'alice', '-o', 'json']).stdout
      .split('\n').filter(Boolean).map((l) => JSON.parse(l) as { request_id: string; listener: string }).find((e) => e.request_id === id));
    assert.equal(entry.listener, 'public', 'bob logged the same request id on its public listener');
    const bad = alice.cli(['logs', '--status', 'teapot']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status: "teapot" is not a status/);
  });

  test("removing a partner refuses its next request at once, even on a connection it already has open", async () => {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 1, cert: readFileSync(join(carol.home, 'certs', 'gateway.crt')), key: readFileSync(join(carol.home, 'certs', 'gateway.key')), rejectUnauthorized: false });
    const ask = () => new Promise<{ status: number; socket: unknown }>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port: bob.ports.public, path: '/', agent, headers: { host: 'echo.bob.svc', 'kuscia-host': 'echo.bob.svc', 'kuscia-source': 'carol' } }, (res) => {
        res.resume().on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket }));
      });
      req.on('error', reject);
      req.end();
    });
    const first = await ask();
    assert.equal(first.status, 200, 'carol is a partner of bob');
    assert.equal(bob.cli(['delete', 'domain', 'carol']).code, 0);
    await bob.waitReady();
    const second = await ask();
    assert.equal(second.socket, first.socket, 'the same TLS connection');
    assert.equal(second.status, 403, 'refused on the open connection');
    agent.destroy();
    await bob.apply(partnerDomain(carol));
  });

  test('Envoy killed with SIGKILL is restarted by the supervisor and traffic works again', async () => {
    const before = await bob.status();
    const pid = before.envoy.pid!;
    process.kill(pid, 'SIGKILL');
    const after = await waitFor('a new Envoy', async () => {
      const s = await bob.status();
      return s.envoy.pid && s.envoy.pid !== pid ? s : undefined;
    });
    assert.equal(after.envoy.restarts, before.envoy.restarts + 1);
    await bob.waitReady();
    const r = await viaAlice('/after-restart');
    assert.equal(r.status, 200, r.body);
  });
});
