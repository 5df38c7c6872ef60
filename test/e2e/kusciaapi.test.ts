// KusciaAPI on real nodes (alice and bob, each with its Envoy): Kuscia's
// envelope and codes over HTTP and gRPC, partner Domains and DomainRoutes
// created through it reach "Succeeded", what it creates is Ferry's own
// resources (ferry get) and the other way round, the token check, and a
// bounded fuzz of both transports.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { TestNode, freePorts, waitFor } from '../support/harness.ts';
import { kusciaGrpc, kusciaHttp, kusciaToken } from '../support/kusciaapi-client.ts';
import { messageType } from '../../control-plane/kusciaapi/protos.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';

describe('KusciaAPI', () => {
  let alice: TestNode;
  let bob: TestNode;

  before(async () => {
    alice = await TestNode.init('alice');
    bob = await TestNode.init('bob');
    await Promise.all([alice.start(), bob.start()]);
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('healthZ, and the token: file 0600, HTTP 401 / gRPC UNAUTHENTICATED without it', async () => {
    const health = await kusciaHttp(alice, '/healthZ', {}, { token: null });
    assert.equal(health.http, 200);
    assert.deepEqual(health.body, { status: { code: 0, message: 'success', details: [] }, data: { ready: true } });
    assert.equal(statSync(join(alice.home, 'certs', 'token')).mode & 0o777, 0o600);
    for (const token of [null, 'wrong']) {
      const r = await kusciaHttp(alice, '/api/v1/domain/query', { domain_id: 'alice' }, { token });
      assert.equal(r.http, 401);
      assert.equal(r.body.status.code, 11102);
      const g = await kusciaGrpc(alice, 'DomainService', 'QueryDomain', 'QueryDomainRequest', 'QueryDomainResponse', { domain_id: 'alice' }, { token });
      assert.equal(g.error?.code, grpc.status.UNAUTHENTICATED);
    }
    // Ferry's own REST bearer token is not KusciaAPI's, and the other way round.
    const rest = await kusciaHttp(alice, '/api/v1/domain/query', { domain_id: 'alice' }, { token: alice.token });
    assert.equal(rest.http, 401);
  });

  test('HTTP: partner Domains and an MTLS route both ways reach Succeeded; batch queries; ferry get sees them', async () => {
    const d1 = await kusciaHttp(alice, '/api/v1/domain/create', { domain_id: 'bob', role: 'partner', cert: bob.caBase64() });
    assert.deepEqual(d1.body, { status: { code: 0, message: 'success', details: [] } });
    const d2 = await kusciaHttp(bob, '/api/v1/domain/create', { domainId: 'alice', role: 'partner', cert: alice.caBase64() });
    assert.equal(d2.body.status.code, 0, d2.body.status.message);
    const again = await kusciaHttp(alice, '/api/v1/domain/create', { domain_id: 'bob', role: 'partner' });
    assert.equal(again.http, 200);
    assert.equal(again.body.status.code, 11306);
    assert.match(again.body.status.message, /^domain_id: domain bob already exists/);

    const out = await kusciaHttp(alice, '/api/v1/route/create', {
      authentication_type: 'MTLS', source: 'alice', destination: 'bob',
      endpoint: { host: '127.0.0.1', ports: [{ name: 'https', port: bob.ports.public, protocol: 'HTTPS' }] },
    });
    assert.deepEqual(out.body, { status: { code: 0, message: 'success', details: [] }, data: { name: 'alice-bob' } });
    const inbound = await kusciaHttp(bob, '/api/v1/route/create', { authenticationType: 'MTLS', source: 'alice', destination: 'bob' });
    assert.equal(inbound.body.status.code, 0, inbound.body.status.message);

    const q = await waitFor('alice-bob Succeeded at alice', async () => {
      const r = await kusciaHttp(alice, '/api/v1/route/query', { source: 'alice', destination: 'bob' });
      return r.body.data?.status?.status === 'Succeeded' ? r : undefined;
    });
    assert.equal(q.body.status.code, 0);
    assert.equal(q.body.data.name, 'alice-bob');
    assert.equal(q.body.data.authentication_type, 'MTLS');
    assert.deepEqual(q.body.data.endpoint.ports[0], { name: 'https', port: bob.ports.public, protocol: 'HTTP', isTLS: true, path_prefix: '' });
    assert.equal(q.body.data.token_config, null, 'unpopulated message fields are emitted as null');
    assert.ok(q.body.data.status.reason.length > 0, 'Ferry says why');

    const batch = await kusciaHttp(alice, '/api/v1/route/status/batchQuery', { route_keys: [{ source: 'alice', destination: 'bob' }] });
    assert.deepEqual(batch.body.data.routes.map((r: { name: string; status: { status: string } }) => [r.name, r.status.status]), [['alice-bob', 'Succeeded']]);
    const missing = await kusciaHttp(alice, '/api/v1/route/status/batchQuery', { routeKeys: [{ source: 'alice', destination: 'bob' }, { source: 'alice', destination: 'zed' }] });
    assert.equal(missing.body.status.code, 11404);
    assert.match(missing.body.status.message, /^route_keys\[1\]: route alice-zed does not exist/);

    const domains = await kusciaHttp(alice, '/api/v1/domain/batchQuery', { domain_ids: ['bob'] });
    assert.equal(domains.body.data.domains[0].domain_id, 'bob');
    assert.equal(domains.body.data.domains[0].role, 'partner');

    // Kuscia's call made Ferry's own resources.
    const got = JSON.parse(alice.cli(['get', 'clusterdomainroute', 'alice-bob', '-o', 'json']).stdout) as { spec: { endpoint: { host: string } }; status: { ready: boolean } };
    assert.equal(got.spec.endpoint.host, '127.0.0.1');
    assert.equal(got.status.ready, true);
    const dom = alice.cli(['get', 'domain', 'bob', '-o', 'json']);
    assert.equal(dom.code, 0, dom.stderr);

    const dup = await kusciaHttp(alice, '/api/v1/route/create', { authentication_type: 'MTLS', source: 'alice', destination: 'bob', endpoint: { host: 'x', ports: [{ port: 1 }] } });
    assert.equal(dup.body.status.code, 11405);
  });

  test('what Ferry\'s CLI makes, KusciaAPI shows; update and delete through KusciaAPI show in ferry get', async () => {
    const r = alice.cli(['apply', '-f', '-'], 'apiVersion: kuscia.secretflow/v1alpha1\nkind: Domain\nmetadata: { name: carol, annotations: { team: risk } }\nspec: { role: partner }\n');
    assert.equal(r.code, 0, r.stderr);
    const q = await kusciaHttp(alice, '/api/v1/domain/query', { domain_id: 'carol' });
    assert.equal(q.body.status.code, 0);
    assert.deepEqual(q.body.data, { domain_id: 'carol', role: 'partner', cert: '', node_statuses: [], deploy_token_statuses: [], annotations: { team: 'risk' }, auth_center: null, master_domain_id: '' });
    const u = await kusciaHttp(alice, '/api/v1/domain/update', { domain_id: 'carol', role: 'partner', master_domain_id: 'carol' });
    assert.equal(u.body.status.code, 0, u.body.status.message);
    const got = JSON.parse(alice.cli(['get', 'domain', 'carol', '-o', 'json']).stdout) as { spec: { master?: string }; metadata: { annotations?: Record<string, string> } };
    assert.equal(got.spec.master, 'carol');
    assert.deepEqual(got.metadata.annotations, { team: 'risk' }, 'annotations set with Ferry stay');
    assert.equal((await kusciaHttp(alice, '/api/v1/domain/delete', { domain_id: 'carol' })).body.status.code, 0);
    assert.notEqual(alice.cli(['get', 'domain', 'carol']).code, 0);
    const gone = await kusciaHttp(alice, '/api/v1/domain/query', { domain_id: 'carol' });
    assert.equal(gone.body.status.code, 11305);
    assert.match(gone.body.status.message, /^domain_id: /);
    const self = await kusciaHttp(alice, '/api/v1/domain/delete', { domain_id: 'alice' });
    assert.equal(self.body.status.code, 11100);
  });

  test('gRPC: a Token route alice -> bob reaches Succeeded, batch status, delete; errors carry Kuscia codes', async () => {
    const call = (node: TestNode, method: string, body: Record<string, unknown>) =>
      kusciaGrpc(node, 'DomainRouteService', method, `${method}Request`, `${method}Response`, body);
    // Token routes replace the MTLS ones of the test before.
    assert.equal((await call(alice, 'DeleteDomainRoute', { source: 'alice', destination: 'bob' })).body.status.code, 0);
    assert.equal((await call(bob, 'DeleteDomainRoute', { source: 'alice', destination: 'bob' })).body.status.code, 0);
    const gone = await call(alice, 'QueryDomainRoute', { source: 'alice', destination: 'bob' });
    assert.equal(gone.body.status.code, 11404);
    // (A route without endpoint is accepted, not served, with a condition: Kuscia's own documents write such routes.)
    const bad = await call(alice, 'CreateDomainRoute', { authentication_type: 'Token', source: 'alice', destination: 'bob', endpoint: { host: '127.0.0.1', ports: [{ port: 70000, protocol: 'HTTP' }] } });
    assert.equal(bad.body.status.code, 11100);
    assert.match(bad.body.status.message, /^endpoint\.ports\[0\]\.port: must be <= 65535/);

    const created = await call(alice, 'CreateDomainRoute', {
      authentication_type: 'Token', source: 'alice', destination: 'bob',
      endpoint: { host: '127.0.0.1', ports: [{ name: 'https', port: bob.ports.public, protocol: 'HTTPS' }] },
      token_config: { token_gen_method: 'RSA-GEN' },
    });
    assert.equal(created.body.status.code, 0, created.body.status.message);
    assert.equal(created.body.data.name, 'alice-bob');
    assert.equal((await call(bob, 'CreateDomainRoute', { authentication_type: 'Token', source: 'alice', destination: 'bob', token_config: { token_gen_method: 'RSA-GEN' } })).body.status.code, 0);
    const q = await waitFor('Token route Succeeded', async () => {
      const r = await call(alice, 'QueryDomainRoute', { source: 'alice', destination: 'bob' });
      return r.body?.data?.status?.status === 'Succeeded' ? r : undefined;
    });
    assert.equal(q.body.data.authentication_type, 'Token');
    assert.equal(q.body.data.token_config.token_gen_method, 'RSA-GEN');
    // The batch answers the same status (waited for: under load a link check may flip Ready for a moment).
    const batch = await waitFor('batch status Succeeded', async () => {
      const r = await call(alice, 'BatchQueryDomainRouteStatus', { route_keys: [{ source: 'alice', destination: 'bob' }] });
      return r.body?.data?.routes?.[0]?.status?.status === 'Succeeded' ? r : undefined;
    });
    assert.deepEqual(batch.body.data.routes.map((x: { name: string; source: string; destination: string }) => [x.name, x.source, x.destination]), [['alice-bob', 'alice', 'bob']]);
    assert.equal((await call(alice, 'DeleteDomainRoute', { source: 'alice', destination: 'bob' })).body.status.code, 0);
    assert.notEqual(alice.cli(['get', 'clusterdomainroute', 'alice-bob']).code, 0);
    const again = await call(alice, 'DeleteDomainRoute', { source: 'alice', destination: 'bob' });
    assert.equal(again.body.status.code, 11404);
  });

  test('AppImage: create, query, list in pages, update, batch query, delete; ferry get sees it', async () => {
    const image = (tag: string) => ({
      name: 'engine-a', image: { name: 'ferry/test-engine', tag },
      deploy_templates: [{ name: 'engine', containers: [{ name: 'engine', command: [process.execPath, 'engine.mjs'], ports: [{ name: 'link', protocol: 'HTTP', scope: 'Cluster' }] }] }],
    });
    assert.equal((await kusciaHttp(alice, '/api/v1/appimage/create', image('1'))).body.status.code, 0);
    assert.equal((await kusciaHttp(alice, '/api/v1/appimage/create', image('1'))).body.status.code, 13106);
    assert.equal((await kusciaHttp(alice, '/api/v1/appimage/create', { ...image('1'), name: 'engine-b' })).body.status.code, 0);
    const q = await kusciaHttp(alice, '/api/v1/appimage/query', { name: 'engine-a' });
    assert.equal(q.body.data.image.tag, '1');
    assert.deepEqual(q.body.data.deploy_templates[0].containers[0].ports, [{ name: 'link', protocol: 'HTTP', scope: 'Cluster' }]);
    const page1 = await kusciaHttp(alice, '/api/v1/appimage/list', { page_size: 1 });
    assert.deepEqual([page1.body.data.appimage_list.map((i: { name: string }) => i.name), page1.body.data.next_page_token], [['engine-a'], 'engine-a']);
    const page2 = await kusciaHttp(alice, '/api/v1/appimage/list', { page_size: '1', page_token: 'engine-a' });
    assert.deepEqual([page2.body.data.appimage_list.map((i: { name: string }) => i.name), page2.body.data.next_page_token], [['engine-b'], '']);
    assert.equal((await kusciaHttp(alice, '/api/v1/appimage/update', image('2'))).body.status.code, 0);
    const got = JSON.parse(alice.cli(['get', 'appimage', 'engine-a', '-o', 'json']).stdout) as { spec: { image: { tag: string } } };
    assert.equal(got.spec.image.tag, '2');
    const batch = await kusciaHttp(alice, '/api/v1/appimage/batchQuery', { names: ['engine-a', 'engine-b'] });
    assert.deepEqual(batch.body.data.map((i: { name: string }) => i.name), ['engine-a', 'engine-b'], 'Kuscia answers the list as data itself');
    const refused = await kusciaHttp(alice, '/api/v1/appimage/update', { ...image('3'), deploy_templates: [{ containers: [{ name: 'a', command: ['a'] }, { name: 'b', command: ['b'] }] }] });
    assert.equal(refused.body.status.code, 11100);
    assert.match(refused.body.status.message, /^deploy_templates\[0\]\.containers: /);
    for (const name of ['engine-a', 'engine-b']) assert.equal((await kusciaHttp(alice, '/api/v1/appimage/delete', { name })).body.status.code, 0);
    assert.equal((await kusciaHttp(alice, '/api/v1/appimage/query', { name: 'engine-a' })).body.status.code, 13105);
    assert.notEqual(alice.cli(['get', 'appimage', 'engine-a']).code, 0);
  });

  test('protobuf bodies over HTTP (Content-Type application/x-protobuf)', async () => {
    const req = messageType('QueryDomainRequest');
    const resp = messageType('QueryDomainResponse');
    const res = await fetch(`http://${alice.host}:${alice.ports.api}/api/v1/domain/query`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', token: kusciaToken(alice) },
      body: Buffer.from(req.encode(req.fromObject({ domain_id: 'bob' })).finish()),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-protobuf');
    const m = resp.toObject(resp.decode(new Uint8Array(await res.arrayBuffer())), { defaults: true }) as { status: { code: number }; data: { domain_id: string; role: string } };
    assert.equal(m.status.code, 0);
    assert.equal(m.data.domain_id, 'bob');
    assert.equal(m.data.role, 'partner');
    const garbage = await fetch(`http://${alice.host}:${alice.ports.api}/api/v1/domain/query`, {
      method: 'POST', headers: { 'content-type': 'application/x-protobuf', token: kusciaToken(alice) }, body: new Uint8Array([0x12, 0xff, 0x01]),
    });
    assert.equal(garbage.status, 200);
    const g = resp.toObject(resp.decode(new Uint8Array(await garbage.arrayBuffer()))) as { status: { code: number; message: string } };
    assert.equal(g.status.code, 11100);
    assert.match(g.status.message, /^\(body\): is not a protobuf QueryDomainRequest/);
  });
});

describe('KusciaAPI on a port of its own', () => {
  let carol: TestNode;
  let port: number;

  before(async () => {
    carol = await TestNode.init('carol');
    [port] = await freePorts(1) as [number];
    const config = readConfig(carol.home);
    config.kusciaApi = { ...config.kusciaApi, httpPort: port };
    writeConfig(carol.home, config);
    await carol.start();
  });
  after(async () => {
    await carol?.stop();
    carol?.cleanup();
  });

  test('HTTP on kusciaApi.httpPort; the REST port no longer serves it', async () => {
    const token = kusciaToken(carol);
    const own = await fetch(`http://127.0.0.1:${port}/api/v1/domain/query`, { method: 'POST', headers: { token }, body: '{"domain_id":"carol"}' });
    assert.equal(own.status, 200);
    const body = await own.json() as { status: { code: number; message: string } };
    assert.equal(body.status.code, 11305, 'carol has no Domain resource of its own until one is applied');
    const rest = await fetch(`http://127.0.0.1:${carol.ports.api}/api/v1/domain/query`, { method: 'POST', headers: { token, authorization: `Bearer ${carol.token}` }, body: '{"domain_id":"carol"}' });
    assert.equal(rest.status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/api/v1/domain/query`, { method: 'POST', body: '{}' })).status, 401);
  });
});
