// Configuration changes and control-plane crashes under steady traffic cost
// no request: make-before-break pushes, and Envoy serving on while its control
// plane is down, then adopted and resynced when the node starts again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { startLoad } from '../support/load.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, linkToEcho } from '../support/harness.ts';

describe('hitless changes under load', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  let echo: Echo;

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(), bob.start()]);
    await linkToEcho(alice, bob, echo.port);
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop(), carol?.stop()]);
    await echo?.close();
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  test('adding and removing routes, partners and services causes no failed request', async () => {
    /** Listener updates that were not in place (an in-place, filter-chain-only update drains only the changed chains). */
    const listenerChanges = async (n: TestNode) => {
      const stats = await (await fetch(`http://127.0.0.1:${n.ports.admin}/stats?filter=listener_manager.listener_(modified|in_place_updated)`)).text();
      return Number(/listener_modified: (\d+)/.exec(stats)?.[1]) - Number(/listener_in_place_updated: (\d+)/.exec(stats)?.[1] ?? 0);
    };
    const before = { alice: await listenerChanges(alice), bob: await listenerChanges(bob) };
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 120_000 });
    for (let i = 0; i < 4; i++) {
      // New partner and route on alice; new Services on bob; a changed route (extra header).
      await alice.apply(docs(partnerDomain(carol), routeTo(alice, carol)));
      await bob.apply(docs(service(`extra${i}`, echo.port, { access: 'alice' }), service('echo', echo.port, { access: `alice,carol` })));
      await alice.apply(routeTo(alice, bob).replace('authenticationType: MTLS', `authenticationType: MTLS\n  requestHeadersToAdd: { x-round: "${i}" }`));
      // And take them away again.
      assert.equal(alice.cli(['delete', 'route', 'alice-carol']).code, 0);
      assert.equal(alice.cli(['delete', 'domain', 'carol']).code, 0);
      assert.equal(bob.cli(['delete', 'service', `extra${i}`]).code, 0);
      await Promise.all([alice.waitReady(), bob.waitReady()]);
    }
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `failed requests: ${JSON.stringify(r.byStatus)}`);
    assert.ok(r.sent >= 40, `enough traffic to mean something (${r.sent})`);
    // Service changes never touch a listener; partner changes touch only that partner's filter chain (in place).
    assert.deepEqual({ alice: await listenerChanges(alice), bob: await listenerChanges(bob) }, before);
  });

  test('SIGKILL of both control planes under load: no failed request; restart adopts Envoy and resyncs', async () => {
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 120_000 });
    const envoyPids = { alice: (await alice.status()).envoy.pid!, bob: (await bob.status()).envoy.pid! };
    await Promise.all([alice.crash(), bob.crash()]);
    // With both control planes gone, traffic keeps flowing through the Envoys.
    const sentAtCrash = load.result.sent;
    const during = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/while-down`]);
    assert.equal(during.status, 200);
    await Promise.all([alice.start(), bob.start()]);
    const [sa, sb] = await Promise.all([alice.status(), bob.status()]);
    assert.equal(sa.envoy.pid, envoyPids.alice, "alice's Envoy was adopted, not replaced");
    assert.equal(sb.envoy.pid, envoyPids.bob);
    assert.equal((sa.envoy as { adopted?: boolean }).adopted, true);
    // The resynced proxies take new configuration.
    await bob.apply(service('after', echo.port, { access: 'alice' }));
    const after = await curl(['-H', 'Host: after.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(after.status, 200, after.body);
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `failed requests: ${JSON.stringify(r.byStatus)}`);
    assert.ok(r.sent > sentAtCrash, 'traffic went on while the control planes were down and after');
  });
});
