// `ferry diagnose network <peer>` and route statuses that explain themselves,
// with real Envoys: a working link measured step by step; then a link broken
// in three ways (nothing listening, the peer's certificate does not verify, the
// peer no longer trusts us), each reported by `ferry describe route` with the
// failing step, the underlying error and the fix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { TestNode, docs, freePorts, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';

describe('ferry diagnose network, and route statuses from link checks', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  let echo: Echo;
  const env = { FERRY_PROBE_MS: '1000' };

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(env), bob.start(env), carol.start(env)]);
    await bob.apply(docs(partnerDomain(alice), service('echo', echo.port, { access: 'alice' })));
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    await echo?.close();
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  const describeRoute = (n: TestNode, name: string) => n.cli(['describe', 'clusterdomainroute', name]).stdout;

  test('a working link: every step measured, readable and as JSON; the route status says when it was checked', async () => {
    const r = alice.cli(['diagnose', 'network', 'bob', '--bytes', '4MiB', '--max-body', '8MiB', '--idle', '1s']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^alice -> bob: OK/);
    for (const step of ['reachability, TLS, identity, authentication', 'round trip', 'bandwidth', 'largest request body', 'streamed responses', 'idle stream']) {
      assert.match(r.stdout, new RegExp(`ok\\s+${step.replace(/[,()]/g, '.')}`), step);
    }
    const json = JSON.parse(alice.cli(['diagnose', 'network', 'bob', '--bytes', '1MiB', '--max-body', '2MiB', '--idle', '1s', '-o', 'json']).stdout) as { ok: boolean; steps: { step: string; data?: Record<string, number> }[] };
    assert.equal(json.ok, true);
    assert.ok(json.steps.find((s) => s.step === 'bandwidth')!.data!.downloadMiBps! > 0);
    assert.equal(json.steps.find((s) => s.step === 'largest request body')!.data!.largestBytes, 2 * 2 ** 20);
    await waitFor('the route status to show a check', async () => (/checked .*: bob answered/.test(describeRoute(alice, 'alice-bob')) ? true : undefined), 15_000);
  });

  test('the diagnose service answers only partners: carol, not trusted by bob, is refused', async () => {
    await carol.apply(docs(partnerDomain(bob), routeTo(carol, bob)));
    const r = carol.cli(['diagnose', 'network', 'bob', '--idle', '1s']);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /FAIL\s+TLS \(the peer verifying this node\)/);
    assert.match(r.stdout, /fix: bob refused this node's certificate.*bob must apply a partner Domain carol/);
  });

  test('nothing listening at the endpoint: the status names the TCP connect step and the errno', async () => {
    const [port] = await freePorts(1);
    await carol.apply(routeTo(carol, bob).replace(`port: ${bob.ports.public}`, `port: ${port}`));
    const s = await waitFor('carol\'s route status to show the failure', async () => {
      const d = describeRoute(carol, 'carol-bob');
      return /failed at TCP connect/.test(d) ? d : undefined;
    }, 20_000);
    assert.match(s, /Ready:\s+False/i);
    assert.match(s, /ECONNREFUSED|refused/);
    assert.match(s, /Fix:.*check the route's endpoint host and port/);
  });

  test('the peer\'s certificate does not verify (wrong CA in the partner Domain): the TLS step with the verification error', async () => {
    // carol's Domain bob now holds alice's CA, and carol's route points at bob again: a new connection, whose handshake fails.
    await carol.apply(docs(partnerDomain(alice).replace('name: alice', 'name: bob'), routeTo(carol, bob)));
    const s = await waitFor('carol\'s route status to show the TLS failure', async () => {
      const d = describeRoute(carol, 'carol-bob');
      return /failed at TLS \(verifying the peer\)/.test(d) ? d : undefined;
    }, 20_000);
    assert.match(s, /CERTIFICATE_VERIFY_FAILED/);
    assert.match(s, /Fix:.*apply bob's current CA/);
  });

  test('bad diagnose input is a usage error', () => {
    assert.equal(alice.cli(['diagnose', 'network']).code, 2);
    assert.equal(alice.cli(['diagnose', 'network', 'bob', '--bytes', 'lots']).code, 2);
    assert.equal(alice.cli(['diagnose', 'network', 'bob', '--idle', '2h']).code, 2);
    assert.equal(alice.cli(['diagnose', 'disk']).code, 2);
  });
});
