// Acceptance with SecretFlow's own DataMesh client, unchanged: the PyPI
// package `kuscia` (0.0.3b0, kuscia.datamesh on pyarrow.flight; installed by
// scripts/setup.sh into .tools/datamesh-venv) creates a DomainData, uploads a
// CSV, downloads it again (CSV and BINARY) through Ferry's DataMesh, with a
// per-task credential given in the environment. The same client, with a
// credential that does not name a DomainData, is refused with the reason;
// without a credential, or with a revoked one, it is refused at the door.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ROOT } from '../support/harness.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { freePorts } from '../../control-plane/util/ports.ts';
import { keyFromBytes } from '../../control-plane/datamesh/secrets.ts';
import { startDataMesh, type DataMesh } from '../../control-plane/datamesh/start.ts';
import { loadPlugins } from '../../control-plane/datamesh/plugins.ts';
import { applyDocuments } from '../../control-plane/resources/apply.ts';
import { byStep, runPythonClient, withoutProxies } from '../support/python-client.ts';

const venv = process.env.FERRY_DATAMESH_VENV ?? join(ROOT, '.tools', 'datamesh-venv');
const python = join(venv, 'bin', 'python');

type Step = { step: string; ok: boolean; result?: unknown; error?: string };

async function runClient(address: string, env: Record<string, string>, steps: object[]): Promise<{ code: number | null; steps: Record<string, Step>; stderr: string }> {
  const clean = withoutProxies();
  const r = await runPythonClient(python, 'datamesh_pypi.py', { address, steps }, { env: { ...clean, ...env } });
  return { code: r.code, stderr: r.err, steps: byStep<Step>(r.lines) };
}

