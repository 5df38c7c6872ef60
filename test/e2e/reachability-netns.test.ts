// The reachability scenarios of docs/topologies.md where the network itself
// forbids the direct path (Linux network namespaces, test/support/netns.ts):
//  1. relay: alice and bob have no route to each other; carol, linked to both, relays.
//  2. reverse tunnel: bob drops every inbound connection (nftables); it dials alice.
//  3. institution gateways: alice reaches bob only through the bank's nginx
//     (TLS terminated, token identity); bob reaches alice only through squid.
// Real Envoys, nginx and squid run inside the namespaces. Skipped, saying why, when not root.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';
import { startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';
import { createTopology, netnsAvailable, tcpProbe, type Topology } from '../support/netns.ts';
import { NGINX, startNginx, type Nginx } from '../support/nginx.ts';
import { SQUID, startSquid, type Squid } from '../support/squid.ts';
import { relayedRoute, relayRule, reverseRoute, tokenRoute } from '../support/routes.ts';

const unavailable = netnsAvailable({ nft: true });
const skip = unavailable ? `network namespaces unavailable: ${unavailable}` : false;

/** A call from the engine side of `via` (its internal listener, on its namespace's control address). */
const call = (via: TestNode, host: string, path: string) => curl(['-H', `Host: ${host}`, `http://${via.host}:${via.ports.internal}${path}`]);

async function until200(via: TestNode, host: string, path: string) {
  return waitFor(`a 200 from ${host} through ${via.domain}`, async () => {
    const r = await call(via, host, path);
    return r.status === 200 ? r : undefined;
  }, 45_000);
}

describe('relay where alice and bob cannot reach each other (network namespaces)', { skip }, () => {
  let t: Topology;
  let alice: TestNode, carol: TestNode, bob: TestNode;
  let echo: Echo;

  before(async () => {
    t = createTopology({ namespaces: ['alice', 'carol', 'bob'], links: [['alice', 'carol'], ['carol', 'bob']] });
    [alice, carol, bob] = await Promise.all(['alice', 'carol', 'bob'].map((d) => TestNode.init(d, { netns: { topology: t, name: d } })) as [Promise<TestNode>, Promise<TestNode>, Promise<TestNode>]);
    echo = await startHttpEcho('echo@bob', 0, t.rootAddr('bob')); // bob's service, reachable from bob's namespace only
    await Promise.all([alice.start(), carol.start(), bob.start()]);
    await bob.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' }).replace('externalName: 127.0.0.1', `externalName: ${t.rootAddr('bob')}`)));
    await carol.apply(docs(partnerDomain(alice), partnerDomain(bob), routeTo(carol, bob, t.linkAddr('bob', 'carol')), relayRule(alice, bob, carol)));
    await alice.apply(docs(partnerDomain(carol), partnerDomain(bob), routeTo(alice, carol, t.linkAddr('carol', 'alice')), relayedRoute(alice, bob, carol)));
  });

  after(async () => {
    await Promise.all([alice, carol, bob].map((n) => n?.stop()));
    await echo?.close();
    for (const n of [alice, carol, bob]) n?.cleanup();
    t?.destroy();
  });

  test('the network has no path alice -> bob, yet alice calls bob through carol, TLS end to end', async () => {
    assert.equal(await tcpProbe(t, 'alice', t.linkAddr('bob', 'carol'), bob.ports.public), 'ENETUNREACH');
    const r = await until200(alice, 'echo.bob.svc', '/relayed-netns');
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'alice');
  });
});

describe('reverse tunnel where bob accepts no inbound connection (network namespaces, nftables)', { skip }, () => {
  let t: Topology;
  let alice: TestNode, bob: TestNode;
  let echo: Echo;

  before(async () => {
    t = createTopology({ namespaces: ['alice', 'bob'], links: [['alice', 'bob']], noInbound: ['bob'] });
    [alice, bob] = await Promise.all([TestNode.init('alice', { netns: { topology: t, name: 'alice' } }), TestNode.init('bob', { netns: { topology: t, name: 'bob' } })]);
    echo = await startHttpEcho('echo@bob', 0, t.rootAddr('bob'));
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), reverseRoute(alice, bob)));
    await bob.apply(docs(partnerDomain(alice), routeTo(bob, alice, t.linkAddr('alice', 'bob')), reverseRoute(alice, bob),
      service('echo', echo.port, { access: 'alice' }).replace('externalName: 127.0.0.1', `externalName: ${t.rootAddr('bob')}`)));
  });

  after(async () => {
    await Promise.all([alice, bob].map((n) => n?.stop()));
    await echo?.close();
    for (const n of [alice, bob]) n?.cleanup();
    t?.destroy();
  });

  test('alice cannot connect to bob\'s public port (dropped), yet calls bob over the tunnels bob dials', async () => {
    assert.equal(await tcpProbe(t, 'alice', t.linkAddr('bob', 'alice'), bob.ports.public), 'ETIMEDOUT');
    assert.ok(t.dropped('bob') > 0, 'nftables dropped the attempt');
    const r = await until200(alice, 'echo.bob.svc', '/reversed-netns');
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'alice');
  });
});

