// Acceptance with SecretFlow's own DataMesh client, unchanged: the PyPI
// package `kuscia` (0.0.3b0, kuscia.datamesh on pyarrow.flight; installed by
// scripts/setup.sh into .tools/datamesh-venv) creates a DomainData, uploads a
// CSV, downloads it again (CSV and BINARY) through Ferry's DataMesh, with a
// per-task credential given in the environment. The same client, with a
// credential that does not name a DomainData, is refused with the reason;
// without a credential, or with a revoked one, it is refused at the door.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { ROOT } from '../support/harness.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { freePorts } from '../../control-plane/util/ports.ts';
import { keyFromBytes } from '../../control-plane/datamesh/secrets.ts';
import { startDataMesh, type DataMesh } from '../../control-plane/datamesh/start.ts';

const venv = process.env.FERRY_DATAMESH_VENV ?? join(ROOT, '.tools', 'datamesh-venv');
const python = join(venv, 'bin', 'python');

type Step = { step: string; ok: boolean; result?: unknown; error?: string };

function runClient(address: string, env: Record<string, string>, steps: object[]): Promise<{ code: number | null; steps: Record<string, Step>; stderr: string }> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(no_proxy|no_grpc_proxy|grpc_proxy|https?_proxy)$/i.test(k))) as Record<string, string>;
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(ROOT, 'test', 'support', 'datamesh_pypi.py'), JSON.stringify({ address, steps })], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...clean, ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Step);
      resolve({ code, stderr: err, steps: Object.fromEntries(lines.map((l) => [l.step, l])) });
    });
  });
}

describe('DataMesh with the PyPI kuscia client (kuscia.datamesh, pyarrow.flight)', () => {
  let dir: string;
  let store: SqliteStore;
  let dm: DataMesh;
  const columns = [{ name: 'id', type: 'str' }, { name: 'age', type: 'int' }, { name: 'score', type: 'float' }];

  before(async () => {
    assert.ok(existsSync(python), `no ${python}: run scripts/setup.sh (it installs kuscia==0.0.3b0, pyarrow and pandas into .tools/datamesh-venv), or set FERRY_DATAMESH_VENV`);
    dir = mkdtempSync(join(tmpdir(), 'ferry-datamesh-'));
    store = new SqliteStore(join(dir, 'ferry.db'));
    const [port] = await freePorts(1);
    dm = await startDataMesh({ store, self: 'alice', sourceKey: keyFromBytes(Buffer.alloc(32, 7)), dataDir: join(dir, 'domaindata'), log: pino({ level: 'silent' }), port: port! });
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
});
