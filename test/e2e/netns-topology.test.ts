// The network-namespace topology support itself (test/support/netns.ts), with
// real processes: alice - carol - bob, veth links alice-carol and carol-bob,
// bob accepts no inbound connection. Proves that the kernel, not the
// configuration, keeps alice from bob and bob closed; and that a real node runs
// inside a namespace, reached by the test from the root namespace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { TestNode, ferry, waitFor } from '../support/harness.ts';
import { createTopology, netnsAvailable, tcpListen, tcpProbe, type Topology } from '../support/netns.ts';

const skip = netnsAvailable({ nft: true });

/** Gone, or a zombie nobody reaped yet (Envoy runs detached: its parent is init). */
function envoyGone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}

describe('network-namespace topology: alice - carol - bob, bob accepts no inbound connection', { skip: skip ? `network namespaces unavailable: ${skip}` : false }, () => {
  let t: Topology;
  const nodes: TestNode[] = [];

  before(() => {
    t = createTopology({ namespaces: ['alice', 'carol', 'bob'], links: [['alice', 'carol'], ['carol', 'bob']], noInbound: ['bob'] });
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    for (const n of nodes) n.cleanup();
    t?.destroy();
  });

  test('addresses: all in 198.18.0.0/15, one /30 per link; no default route', () => {
    const all = ['alice', 'carol', 'bob'].flatMap((n) => [t.addr(n), t.rootAddr(n)])
      .concat([t.linkAddr('alice', 'carol'), t.linkAddr('carol', 'alice'), t.linkAddr('carol', 'bob'), t.linkAddr('bob', 'carol')]);
    for (const a of all) assert.match(a, /^198\.1[89]\.\d+\.\d+$/);
    assert.equal(new Set(all).size, all.length, 'distinct addresses');
    for (const n of ['alice', 'carol', 'bob']) {
      const routes = t.execSync(n, 'ip', ['-4', 'route', 'show']).stdout;
      assert.doesNotMatch(routes, /default/, `${n} has no default route`);
    }
  });

  test('alice reaches carol, never bob (no route, whatever ip_forward in the root namespace)', async () => {
    const carol = await tcpListen(t, 'carol', '0.0.0.0');
    try {
      assert.equal(await tcpProbe(t, 'alice', t.linkAddr('carol', 'alice'), carol.port), 'connected');
      // carol's other address is on a link alice is not part of: no route either.
      assert.equal(await tcpProbe(t, 'alice', t.linkAddr('carol', 'bob'), carol.port), 'ENETUNREACH');
      assert.equal(await tcpProbe(t, 'alice', t.linkAddr('bob', 'carol'), carol.port), 'ENETUNREACH');
      assert.equal(await tcpProbe(t, 'alice', t.addr('bob'), carol.port), 'ENETUNREACH');
      assert.equal(await tcpProbe(t, 'alice', t.rootAddr('bob'), carol.port), 'ENETUNREACH', "the root side of bob's control link");
    } finally {
      carol.close();
    }
  });

  test('bob: inbound connections dropped, outbound ones work', async () => {
    const bob = await tcpListen(t, 'bob', t.linkAddr('bob', 'carol'));
    const bobCtl = await tcpListen(t, 'bob', t.addr('bob'));
    const carol = await tcpListen(t, 'carol', t.linkAddr('carol', 'bob'));
    try {
      const before = t.dropped('bob');
      assert.equal(await tcpProbe(t, 'carol', t.linkAddr('bob', 'carol'), bob.port, 1000), 'ETIMEDOUT', 'SYN dropped: no answer');
      assert.ok(t.dropped('bob') > before, 'the nft drop rule counted it');
      assert.equal(await tcpProbe(t, 'bob', t.linkAddr('carol', 'bob'), carol.port), 'connected', 'bob connects out');
      assert.equal(await tcpProbe(t, 'bob', t.linkAddr('bob', 'carol'), bob.port), 'connected', 'bob to itself (lo)');
      // The test (root namespace, from the root side of bob's control link) is let in.
      const { connect } = await import('node:net');
      await new Promise<void>((resolve, reject) => {
        const s = connect(bobCtl.port, t.addr('bob'), () => { s.destroy(); resolve(); });
        s.setTimeout(5000, () => { s.destroy(); reject(new Error('root namespace -> bob control address timed out')); });
        s.once('error', reject);
      });
    } finally {
      bob.close();
      bobCtl.close();
      carol.close();
    }
  });

  test('nodes run inside namespaces: ready from the root namespace, CLI works inside and outside', async () => {
    const [alice, bob] = await Promise.all([
      TestNode.init('alice', { netns: { topology: t, name: 'alice' } }),
      TestNode.init('bob', { netns: { topology: t, name: 'bob' } }),
    ]);
    nodes.push(alice, bob);
    await Promise.all([alice.start(), bob.start()]); // waits on /readyz at the control address (bob: let in by the nft rule)
    assert.equal(alice.host, t.addr('alice'));

    const status = alice.cli(['status']); // inside alice's namespace
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`api ${t.addr('alice').replaceAll('.', '\\.')}:${alice.ports.api}`));
    const outside = ferry(['status', '--home', alice.home]); // from the root namespace: the API address is reachable
    assert.equal(outside.code, 0, outside.stderr);
    await alice.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: bob }
spec: { role: partner, cert: ${bob.caBase64()} }
`);
    const envoyPid = (await alice.status()).envoy.pid;
    assert.ok(envoyPid, 'Envoy runs');

    // The public listener (0.0.0.0) is reachable over a link, except on bob.
    assert.equal(await tcpProbe(t, 'carol', t.linkAddr('alice', 'carol'), alice.ports.public), 'connected');
    assert.equal(await tcpProbe(t, 'carol', t.linkAddr('bob', 'carol'), bob.ports.public, 1000), 'ETIMEDOUT');

    await alice.stop();
    await waitFor('Envoy of the node in the namespace gone after stop()', async () => (envoyGone(envoyPid) ? true : undefined), 10_000);
  });
});