describe('institution gateways: nginx in front of bob, squid in front of bob\'s way out (network namespaces)', { skip: skip || (!NGINX || !SQUID ? 'nginx or squid is not installed' : false) }, () => {
  let t: Topology;
  let alice: TestNode, bob: TestNode;
  let echo: Echo;
  let nginx: Nginx, squid: Squid;

  before(async () => {
    // alice - gw (nginx) - bob - sq (squid) - alice: no direct link between alice and bob.
    t = createTopology({ namespaces: ['alice', 'gw', 'bob', 'sq'], links: [['alice', 'gw'], ['gw', 'bob'], ['bob', 'sq'], ['sq', 'alice']] });
    [alice, bob] = await Promise.all([TestNode.init('alice', { netns: { topology: t, name: 'alice' } }), TestNode.init('bob', { netns: { topology: t, name: 'bob' } })]);
    const { readFileSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const config = join(bob.home, 'ferry.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}publicPlaintext: true\n`);
    echo = await startHttpEcho('echo', 0, '0.0.0.0');
    const bankCa = createDomainCa('bank');
    const gwAddr = t.linkAddr('gw', 'alice');
    const cert = issueGatewayCert(bankCa, 'gw-bank', { ipAddresses: [gwAddr] });
    nginx = await startNginx({ certPem: cert.certPem, keyPem: cert.keyPem, prefix: '/bob-gw', upstream: `${t.linkAddr('bob', 'gw')}:${bob.ports.public}`, host: '0.0.0.0', probeHost: t.addr('gw'), spawnIn: (cmd, args) => t.exec('gw', cmd, args) });
    squid = await startSquid({ host: '0.0.0.0', probeHost: t.addr('sq'), spawnIn: (cmd, args) => t.exec('sq', cmd, args) });
    await Promise.all([alice.start(), bob.start()]);
    await bob.apply(docs(partnerDomain(alice), tokenRoute(alice, bob),
      service('echo', echo.port, { access: 'alice' }).replace('externalName: 127.0.0.1', `externalName: ${t.rootAddr('bob')}`),
      routeTo(bob, alice, t.linkAddr('alice', 'sq')).replace('metadata: { name: bob-alice }', `metadata: { name: bob-alice, annotations: { ferry.secretflow/proxy: "http://${t.linkAddr('sq', 'bob')}:${squid.port}" } }`)));
    await alice.apply(docs(partnerDomain(bob), service('echo', echo.port, { access: 'bob' }).replace('externalName: 127.0.0.1', `externalName: ${t.rootAddr('alice')}`), tokenRoute(alice, bob, {
      endpoint: { host: gwAddr, port: nginx.port, pathPrefix: '/bob-gw' },
      extra: `mTLSConfig: { tlsCA: ${Buffer.from(bankCa.certPem).toString('base64')} }`,
    })));
  });

  after(async () => {
    await Promise.all([alice, bob].map((n) => n?.stop()));
    await Promise.all([echo?.close(), nginx?.stop(), squid?.stop()]);
    for (const n of [alice, bob]) n?.cleanup();
    t?.destroy();
  });

  test('alice -> bob through nginx (token), bob -> alice through squid (mTLS inside CONNECT); no direct path either way', async () => {
    assert.equal(await tcpProbe(t, 'alice', t.linkAddr('bob', 'gw'), bob.ports.public), 'ENETUNREACH');
    assert.equal(await tcpProbe(t, 'bob', t.linkAddr('alice', 'sq'), alice.ports.public), 'ENETUNREACH');
    const toBob = await until200(alice, 'echo.bob.svc', '/via-nginx');
    assert.equal((JSON.parse(toBob.body) as EchoReply).kuscia['kuscia-source'], 'alice');
    const toAlice = await until200(bob, 'echo.alice.svc', '/via-squid');
    assert.equal((JSON.parse(toAlice.body) as EchoReply).kuscia['kuscia-source'], 'bob');
  });
});
