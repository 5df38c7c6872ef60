// The embedded SQLite store: the shared contract (store-contract.ts), then
// what only a file-backed store has: reopening, schema migration with its
// backup, a full disk, a damaged file.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { StoreWriteError } from '../../control-plane/store/store.ts';
import { storeContract, service, route } from './store-contract.ts';

let dir: string | undefined;
storeContract({
  name: 'sqlite',
  async open() {
    dir = mkdtempSync(join(tmpdir(), 'ferry-store-test-'));
    return new SqliteStore(join(dir, 'ferry.db'));
  },
  async client() {
    return new SqliteStore(join(dir!, 'ferry.db'));
  },
  async compact(store) {
    (store as SqliteStore).compactHistory();
  },
  async cleanup() {
    if (dir) rmSync(dir, { recursive: true, force: true });
  },
});

describe('SqliteStore (file)', () => {
  let home: string;
  let path: string;
  beforeEach(() => {
    home = mkdtempSync(join(tmpdir(), 'ferry-store-file-'));
    path = join(home, 'ferry.db');
  });
  afterEach(() => rmSync(home, { recursive: true, force: true }));

  test('objects, status, generations and the revision survive close and reopen', async () => {
    const store = new SqliteStore(path);
    await store.apply([service('echo'), route('alice-bob')]);
    await store.apply([service('echo', 9090)]);
    await store.updateStatus('Service', 'echo', { observedGeneration: 2, conditions: [] });
    await store.delete('ClusterDomainRoute', 'alice-bob');
    const revision = await store.revision();
    await store.close();
    const reopened = new SqliteStore(path);
    try {
      assert.equal(await reopened.revision(), revision);
      const echo = (await reopened.get('Service', 'echo'))!;
      assert.equal(echo.metadata.generation, 2);
      assert.deepEqual(echo.status, { observedGeneration: 2, conditions: [] });
      assert.deepEqual((await reopened.list()).items.map((r) => r.metadata.name), ['echo']);
      assert.deepEqual(await reopened.apply([service('echo', 9090)]), [{ kind: 'Service', name: 'echo', action: 'unchanged' }]);
    } finally {
      await reopened.close();
    }
  });

  test('a batch that fails part-way is rolled back whole, and the store stays usable', async () => {
    const store = new SqliteStore(path);
    try {
      await store.apply([service('existing')]);
      const revision = await store.revision();
      const unserialisable = { ...service('bad'), spec: { ...service('bad').spec, ports: [{ port: 1n }] } } as never;
      await assert.rejects(store.apply([service('new'), service('existing', 9090), unserialisable]), /BigInt/);
      assert.equal(await store.revision(), revision);
      assert.equal(await store.get('Service', 'new'), undefined);
      assert.deepEqual(await store.apply([service('new')]), [{ kind: 'Service', name: 'new', action: 'created' }]);
    } finally {
      await store.close();
    }
  });

  // Issue 12.5: a full disk made apply fail "cannot rollback - no transaction is active".
  test('a full disk is a StoreWriteError (507) naming the cause; nothing is written and reads go on', async () => {
    const store = new SqliteStore(path, { maxPageCount: 40 });
    try {
      await store.apply([service('small')]);
      const revision = await store.revision();
      const big = Array.from({ length: 50 }, (_, i) => service(`big-${i}`, 8080, { pad: 'x'.repeat(8000) }));
      await assert.rejects(store.apply(big), (e: unknown) => {
        assert.ok(e instanceof StoreWriteError, String(e));
        assert.equal(e.statusCode, 507);
        assert.match(e.message, /disk is full .*database or disk is full.*nothing was written/);
        assert.doesNotMatch(e.message, /rollback/);
        return true;
      });
      assert.equal(await store.revision(), revision);
      assert.deepEqual((await store.list()).items.map((r) => r.metadata.name), ['small']);
      assert.deepEqual(await store.apply([service('small', 1)]), [{ kind: 'Service', name: 'small', action: 'configured' }], 'a small write still fits');
    } finally {
      await store.close();
    }
  });

  test('an old single-table store is migrated, kept as a backup first, and keeps generations', async () => {
    const old = new DatabaseSync(path);
    old.exec(`CREATE TABLE resources (kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL, generation INTEGER NOT NULL,
      created_at TEXT NOT NULL, updated_at TEXT NOT NULL, PRIMARY KEY (kind, name))`);
    old.prepare('INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?)').run('Service', 'echo', JSON.stringify(service('echo')), 3, '2026-01-01T00:00:00.000Z', '2026-01-02T00:00:00.000Z');
    old.close();
    const store = new SqliteStore(path);
    try {
      const echo = (await store.get('Service', 'echo'))!;
      assert.equal(echo.metadata.generation, 3);
      assert.equal(echo.metadata.creationTimestamp, '2026-01-01T00:00:00.000Z');
      const backups = readdirSync(join(home, 'backups'));
      assert.equal(backups.length, 1);
      assert.match(backups[0]!, /^ferry\.db\.schema-v1\./);
      const copy = new DatabaseSync(join(home, 'backups', backups[0]!), { readOnly: true });
      assert.equal((copy.prepare('SELECT count(*) AS n FROM resources').get() as { n: number }).n, 1, 'the backup is the old file, readable');
      copy.close();
    } finally {
      await store.close();
    }
    const again = new SqliteStore(path);
    await again.close();
    assert.equal(readdirSync(join(home, 'backups')).length, 1, 'no backup when the schema did not change');
  });
});
