// Grants between two real nodes through their gateways (real Envoy, mTLS):
// alice authors a DomainDataGrant for bob; her node signs it with her domain
// key (Kuscia's scheme) and pushes it to ferry-datamesh.bob.svc; bob stores it
// Ready after verifying it against alice's certificate. A grant altered on
// the way, or claiming another author, is refused; deleting the grant at
// alice revokes it at bob. The grant service offers partners no data.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNode, linkToEcho, waitFor } from '../support/harness.ts';
import { grantSignatureProblem, signGrant } from '../../control-plane/datamesh/grant-sign.ts';

type Grant = { spec: { signature?: string; author: string; limit?: { useCount?: number } }; status?: { phase?: string; message?: string; synced?: { ok: boolean } }; metadata: { annotations?: Record<string, string> } };

/** A call to a partner's built-in service through `via`'s internal listener, as a local engine makes it. */
function callThrough(via: TestNode, host: string, method: string, path: string, body?: object): Promise<{ status: number; text: string }> {
  const payload = body ? Buffer.from(JSON.stringify(body)) : undefined;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: via.ports.internal, method, path, headers: { host, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('DomainDataGrant: signed by the author, synced to the grantee through the gateway, verified there', () => {
  let alice: TestNode;
  let bob: TestNode;
  const get = async (n: TestNode, name: string) => {
    const r = await n.api(`/api/v1/resources/domaindatagrant/${name}`);
    return r.status === 200 ? (await r.json()) as Grant : undefined;
  };

  before(async () => {
    alice = await TestNode.init('alice');
    bob = await TestNode.init('bob');
    await Promise.all([alice.start(), bob.start()]);
    await linkToEcho(alice, bob, 9); // trust both ways, alice's route to bob (the echo Service is not called)
  });
  after(async () => { await Promise.all([alice?.stop(), bob?.stop()]); });

  test('the grant reaches bob signed and verified, alice\'s status says so, and deleting it at alice revokes it at bob', async () => {
    await alice.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: DomainDataGrant
metadata: { name: table-1-bob }
spec:
  author: alice
  domainDataID: table-1
  grantDomain: bob
  limit: { useCount: 2, expirationTime: "2099-01-01T00:00:00Z", initiator: bob }
  description: { purpose: psi }
`);
    const atBob = await waitFor('the grant at bob', async () => {
      const g = await get(bob, 'table-1-bob');
      return g?.status?.phase === 'Ready' ? g : undefined;
    });
    assert.equal(atBob.metadata.annotations?.['ferry.secretflow/grant-from'], 'alice');
    assert.match(atBob.status!.message!, /signed by alice, verified with its certificate/);
    // The signature is Kuscia's: it verifies with alice's CA certificate.
    assert.equal(grantSignatureProblem(atBob.spec as never, [readFileSync(join(alice.home, 'certs', 'ca.crt'), 'utf8')]), undefined);
    await waitFor('alice\'s status says bob has it', async () => ((await get(alice, 'table-1-bob'))?.status?.synced?.ok ? true : undefined));
    alice.cli(['delete', 'domaindatagrant', 'table-1-bob']);
    await waitFor('the grant gone at bob', async () => ((await get(bob, 'table-1-bob')) ? undefined : true));
  });

  test('an altered grant, or one claiming another author, is refused by the grantee', async () => {
    const key = readFileSync(join(alice.home, 'certs', 'ca.key'), 'utf8');
    const spec = { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob', limit: { useCount: 1 } };
    const signature = signGrant(spec, key);
    const altered = await callThrough(alice, 'ferry-datamesh.bob.svc', 'PUT', '/v1/grants/forged', { spec: { ...spec, limit: { useCount: 1000 }, signature } });
    assert.equal(altered.status, 403);
    assert.match(altered.text, /does not verify with alice's certificate/);
    const other = await callThrough(alice, 'ferry-datamesh.bob.svc', 'PUT', '/v1/grants/forged', { spec: { ...spec, author: 'carol', signature } });
    assert.equal(other.status, 403);
    assert.match(other.text, /spec\.author is carol, but the caller is alice/);
    assert.equal(await get(bob, 'forged'), undefined);
    // The genuine one is accepted (the same call, signed as alice's node signs).
    const genuine = await callThrough(alice, 'ferry-datamesh.bob.svc', 'PUT', '/v1/grants/genuine', { spec: { ...spec, signature } });
    assert.equal(genuine.status, 200, genuine.text);
  });

  test('a partner reaches no data through the grant service', async () => {
    const r = await callThrough(bob, 'ferry-datamesh.alice.svc', 'GET', '/v1/domaindata/table-1');
    assert.equal(r.status, 404);
  });
});
