// CA rotation with an overlap window, under load in both directions: bob
// starts a rotation, alice applies the bundle bob exports (old + new CA), the
// new CA takes over (bob's gateway certificate is re-issued from it), alice
// drops the old CA. Not one request fails, and bob's tokens keep working.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { inspectCertificate, splitPemCertificates } from '../../certs/authority.ts';
import { startLoad } from '../support/load.ts';
import { TestNode, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';

/** Does bob's public port serve a certificate that chains to `caPem` (and that one only)? */
function servesCertFrom(node: TestNode, caPem: string): boolean {
  const file = join(node.home, '..', 'verify-ca.pem');
  writeFileSync(file, caPem);
  const r = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${node.ports.public}`, '-CAfile', file, '-verify_return_error', '-alpn', 'h2'], { input: '', encoding: 'utf8', timeout: 10_000 });
  return /Verify return code: 0 \(ok\)/.test(r.stdout);
}

describe('CA rotation with an overlap window', () => {
  let alice: TestNode, bob: TestNode;
  let echoA: Echo, echoB: Echo;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    [echoA, echoB] = await Promise.all([startHttpEcho('echo@alice'), startHttpEcho('echo@bob')]);
    await Promise.all([alice.start(), bob.start()]);
    await alice.apply(docs(partnerDomain(bob), routeTo(alice, bob), service('echo', echoA.port, { access: 'bob' })));
    await bob.apply(docs(partnerDomain(alice), routeTo(bob, alice), service('echo', echoB.port, { access: 'alice' })));
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await Promise.all([echoA?.close(), echoB?.close()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('rotate, publish both, take over, drop the old: zero failed requests both ways', { timeout: 120_000 }, async () => {
    const oldCa = bob.cli(['cert', 'export']).stdout;
    const toBob = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 3, maxMs: 90_000 });
    const toAlice = startLoad({ port: bob.ports.internal, host: 'echo.alice.svc', concurrency: 3, maxMs: 90_000 });
    /** Traffic flows both ways in every phase: each load answers 20 more requests. */
    const progress = async () => {
      const [x, y] = [toBob.result.sent, toAlice.result.sent];
      await waitFor('20 more requests each way', async () => (toBob.result.sent >= x + 20 && toAlice.result.sent >= y + 20 ? true : undefined), 20_000);
    };
    await progress();

    // 1. Start: the next CA is published beside the current one; the current one still signs.
    const started = bob.cli(['cert', 'rotate', '--ca', '--overlap', '1h']);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /CA rotation started/);
    assert.match(started.stdout, /takes over: /);
    const bundle = bob.cli(['cert', 'export']).stdout;
    assert.equal(splitPemCertificates(bundle).length, 2, 'export prints old and new');
    assert.equal(splitPemCertificates(bundle)[0], splitPemCertificates(oldCa)[0]);
    const newCa = splitPemCertificates(bundle)[1]!;
    const again = bob.cli(['cert', 'rotate', '--ca']);
    assert.notEqual(again.code, 0, 'a second rotation is refused while one is under way');
    assert.match(again.stderr, /already under way/);
    assert.ok(servesCertFrom(bob, oldCa), 'the old CA still signs during the overlap');

    // 2. alice trusts both (the partner applies the bundle).
    await progress();
    await alice.apply(partnerDomain(bob));
    await progress();

    // 3. The new CA takes over: bob's gateway certificate now comes from it.
    const finished = bob.cli(['cert', 'rotate', '--ca', '--finish']);
    assert.equal(finished.code, 0, finished.stderr);
    assert.match(finished.stdout, /CA rotation finished/);
    await bob.waitReady();
    await waitFor('bob serving a certificate from the new CA', async () => (servesCertFrom(bob, newCa) ? true : undefined), 20_000);
    assert.ok(!servesCertFrom(bob, oldCa), 'the old CA no longer signs');
    assert.equal(bob.cli(['cert', 'export']).stdout, newCa, 'export prints the new CA alone');
    assert.equal(inspectCertificate(readFileSync(join(bob.home, 'certs', 'ca.crt'), 'utf8')).serial, inspectCertificate(newCa).serial);
    assert.doesNotMatch(bob.cli(['cert', 'status']).stdout, /Next CA/);

    // 4. alice drops the old CA.
    await progress();
    await alice.apply(partnerDomain(bob));
    await progress();
    const [a, b] = await Promise.all([toBob.stop(), toAlice.stop()]);
    console.log(`CA rotation under load: alice->bob ${a.sent} requests ${JSON.stringify(a.byStatus)}, bob->alice ${b.sent} requests ${JSON.stringify(b.byStatus)}`);
    // On failure, the access log entries say why (Envoy flushes them within a second).
    const failed = async (n: TestNode) => (await waitFor('the failed requests in the access log', async () => readFileSync(join(n.home, 'logs', 'access-internal.log'), 'utf8')
      .split('\n').filter((l) => /"status":5\d\d/.test(l)).slice(0, 3).join('\n') || undefined, 5000).catch(() => 'no 5xx in the access log'));
    if (a.failures.length) assert.fail(`alice->bob: ${a.failures.join('; ')}\n${await failed(alice)}`);
    if (b.failures.length) assert.fail(`bob->alice: ${b.failures.join('; ')}\n${await failed(bob)}`);
    assert.ok(a.sent >= 100 && b.sent >= 100);
    // New connections both ways work with the new CA alone.
    const fresh = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 1, maxRequests: 5 });
    await waitFor('five requests', async () => (fresh.result.sent >= 5 ? true : undefined), 10_000);
    assert.deepEqual((await fresh.stop()).failures, []);
  });

  test('bad rotation input is refused and changes nothing', () => {
    const before = bob.cli(['cert', 'export']).stdout;
    const bad = bob.cli(['cert', 'rotate', '--ca', '--overlap', 'soon']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /overlap: "soon" is not a duration/);
    const noCa = bob.cli(['cert', 'rotate', '--finish']);
    assert.equal(noCa.code, 2);
    assert.match(noCa.stderr, /add --ca/);
    const nothing = bob.cli(['cert', 'rotate', '--ca', '--finish']);
    assert.notEqual(nothing.code, 0);
    assert.match(nothing.stderr, /no CA rotation is under way/);
    assert.equal(bob.cli(['cert', 'export']).stdout, before);
  });
});
