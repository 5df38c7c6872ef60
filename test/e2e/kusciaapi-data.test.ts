// KusciaAPI's DomainDataSource, DomainData and DomainDataGrant calls on a
// real node, over HTTP with JSON (and gRPC for the secrets check): Kuscia's
// envelope and codes, errors naming the field, a source's credentials sealed
// in the store and never answered, grants signed by the author's domain key,
// and what a Kuscia call makes is Ferry's own resource (ferry get / apply /
// REST) and the other way round. The PyPI client's run is kusciaapi-data-pypi.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNode, tempDir } from '../support/harness.ts';
import { kusciaGrpc, kusciaHttp } from '../support/kusciaapi-client.ts';
import { grantSignatureProblem } from '../../control-plane/datamesh/grant-sign.ts';

const OK = { code: 0, message: 'success', details: [] };

describe('KusciaAPI DataMesh services', () => {
  let alice: TestNode;
  let dataDir: string;

  before(async () => {
    alice = await TestNode.init('alice');
    await alice.start();
    dataDir = tempDir('kapi-data');
    mkdirSync(join(dataDir, 'sales'), { recursive: true });
  });
  after(async () => {
    await alice?.stop();
    alice?.cleanup();
  });

  test('DomainDataSource: create (localfs, mysql), query without secrets, update, list, errors naming the field', async () => {
    const c = await kusciaHttp(alice, '/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'files', type: 'localfs', name: 'Files', info: { localfs: { path: dataDir } } });
    assert.deepEqual(c.body, { status: OK, data: { datasource_id: 'files' } });
    // lowerCamel input too; a database source with a password.
    const db = await kusciaHttp(alice, '/api/v1/domaindatasource/create', { domainId: 'alice', datasourceId: 'warehouse', type: 'mysql', info: { database: { endpoint: '127.0.0.1:1', user: 'ferry', password: 'pa55-secret', database: 'sales' } } });
    assert.equal(db.body.status.code, 0, db.body.status.message);
    const q = await kusciaHttp(alice, '/api/v1/domaindatasource/query', { domain_id: 'alice', datasource_id: 'warehouse' });
    assert.equal(q.body.status.code, 0);
    assert.deepEqual(q.body.data.info.database, { endpoint: '127.0.0.1:1', user: 'ferry', password: '', database: 'sales' });
    assert.deepEqual(Object.keys(q.body.data), ['domain_id', 'datasource_id', 'name', 'type', 'status', 'info', 'info_key', 'access_directly']);
    // gRPC answers the same, without the password.
    const g = await kusciaGrpc(alice, 'DomainDataSourceService', 'QueryDomainDataSource', 'QueryDomainDataSourceRequest', 'QueryDomainDataSourceResponse', { domain_id: 'alice', datasource_id: 'warehouse' });
    assert.equal(g.body.data.info.database.password, '');
    // Sealed in the store: neither the REST API nor the store file holds it in clear.
    const rest = await (await alice.api('/api/v1/resources/domaindatasource/warehouse')).text();
    assert.doesNotMatch(rest, /pa55-secret/);
    assert.doesNotMatch(alice.cli(['get', 'dds', 'warehouse', '-o', 'yaml']).stdout, /pa55-secret/);
    assert.equal(readFileSync(join(alice.home, 'logs', 'node.out'), 'utf8').includes('pa55-secret'), false);

    // Update: only what is set; the credentials stay.
    const u = await kusciaHttp(alice, '/api/v1/domaindatasource/update', { domain_id: 'alice', datasource_id: 'warehouse', type: '', name: 'Warehouse' });
    assert.deepEqual(u.body, { status: OK });
    const q2 = await kusciaHttp(alice, '/api/v1/domaindatasource/query', { domain_id: 'alice', datasource_id: 'warehouse' });
    assert.equal(q2.body.data.name, 'Warehouse');
    assert.equal(q2.body.data.info.database.user, 'ferry');

    // Made through KusciaAPI, edited with Ferry's CLI (what `ferry get -o yaml` shows, re-applied): the credentials stay sealed and usable.
    const yaml = alice.cli(['get', 'dds', 'warehouse', '-o', 'yaml']).stdout.replace(/name: Warehouse/, 'name: Warehouse (edited)');
    await alice.apply(yaml);
    const q3 = await kusciaHttp(alice, '/api/v1/domaindatasource/query', { domain_id: 'alice', datasource_id: 'warehouse' });
    assert.equal(q3.body.data.name, 'Warehouse (edited)');
    assert.deepEqual(q3.body.data.info.database, { endpoint: '127.0.0.1:1', user: 'ferry', password: '', database: 'sales' });

    const list = await kusciaHttp(alice, '/api/v1/domaindatasource/list', { domain_id: 'alice' });
    assert.deepEqual(list.body.data.datasource_list.map((s: { datasource_id: string }) => s.datasource_id).sort(), ['default-data-source', 'files', 'warehouse']);
    const batch = await kusciaHttp(alice, '/api/v1/domaindatasource/batchQuery', { data: [{ domain_id: 'alice', datasource_id: 'files' }] });
    assert.equal(batch.body.data.datasource_list[0].info.localfs.path, dataDir);

    const errors: [string, object, number, RegExp][] = [
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'x', type: 'localfs' }, 11100, /^info: is required/],
      ['/api/v1/domaindatasource/create', { domain_id: 'bob', datasource_id: 'x', type: 'localfs', info: { localfs: { path: '/tmp' } } }, 11100, /^domain_id: is bob, but this node serves domain alice/],
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'x', type: 'oss', info: { oss: { endpoint: 'http://127.0.0.1:9', bucket: 'bucket-1' } } }, 11100, /^info\.oss\.access_key_id: is required/],
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'x', type: 'localfs', info: { localfs: { path: 'relative' } } }, 11100, /^info\.localfs\.path: must be an absolute/],
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'x', type: 'mysql', info: { database: { endpoint: 'h:1', user: 'u', password: 'p' } } }, 11100, /^info\.database\.database: is required/],
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'Bad_Name', type: 'localfs', info: { localfs: { path: '/tmp' } } }, 11100, /^datasource_id: /],
      ['/api/v1/domaindatasource/create', { domain_id: 'alice', datasource_id: 'files', type: 'localfs', info: { localfs: { path: '/tmp' } } }, 11805, /^datasource_id: domain data source files already exists/],
      ['/api/v1/domaindatasource/query', { domain_id: 'alice', datasource_id: 'nope' }, 11806, /^datasource_id: domain data source nope does not exist/],
      ['/api/v1/domaindatasource/update', { domain_id: 'alice', datasource_id: 'nope', name: 'n' }, 11806, /^datasource_id: /],
      ['/api/v1/domaindatasource/batchQuery', { data: [] }, 11100, /^data: is required/],
      ['/api/v1/domaindatasource/batchQuery', { data: [{ domain_id: 'alice', datasource_id: 'files' }, { domain_id: 'alice' }] }, 11100, /^data\[1\]\.datasource_id: is required/],
      ['/api/v1/domaindatasource/list', {}, 11100, /^domain_id: is required/],
    ];
    for (const [path, body, code, message] of errors) {
      const r = await kusciaHttp(alice, path, body);
      assert.equal(r.http, 200);
      assert.equal(r.body.status.code, code, `${path} ${JSON.stringify(body)}: ${r.body.status.message}`);
      assert.match(r.body.status.message, message);
      // A refused credential is never echoed.
      assert.doesNotMatch(r.body.status.message, /\bp\b.*password|pa55/);
    }
    assert.notEqual(alice.cli(['get', 'dds', 'x']).code, 0, 'a refused call changes nothing');
  });

  test('DomainData: generated id, defaults, update keeps what is not set, list filters, delete; Ferry CLI both ways', async () => {
    const c = await kusciaHttp(alice, '/api/v1/domaindata/create', {
      domain_id: 'alice', name: 'Orders 2026', type: 'table', relative_uri: '/sales/orders.csv', datasource_id: 'files',
      columns: [{ name: 'id', type: 'str' }, { name: 'qty', type: 'int', not_nullable: true }], file_format: 'CSV', attributes: { owner: 'sales' },
    });
    assert.equal(c.body.status.code, 0, c.body.status.message);
    const id = c.body.data.domaindata_id as string;
    assert.match(id, /^orders2026-[0-9a-f]{32}$/);
    const q = await kusciaHttp(alice, '/api/v1/domaindata/query', { data: { domain_id: 'alice', domaindata_id: id } });
    assert.deepEqual(q.body.data, {
      domaindata_id: id, name: 'Orders 2026', type: 'table', relative_uri: 'sales/orders.csv', domain_id: 'alice', datasource_id: 'files',
      attributes: { owner: 'sales' }, partition: null, columns: [{ name: 'id', type: 'str', comment: '', not_nullable: false }, { name: 'qty', type: 'int', comment: '', not_nullable: true }],
      vendor: 'manual', status: 'Available', author: 'alice', file_format: 'CSV',
    });
    // Ferry's CLI sees it, with Kuscia's CRD fields.
    const got = alice.cli(['get', 'dd', id, '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(JSON.parse(got.stdout).spec.relativeURI, 'sales/orders.csv');

    // Update: an empty field keeps its value.
    const u = await kusciaHttp(alice, '/api/v1/domaindata/update', { domain_id: 'alice', domaindata_id: id, vendor: 'secretflow', columns: [] });
    assert.deepEqual(u.body, { status: OK });
    const q2 = await kusciaHttp(alice, '/api/v1/domaindata/query', { data: { domain_id: 'alice', domaindata_id: id } });
    assert.equal(q2.body.data.vendor, 'secretflow');
    assert.equal(q2.body.data.columns.length, 2);

    // Made with ferry apply: visible and editable through KusciaAPI; KusciaAPI's edit seen by ferry get.
    await alice.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: DomainData
metadata: { name: model-1, labels: { team: ml } }
spec: { relativeURI: models/m1.bin, name: m1, type: model, dataSource: files, vendor: secretflow }
`);
    const viaKuscia = await kusciaHttp(alice, '/api/v1/domaindata/list', { data: { domain_id: 'alice', domaindata_type: 'model' } });
    assert.deepEqual(viaKuscia.body.data.domaindata_list.map((d: { domaindata_id: string }) => d.domaindata_id), ['model-1']);
    const byVendor = await kusciaHttp(alice, '/api/v1/domaindata/list', { data: { domain_id: 'alice', domaindata_vendor: 'secretflow' } });
    assert.deepEqual(byVendor.body.data.domaindata_list.map((d: { domaindata_id: string }) => d.domaindata_id).sort(), ['model-1', id].sort());
    const edit = await kusciaHttp(alice, '/api/v1/domaindata/update', { domain_id: 'alice', domaindata_id: 'model-1', name: 'model one' });
    assert.equal(edit.body.status.code, 0, edit.body.status.message);
    const edited = JSON.parse(alice.cli(['get', 'dd', 'model-1', '-o', 'json']).stdout);
    assert.equal(edited.spec.name, 'model one');
    assert.equal(edited.metadata.labels?.team, 'ml', 'the label set with Ferry stays');
    // Create on an id that exists updates it (Kuscia).
    const again = await kusciaHttp(alice, '/api/v1/domaindata/create', { domain_id: 'alice', domaindata_id: 'model-1', type: 'model', relative_uri: 'models/m1.bin', name: 'm1 again' });
    assert.deepEqual(again.body, { status: OK, data: { domaindata_id: 'model-1' } });
    // Batch: the ones that do not exist are left out (Kuscia).
    const batch = await kusciaHttp(alice, '/api/v1/domaindata/batchQuery', { data: [{ domain_id: 'alice', domaindata_id: 'model-1' }, { domain_id: 'alice', domaindata_id: 'gone' }] });
    assert.deepEqual(batch.body.data.domaindata_list.map((d: { name: string }) => d.name), ['m1 again']);

    const errors: [string, object, number, RegExp][] = [
      ['/api/v1/domaindata/create', { domain_id: 'alice', relative_uri: 'a.csv' }, 11100, /^type: is required/],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'table' }, 11100, /^relative_uri: is required/],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'table', relative_uri: 'a.csv' }, 11100, /^columns: is required for a table/],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'rule', relative_uri: '../etc/passwd' }, 11100, /^relative_uri: must not contain "\." or "\.\." segments/],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'rule', relative_uri: 'r.json', datasource_id: 'nowhere' }, 11806, /^datasource_id: domain data source nowhere does not exist/],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'graph', relative_uri: 'r.json' }, 11100, /^type: /],
      ['/api/v1/domaindata/create', { domain_id: 'alice', type: 'table', relative_uri: 'a.csv', columns: [{ name: 'a', type: 'varchar' }] }, 11100, /^columns\[0\]\.type: /],
      ['/api/v1/domaindata/query', { data: { domain_id: 'alice', domaindata_id: 'gone' } }, 11506, /^data\.domaindata_id: domain data gone does not exist/],
      ['/api/v1/domaindata/query', {}, 11100, /^data\.domain_id: is required/],
      ['/api/v1/domaindata/update', { domain_id: 'alice', domaindata_id: 'gone' }, 11506, /^domaindata_id: /],
      ['/api/v1/domaindata/delete', { domain_id: 'alice', domaindata_id: 'gone' }, 11506, /^domaindata_id: /],
      ['/api/v1/domaindatasource/delete', { domain_id: 'alice', datasource_id: 'files' }, 11100, /^datasource_id: domain data source files holds DomainData /],
    ];
    for (const [path, body, code, message] of errors) {
      const r = await kusciaHttp(alice, path, body);
      assert.equal(r.body.status.code, code, `${path} ${JSON.stringify(body)}: ${r.body.status.message}`);
      assert.match(r.body.status.message, message);
    }
    const del = await kusciaHttp(alice, '/api/v1/domaindata/delete', { domain_id: 'alice', domaindata_id: 'model-1' });
    assert.deepEqual(del.body, { status: OK });
    assert.notEqual(alice.cli(['get', 'dd', 'model-1']).code, 0);
  });

  test('DeleteDomainDataAndRaw: the stored file, then the DomainData; a data source whose driver cannot delete keeps both', async () => {
    const file = join(alice.home, 'data', 'domaindata', 'raw', 'to-go.csv');
    mkdirSync(join(alice.home, 'data', 'domaindata', 'raw'), { recursive: true });
    writeFileSync(file, 'id\n1\n');
    const c = await kusciaHttp(alice, '/api/v1/domaindata/create', { domain_id: 'alice', domaindata_id: 'to-go', name: 'to go', type: 'table', relative_uri: 'raw/to-go.csv', columns: [{ name: 'id', type: 'str' }] });
    assert.equal(c.body.status.code, 0, c.body.status.message);
    const d = await kusciaHttp(alice, '/api/v1/domaindata/deleteDataAndRaw', { domain_id: 'alice', domaindata_id: 'to-go' });
    assert.deepEqual(d.body, { status: OK });
    assert.equal(existsSync(file), false, 'the stored file is removed');
    assert.notEqual(alice.cli(['get', 'dd', 'to-go']).code, 0, 'and the DomainData');
    assert.equal((await kusciaHttp(alice, '/api/v1/domaindata/deleteDataAndRaw', { domain_id: 'alice', domaindata_id: 'to-go' })).body.status.code, 11506);
    // odps: no driver here, so nothing is removed and the DomainData stays.
    await alice.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: DomainDataSource
metadata: { name: warehouse }
spec: { type: odps, info: { odps: { endpoint: "http://odps.example", project: p, access_key_id: k, access_key_secret: s } } }
---
apiVersion: kuscia.secretflow/v1alpha1
kind: DomainData
metadata: { name: in-odps }
spec: { relativeURI: t1, name: t1, type: table, dataSource: warehouse, columns: [{ name: a, type: str }] }
`);
    const refused = await kusciaHttp(alice, '/api/v1/domaindata/deleteDataAndRaw', { domain_id: 'alice', domaindata_id: 'in-odps' });
    assert.equal(refused.body.status.code, 11501);
    assert.match(refused.body.status.message, /^domaindata_id: DomainDataSource warehouse has type odps, which no driver serves here/);
    assert.equal(alice.cli(['get', 'dd', 'in-odps']).code, 0, 'the DomainData stays');
  });

  test('DomainDataGrant: signed by the author, limits in nanoseconds, update, list, delete revokes; ferry apply both ways', async () => {
    const c = await kusciaHttp(alice, '/api/v1/domaindata/create', { domain_id: 'alice', domaindata_id: 'orders', type: 'table', relative_uri: 'sales/o.csv', datasource_id: 'files', columns: [{ name: 'id', type: 'str' }] });
    assert.equal(c.body.status.code, 0, c.body.status.message);
    const expires = '1798761599000000000'; // 2026-12-31T23:59:59Z
    const g = await kusciaHttp(alice, '/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'orders', grant_domain: 'bob', limit: { expiration_time: expires, use_count: 3, components: ['psi'], initiator: 'bob' }, description: { purpose: 'psi' } });
    assert.equal(g.body.status.code, 0, g.body.status.message);
    const id = g.body.data.domaindatagrant_id as string;
    assert.match(id, /^domaindatagrant-[0-9a-f]{32}$/);
    const q = await kusciaHttp(alice, '/api/v1/domaindatagrant/query', { domain_id: 'alice', domaindatagrant_id: id });
    const data = q.body.data.data;
    assert.deepEqual({ ...data, signature: '' }, {
      domaindatagrant_id: id, author: 'alice', domaindata_id: 'orders', grant_domain: 'bob',
      limit: { expiration_time: expires, use_count: 3, flow_id: '', components: ['psi'], initiator: 'bob', input_config: '' },
      description: { purpose: 'psi' }, signature: '', domain_id: 'alice',
    });
    // The signature is alice's, over Kuscia's serialization of the stored spec.
    const stored = JSON.parse(alice.cli(['get', 'ddg', id, '-o', 'json']).stdout).spec;
    assert.equal(stored.limit.expirationTime, '2026-12-31T23:59:59Z');
    assert.deepEqual(stored.limit.grantMode, ['normal']);
    assert.equal(grantSignatureProblem({ ...stored, signature: data.signature }, [readFileSync(join(alice.home, 'certs', 'ca.crt'), 'utf8')]), undefined);
    // The same signature may be sent back; another is refused.
    const bad = await kusciaHttp(alice, '/api/v1/domaindatagrant/update', { domain_id: 'alice', domaindatagrant_id: id, domaindata_id: 'orders', grant_domain: 'bob', signature: 'AAAA' });
    assert.equal(bad.body.status.code, 11100);
    assert.match(bad.body.status.message, /^signature: is not alice's signature/);

    const u = await kusciaHttp(alice, '/api/v1/domaindatagrant/update', { domain_id: 'alice', domaindatagrant_id: id, domaindata_id: 'orders', grant_domain: 'bob', limit: { use_count: 1 } });
    assert.deepEqual(u.body, { status: OK });
    assert.equal(JSON.parse(alice.cli(['get', 'ddg', id, '-o', 'json']).stdout).spec.limit.useCount, 1);

    // A grant made with ferry apply is answered by KusciaAPI (and listed by grantee).
    await alice.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: DomainDataGrant
metadata: { name: orders-for-carol }
spec: { author: alice, domainDataID: orders, grantDomain: carol }
`);
    const list = await kusciaHttp(alice, '/api/v1/domaindatagrant/list', { data: { domain_id: 'alice', grant_domain: 'carol' } });
    assert.deepEqual(list.body.data.domaindatagrant_list.map((x: { data: { domaindatagrant_id: string } }) => x.data.domaindatagrant_id), ['orders-for-carol']);
    const batch = await kusciaHttp(alice, '/api/v1/domaindatagrant/batchQuery', { data: [{ domain_id: 'alice', domaindatagrant_id: 'orders-for-carol' }, { domain_id: 'alice', domaindatagrant_id: id }] });
    assert.equal(batch.body.status.code, 0);
    assert.equal(batch.body.data.length, 2);

    const errors: [string, object, number, RegExp][] = [
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'orders' }, 11100, /^grant_domain: is required/],
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'orders', grant_domain: 'alice' }, 11100, /^grant_domain: is alice, the author/],
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'nothing', grant_domain: 'bob' }, 11100, /^domaindata_id: domain data nothing does not exist/],
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindatagrant_id: 'orders-for-carol', domaindata_id: 'orders', grant_domain: 'carol' }, 11704, /^domaindatagrant_id: domain data grant orders-for-carol already exists/],
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'orders', grant_domain: 'bob', limit: { use_count: -1 } }, 11100, /^limit\.use_count: /],
      ['/api/v1/domaindatagrant/create', { domain_id: 'alice', domaindata_id: 'orders', grant_domain: 'bob', limit: { expiration_time: 'soon' } }, 11100, /^limit\.expiration_time: expected an integer/],
      ['/api/v1/domaindatagrant/update', { domain_id: 'alice', domaindatagrant_id: id, domaindata_id: 'model-9', grant_domain: 'bob' }, 11100, /^domaindata_id: cannot change/],
      ['/api/v1/domaindatagrant/query', { domain_id: 'alice', domaindatagrant_id: 'gone' }, 11705, /^domaindatagrant_id: domain data grant gone does not exist/],
      ['/api/v1/domaindatagrant/batchQuery', { data: [{ domain_id: 'alice', domaindatagrant_id: 'gone' }] }, 11705, /^data\[0\]\.domaindatagrant_id: /],
      ['/api/v1/domaindatagrant/list', { data: {} }, 11100, /^data\.domain_id: is required/],
    ];
    for (const [path, body, code, message] of errors) {
      const r = await kusciaHttp(alice, path, body);
      assert.equal(r.body.status.code, code, `${path} ${JSON.stringify(body)}: ${r.body.status.message}`);
      assert.match(r.body.status.message, message);
    }

    const del = await kusciaHttp(alice, '/api/v1/domaindatagrant/delete', { domain_id: 'alice', domaindatagrant_id: id });
    assert.deepEqual(del.body, { status: OK });
    assert.notEqual(alice.cli(['get', 'ddg', id]).code, 0);
    // Deleting the DomainData takes its grants with it (Kuscia's owner references).
    const dd = await kusciaHttp(alice, '/api/v1/domaindata/delete', { domain_id: 'alice', domaindata_id: 'orders' });
    assert.deepEqual(dd.body, { status: OK });
    assert.notEqual(alice.cli(['get', 'ddg', 'orders-for-carol']).code, 0);
  });
});
