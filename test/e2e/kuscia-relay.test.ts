// Issue 13: a Token route relayed hop by hop through a third domain, as Kuscia
// relays (scripts/templates/cluster_domain_route.token.transit.yaml). alice
// sends to the relay bob over her Token link to bob, naming carol's service in
// Kuscia-Host; bob authenticates alice's token and forwards with his own
// credential (an mTLS link to carol here: hops may differ) and
// Kuscia-Origin-Source: alice; carol believes bob about the origin only for the
// pair her route names, and applies the Service's access to alice. The relay
// reads the traffic: every status says so. HTTP/1.1, h2 and gRPC. Then a Kuscia
// origin (test/support/kuscia-peer.ts) through a Ferry relay.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { join } from 'node:path';
import { grpcEchoCall, startGrpcEcho, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';
import { tokenRoute } from '../support/routes.ts';
import { KusciaPeer } from '../support/kuscia-peer.ts';

/** Kuscia's Token transit route: from -> to through `via`, the same document on the origin, the relay and the destination. */
const tokenTransit = (from: { domain: string }, to: { domain: string }, via: { domain: string }) => `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
  interConnProtocol: kuscia
  authenticationType: Token
  tokenConfig: { tokenGenMethod: RSA-GEN, rollingUpdatePeriod: 600 }
  transit: { transitMethod: THIRD-DOMAIN, domain: { domainID: ${via.domain} } }
`;

async function accessLog(node: TestNode, match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return waitFor(`${node.domain}'s public access log entry`, async () => readFileSync(join(node.home, 'logs', 'access-public.log'), 'utf8')
    .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find(match), 10_000);
}

describe('Token route relayed hop by hop: alice -> bob -> carol (Kuscia\'s relay)', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  const echoes: Echo[] = [];

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    const [echo, greeter, bobsOwn] = await Promise.all([startHttpEcho('echo@carol'), startGrpcEcho('greeter@carol'), startHttpEcho('for-bob@carol')]);
    echoes.push(echo, greeter, bobsOwn);
    await Promise.all([alice, bob, carol].map((n) => n.start()));
    await carol.apply(docs(partnerDomain(alice), partnerDomain(bob), tokenTransit(alice, carol, bob),
      service('echo', echo.port, { access: 'alice' }), service('greeter', greeter.port, { access: 'alice', protocol: 'GRPC' }), service('for-bob', bobsOwn.port, { access: 'bob' })));
    await bob.apply(docs(partnerDomain(alice), partnerDomain(carol), tokenRoute(alice, bob), routeTo(bob, carol), tokenTransit(alice, carol, bob)));
    await alice.apply(docs(partnerDomain(bob), partnerDomain(carol), tokenRoute(alice, bob, { endpoint: { host: '127.0.0.1', port: bob.ports.public } }), tokenTransit(alice, carol, bob)));
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    await Promise.all(echoes.map((e) => e.close()));
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  const viaAlice = (args: string[], host = 'echo.carol.svc') => curl([...args, '-H', `Host: ${host}`, `http://127.0.0.1:${alice.ports.internal}/hop`]);

  test('alice reaches carol\'s services through bob over HTTP/1.1, h2 and gRPC; carol sees the origin alice, the hop bob', async () => {
    await waitFor('alice holds her token from bob', async () => ((await viaAlice(['--http1.1'])).status === 200 ? true : undefined), 30_000);
    for (const args of [['--http1.1'], ['--http2-prior-knowledge']]) {
      const r = await viaAlice(args);
      assert.equal(r.status, 200, `${args}: ${r.status} ${r.headers['kuscia-error-message'] ?? ''} ${r.body}`);
      const reply = JSON.parse(r.body) as EchoReply;
      assert.equal(reply.service, 'echo@carol');
      assert.equal(reply.host, 'echo.carol.svc');
      assert.equal(reply.kuscia['kuscia-origin-source'], 'alice', r.body);
      assert.equal(reply.kuscia['kuscia-source'], 'bob');
      assert.equal(reply.kuscia['kuscia-token'], undefined, 'no token reaches the service');
    }
    const g = await grpcEchoCall(`127.0.0.1:${alice.ports.internal}`, 'greeter.carol.svc', 'hi');
    assert.equal(g.service, 'greeter@carol');
    // The relay reads the traffic (that is what hop by hop means), and authenticated alice by her token.
    const atBob = await accessLog(bob, (l) => l.path === '/hop');
    assert.equal(atBob.route, 'hop-alice-to-carol-token');
    assert.equal(atBob.origin, 'alice');
    assert.equal(atBob.upstream_cluster, 'bob-to-carol-https', 'forwarded over bob\'s own route to carol');
    const atCarol = await accessLog(carol, (l) => l.path === '/hop');
    assert.equal(atCarol.peer_identity, 'spiffe://bob/ferry/gateway', 'bob\'s own certificate on the last hop');
    assert.equal(atCarol.origin, 'alice', JSON.stringify(atCarol));
  });

  test('every status says the relay reads the traffic; alice\'s handshake with carol runs through bob', async () => {
    assert.match(alice.cli(['describe', 'route', 'alice-carol']).stdout, /through the relay bob, hop by hop .*the relay reads the traffic/);
    assert.match(bob.cli(['describe', 'route', 'alice-carol']).stdout, /relay, hop by hop .*bob reads the traffic/);
    assert.match(carol.cli(['describe', 'route', 'alice-carol']).stdout, /inbound, hop by hop through the relay bob.*bob reads the traffic/);
    await waitFor('alice-carol ready (token handshake with carol through bob)', async () => (/Ready:\s+True/.test(alice.cli(['describe', 'route', 'alice-carol']).stdout) ? true : undefined), 30_000);
  });

  test('bob speaks for alice only as carol\'s route says, and gets nothing more for himself', async () => {
    // As bob's gateway sends: its certificate, its ALPN token (its own filter chain at carol).
    const cert = readFileSync(join(bob.home, 'certs', 'gateway.crt'), 'utf8');
    const key = readFileSync(join(bob.home, 'certs', 'gateway.key'), 'utf8');
    const asBob = (host: string, origin?: string) => new Promise<{ status: number }>((resolve) => {
      const headers: Record<string, string> = { 'kuscia-host': host, 'kuscia-source': 'bob', ...(origin ? { 'kuscia-origin-source': origin } : {}) };
      const options: RequestOptions & { ALPNProtocols: string[] } = { host: '127.0.0.1', port: carol.ports.public, method: 'GET', path: '/direct', servername: 'carol', rejectUnauthorized: false, cert, key, ALPNProtocols: ['ferry-from-bob', 'http/1.1'], agent: false, headers };
      const req = httpsRequest(options, (res) => {
        res.resume().on('end', () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on('error', () => resolve({ status: 0 }));
      req.end();
    });
    // With alice as the origin (the pair carol agreed to), bob's certificate reaches what alice may call.
    assert.equal((await asBob('echo.carol.svc', 'alice')).status, 200);
    // Himself: only what carol exposes to bob.
    assert.equal((await asBob('echo.carol.svc')).status, 403);
    assert.equal((await asBob('for-bob.carol.svc')).status, 200);
    // Another origin carol has no relayed route for: refused.
    const dave = await asBob('echo.carol.svc', 'dave');
    assert.equal(dave.status, 403);
    // A service not exposed to alice: refused even through the relay.
    assert.equal((await asBob('for-bob.carol.svc', 'alice')).status, 403);
    // At bob: a request for carol without alice's token is refused.
    const anon = await curl(['-k', '-H', 'Kuscia-Host: echo.carol.svc', `https://127.0.0.1:${bob.ports.public}/`]);
    assert.notEqual(anon.status, 200);
  });
});

describe('a Kuscia origin through a Ferry relay: kalice -> fbob -> carol (Token, hop by hop)', () => {
  let fbob: TestNode, carol: TestNode, kalice: KusciaPeer;
  const echoes: Echo[] = [];

  before(async () => {
    [fbob, carol] = await Promise.all([TestNode.init('fbob'), TestNode.init('carol')]);
    const [echo, greeter] = await Promise.all([startHttpEcho('echo@carol'), startGrpcEcho('greeter@carol')]);
    echoes.push(echo, greeter);
    kalice = new KusciaPeer({ domain: 'kalice', plaintext: false, auth: 'Token', services: {}, through: ['carol'] });
    await Promise.all([fbob.start(), carol.start()]);
    const kaliceDomain = `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: kalice }
spec: { role: partner, cert: ${kalice.certBase64} }
`;
    const transit = tokenTransit({ domain: 'kalice' }, carol, fbob);
    await carol.apply(docs(kaliceDomain, partnerDomain(fbob), transit, service('echo', echo.port, { access: 'kalice' }), service('greeter', greeter.port, { access: 'kalice', protocol: 'GRPC' })));
    await fbob.apply(docs(kaliceDomain, partnerDomain(carol), tokenRoute({ domain: 'kalice' }, fbob), routeTo(fbob, carol), transit));
    const partner = { domain: 'fbob', caPem: readFileSync(join(fbob.home, 'certs', 'ca.crt'), 'utf8'), publicPort: fbob.ports.public };
    await kalice.handshakeWith(partner);
    await kalice.start(partner);
  });

  after(async () => {
    await Promise.all([fbob?.stop(), carol?.stop(), kalice?.stop()]);
    await Promise.all(echoes.map((e) => e.close()));
    for (const n of [fbob, carol]) n?.cleanup();
  });

  test('Kuscia\'s sender (Host rewritten, Kuscia-Host, its token for fbob) reaches carol through fbob: HTTP/1.1, h2, gRPC', async () => {
    const viaKalice = (args: string[]) => curl([...args, '-H', 'Host: echo.carol.svc', `http://127.0.0.1:${kalice.ports.internal}/from-kuscia`]);
    await waitFor('fbob has installed kalice\'s token', async () => ((await viaKalice(['--http1.1'])).status === 200 ? true : undefined), 20_000);
    for (const args of [['--http1.1'], ['--http2-prior-knowledge']]) {
      const r = await viaKalice(args);
      assert.equal(r.status, 200, `${args}: ${r.status} ${r.headers['kuscia-error-message'] ?? ''} ${r.body}`);
      const reply = JSON.parse(r.body) as EchoReply;
      assert.equal(reply.service, 'echo@carol');
      assert.equal(reply.host, 'echo.carol.svc', 'carol restored Host from Kuscia-Host');
      assert.equal(reply.kuscia['kuscia-origin-source'], 'kalice');
      assert.equal(reply.kuscia['kuscia-source'], 'fbob');
    }
    const g = await grpcEchoCall(`127.0.0.1:${kalice.ports.internal}`, 'greeter.carol.svc', 'hi');
    assert.equal(g.service, 'greeter@carol');
  });
});
