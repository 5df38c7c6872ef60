// Issue 12 "Low": the API's contract. The OpenAPI document declares the error
// answers (400/401/404/405/414/415, 409 where state can conflict) and marks
// /healthz and /readyz as needing no token; an undeclared method gets 405 with
// Allow (not 404); a body or YAML file that is not UTF-8 is refused, never
// turned into U+FFFD.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { buildApi, type ApiDeps } from '../../control-plane/api/server.ts';
import { defaultConfig } from '../../control-plane/config.ts';
import { ControlPlaneMetrics } from '../../control-plane/metrics.ts';
import { decodeUtf8 } from '../../interop/documents.ts';
import { ferry, tempDir } from '../support/harness.ts';

const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
const INVALID_UTF8 = Buffer.concat([Buffer.from('{"resources": [{"kind": "Serv'), Buffer.from([0xff, 0xfe]), Buffer.from('ice"}]}')]);

describe('API contract', () => {
  let app: Awaited<ReturnType<typeof buildApi>>;
  before(async () => {
    const deps = {
      config: defaultConfig('alice'),
      store: { list: () => [], get: () => undefined, delete: () => false } as unknown as ApiDeps['store'],
      apiToken: TOKEN,
      status: async () => ({ domain: 'alice', listeners: { public: '', internal: '', api: '' }, envoy: { ready: true, adopted: false, restarts: 0 }, xds: { converged: true, proxies: [], recentNacks: [] }, resources: [] }),
      metrics: new ControlPlaneMetrics({ processMetrics: false }),
      certs: {} as ApiDeps['certs'],
      log: pino({ level: 'silent' }),
    } satisfies ApiDeps;
    app = await buildApi(deps);
    await app.ready();
  });
  after(async () => { await app?.close(); });

  test('the OpenAPI document declares every error answer, and health/readiness need no token', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown>; security?: unknown[] }>>; security?: unknown[] };
    assert.deepEqual(doc.security, [{ bearer: [] }], 'a token by default');
    let apiOperations = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!path.startsWith('/api/')) continue;
        apiOperations++;
        for (const code of ['400', '401', '404', '405', '414', '415']) assert.ok(op.responses[code], `${method} ${path} declares ${code}`);
      }
    }
    assert.ok(apiOperations >= 7, String(apiOperations));
    assert.ok(doc.paths['/api/v1/apply']!.post!.responses['409'], 'apply declares 409');
    assert.ok(doc.paths['/api/v1/certs/rotate']!.post!.responses['409'], 'rotate declares 409');
    assert.ok(doc.paths['/api/v1/resources/{kind}/{name}']!.delete!.responses['409'], 'delete declares 409');
    for (const open of ['/healthz', '/readyz']) assert.deepEqual(doc.paths[open]!.get!.security, [], `${open} needs no token`);
  });

  test('the declared answers are the real ones: 414 and 415', async () => {
    const long = await app.inject({ method: 'GET', url: `/api/v1/resources/service/${'a'.repeat(300)}`, headers: auth });
    assert.equal(long.statusCode, 414);
    const text = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' });
    assert.equal(text.statusCode, 415);
  });

  test('an undeclared method gets 405 with Allow; an unknown path 404', async () => {
    const cases: [string, string, boolean, string][] = [
      ['POST', '/healthz', false, 'GET, HEAD'],
      ['DELETE', '/readyz', false, 'GET, HEAD'],
      ['PUT', '/api/v1/apply', true, 'POST'],
      ['PATCH', '/api/v1/resources/service/echo', true, 'PUT, GET, DELETE, HEAD'],
      ['POST', '/api/v1/status?x=1', true, 'GET, HEAD'],
    ];
    for (const [method, url, withToken, allow] of cases) {
      const r = await app.inject({ method: method as 'POST', url, headers: withToken ? auth : {} });
      assert.equal(r.statusCode, 405, `${method} ${url}: ${r.body}`);
      assert.equal(r.headers.allow, allow, `${method} ${url}`);
      assert.match(r.json().error, new RegExp(`${method} is not allowed`));
    }
    assert.equal((await app.inject({ method: 'PUT', url: '/api/v1/apply' })).statusCode, 401, 'the API still asks for the token first');
    assert.equal((await app.inject({ method: 'GET', url: '/api/v1/nothing', headers: auth })).statusCode, 404);
  });

  test('a request body that is not UTF-8 is refused (400), not read with U+FFFD', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/apply', headers: { ...auth, 'content-type': 'application/json' }, payload: INVALID_UTF8 });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().error, /request body: invalid UTF-8 at line 1: save it as UTF-8/);
  });
});

describe('YAML files are read as strict UTF-8', () => {
  test('decodeUtf8 refuses invalid bytes, naming the line', () => {
    assert.equal(decodeUtf8(Buffer.from('k: é\n'), 'f'), 'k: é\n');
    assert.throws(() => decodeUtf8(Buffer.concat([Buffer.from('a: 1\nb: '), Buffer.from([0xc3, 0x28])]), 'svc.yaml'), /svc\.yaml: invalid UTF-8 at line 2/);
    assert.throws(() => decodeUtf8(Buffer.from([0xed, 0xa0, 0x80]), 'f'), /invalid UTF-8/, 'an encoded lone surrogate (CESU-8) is not UTF-8');
  });

  test('`ferry apply -f` refuses such a file before it contacts any node', () => {
    const dir = tempDir('utf8');
    const file = join(dir, 'svc.yaml');
    writeFileSync(file, Buffer.concat([Buffer.from('apiVersion: v1\nkind: Service\nmetadata:\n  name: ec'), Buffer.from([0xff]), Buffer.from('ho\n')]));
    const r = ferry(['apply', '--home', join(dir, 'home'), '-f', file]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /svc\.yaml: invalid UTF-8 at line 4: save it as UTF-8/);
  });
});
