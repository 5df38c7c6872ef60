// Acceptance with SecretFlow's own client: the PyPI package `kuscia`
// (0.0.3b0, its generated stubs; installed by scripts/setup.sh into
// .tools/kuscia-venv) drives two real Ferry nodes over gRPC, and over HTTP
// with JSON it writes with json_format and parses strictly back into Kuscia's
// response messages: partner Domains, an MTLS and a Token DomainRoute to
// "Succeeded", batch status, delete. test/support/kusciaapi_pypi.py.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNode } from '../support/harness.ts';
import { kusciaToken } from '../support/kusciaapi-client.ts';
import { runPythonClient } from '../support/python-client.ts';

const venv = process.env.FERRY_KUSCIA_VENV ?? join(ROOT, '.tools', 'kuscia-venv');
const python = join(venv, 'bin', 'python');

async function runClient(args: object): Promise<{ code: number | null; steps: Record<string, any>[]; stderr: string }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = await runPythonClient(python, 'kusciaapi_pypi.py', args, { timeoutMs: 90_000 });
  return { code: r.code, stderr: r.err, steps: r.lines };
}

describe('KusciaAPI with the PyPI kuscia client', () => {
  let alice: TestNode;
  let bob: TestNode;
  let base: object;

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0 into .tools/kuscia-venv), or set FERRY_KUSCIA_VENV`);
    alice = await TestNode.init('alice');
    bob = await TestNode.init('bob');
    await Promise.all([alice.start(), bob.start()]);
    const ends = (n: TestNode) => ({ grpc: `${n.host}:${n.ports.kusciaGrpc}`, http: `${n.host}:${n.ports.api}`, token: kusciaToken(n) });
    base = { alice: ends(alice), bob: ends(bob), bob_public_port: bob.ports.public, alice_ca: alice.caBase64(), bob_ca: bob.caBase64() };
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  for (const [transport, auth] of [['grpc', 'MTLS'], ['grpc', 'Token'], ['http', 'MTLS'], ['http', 'Token']] as const) {
    test(`${transport}: Domains, a ${auth} route to Succeeded, batch status, delete`, async () => {
      const r = await runClient({ ...base, transport, auth });
      assert.equal(r.code, 0, `client failed: ${r.stderr}\n${JSON.stringify(r.steps)}`);
      const step = (name: string) => r.steps.find((s) => s.step === name)!;
      assert.equal(step('healthZ').ready, true);
      assert.deepEqual(step('QueryDomain'), { step: 'QueryDomain', domain_id: 'bob', role: 'partner', has_cert: true });
      assert.deepEqual(step('BatchQueryDomain').ids, ['bob']);
      assert.equal(step('CreateDomainRoute').name, 'alice-bob');
      assert.equal(step('CreateDomainRoute again').code, 11405);
      const q = step('QueryDomainRoute');
      assert.equal(q.status, 'Succeeded');
      assert.equal(q.authentication_type, auth);
      assert.equal(q.port, bob.ports.public);
      assert.equal(q.isTLS, true);
      assert.deepEqual(step('BatchQueryDomainRouteStatus').routes, [['alice-bob', 'Succeeded']]);
      assert.equal(step('DeleteDomainRoute').query_code, 11404);
      // Ferry's own CLI sees what the Kuscia client made, and that it is gone.
      assert.equal(alice.cli(['get', 'domain', 'bob']).code, 0);
      assert.notEqual(alice.cli(['get', 'clusterdomainroute', 'alice-bob']).code, 0);
    });
  }
});