describe('DataMesh with the PyPI kuscia client (kuscia.datamesh, pyarrow.flight)', () => {
  let dir: string;
  let store: SqliteStore;
  let dm: DataMesh;
  const key = keyFromBytes(Buffer.alloc(32, 7));
  const apply = (docs: object[]) => applyDocuments(store, docs.map((d) => ({ apiVersion: 'kuscia.secretflow/v1alpha1', ...d })), { domain: 'alice', sourceKey: key });
  const columns = [{ name: 'id', type: 'str' }, { name: 'age', type: 'int' }, { name: 'score', type: 'float' }];

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0, pyarrow and pandas into .tools/datamesh-venv), or set FERRY_DATAMESH_VENV`);
    dir = mkdtempSync(join(tmpdir(), 'ferry-datamesh-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    const [port] = await freePorts(1);
    // The example plugin, loaded as ferry.yaml's datamesh.plugins loads it (relative to the home).
    const drivers = await loadPlugins(['examples/datamesh-plugin/jsonl-source.ts'], ROOT);
    dm = await startDataMesh({ store, self: 'alice', sourceKey: key, dataDir: join(dir, 'domaindata'), log: pino({ level: 'silent' }), port: port!, httpPort: 0, drivers });
  });

  after(async () => {
    await dm?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('create, upload a CSV, download it as CSV and as bytes, with the task\'s credential', async () => {
    const rows = ['id,age,score', 'a1,31,0.5', 'a2,45,1.25', '"b,3",7,-2'];
    const input = join(dir, 'input.csv');
    writeFileSync(input, `${rows.join('\n')}\n`);
    const blob = join(dir, 'model.bin');
    writeFileSync(blob, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 256)));
    const cred = dm.issueTaskCredential({ taskID: 'task-1', jobID: 'job-1', initiator: 'alice', parties: ['alice'], domainDataIDs: ['table-1', 'model-1'] });
    const r = await runClient(dm.address, cred.env, [
      { do: 'create', name: 'create', id: 'table-1', relative_uri: 'in/table-1.csv', columns },
      { do: 'upload', name: 'upload', id: 'table-1', path: input, format: 'CSV' },
      { do: 'download', name: 'download', id: 'table-1', path: join(dir, 'out.csv'), format: 'CSV' },
      { do: 'create', name: 'create-model', id: 'model-1', type: 'model', relative_uri: 'models/m1.bin' },
      { do: 'upload', name: 'upload-bin', id: 'model-1', path: blob, format: 'BINARY' },
      { do: 'download', name: 'download-bin', id: 'model-1', path: join(dir, 'out.bin'), format: 'BINARY' },
      { do: 'download', name: 'download-raw-csv', id: 'table-1', path: join(dir, 'raw.csv'), format: 'BINARY' },
    ]);
    for (const s of ['create', 'upload', 'download', 'create-model', 'upload-bin', 'download-bin', 'download-raw-csv']) {
      assert.ok(r.steps[s]?.ok, `${s}: ${JSON.stringify(r.steps[s])}\n${r.stderr.slice(-2000)}`);
    }
    assert.equal(r.steps.create!.result, 'table-1');
    const dd = await store.get('DomainData', 'table-1');
    assert.deepEqual((dd!.spec as { columns: unknown }).columns, columns);
    assert.equal((dd!.spec as { dataSource: string }).dataSource, 'default-data-source');
    // Stored as CSV in the default source, under the home's data directory.
    assert.equal(readFileSync(join(dir, 'domaindata', 'in', 'table-1.csv'), 'utf8'), `${rows.join('\n')}\n`);
    // pandas wrote what the DataMesh served, typed by the DomainData's columns (score a float: -2.0).
    assert.equal(readFileSync(join(dir, 'out.csv'), 'utf8'), `${rows.slice(0, 3).join('\n')}\n"b,3",7,-2.0\n`);
    assert.deepEqual(readFileSync(join(dir, 'out.bin')), readFileSync(blob));
    assert.equal(readFileSync(join(dir, 'raw.csv'), 'utf8'), `${rows.join('\n')}\n`);
    cred.revoke();
  });

  test('a credential reads only the DomainData its task names (refused with the reason); none or a revoked one is refused', async () => {
    const other = dm.issueTaskCredential({ taskID: 'task-2', jobID: 'job-2', initiator: 'alice', parties: ['alice'], domainDataIDs: ['something-else'] });
    const r = await runClient(dm.address, other.env, [{ do: 'download', name: 'read', id: 'table-1', path: join(dir, 'x.csv'), format: 'CSV' }]);
    assert.equal(r.steps.read?.ok, false);
    assert.match(r.steps.read!.error!, /task task-2 may not use DomainData table-1: its task input config names only something-else/);
    other.revoke();
    const revoked = await runClient(dm.address, other.env, [{ do: 'download', name: 'read', id: 'table-1', path: join(dir, 'x.csv'), format: 'CSV' }]);
    assert.equal(revoked.steps.read?.ok, false);
    assert.doesNotMatch(revoked.steps.read!.error!, /a1,31/);
    const none = await runClient(dm.address, {}, [{ do: 'download', name: 'read', id: 'table-1', path: join(dir, 'x.csv'), format: 'CSV' }]);
    assert.equal(none.steps.read?.ok, false);
    assert.match(none.steps.read!.error!, /no valid DataMesh credential/);
  });

  test('a partner\'s job reads only under a grant: each read records a use, useCount and revocation are enforced at read time', async () => {
    const job = { jobID: 'psi-job', initiator: 'bob', parties: ['alice', 'bob'], domainDataIDs: ['table-1'] };
    const read = async (taskID: string, name: string) => {
      const c = dm.issueTaskCredential({ ...job, taskID });
      const r = await runClient(dm.address, c.env, [{ do: 'download', name, id: 'table-1', path: join(dir, `${name}.csv`), format: 'CSV' }]);
      c.revoke();
      return r.steps[name]!;
    };
    const none = await read('t-a', 'no-grant');
    assert.equal(none.ok, false);
    assert.match(none.error!, /may not read DomainData table-1 for bob: no DomainDataGrant gives bob DomainData table-1/);
    assert.deepEqual(await dm.admitJob({ jobID: 'psi-job', initiator: 'bob', parties: ['alice', 'bob'], tasks: [{ taskID: 't-a', domainDataIDs: ['table-1'] }] }).then((d) => d.ok), false);
    await apply([{ kind: 'DomainDataGrant', metadata: { name: 'grant-bob' }, spec: { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob', limit: { useCount: 1 } } }]);
    assert.equal((await dm.admitJob({ jobID: 'psi-job', initiator: 'bob', parties: ['alice', 'bob'], tasks: [{ taskID: 't-a', domainDataIDs: ['table-1'] }] })).ok, true);
    const first = await read('t-b', 'granted');
    assert.ok(first.ok, JSON.stringify(first));
    const g = await store.get('DomainDataGrant', 'grant-bob');
    const records = (g!.status as { use_records: { grant_domain: string; output?: string }[] }).use_records;
    assert.equal(records.length, 1);
    assert.equal(records[0]!.grant_domain, 'bob');
    assert.equal(records[0]!.output, 't-b');
    const second = await read('t-c', 'used-up');
    assert.equal(second.ok, false);
    assert.match(second.error!, /DomainDataGrant grant-bob is used up \(1 of useCount 1 uses\)/);
    const admission = await dm.admitJob({ jobID: 'psi-job-2', initiator: 'bob', parties: ['alice', 'bob'], tasks: [{ taskID: 't-d', domainDataIDs: ['table-1'] }] });
    assert.equal(admission.ok, false);
    assert.match((admission as { message: string }).message, /grant-bob is used up/);
    // A grant without a count, then revoked by deleting it: the next read is refused at once.
    await apply([{ kind: 'DomainDataGrant', metadata: { name: 'grant-bob' }, spec: { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob' } }]);
    await store.updateStatus('DomainDataGrant', 'grant-bob', { phase: 'Ready', message: '', use_records: [] });
    assert.ok((await read('t-e', 'again')).ok);
    await store.delete('DomainDataGrant', 'grant-bob');
    const revoked = await read('t-f', 'revoked');
    assert.equal(revoked.ok, false);
    assert.match(revoked.error!, /no DomainDataGrant gives bob DomainData table-1/);
    // Expired: refused.
    await apply([{ kind: 'DomainDataGrant', metadata: { name: 'grant-old' }, spec: { author: 'alice', domainDataID: 'table-1', grantDomain: 'bob', limit: { expirationTime: '2020-01-01T00:00:00Z' } } }]);
    const expired = await read('t-g', 'expired');
    assert.equal(expired.ok, false);
    assert.match(expired.error!, /DomainDataGrant grant-old expired at 2020-01-01T00:00:00Z/);
  });

  test('a source of a plugin\'s type (the example JSON Lines plugin) serves the same client', async () => {
    await apply([
      { kind: 'DomainDataSource', metadata: { name: 'lines' }, spec: { type: 'jsonl', info: { localfs: { path: join(dir, 'lines') } } } },
    ]);
    const input = join(dir, 'plugin-in.csv');
    writeFileSync(input, 'id,age\nx,1\ny,2\n');
    await apply([{ kind: 'DomainData', metadata: { name: 'lines-1' }, spec: { relativeURI: 'people.jsonl', name: 'lines-1', type: 'table', dataSource: 'lines', columns: [{ name: 'id', type: 'str' }, { name: 'age', type: 'int' }] } }]);
    const c = dm.issueTaskCredential({ taskID: 't-p', jobID: 'j-p', initiator: 'alice', parties: ['alice'], domainDataIDs: ['lines-1'] });
    const r = await runClient(dm.address, c.env, [
      { do: 'upload', name: 'up', id: 'lines-1', path: input, format: 'CSV' },
      { do: 'download', name: 'down', id: 'lines-1', path: join(dir, 'plugin-out.csv'), format: 'CSV' },
    ]);
    c.revoke();
    assert.ok(r.steps.up?.ok && r.steps.down?.ok, JSON.stringify(r.steps) + r.stderr.slice(-1500));
    assert.equal(readFileSync(join(dir, 'lines', 'people.jsonl'), 'utf8'), '{"id":"x","age":1}\n{"id":"y","age":2}\n');
    assert.equal(readFileSync(join(dir, 'plugin-out.csv'), 'utf8'), 'id,age\nx,1\ny,2\n');
  });

  test('the HTTP calls (/api/v1/datamesh/...) with the task\'s token: query and create DomainData, a source\'s info only for a task that may read it', async () => {
    const c = dm.issueTaskCredential({ taskID: 't-h', jobID: 'j-h', initiator: 'alice', parties: ['alice'], domainDataIDs: ['table-1', 'made-by-http'] });
    const call = (path: string, body: object, token: string | null = c.env.FERRY_DATAMESH_TOKEN!) => fetch(`${c.env.FERRY_DATAMESH_HTTP}/api/v1/datamesh/${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body),
    }).then(async (r) => ({ code: r.status, body: await r.json() as { status: { code: number; message: string }; data?: Record<string, unknown> } }));
    const q = await call('domaindata/query', { domaindata_id: 'table-1' });
    assert.equal(q.code, 200);
    assert.equal(q.body.data!.relative_uri, 'in/table-1.csv');
    assert.deepEqual((q.body.data!.columns as { name: string }[]).map((x) => x.name), ['id', 'age', 'score']);
    assert.equal((await call('domaindata/query', { domaindata_id: 'table-1' }, null)).code, 401);
    const other = await call('domaindata/query', { domaindata_id: 'model-1' });
    assert.equal(other.code, 403);
    assert.match(other.body.status.message, /task t-h may not use DomainData model-1/);
    const made = await call('domaindata/create', { domaindata_id: 'made-by-http', name: 'made', type: 'table', relative_uri: 'out/made.csv', columns: [{ name: 'k', type: 'str' }] });
    assert.equal(made.code, 200, JSON.stringify(made.body));
    assert.equal(((await store.get('DomainData', 'made-by-http'))?.spec as { relativeURI?: string }).relativeURI, 'out/made.csv');
    const src = await call('domaindatasource/query', { datasource_id: 'default-data-source' });
    assert.equal(src.code, 200, JSON.stringify(src.body));
    assert.equal((src.body.data!.info as { localfs: { path: string } }).localfs.path, join(dir, 'domaindata'));
    const notMine = await call('domaindatasource/query', { datasource_id: 'lines' });
    assert.equal(notMine.code, 403);
    assert.equal(JSON.stringify(notMine.body).includes(join(dir, 'lines')), false);
    assert.equal((await call('domaindatagrant/create', { domaindata_id: 'table-1', grant_domain: 'bob' })).code, 403);
    c.revoke();
    assert.equal((await call('domaindata/query', { domaindata_id: 'table-1' })).code, 401);
  });

  test('Kuscia\'s Flight metadata calls: GetSchema, the source query (only for a task that may read it), update/delete and SQL over a source refused with the reason', async () => {
    const c = dm.issueTaskCredential({ taskID: 't-m', jobID: 'j-m', initiator: 'alice', parties: ['alice'], domainDataIDs: ['table-1'] });
    const r = await runClient(dm.address, c.env, [
      { do: 'schema', name: 'schema', id: 'table-1' },
      { do: 'schema', name: 'schema-other', id: 'model-1' },
      { do: 'action', name: 'source', type: 'ActionQueryDomainDataSourceRequest', source: 'default-data-source' },
      { do: 'action', name: 'source-other', type: 'ActionQueryDomainDataSourceRequest', source: 'lines' },
      { do: 'action', name: 'update', type: 'ActionUpdateDomainDataRequest', id: 'table-1' },
      { do: 'action', name: 'delete', type: 'ActionDeleteDomainDataRequest', id: 'table-1' },
      { do: 'sql', name: 'sql', source: 'default-data-source', sql: 'select * from t' },
    ]);
    c.revoke();
    const s = r.steps;
    assert.ok(s.schema?.ok, JSON.stringify(s.schema));
    assert.deepEqual(s.schema!.result, [['id', 'string'], ['age', 'int64'], ['score', 'double']]);
    assert.match(s['schema-other']!.error ?? '', /task t-m may not use DomainData model-1/);
    assert.ok(s.source?.ok, JSON.stringify(s.source));
    assert.deepEqual(s.source!.result, { datasource_id: 'default-data-source', type: 'localfs', status: 'Available', localfs: join(dir, 'domaindata'), db_user: '' });
    assert.match(s['source-other']!.error ?? '', /may not use DomainDataSource lines: none of its DomainData \(table-1\) is in it/);
    assert.match(s.update!.error ?? '', /a task may not update DomainData: the domain's admin does/);
    assert.match(s.delete!.error ?? '', /a task may not delete DomainData/);
    assert.match(s.sql!.error ?? '', /CommandDataSourceSqlQuery is refused: SQL over a whole data source reads past every DomainData and grant/);
    assert.equal(((await store.get('DomainData', 'table-1'))?.spec as { relativeURI: string }).relativeURI, 'in/table-1.csv', 'the refused update changed nothing');
  });
});
