// Short-lived gateway certificates: renewed at two thirds of their life and
// delivered to Envoy over SDS, with zero failed requests under load; `ferry
// cert rotate` and `ferry cert status`; ferry_cert_expiry_seconds.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { inspectCertificate } from '../../certs/authority.ts';
import { startLoad } from '../support/load.ts';
import { TestNode, waitFor, linkToEcho } from '../support/harness.ts';

const LIFETIME_S = 12; // renewed every 8 s

/** Serial numbers of the certificates Envoy serves now (admin /certs), normalised. */
async function envoySerials(node: TestNode): Promise<string[]> {
  const body = (await (await fetch(`http://127.0.0.1:${node.ports.admin}/certs`)).json()) as { certificates: { cert_chain?: { serial_number: string }[] }[] };
  return body.certificates.flatMap((c) => (c.cert_chain ?? []).map((x) => x.serial_number.toLowerCase().replace(/^0+/, '')));
}
const fileSerial = (node: TestNode) => inspectCertificate(readFileSync(join(node.home, 'certs', 'gateway.crt'), 'utf8')).serial.replace(/^0+/, '');

describe('gateway certificate lifecycle', () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    const config = join(alice.home, 'ferry.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}gatewayCertLifetime: ${LIFETIME_S}s\n`);
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

  test('renewed at two thirds of its life, picked up by Envoy over SDS, with zero failed requests under load', { timeout: 120_000 }, async () => {
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 90_000 });
    const seen = new Set<string>();
    // Two renewals seen in Envoy itself (each one a new serial served on alice's gateway).
    await waitFor('two certificate renewals in Envoy', async () => {
      const serial = fileSerial(alice);
      if ((await envoySerials(alice)).includes(serial)) seen.add(serial);
      return seen.size >= 3 ? true : undefined;
    }, 60_000);
    const r = await load.stop();
    assert.deepEqual(r.failures, [], `failed requests during renewals: ${JSON.stringify(r.byStatus)}`);
    assert.ok(r.sent > 50);
    const metrics = await (await fetch(`http://127.0.0.1:${alice.ports.api}/metrics`)).text();
    const expiry = Number(/ferry_cert_expiry_seconds\{cert="gateway"\} (-?\d+)/.exec(metrics)?.[1]);
    assert.ok(expiry > 0 && expiry <= LIFETIME_S, `gateway expires in ${expiry} s`);
    assert.match(metrics, /ferry_cert_expiry_seconds\{cert="partner-bob"\} \d+/);
  });

  test('ferry cert rotate issues a new certificate now; ferry cert status shows it', async () => {
    const before = fileSerial(bob);
    const r = bob.cli(['cert', 'rotate']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /gateway certificate renewed/);
    const after = fileSerial(bob);
    assert.notEqual(after, before);
    assert.equal(statSync(join(bob.home, 'certs', 'gateway.key')).mode & 0o777, 0o600, 'the renewed key is private');
    await waitFor("bob's Envoy serving the new certificate", async () => ((await envoySerials(bob)).includes(after) ? true : undefined));
    const status = bob.cli(['cert', 'status']);
    assert.match(status.stdout, new RegExp(`Gateway:[\\s\\S]*serial:\\s+0*${after}`));
    assert.match(status.stdout, /renewal: .*lifetime 86400 s/);
  });
});
