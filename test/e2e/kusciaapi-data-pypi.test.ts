// The DataMesh services with SecretFlow's own client: the PyPI package
// `kuscia` (its generated stubs over gRPC; its messages as strict JSON over
// HTTP) drives two real nodes: a data source (credentials never answered), a
// DomainData, and a grant alice authors for bob, which bob's node receives
// signed by alice and answers through KusciaAPI; deleting it at alice revokes
// it at bob. test/support/kusciaapi_data_pypi.py.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, TestNode, linkToEcho, tempDir } from '../support/harness.ts';
import { kusciaToken } from '../support/kusciaapi-client.ts';
import { byStep, runPythonClient } from '../support/python-client.ts';

const venv = process.env.FERRY_KUSCIA_VENV ?? join(ROOT, '.tools', 'kuscia-venv');
const python = join(venv, 'bin', 'python');

describe('KusciaAPI DataMesh services with the PyPI kuscia client', () => {
  let alice: TestNode;
  let bob: TestNode;
  let base: object;

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0 into .tools/kuscia-venv), or set FERRY_KUSCIA_VENV`);
    alice = await TestNode.init('alice');
    bob = await TestNode.init('bob');
    await Promise.all([alice.start(), bob.start()]);
    await linkToEcho(alice, bob, 9); // trust both ways and alice's route to bob: the grant sync's way
    const ends = (n: TestNode) => ({ grpc: `${n.host}:${n.ports.kusciaGrpc}`, http: `${n.host}:${n.ports.api}`, token: kusciaToken(n) });
    base = { alice: ends(alice), bob: ends(bob), data_dir: tempDir('kapi-pypi-data') };
  });
  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    alice?.cleanup();
    bob?.cleanup();
  });

  for (const transport of ['grpc', 'http'] as const) {
    test(`${transport}: source, data, a grant signed by alice reaching bob, revoked`, async () => {
      const r = await runPythonClient(python, 'kusciaapi_data_pypi.py', { ...base, transport }, { timeoutMs: 120_000 });
      assert.equal(r.code, 0, `client failed: ${r.err}\n${r.out}`);
      const s = byStep<Record<string, any>>(r.lines); // eslint-disable-line @typescript-eslint/no-explicit-any
      assert.deepEqual(s.QueryDomainDataSource, { step: 'QueryDomainDataSource', type: 'postgresql', endpoint: '127.0.0.1:1', user: 'ferry', password: '' });
      assert.deepEqual(s.ListDomainDataSource!.ids, ['default-data-source', `files-${transport}`, `warehouse-${transport}`]);
      assert.equal(s.ListDomainDataSource!.access_directly, true);
      assert.equal(s['CreateDomainDataSource without info']!.code, 11100);
      assert.match(s['CreateDomainDataSource without info']!.message, /^info: is required/);
      assert.deepEqual(s.QueryDomainData, {
        step: 'QueryDomainData', id: `orders-${transport}`, name: 'orders.csv', relative_uri: 'sales/orders.csv', datasource_id: `files-${transport}`,
        columns: [['id', 'str', false], ['qty', 'int', true]], vendor: 'secretflow', file_format: 'CSV', author: 'alice', status: 'Available',
      });
      assert.deepEqual(s.ListDomainData!.ids, [`orders-${transport}`]);
      assert.equal(s['QueryDomainData gone']!.code, 11506);
      assert.match(s['QueryDomainData gone']!.message, /^data\.domaindata_id: /);
      assert.equal(s.QueryDomainDataGrant!.author, 'alice');
      assert.equal(String(s.QueryDomainDataGrant!.expiration_time), String(4070908800n * 10n ** 9n));
      assert.equal(s.QueryDomainDataGrant!.has_signature, true);
      assert.equal(s['CreateDomainDataGrant on nothing']!.code, 11100);
      assert.match(s['CreateDomainDataGrant on nothing']!.message, /^domaindata_id: /);
      assert.deepEqual({ ...s['grant at bob'], expiration_time: String(s['grant at bob']!.expiration_time) },
        { step: 'grant at bob', author: 'alice', phase: 'Ready', same_signature: true, expiration_time: String(4070908800n * 10n ** 9n) });
      assert.deepEqual(s['ListDomainDataGrant at bob']!.ids, [s.QueryDomainDataGrant!.id]);
      assert.equal(s['grant revoked at bob']!.code, 11705);
      assert.deepEqual(s.deleted!.sources, ['default-data-source']);
      // What the client made and removed, seen by Ferry's own CLI.
      assert.notEqual(alice.cli(['get', 'dd', `orders-${transport}`]).code, 0);
      assert.equal(alice.cli(['get', 'dds', 'default-data-source']).code, 0);
    });
  }
});
