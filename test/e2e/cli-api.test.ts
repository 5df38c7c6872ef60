// The CLI and REST API of one real node: init, offline apply, start, get,
// describe, delete, status, authentication, health, OpenAPI; and `ferry demo`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { TestNode, curl, ferry, tempDir, waitFor } from '../support/harness.ts';

/** Sends raw bytes to a local port and returns the whole answer (for request forms fetch cannot make). */
async function rawHttp(port: number, request: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.setEncoding('utf8').on('data', (d: string) => { answer += d; }).on('end', () => resolve(answer)).on('error', reject);
  });
}

const domainDoc = (name: string) => `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: ${name} }
spec: { role: partner }
`;

describe('ferry CLI and REST API', () => {
  let node: TestNode;

  before(async () => {
    node = await TestNode.init('alice');
  });
  after(async () => {
    await node?.stop();
    node?.cleanup();
  });

  test('init: keys are private, the CA exports as PEM, bad input is one line', () => {
    for (const f of ['ca.key', 'gateway.key']) assert.equal(statSync(join(node.home, 'certs', f)).mode & 0o777, 0o600, f);
    assert.equal(statSync(join(node.home, 'api-token')).mode & 0o777, 0o600);
    const pem = node.cli(['cert', 'export']);
    assert.equal(pem.code, 0);
    assert.match(pem.stdout, /^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/);
    assert.equal(pem.stdout, readFileSync(join(node.home, 'certs', 'ca.crt'), 'utf8'));

    const again = node.cli(['init', 'alice']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /^ferry: error: .*already exists/);
    const badName = ferry(['init', 'Alice_1', '--home', join(tempDir('bad'), 'h')]);
    assert.equal(badName.code, 1);
    assert.match(badName.stderr, /domain "Alice_1" is not a valid domain id/);
    const badPort = ferry(['init', 'x', '--home', join(tempDir('bad'), 'h'), '--api-port', '99999']);
    assert.equal(badPort.code, 2);
    assert.match(badPort.stderr, /--api-port: "99999" is not a port number/);
    assert.equal(ferry(['frobnicate']).code, 2);
    const badOption = ferry(['get', 'domain', '--hmoe', 'x']);
    assert.equal(badOption.code, 2);
    assert.equal(badOption.stderr.trim().split('\n').length, 1, 'one line');
  });

  test('apply before start goes to the store and takes effect at start', async () => {
    const r = node.cli(['apply', '-f', '-'], domainDoc('bob'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /domain\/bob created/);
    assert.match(r.stderr, /node not running/);
    // Tiny log limits, so the rotation test below can see a rotation happen.
    await node.start({ FERRY_LOG_MAX_BYTES: '4000', FERRY_LOG_CHECK_MS: '200' });
    const got = node.cli(['get', 'domain', 'bob', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    const bob = JSON.parse(got.stdout) as { metadata: { name: string }; status: { ready: boolean; reason: string; fix: string } };
    assert.equal(bob.metadata.name, 'bob');
    assert.equal(bob.status.ready, false, 'a partner without a CA is not trusted');
    assert.match(bob.status.reason, /no CA certificate/);
  });

  test('a second node for the same home is refused in one line; apply --wait returns once Envoy has the change', async () => {
    const second = node.cli(['start']);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /^ferry: error: a node is already running for .* \(pid \d+\)/);
    assert.equal(second.stderr.trim().split('\n').length, 1);
    const r = node.cli(['apply', '--wait', '-f', '-'], domainDoc('dave'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await node.readyz()).ready, true, 'acknowledged when apply returned');
  });

  test('logs are rotated when they grow, and Envoy goes on writing to the fresh file', async () => {
    const logs = join(node.home, 'logs');
    const hit = () => curl(['-H', 'Host: nothing.nowhere.svc', `http://127.0.0.1:${node.ports.internal}/rotate`]);
    await waitFor('a rotation of access-internal.log', async () => {
      await hit();
      return existsSync(join(logs, 'access-internal.log.1')) ? true : undefined;
    });
    // Without a reopen Envoy would keep writing the renamed file and no fresh one would appear.
    await waitFor('Envoy writing a fresh access-internal.log', async () => {
      await hit();
      return existsSync(join(logs, 'access-internal.log')) && readFileSync(join(logs, 'access-internal.log'), 'utf8').includes('/rotate') ? true : undefined;
    });
    assert.ok(!existsSync(join(logs, 'access-internal.log.6')), 'at most 5 rotated files');
  });

  test('the API needs the bearer token; health and OpenAPI do not', async () => {
    const base = `http://127.0.0.1:${node.ports.api}`;
    assert.equal((await fetch(`${base}/api/v1/status`)).status, 401);
    assert.equal((await fetch(`${base}/api/v1/status`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await node.api('/api/v1/status')).status, 200);
    // The token is required by route, however the path is spelled.
    assert.equal((await fetch(`${base}/%61pi/v1/status`)).status, 401, 'percent-encoded path');
    const absolute = await rawHttp(node.ports.api, 'GET http://x/api/v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(absolute, /^HTTP\/1\.1 401/, 'absolute-form path');
    assert.equal((await fetch(`${base}/api/v1/nothing-here`)).status, 401, 'unknown API paths too');
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const openapi = (await (await fetch(`${base}/openapi.json`)).json()) as { openapi: string; paths: Record<string, unknown> };
    assert.match(openapi.openapi, /^3\./);
    assert.ok(openapi.paths['/api/v1/apply'], 'apply is documented');
    const badKind = await node.api('/api/v1/resources/widgets');
    assert.equal(badKind.status, 400);
    assert.match(((await badKind.json()) as { error: string }).error, /unknown kind "widgets"/);
    const badBody = await node.api('/api/v1/apply', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ resources: [{ kind: 'Domain' }] }) });
    assert.equal(badBody.status, 400);
    assert.match(((await badBody.json()) as { error: string }).error, /document 1 \(Domain\/\?\): apiVersion: is required/);
  });

  test('get, describe, delete and status', async () => {
    await node.apply(domainDoc('carol'));
    const list = node.cli(['get', 'domains']);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^KIND\s+NAME\s+READY\s+GENERATION\s+OBSERVED\s+REASON/);
    assert.match(list.stdout, /Domain\s+carol\s+False/);
    const yaml = YAML.parse(node.cli(['get', 'domain', 'carol', '-o', 'yaml']).stdout) as { kind: string };
    assert.equal(yaml.kind, 'Domain');
    const describe = node.cli(['describe', 'domain', 'carol']);
    assert.match(describe.stdout, /Ready:\s+False\nReason:\s+partner carol has no CA certificate/);
    assert.match(describe.stdout, /Fix:\s+apply a Domain named carol with role: partner and spec.cert/);
    const del = node.cli(['delete', 'domain', 'carol']);
    assert.equal(del.code, 0, del.stderr);
    const gone = node.cli(['describe', 'domain', 'carol']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^ferry: error: Domain carol not found/);
    const status = node.cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Domain:\s+alice/);
    assert.match(status.stdout, /Envoy:\s+ready/);
    assert.match(status.stdout, /acknowledged by every proxy/);
    assert.match(status.stdout, /proxy alice-gateway: clusters=\w+ /);
    const unknownKind = node.cli(['get', 'widgets']);
    assert.equal(unknownKind.code, 1);
    assert.match(unknownKind.stderr, /unknown kind "widgets": use one of domain/);
  });

  test('conditions and observedGeneration are written through the store; a stale resourceVersion is 409', async () => {
    await node.apply(domainDoc('dave'));
    type Got = { metadata: { resourceVersion: string; generation: number }; status: { observedGeneration?: number; conditions?: { type: string; status: string; reason: string; message: string }[] } };
    const get = async () => (await (await node.api('/api/v1/resources/Domain/dave')).json()) as Got;
    await waitFor('the translator wrote dave\'s conditions', async () => ((await get()).status.observedGeneration === 1 ? true : undefined));
    const got = await get();
    assert.equal(got.metadata.generation, 1);
    assert.deepEqual(got.status.conditions?.map((c) => [c.type, c.status, c.reason]), [['Ready', 'False', 'NotReady']]);
    assert.match(got.status.conditions![0]!.message, /partner dave has no CA certificate/);
    const describe = node.cli(['describe', 'domain', 'dave']);
    assert.match(describe.stdout, /Generation: 1 \(observed 1\), resourceVersion \d+/);
    assert.match(describe.stdout, /Conditions:\n\s+TYPE\s+STATUS\s+REASON\s+LAST TRANSITION\s+MESSAGE\n\s+Ready\s+False\s+NotReady\s+\S+\s+partner dave has no CA/);
    const doc = YAML.parse(domainDoc('dave')) as { metadata: Record<string, unknown> };
    const put = (resourceVersion: string) => node.api('/api/v1/resources/Domain/dave', {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...doc, metadata: { ...doc.metadata, labels: { v: resourceVersion }, resourceVersion } }),
    });
    const ok = await put(got.metadata.resourceVersion);
    assert.equal(ok.status, 200, await ok.clone().text());
    const stale = await put(got.metadata.resourceVersion);
    assert.equal(stale.status, 409);
    assert.match(((await stale.json()) as { error: string }).error, /Domain dave changed since resourceVersion \d+ \(now \d+\): get it again/);
    assert.equal((await get()).metadata.generation, 2);
    const status = node.cli(['status']);
    assert.match(status.stdout, /Store:\s+sqlite \S+ferry\.db, revision \d+/);
  });
});

