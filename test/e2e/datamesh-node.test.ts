// The DataMesh kinds on a running node: Kuscia's DomainDataSource, DomainData
// and DomainDataGrant applied with `ferry apply`, checked with errors naming
// the field; a source's credentials sealed before the store (the store file
// and the logs never hold them) and never in an API answer, kept across a
// re-apply without them; the default source exists; the DataMesh listens on
// loopback only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TestNode } from '../support/harness.ts';

const PASSWORD = 'pw-Z9q-never-shown';

const source = (info: string) => `apiVersion: kuscia.secretflow/v1alpha1
kind: DomainDataSource
metadata: { name: warehouse }
spec:
  type: mysql
  name: warehouse
  uri: 127.0.0.1:3306
${info}`;

describe('DataMesh kinds on a node', () => {
  let node: TestNode;

  before(async () => {
    node = await TestNode.init('alice');
    await node.start();
  });
  after(async () => { await node?.stop(); });

  test('credentials are sealed at rest, never answered or logged, and kept by a re-apply without them', async () => {
    await node.apply(source(`  info: { database: { endpoint: "127.0.0.1:3306", user: ferry, password: ${PASSWORD}, database: sales } }\n`));
    const got = await (await node.api('/api/v1/resources/domaindatasource/warehouse')).json() as { spec: Record<string, unknown> };
    assert.equal(got.spec.type, 'mysql');
    assert.equal(JSON.stringify(got).includes(PASSWORD), false, 'the password is in an API answer');
    assert.equal('info' in got.spec, false);
    assert.equal(JSON.stringify(got).includes('encryptedInfo'), false, 'the sealed value is in an API answer');
    const list = await (await node.api('/api/v1/resources/domaindatasource')).text();
    assert.equal(list.includes(PASSWORD) || list.includes('encryptedInfo'), false);
    const yaml = node.cli(['get', 'domaindatasource', 'warehouse', '-o', 'yaml']);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.equal(yaml.stdout.includes(PASSWORD), false);
    // Re-applying what `get` showed (no info) keeps the sealed credentials.
    await node.apply(source(''));
    for (const f of readdirSync(join(node.home, 'data')).filter((f) => f.startsWith('ferry.db'))) {
      assert.equal(readFileSync(join(node.home, 'data', f)).includes(PASSWORD), false, `${f} holds the password in clear`);
    }
    const stored = readdirSync(join(node.home, 'data')).filter((f) => f.startsWith('ferry.db')).map((f) => readFileSync(join(node.home, 'data', f)).toString('latin1')).join('');
    assert.match(stored, /"encryptedInfo":"v1\./, 'the sealed info is kept in the store');
    for (const f of readdirSync(join(node.home, 'logs')).filter((f) => f.endsWith('.log') || f.endsWith('.out'))) {
      assert.equal(readFileSync(join(node.home, 'logs', f), 'utf8').includes(PASSWORD), false, `${f} holds the password`);
    }
  });

  test('the default source exists: localfs under the home\'s data directory', async () => {
    const r = await (await node.api('/api/v1/resources/domaindatasource/default-data-source')).json() as { spec: { type: string; uri: string } };
    assert.equal(r.spec.type, 'localfs');
    assert.equal(r.spec.uri, join(node.home, 'data', 'domaindata'));
  });

  test('bad DomainData, DomainDataSource and DomainDataGrant are refused naming the field, and change nothing', () => {
    const cases: [string, RegExp][] = [
      ['kind: DomainData\nmetadata: { name: d1 }\nspec: { relativeURI: ../etc/passwd, name: d1, type: table, columns: [{ name: a, type: str }] }', /spec\.relativeURI: must not contain "\." or "\.\." segments/],
      ['kind: DomainData\nmetadata: { name: d1 }\nspec: { relativeURI: a.csv, name: d1, type: table }', /spec\.columns: is required for a table/],
      ['kind: DomainData\nmetadata: { name: d1 }\nspec: { relativeURI: a.csv, name: d1, type: table, columns: [{ name: a, type: strng }] }', /spec\.columns\[0\]\.type: must be one of/],
      ['kind: DomainData\nmetadata: { name: d1 }\nspec: { relativeURI: a.csv, name: d1, type: tabel }', /spec\.type: must be one of "table", "model", "rule", "report", "unknown"/],
      ['kind: DomainDataSource\nmetadata: { name: s3 }\nspec: { type: oss, info: { oss: { endpoint: "127.0.0.1:9000", bucket: bkt } } }', /spec\.info\.oss\.endpoint: must be http\(s\):\/\/host\[:port\]/],
      ['kind: DomainDataSource\nmetadata: { name: s3 }\nspec: { type: oss, info: { oss: { endpoint: "http://127.0.0.1:9000", bucket: B_1 } } }', /spec\.info\.oss\.bucket: must be an S3 bucket name/],
      ['kind: DomainDataSource\nmetadata: { name: s3 }\nspec: { type: oss, info: { oss: { endpoint: "http://127.0.0.1:9000", bucket: bkt, access_key_id: a, access_key_secret: s, version: s3v2 } } }', /spec\.info\.oss\.version: "s3v2" is not served/],
      ['kind: DomainDataSource\nmetadata: { name: s3 }\nspec: { type: oss, info: { oss: { endpoint: "http://127.0.0.1:9000", bucket: bkt, prefix: "../up", access_key_id: a, access_key_secret: s } } }', /spec\.info\.oss\.prefix: must not contain/],
      ['kind: DomainDataSource\nmetadata: { name: db }\nspec: { type: postgresql, info: { database: { endpoint: "db.example", user: u, password: p, database: d } } }', /spec\.info\.database\.endpoint: must be host:port/],
      ['kind: DomainDataSource\nmetadata: { name: db }\nspec: { type: mysql, info: { database: { endpoint: "127.0.0.1:3306", user: u, password: 42, database: d } } }', /spec\.info\.database\.password: must be string$/m],
      ['kind: DomainDataGrant\nmetadata: { name: g1 }\nspec: { author: alice, domainDataID: d1, grantDomain: bob, limit: { expirationTime: tomorrow } }', /spec\.limit\.expirationTime: must be an RFC 3339 time/],
      ['kind: DomainDataGrant\nmetadata: { name: g1 }\nspec: { author: alice, domainDataID: d1, grantDomain: bob, limit: { usecount: 1 } }', /spec\.limit\.usecount: unknown field/],
    ];
    for (const [doc, re] of cases) {
      const r = node.cli(['apply', '-f', '-'], `apiVersion: kuscia.secretflow/v1alpha1\n${doc}\n`);
      assert.notEqual(r.code, 0, doc);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.includes('42'), false, 'a mistyped credential is echoed');
    }
    const list = node.cli(['get', 'domaindata']);
    assert.equal(list.stdout.includes('d1'), false);
  });

  test('the DataMesh listens on loopback only', () => {
    const log = readFileSync(join(node.home, 'logs', 'ferry.log'), 'utf8');
    const m = /"address":"(127\.0\.0\.1:\d+)","http":"127\.0\.0\.1:\d+","grpc":"127\.0\.0\.1:\d+","msg":"DataMesh \(Arrow Flight\) listening"/.exec(log);
    assert.ok(m, 'the node logs where the DataMesh listens');
  });
});
