// The DataMesh's mysql and postgresql sources against real servers from
// Debian (MariaDB, PostgreSQL) started by the test: the PyPI kuscia client,
// unchanged, uploads a CSV into a table and downloads it again through Ferry;
// wrong credentials fail with a message naming the server, not the password.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ROOT, waitFor } from '../support/harness.ts';
import { byStep, runPythonClient, withoutProxies } from '../support/python-client.ts';
import { databasesMissing, startMariaDb, startPostgres, type TestDatabase } from '../support/databases.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { freePorts } from '../../control-plane/util/ports.ts';
import { keyFromBytes } from '../../control-plane/datamesh/secrets.ts';
import { startDataMesh, type DataMesh } from '../../control-plane/datamesh/start.ts';
import { applyDocuments } from '../../control-plane/resources/apply.ts';
import { mysqlDriver, postgresqlDriver } from '../../control-plane/datamesh/sources-db.ts';

const python = join(process.env.FERRY_DATAMESH_VENV ?? join(ROOT, '.tools', 'datamesh-venv'), 'bin', 'python');
type Step = { step: string; ok: boolean; error?: string };

async function runClient(address: string, env: Record<string, string>, steps: object[]): Promise<Record<string, Step>> {
  const clean = withoutProxies();
  return byStep<Step>((await runPythonClient(python, 'datamesh_pypi.py', { address, steps }, { env: { ...clean, ...env } })).lines);
}

const missing = databasesMissing() ?? (existsSync(python) ? undefined : `no ${python}: run scripts/setup.sh`);

describe('DataMesh database sources against real MariaDB and PostgreSQL', { skip: missing }, () => {
  let dir: string;
  let store: SqliteStore;
  let dm: DataMesh;
  const dbs: Record<string, TestDatabase> = {};
  const key = keyFromBytes(Buffer.alloc(32, 9));
  const apply = (docs: object[]) => applyDocuments(store, docs.map((d) => ({ apiVersion: 'kuscia.secretflow/v1alpha1', ...d })), { domain: 'alice', sourceKey: key });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-datamesh-db-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    [dbs.mysql, dbs.postgresql] = await Promise.all([startMariaDb('maria-pw-1'), startPostgres('pg-pw-2')]);
    const [port] = await freePorts(1);
    dm = await startDataMesh({ store, self: 'alice', sourceKey: key, dataDir: join(dir, 'domaindata'), log: pino({ level: 'silent' }), port: port! });
  });
  after(async () => {
    await dm?.close();
    await store?.close();
    await Promise.all(Object.values(dbs).map((d) => d.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const type of ['mysql', 'postgresql'] as const) {
    test(`${type}: the PyPI client uploads a CSV into a table and downloads it again`, async () => {
      const db = dbs[type]!;
      await apply([
        { kind: 'DomainDataSource', metadata: { name: `${type}-src` }, spec: { type, info: { database: { endpoint: db.endpoint, user: db.user, password: db.password, database: db.database } } } },
        { kind: 'DomainData', metadata: { name: `${type}-orders` }, spec: { relativeURI: 'orders', name: 'orders', type: 'table', dataSource: `${type}-src`, columns: [{ name: 'id', type: 'str' }, { name: 'qty', type: 'int' }, { name: 'price', type: 'float' }] } },
      ]);
      const input = join(dir, `${type}-in.csv`);
      const rows = Array.from({ length: 20_000 }, (_, i) => `o${i},${i % 97},${(i % 13) + 0.25}`);
      writeFileSync(input, `id,qty,price\n${rows.join('\n')}\n`);
      const c = dm.issueTaskCredential({ taskID: `t-${type}`, jobID: 'j', initiator: 'alice', parties: ['alice'], domainDataIDs: [`${type}-orders`] });
      const out = join(dir, `${type}-out.csv`);
      const r = await runClient(dm.address, c.env, [
        { do: 'upload', name: 'up', id: `${type}-orders`, path: input, format: 'CSV' },
        { do: 'download', name: 'down', id: `${type}-orders`, path: out, format: 'CSV' },
      ]);
      c.revoke();
      assert.ok(r.up?.ok && r.down?.ok, JSON.stringify(r));
      const got = readFileSync(out, 'utf8').trim().split('\n');
      assert.equal(got[0], 'id,qty,price');
      assert.deepEqual(got.slice(1).sort(), rows.sort());
      // KusciaAPI's DeleteDomainDataAndRaw: the table goes (and a second removal is no error).
      const driver = type === 'mysql' ? mysqlDriver : postgresqlDriver;
      const ctx = { source: { name: `${type}-src`, type, info: { database: { endpoint: db.endpoint, user: db.user, password: db.password, database: db.database } } }, data: { id: `${type}-orders`, relativeURI: 'orders', columns: [] } };
      await driver.deleteData!(ctx);
      await driver.deleteData!(ctx);
      await assert.rejects(async () => { for await (const _ of driver.readTable(ctx, [{ name: 'id', type: 'str' }])) break; }, /orders/);
    });

    test(`${type}: a reachable server with a wrong password fails with the server's refusal, the password not in it`, async () => {
      const db = dbs[type]!;
      const driver = type === 'mysql' ? mysqlDriver : postgresqlDriver;
      const ctx = { source: { name: 'x', type, info: { database: { endpoint: db.endpoint, user: db.user, password: 'not-the-password', database: db.database } } } };
      await assert.rejects(driver.check!(ctx), (e: Error) => {
        assert.match(e.message, new RegExp(`${type} 127\\.0\\.0\\.1:\\d+: .*(denied|authentication failed)`, 'i'));
        assert.equal(e.message.includes('not-the-password'), false);
        return true;
      });
      await driver.check!({ source: { ...ctx.source, info: { database: { endpoint: db.endpoint, user: db.user, password: db.password, database: db.database } } } });
    });
  }

  test('a source gets a condition: Reachable, or CredentialsRefused / Unreachable with the server\'s refusal (no password)', async () => {
    const db = dbs.postgresql!;
    const [closed] = await freePorts(1);
    await apply([
      { kind: 'DomainDataSource', metadata: { name: 'pg-wrong-pw' }, spec: { type: 'postgresql', info: { database: { endpoint: db.endpoint, user: db.user, password: 'wrong-pw-77', database: db.database } } } },
      { kind: 'DomainDataSource', metadata: { name: 'pg-nowhere' }, spec: { type: 'postgresql', info: { database: { endpoint: `127.0.0.1:${closed}`, user: db.user, password: 'x', database: db.database } } } },
    ]);
    const condition = (name: string) => waitFor(`${name}'s condition`, async () => (await store.get('DomainDataSource', name))?.status?.conditions?.find((c) => c.type === 'Ready'));
    const ok = await condition('postgresql-src');
    assert.equal(ok.status, 'True');
    assert.equal(ok.reason, 'Reachable');
    const pw = await condition('pg-wrong-pw');
    assert.equal(pw.status, 'False');
    assert.equal(pw.reason, 'CredentialsRefused');
    assert.equal(pw.message.includes('wrong-pw-77'), false);
    const nowhere = await condition('pg-nowhere');
    assert.equal(nowhere.reason, 'Unreachable');
    assert.match(nowhere.message, /ECONNREFUSED/);
    assert.equal((await store.get('DomainDataSource', 'pg-nowhere'))?.status?.phase, 'Unavailable');
  });
});
