// Third-party relay (THIRD-DOMAIN) with real Envoys on loopback: alice reaches
// bob through carol, with TLS kept end to end (bob sees alice's certificate;
// carol carries ciphertext in an HTTP/2 CONNECT tunnel), for HTTP/1.1, HTTP/2,
// gRPC streaming and raw TCP; carol relays only the pairs it agreed to; two
// relays in a chain work; and a forward proxy (squid) on the way to a relay.
// The same scenarios with the network enforcing who reaches whom are in
// relay-netns.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { GRPC_CHAT_METHOD, json, startGrpcChat, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, connectTunnel, curl, docs, partnerDomain, routeTo, service, startTcpEcho, waitFor } from '../support/harness.ts';
import { SQUID, startSquid } from '../support/squid.ts';
import { relayRule, relayedRoute } from '../support/routes.ts';

/** Lines of a node's access log (Envoy flushes them within a second). */
async function accessLog(node: TestNode, listener: string, match: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return waitFor(`${node.domain}'s ${listener} access log entry`, async () => readFileSync(join(node.home, 'logs', `access-${listener}.log`), 'utf8')
    .trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).find(match), 10_000);
}

describe('third-party relay: alice -> carol -> bob, TLS end to end', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode, dave: TestNode;
  let echo: Echo, chat: Echo, tcp: { port: number; close: () => Promise<void> };
  const extra: TestNode[] = [];

  before(async () => {
    [alice, bob, carol, dave] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol'), TestNode.init('dave')]);
    [echo, chat, tcp] = await Promise.all([startHttpEcho('echo@bob'), startGrpcChat(), startTcpEcho()]);
    await Promise.all([alice, bob, carol, dave].map((n) => n.start()));
    await bob.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' }), service('chat', chat.port, { access: 'alice', protocol: 'GRPC' }), service('link', tcp.port, { access: 'alice', protocol: 'TCP' })));
    await carol.apply(docs(partnerDomain(alice), partnerDomain(bob), routeTo(carol, bob), relayRule(alice, bob, carol)));
    await alice.apply(docs(partnerDomain(carol), partnerDomain(bob), routeTo(alice, carol), relayedRoute(alice, bob, carol)));
  });

  after(async () => {
    await Promise.all([alice, bob, carol, dave, ...extra].map((n) => n?.stop()));
    await Promise.all([echo?.close(), chat?.close(), tcp?.close()]);
    for (const n of [alice, bob, carol, dave, ...extra]) n?.cleanup();
  });

  test('HTTP/1.1 and HTTP/2 through the relay; bob authenticates alice\'s own certificate; carol logs only a CONNECT', async () => {
    const r1 = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/relayed`]);
    assert.equal(r1.status, 200, r1.body);
    assert.equal((JSON.parse(r1.body) as EchoReply).kuscia['kuscia-source'], 'alice');
    const r2 = await curl(['--http2-prior-knowledge', '-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/relayed-h2`]);
    assert.equal(r2.status, 200, r2.body);
    const atBob = await accessLog(bob, 'public', (l) => l.path === '/relayed');
    assert.equal(atBob.peer_identity, 'spiffe://alice/ferry/gateway', 'bob verified alice\'s certificate: TLS is end to end');
    const atCarol = await accessLog(carol, 'public', (l) => l.method === 'CONNECT');
    assert.equal(atCarol.host, 'ferry-relay.bob.svc:443');
    assert.equal(atCarol.peer_identity, 'spiffe://alice/ferry/gateway');
    const carolLog = readFileSync(join(carol.home, 'logs', 'access-public.log'), 'utf8');
    assert.doesNotMatch(carolLog, /\/relayed/, 'carol never sees the request path: it carries ciphertext');
    const described = alice.cli(['describe', 'clusterdomainroute', 'alice-bob']);
    assert.match(described.stdout, /through the relay carol \(TLS end to end to bob\)/);
    assert.match(carol.cli(['describe', 'clusterdomainroute', 'alice-bob']).stdout, /relay: carol carries alice -> bob/);
  });

  test('gRPC bidirectional streaming and raw TCP (CONNECT) through the relay', async () => {
    const client = new grpc.Client(`127.0.0.1:${alice.ports.internal}`, grpc.credentials.createInsecure());
    const call = client.makeBidiStreamRequest(GRPC_CHAT_METHOD, json.serialize, json.deserialize, new grpc.Metadata(), { host: 'chat.bob.svc' } as grpc.CallOptions);
    const replies: number[] = [];
    call.on('data', (m: unknown) => replies.push((m as { n: number }).n));
    for (let i = 1; i <= 20; i++) call.write({ n: i });
    await waitFor('20 streamed replies', async () => (replies.length >= 20 ? true : undefined), 15_000);
    call.end();
    client.close();

    const t = await connectTunnel(alice.ports.internal, `link.bob.svc:${tcp.port}`);
    assert.equal(t.status, 200, t.headers);
    const payload = Buffer.alloc(200_000, 7);
    let got = 0;
    const back = new Promise<void>((resolve) => t.socket.on('data', (d: Buffer) => { got += d.length; if (got >= payload.length) resolve(); }));
    t.socket.write(payload);
    await back;
    t.socket.destroy();
    assert.equal(got, payload.length);
  });

  test('carol relays only the pairs it agreed to: dave -> bob through carol gets 403 at carol', async () => {
    await dave.apply(docs(partnerDomain(carol), partnerDomain(bob), routeTo(dave, carol), relayedRoute(dave, bob, carol)));
    await carol.apply(partnerDomain(dave));
    const r = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${dave.ports.internal}/not-agreed`]);
    assert.notEqual(r.status, 200);
    const refused = await accessLog(carol, 'public', (l) => l.method === 'CONNECT' && l.source === 'dave');
    assert.equal(refused.status, 403);
    // Issue 12.10: the relay's own reason reaches the engine (dave's link check asks carol), not a TLS error.
    const explained = await waitFor('the relay\'s reason at dave\'s engine', async () => {
      const x = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${dave.ports.internal}/not-agreed`]);
      return /carol does not relay dave -> bob/.test(x.headers['kuscia-error-message'] ?? '') ? x : undefined;
    }, 20_000);
    assert.equal(explained.status, 503);
    assert.match(explained.headers['kuscia-error-message'] ?? '', /^dave\/internal => peer unreachable: relay carol answered 403: carol\/public => carol does not relay dave -> bob/);
    const described = dave.cli(['describe', 'route', 'dave-bob']);
    assert.match(described.stdout, /failed at relay: relay carol answered 403/);
  });

  // Connections in use keep their path (a tunnel is a stream), so each scenario below starts from a new origin.
  const newOrigin = async (domain: string): Promise<TestNode> => {
    const n = await TestNode.init(domain);
    extra.push(n);
    await n.start();
    await bob.apply(service(`echo-${domain}`, echo.port, { access: domain }) + '---\n' + partnerDomain(n));
    return n;
  };

  test('two relays in a chain: erin -> carol -> dave -> bob, still TLS end to end', async () => {
    const erin = await newOrigin('erin');
    // carol reaches bob through dave; both relays agree to carry erin -> bob.
    await dave.apply(docs(partnerDomain(bob), partnerDomain(carol), routeTo(dave, bob), relayRule(erin, bob, dave)));
    await carol.apply(docs(partnerDomain(erin), partnerDomain(dave), routeTo(carol, dave), relayedRoute(carol, bob, dave), relayRule(erin, bob, carol)));
    await erin.apply(docs(partnerDomain(carol), partnerDomain(bob), routeTo(erin, carol), relayedRoute(erin, bob, carol)));
    const r = await waitFor('a 200 through two relays', async () => {
      const x = await curl(['-H', 'Host: echo-erin.bob.svc', `http://127.0.0.1:${erin.ports.internal}/two-relays`]);
      return x.status === 200 ? x : undefined;
    }, 20_000);
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'erin');
    // (carol's own link checks to bob also pass dave, as origin carol: dave refuses those, it carries only erin -> bob.)
    const atDave = await accessLog(dave, 'public', (l) => l.method === 'CONNECT' && l.source === 'carol' && l.origin === 'erin');
    assert.equal(atDave.status, 200);
    assert.equal(atDave.peer_identity, 'spiffe://carol/ferry/gateway', 'dave authenticates the hop, carol');
    const atBob = await accessLog(bob, 'public', (l) => l.path === '/two-relays');
    assert.equal(atBob.peer_identity, 'spiffe://erin/ferry/gateway');
  });

  test('through an HTTP forward proxy: frank reaches its relay through squid (CONNECT)', { skip: SQUID ? false : 'squid is not installed (Debian package squid)' }, async () => {
    const frank = await newOrigin('frank');
    const squid = await startSquid();
    try {
      // Every relay on the way agrees to carry the pair (carol now goes on through dave).
      await carol.apply(docs(partnerDomain(frank), relayRule(frank, bob, carol)));
      await dave.apply(relayRule(frank, bob, dave));
      await frank.apply(docs(partnerDomain(carol), partnerDomain(bob), relayedRoute(frank, bob, carol),
        routeTo(frank, carol).replace('metadata: { name: frank-carol }', `metadata: { name: frank-carol, annotations: { ferry.secretflow/proxy: "http://127.0.0.1:${squid.port}" } }`)));
      const r = await waitFor('a 200 through squid and the relay', async () => {
        const x = await curl(['-H', 'Host: echo-frank.bob.svc', `http://127.0.0.1:${frank.ports.internal}/via-squid`]);
        return x.status === 200 ? x : undefined;
      }, 20_000);
      assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'frank');
      assert.match(frank.cli(['describe', 'clusterdomainroute', 'frank-carol']).stdout, new RegExp(`via the forward proxy 127\\.0\\.0\\.1:${squid.port}`));
      // squid logs a CONNECT when the tunnel closes: stop frank to close it.
      await frank.stop();
      await waitFor('squid to log the CONNECT to carol', async () => (squid.connects().includes(`127.0.0.1:${carol.ports.public}`) ? true : undefined), 10_000);
    } finally {
      await squid.stop();
    }
  });
});
