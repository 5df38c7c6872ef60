// The DataMesh's oss source against a real S3-compatible server (versitygw,
// built from its Go module by scripts/setup.sh) started by the test: the
// PyPI kuscia client, unchanged, uploads a CSV table and a binary model
// through Ferry into objects under the source's prefix and downloads them
// again; a wrong secret or a missing bucket gives the source a condition
// that says so, the secret in no message; a failed upload leaves the old
// object as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { ROOT, waitFor } from '../support/harness.ts';
import { s3Missing, startS3, type TestS3 } from '../support/s3.ts';
import { byStep, runPythonClient, withoutProxies } from '../support/python-client.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { freePorts } from '../../control-plane/util/ports.ts';
import { keyFromBytes } from '../../control-plane/datamesh/secrets.ts';
import { startDataMesh, type DataMesh } from '../../control-plane/datamesh/start.ts';
import { applyDocuments } from '../../control-plane/resources/apply.ts';
import { ossDriver } from '../../control-plane/datamesh/sources-oss.ts';
import { schemaOf } from '../../control-plane/datamesh/csv.ts';

const python = join(process.env.FERRY_DATAMESH_VENV ?? join(ROOT, '.tools', 'datamesh-venv'), 'bin', 'python');
type Step = { step: string; ok: boolean; error?: string };
const clean = withoutProxies();
const missing = s3Missing() ?? (existsSync(python) ? undefined : `no ${python}: run scripts/setup.sh`);

