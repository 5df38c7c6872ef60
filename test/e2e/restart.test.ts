// Hitless restarts and upgrades (issue 12, item 6): `ferry stop --keep-envoy`
// leaves Envoy serving; the next `ferry start` adopts it and resyncs it over
// xDS. Repeated restarts of both control planes under steady load lose no
// request. Plain `ferry stop` (SIGTERM) stops the node and its Envoy; with no
// node running it stops an Envoy that was left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { startLoad } from '../support/load.ts';
import { processAlive } from '../../control-plane/supervisor/envoy-supervisor.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { TestNode, curl, service, waitFor, linkToEcho } from '../support/harness.ts';

const ROUNDS = 4;

describe('hitless restarts', () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(), bob.start()]);
    await linkToEcho(alice, bob, echo.port);
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await echo?.close();
    alice?.cleanup();
    bob?.cleanup();
  });

  test(`${ROUNDS} rounds of \`ferry stop --keep-envoy\` + \`ferry start\` on both nodes under load lose no request`, async () => {
    const envoyPids = { alice: (await alice.status()).envoy.pid!, bob: (await bob.status()).envoy.pid! };
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 180_000 });
    for (let i = 0; i < ROUNDS; i++) {
      for (const n of [alice, bob]) {
        const sentBefore = load.result.sent;
        const r = await n.stopKeepingEnvoy();
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Envoy serves on/);
        // Traffic flows while the control plane is down.
        await waitFor('requests while the control plane is down', async () => (load.result.sent > sentBefore + 8 ? true : undefined));
        await n.start();
        const s = (await n.status()) as { envoy: { pid?: number; adopted?: boolean } };
        assert.equal(s.envoy.pid, envoyPids[n.domain as 'alice' | 'bob'], `${n.domain}'s Envoy was adopted, not replaced`);
        assert.equal(s.envoy.adopted, true);
      }
    }
    // The adopted Envoys take new configuration.
    await bob.apply(service('after', echo.port, { access: 'alice' }));
    assert.equal((await curl(['-H', 'Host: after.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`])).status, 200);
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `failed requests: ${JSON.stringify(r.byStatus)}`);
    assert.ok(r.sent >= ROUNDS * 2 * 8, `enough traffic to mean something (${r.sent})`);
  });

  test('`ferry stop` (SIGTERM) stops the node and its Envoy; with no node, it stops an Envoy left running', async () => {
    const envoyPid = (await bob.status()).envoy.pid!;
    const r = bob.cli(['stop']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /node stopped/);
    assert.equal(processAlive(envoyPid), false, 'SIGTERM stops Envoy too');

    await bob.start();
    const kept = (await bob.status()).envoy.pid!;
    assert.equal((await bob.stopKeepingEnvoy()).code, 0);
    assert.equal(processAlive(kept), true);
    const r2 = bob.cli(['stop']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /no node was running; stopped its Envoy/);
    assert.equal(processAlive(kept), false);
    assert.match(bob.cli(['stop']).stdout, /no node is running/);
    await bob.start(); // for the tests below
  });

  test('an Envoy left running with another bootstrap (an upgrade, a changed ferry.yaml) is restarted, not adopted', async () => {
    const before = (await alice.status()).envoy.pid!;
    assert.equal((await alice.stopKeepingEnvoy()).code, 0);
    const config = readConfig(alice.home);
    config.xdsVariant = 'sotw'; // a bootstrap setting
    writeConfig(alice.home, config);
    await alice.start();
    const s = (await alice.status()) as { envoy: { pid?: number; adopted?: boolean } };
    assert.notEqual(s.envoy.pid, before);
    assert.equal(s.envoy.adopted, false);
    assert.equal(processAlive(before), false, 'the old Envoy was stopped');
    assert.equal((await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`])).status, 200, 'the new Envoy serves once ready');
  });

  test('an adopted Envoy that dies is noticed and replaced', async () => {
    assert.equal((await bob.stopKeepingEnvoy()).code, 0);
    await bob.start();
    const adopted = (await bob.status()) as { envoy: { pid?: number; adopted?: boolean; restarts: number } };
    assert.equal(adopted.envoy.adopted, true);
    process.kill(adopted.envoy.pid!, 'SIGKILL');
    const s = await waitFor('a new Envoy', async () => {
      const now = (await bob.status()) as { envoy: { pid?: number; restarts: number; lastExit?: { signal: string | null } } };
      return now.envoy.pid && now.envoy.pid !== adopted.envoy.pid && now.envoy.restarts > adopted.envoy.restarts ? now : undefined;
    });
    assert.match(s.envoy.lastExit?.signal ?? '', /adopted/);
    await bob.waitReady();
  });
});