test('ferry demo: two domains call each other over HTTP/1.1, HTTP/2 and gRPC, then run SecretFlow\'s PSI as a job (100k × 100k)', () => {
  // Two nodes, six calls and a 100k × 100k PSI through both DataMeshes: minutes on a loaded 2-core machine.
  const r = ferry(['demo'], undefined, undefined, 300_000);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^(alice|bob) -> /.test(l));
  assert.equal(rows.length, 6, r.stdout);
  for (const row of rows) assert.match(row, /\s(200|OK)\s+[\d.]+ ms\s+\w+@\w+ saw source (alice|bob)$/);
  assert.match(r.stdout, /HTTP\/1\.1[\s\S]*HTTP\/2[\s\S]*gRPC/);
  // The PSI part: the intersection at both domains, as a DomainData written through each node's DataMesh, and the time.
  for (const d of ['alice', 'bob']) assert.match(r.stdout, new RegExp(`^${d}\\s+Succeeded\\s+40000\\s+[\\d.]+ s\\s+DomainData demo-psi-result-${d} \\(\\S+/domaindata/demo-psi-result-${d}\\.csv\\)$`, 'm'), r.stdout);
  assert.match(r.stdout, /job demo-psi: submitted to Succeeded at both in [\d.]+ s/);
  assert.match(ferry(['demo', 'nope']).stderr, /demo: "nope" is not a demo part: give none \(everything\) or psi/);
});
