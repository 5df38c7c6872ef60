// The embedded store's schema and its migrations. Every schema change first
// copies the file aside (VACUUM INTO), so a failed or unwanted upgrade can be
// undone by putting the copy back.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';

/** 1: one `resources` table (Ferry before the store rewrite). 2: objects + status + event log. */
export const SCHEMA_VERSION = 2;

const V2 = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    status TEXT,
    generation INTEGER NOT NULL,
    resource_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (kind, name)
  );
  CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    revision INTEGER NOT NULL,
    type TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    object TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS events_revision ON events (revision);`;

function version(db: DatabaseSync): number {
  const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => (r as { name: string }).name));
  if (tables.has('meta')) return Number((db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value ?? 0);
  return tables.has('resources') ? 1 : 0;
}

/** Brings the file to SCHEMA_VERSION; returns the backup's path when it changed an existing schema. */
export function migrateSchema(db: DatabaseSync, path: string, backupDir = join(dirname(path), 'backups')): string | undefined {
  const from = version(db);
  if (from === SCHEMA_VERSION) return undefined;
  if (from > SCHEMA_VERSION) throw new Error(`schema version ${from} is newer than this Ferry's (${SCHEMA_VERSION}): run the Ferry that wrote it, or restore a backup from ${backupDir}`);
  let backup: string | undefined;
  if (from > 0) {
    mkdirSync(backupDir, { recursive: true, mode: 0o700 });
    backup = join(backupDir, `${basename(path)}.schema-v${from}.${new Date().toISOString().replace(/[:.]/g, '-')}`);
    db.exec(`VACUUM INTO '${backup.replaceAll("'", "''")}'`);
  }
  db.exec('BEGIN IMMEDIATE');
  try {
    db.exec(V2);
    const now = new Date().toISOString();
    if (from === 1) {
      // Each old resource keeps its generation and creation time; all get revision 1.
      const rows = db.prepare('SELECT kind, name, doc, generation, created_at FROM resources ORDER BY kind, name').all() as { kind: string; name: string; doc: string; generation: number; created_at: string }[];
      const put = db.prepare('INSERT INTO objects (kind, name, doc, status, generation, resource_version, created_at) VALUES (?, ?, ?, NULL, ?, 1, ?)');
      for (const r of rows) put.run(r.kind, r.name, r.doc, r.generation, r.created_at);
      db.exec('DROP TABLE resources');
      if (rows.length) db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('revision', '1'), ('compacted', '1')").run();
    }
    db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', ?), ('created_at', ?)").run(randomUUID(), now);
    db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(String(SCHEMA_VERSION));
    db.exec('COMMIT');
  } catch (e) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw e;
  }
  return backup;
}
