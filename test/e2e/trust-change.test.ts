// Issue 12.9: a trust change moves or closes the connections it affects. bob
// has a Token route (so his default filter chain asks for no certificate);
// alice connects before bob trusts her and lands there, without identity.
// When bob applies Domain alice, the default chain is replaced and drained,
// so alice's next connections reach her own chain; a request still on an old
// connection gets 421 and alice retries it on a new one: every call succeeds.
// Removing alice again cuts her off on her open connections too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { createDomainCa } from '../../certs/authority.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';
import { tokenRoute } from '../support/routes.ts';

describe('trust change moves the connections it affects', () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(), bob.start()]);
    // zed: some other partner with a Token route into bob.
    const zedCa = Buffer.from(createDomainCa('zed').certPem).toString('base64');
    await bob.apply(docs(`apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: zed }
spec: { role: partner, cert: ${zedCa} }
`, tokenRoute({ domain: 'zed' }, bob), service('echo', echo.port, { access: 'alice' })));
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob)));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await echo?.close();
    for (const n of [alice, bob]) n?.cleanup();
  });

  const call = () => curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);

  test('adding the partner: its early connections move to its own chain; removing it closes them', async () => {
    // alice's link to bob is open (her link checks and this call keep it), on bob's default chain: 401.
    assert.equal((await call()).status, 401);
    await bob.apply(partnerDomain(alice));
    // From the first call on, every call is served: a request that still rides
    // an old connection gets 421 from bob and alice retries it on a new one.
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await call()).status);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], 'no call falls back to the chain without identity');
    const r = bob.cli(['delete', 'domain', 'alice']);
    assert.equal(r.code, 0, r.stderr);
    await bob.waitReady();
    await waitFor('alice refused after bob removes her', async () => ((await call()).status !== 200 ? true : undefined), 15_000);
    const after: number[] = [];
    for (let i = 0; i < 10; i++) after.push((await call()).status);
    assert.deepEqual(after.filter((s) => s === 200), [], 'no call is served after the partner is removed');
  });
});