describe('DataMesh oss source against a real S3-compatible server', { skip: missing }, () => {
  let dir: string;
  let store: SqliteStore;
  let dm: DataMesh;
  let s3: TestS3;
  const key = keyFromBytes(Buffer.alloc(32, 7));
  const apply = (docs: object[]) => applyDocuments(store, docs.map((d) => ({ apiVersion: 'kuscia.secretflow/v1alpha1', ...d })), { domain: 'alice', sourceKey: key });
  const ossInfo = (over: Record<string, unknown> = {}) => ({ oss: { endpoint: s3.endpoint, bucket: s3.bucket, prefix: 'ferry/alice/', access_key_id: s3.accessKeyId, access_key_secret: s3.secretAccessKey, ...over } });
  const client = async (id: string, steps: object[]) => {
    const c = dm.issueTaskCredential({ taskID: `t-${id}`, jobID: 'j', initiator: 'alice', parties: ['alice'], domainDataIDs: [id] });
    try {
      return byStep<Step>((await runPythonClient(python, 'datamesh_pypi.py', { address: dm.address, steps }, { env: { ...clean, ...c.env } })).lines);
    } finally {
      c.revoke();
    }
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-datamesh-oss-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    s3 = await startS3('ferry-data');
    const [port] = await freePorts(1);
    dm = await startDataMesh({ store, self: 'alice', sourceKey: key, dataDir: join(dir, 'domaindata'), log: pino({ level: 'silent' }), port: port! });
    await apply([{ kind: 'DomainDataSource', metadata: { name: 'oss-src' }, spec: { type: 'oss', info: ossInfo() } }]);
  });
  after(async () => {
    await dm?.close();
    await store?.close();
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the PyPI client uploads a CSV table into an object under the prefix and downloads it again', async () => {
    await apply([{ kind: 'DomainData', metadata: { name: 'orders' }, spec: { relativeURI: 'tables/orders.csv', name: 'orders', type: 'table', dataSource: 'oss-src', columns: [{ name: 'id', type: 'str' }, { name: 'qty', type: 'int' }, { name: 'price', type: 'float' }] } }]);
    const input = join(dir, 'orders-in.csv');
    // > 5 MiB, so the upload is a multipart one of several parts.
    const rows = Array.from({ length: 300_000 }, (_, i) => `order-${i},${i % 97},${(i % 13) + 0.25}`);
    writeFileSync(input, `id,qty,price\n${rows.join('\n')}\n`);
    const out = join(dir, 'orders-out.csv');
    const r = await client('orders', [
      { do: 'upload', name: 'up', id: 'orders', path: input, format: 'CSV' },
      { do: 'download', name: 'down', id: 'orders', path: out, format: 'CSV' },
    ]);
    assert.ok(r.up?.ok && r.down?.ok, JSON.stringify(r));
    const object = readFileSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'tables', 'orders.csv'), 'utf8').trim().split('\n');
    assert.equal(object[0], 'id,qty,price', 'the object is the table as CSV');
    assert.equal(object.length, rows.length + 1);
    const got = readFileSync(out, 'utf8').trim().split('\n');
    assert.equal(got[0], 'id,qty,price');
    assert.deepEqual(got.slice(1).sort(), rows.sort());
  });

  test('a binary model goes up and down byte for byte', async () => {
    await apply([{ kind: 'DomainData', metadata: { name: 'model-1' }, spec: { relativeURI: 'models/m1.bin', name: 'model-1', type: 'model', dataSource: 'oss-src', fileFormat: 'BINARY' } }]);
    const bytes = randomBytes(3 * 1024 * 1024 + 17);
    writeFileSync(join(dir, 'm-in.bin'), bytes);
    const r = await client('model-1', [
      { do: 'upload', name: 'up', id: 'model-1', path: join(dir, 'm-in.bin'), format: 'BINARY' },
      { do: 'download', name: 'down', id: 'model-1', path: join(dir, 'm-out.bin'), format: 'BINARY' },
    ]);
    assert.ok(r.up?.ok && r.down?.ok, JSON.stringify(r));
    assert.ok(readFileSync(join(dir, 'm-out.bin')).equals(bytes));
    assert.ok(readFileSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'models', 'm1.bin')).equals(bytes));
  });

  test('an aborted upload leaves the object as it was', async () => {
    const ctx = { source: { name: 'oss-src', type: 'oss', info: ossInfo() }, data: { id: 'orders', relativeURI: 'tables/orders.csv', columns: [] } };
    const before = readFileSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'tables', 'orders.csv'));
    const sink = await ossDriver.writeRaw!(ctx);
    await sink.write(Buffer.alloc(6 * 1024 * 1024, 'x'));
    await sink.abort();
    assert.ok(readFileSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'tables', 'orders.csv')).equals(before));
    // and a table write that completes replaces it
    const table = await ossDriver.writeTable(ctx, schemaOf([{ name: 'id', type: 'str' }]));
    await table.close();
    assert.equal(readFileSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'tables', 'orders.csv'), 'utf8'), 'id\n');
  });

  test('deleteData removes the object (KusciaAPI DeleteDomainDataAndRaw); absent is no error', async () => {
    const ctx = { source: { name: 'oss-src', type: 'oss', info: ossInfo() }, data: { id: 'model-1', relativeURI: 'models/m1.bin', columns: [] } };
    await ossDriver.deleteData!(ctx);
    assert.equal(existsSync(join(s3.dir, s3.bucket, 'ferry', 'alice', 'models', 'm1.bin')), false);
    await ossDriver.deleteData!(ctx);
  });

  test('the source gets a condition: Reachable, CredentialsRefused with a wrong secret (not in any message), or the missing bucket', async () => {
    await apply([
      { kind: 'DomainDataSource', metadata: { name: 'oss-wrong-secret' }, spec: { type: 'oss', info: ossInfo({ access_key_secret: 'wrong-secret-4711' }) } },
      { kind: 'DomainDataSource', metadata: { name: 'oss-no-bucket' }, spec: { type: 'oss', info: ossInfo({ bucket: 'not-there' }) } },
    ]);
    const condition = (name: string) => waitFor(`${name}'s condition`, async () => (await store.get('DomainDataSource', name))?.status?.conditions?.find((c) => c.type === 'Ready'));
    const ok = await condition('oss-src');
    assert.equal(ok.status, 'True', ok.message);
    assert.equal(ok.reason, 'Reachable');
    const wrong = await condition('oss-wrong-secret');
    assert.equal(wrong.status, 'False');
    assert.equal(wrong.reason, 'CredentialsRefused', wrong.message);
    assert.match(wrong.message, /access denied \(HTTP 403/);
    assert.equal(wrong.message.includes('wrong-secret-4711'), false);
    const nobucket = await condition('oss-no-bucket');
    assert.equal(nobucket.status, 'False');
    assert.match(nobucket.message, /bucket not-there: .*(NotFound|NoSuchBucket|404)/);
    const stored = JSON.stringify(await store.get('DomainDataSource', 'oss-src'));
    assert.equal(stored.includes(s3.secretAccessKey), false, 'the secret is sealed in the store');
  });
});
