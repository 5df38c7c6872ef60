// Issue 14: two replicas of bob over a real 3-member etcd, traffic from alice
// at a steady rate. The replicas share bob's certificates through the store
// (sealed), both serve xDS, one leads. SIGKILL the leader's control plane:
// leadership moves to the other replica within the lease TTL and no request
// fails (its Envoy lives on). One etcd member lost: nothing visible. Quorum
// lost: the replicas serve the last configuration, refuse writes with 503,
// /readyz says why, and all comes back when quorum does, nothing lost.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { startLoad } from '../support/load.ts';
import { startEtcd, ETCD, type EtcdCluster } from '../support/etcd.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, tempDir, waitFor } from '../support/harness.ts';
import { tokenRoute } from '../support/routes.ts';

type StoreView = { backend: string; reachable: boolean; leader?: string; self: string; isLeader: boolean; revision: number; replicas: { id: string; heartbeatAt: string }[] };
const storeOf = async (n: TestNode) => ((await n.status()) as unknown as { store: StoreView }).store;

describe('replicas of one domain over etcd', { skip: !ETCD && 'etcd is not installed (scripts/debian-tools.sh installs etcd-server)' }, () => {
  let etcd: EtcdCluster;
  let alice: TestNode, bobA: TestNode, bobB: TestNode;
  let echo: Echo;
  const env = { FERRY_LEASE_TTL: '3' };

  before(async () => {
    etcd = await startEtcd(3);
    const keyFile = join(tempDir('store-key'), 'store.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    const initArgs = ['--store', etcd.url, '--store-key-file', keyFile];
    [alice, bobA, bobB] = await Promise.all([TestNode.init('alice'), TestNode.init('bob', { initArgs }), TestNode.init('bob', { initArgs })]);
    // Short-lived gateway certificates: the leader renews every ~60 s, so a renewal falls within the test,
    // and a certificate still outlives the quorum loss below (no renewal happens without a leader).
    for (const n of [bobA, bobB]) appendFileSync(join(n.home, 'ferry.yaml'), 'gatewayCertLifetime: 90s\n');
    echo = await startHttpEcho('echo@bob');
    // A first, so it leads; B takes bob's certificates from the store.
    await Promise.all([alice.start(), bobA.start(env)]);
    await bobB.start(env);
  });
  after(async () => {
    await Promise.all([alice, bobA, bobB].map((n) => n?.stop()));
    for (const n of [alice, bobA, bobB]) n?.cleanup();
    await echo?.close();
    await etcd?.stop();
  });

  test('both replicas share bob\'s CA through the store, see one leader and each other', async () => {
    assert.equal(bobB.cli(['cert', 'export']).stdout, bobA.cli(['cert', 'export']).stdout, 'B took bob\'s CA from the store');
    const [a, b] = await Promise.all([storeOf(bobA), storeOf(bobB)]);
    assert.equal(a.backend, 'etcd');
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.equal(b.leader, a.self);
    assert.deepEqual(b.replicas.map((r) => r.id).sort(), [a.self, b.self].sort());
    const status = bobB.cli(['status']);
    assert.match(status.stdout, /Store:\s+etcd etcd:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/ferry\/bob\/, revision \d+/);
    assert.match(status.stdout, new RegExp(`Leader:\\s+${a.self}\\n`));
    assert.match(status.stdout, /replica \S+: api 127\.0\.0\.1:\d+, xds 127\.0\.0\.1:\d+, last heartbeat \d{4}-/);
  });

  test('an apply through replica B is served by replica A\'s Envoy', async () => {
    await alice.apply(docs(partnerDomain(bobA), routeTo(alice, bobA)));
    // Written through B (the follower); alice's route goes to A's public port.
    await bobB.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' })));
    await waitFor('A serves what B stored', async () => {
      const r = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/via-a`]);
      return r.status === 200 ? r : undefined;
    });
  });

  test('token sessions run on the leader; the follower sends the leader\'s token', async () => {
    // bob -> alice by Token: alice accepts bob's tokens; bob's replicas call alice's echoa.
    await alice.apply(docs(tokenRoute(bobA, alice), service('echoa', echo.port, { access: 'bob' })));
    // A short rolling period: the token rolls during the tests below, on whichever replica leads.
    await bobA.apply(tokenRoute(bobA, alice, { period: 8, endpoint: { host: '127.0.0.1', port: alice.ports.public } }));
    const call = (n: TestNode) => curl(['-H', 'Host: echoa.alice.svc', `http://127.0.0.1:${n.ports.internal}/by-token`]);
    await waitFor('A (leader) calls alice with its token', async () => ((await call(bobA)).status === 200 ? true : undefined));
    await waitFor('B (follower) calls alice with the leader\'s token', async () => ((await call(bobB)).status === 200 ? true : undefined));
    const describe = bobB.cli(['describe', 'route', 'bob-alice']);
    assert.match(describe.stdout, /by the leader replica/);
  });

  test('a token bob issued through one replica is accepted by the other: partners need not stick to one replica', async () => {
    // alice -> bob by Token, alice's handshake reaching replica B (the follower) only.
    await bobA.apply(docs(tokenRoute(alice, bobA), service('echob', echo.port, { access: 'alice' })));
    await alice.apply(tokenRoute(alice, bobA, { endpoint: { host: '127.0.0.1', port: bobB.ports.public } }));
    const viaAlice = () => curl(['-H', 'Host: echob.bob.svc', `http://127.0.0.1:${alice.ports.internal}/by-token`]);
    await waitFor('alice calls bob with the token replica B issued', async () => ((await viaAlice()).status === 200 ? true : undefined));
    const obtained = (JSON.parse(readFileSync(join(alice.home, 'data', 'tokens.json'), 'utf8')) as { obtained: Record<string, { token: string }> }).obtained.bob!.token;
    // The same token, sent straight to replica A's public port (as a load balancer might), is accepted there too.
    const direct = (n: TestNode) => curl(['-k', '-H', 'Host: echob.bob.svc', '-H', 'Kuscia-Source: alice', '-H', `Kuscia-Token: ${obtained}`, `https://127.0.0.1:${n.ports.public}/at-${n === bobA ? 'a' : 'b'}`]);
    await waitFor('replica A accepts the token B issued', async () => ((await direct(bobA)).status === 200 ? true : undefined), 10_000);
    assert.equal((await direct(bobB)).status, 200);
    const forged = await curl(['-k', '-H', 'Host: echob.bob.svc', '-H', 'Kuscia-Source: alice', '-H', 'Kuscia-Token: bm90LWEtdG9rZW4=', `https://127.0.0.1:${bobA.ports.public}/forged`]);
    assert.equal(forged.status, 401, 'a token no replica issued is refused');
  });

  test('SIGKILL of the leader: leadership moves to B within the lease, and no request through A\'s Envoy fails', async () => {
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 120_000 });
    await waitFor('traffic flows', async () => (load.result.sent > 50 ? true : undefined));
    const killedAt = Date.now();
    await bobA.crash();
    const b = await waitFor('B leads', async () => { const s = await storeOf(bobB); return s.isLeader ? s : undefined; }, 15_000);
    const moved = Date.now() - killedAt;
    console.log(`leadership moved in ${moved} ms (lease TTL 3 s, heartbeat 1 s)`);
    assert.equal(b.leader, b.self);
    const sentAtMove = load.result.sent;
    await waitFor('more traffic after the move', async () => (load.result.sent > sentAtMove + 50 ? true : undefined));
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `${r.sent} sent, ${r.failures.length} failed`);
    // A's entry expires with its lease: B sees itself alone.
    await waitFor('A\'s replica entry expires', async () => ((await storeOf(bobB)).replicas.length === 1 ? true : undefined), 15_000);
    // B continues the token session from the token A shared, and rolls it on.
    assert.equal((await curl(['-H', 'Host: echoa.alice.svc', `http://127.0.0.1:${bobB.ports.internal}/by-token-after`])).status, 200);
    const revision = async () => Number(/ferry_token_revision\{[^}]*peer_domain="alice"[^}]*direction="outbound"[^}]*\} (\d+)|ferry_token_revision\{[^}]*direction="outbound"[^}]*peer_domain="alice"[^}]*\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${bobB.ports.api}/metrics`)).text())?.slice(1).find(Boolean) ?? 0);
    const atMove = await revision();
    assert.ok(atMove > 0, 'B holds the token A shared');
    await waitFor('B, the new leader, rolls the token to alice', async () => ((await revision()) > atMove ? true : undefined), 30_000);
    assert.equal((await curl(['-H', 'Host: echoa.alice.svc', `http://127.0.0.1:${bobB.ports.internal}/by-token-rolled`])).status, 200);
    // A comes back as a follower: Envoy adopted, B keeps leading.
    await bobA.start(env);
    const a = await storeOf(bobA);
    assert.equal(a.isLeader, false);
    assert.equal(a.leader, b.self);
  });

  test('certificate renewal goes on at the new leader, and every replica takes the renewed certificate', async () => {
    type Certs = { gateway: { serial: string } };
    const serial = async (n: TestNode) => ((await (await n.api('/api/v1/certs')).json()) as Certs).gateway.serial;
    const before = await serial(bobB);
    assert.equal(await serial(bobA), before, 'A (a follower now) has the certificate B has');
    const renewed = await waitFor('B (the leader) renews', async () => { const s = await serial(bobB); return s !== before ? s : undefined; }, 90_000);
    await waitFor('A takes the renewed certificate from the store', async () => ((await serial(bobA)) === renewed ? true : undefined), 15_000);
    const ok = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/after-renewal`]);
    assert.equal(ok.status, 200, 'A\'s Envoy serves with the renewed certificate');
  });

  test('one etcd member lost: nothing visible; quorum lost: last configuration served, writes 503, /readyz says why; all back with quorum', async () => {
    await etcd.kill(0);
    await bobB.apply(service('echo2', echo.port, { access: 'alice' }));
    assert.equal((await bobA.readyz()).ready, true);
    await etcd.kill(1);
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 2, maxMs: 120_000 });
    const down = await waitFor('B sees the store gone', async () => { const r = await bobB.readyz(); return r.ready ? undefined : r; }, 20_000);
    assert.match(down.reasons.join('; '), /the store etcd:\/\/.* does not answer .*Envoy serves the last configuration; writes are refused/);
    const write = bobB.cli(['apply', '-f', '-'], service('echo3', echo.port, { access: 'alice' }));
    assert.equal(write.code, 1);
    assert.match(write.stderr, /^ferry: error: .*could not (read|write) .*check that a quorum of etcd members is up/);
    assert.equal(write.stderr.trim().split('\n').length, 1);
    const served = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/while-no-quorum`]);
    assert.equal(served.status, 200, 'the last configuration is served');
    await etcd.restart(0);
    await etcd.restart(1);
    await etcd.waitHealthy();
    await waitFor('B ready again', async () => ((await bobB.readyz()).ready ? true : undefined), 30_000);
    await bobB.apply(service('echo3', echo.port, { access: 'alice' }));
    const names = ((await (await bobA.api('/api/v1/resources/Service')).json()) as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
    assert.deepEqual(names, ['echo', 'echo2', 'echo3', 'echob'], 'nothing lost, and A sees what B wrote');
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `${r.sent} sent during the quorum loss, ${r.failures.length} failed`);
    const s = await waitFor('a leader again', async () => { const v = await storeOf(bobB); return v.leader ? v : undefined; }, 15_000);
    assert.ok([s.self, ...s.replicas.map((x) => x.id)].includes(s.leader!));
  });
});
