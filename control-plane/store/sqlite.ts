// The embedded store backend: node:sqlite in one file under <home>/data/,
// zero set-up. One write transaction is one store-wide revision (like an etcd
// txn); every change is also kept in an event log, so that a watcher can
// resume from a revision until that revision is compacted away.
import { DatabaseSync } from 'node:sqlite';
import { isDeepStrictEqual } from 'node:util';
import type { Kind, Resource } from '../resources/types.ts';
import {
  byKindAndName, ConflictError, NotFoundError, specDocument, StoreUnusableError, StoreWriteError,
  type ApplyResult, type ObjectStatus, type ResourceStore, type StoredResource, type StoreInfo, type Watch, type WatchEvent,
} from './store.ts';
import { WatchHub } from './watch-hub.ts';
import { migrateSchema, SCHEMA_VERSION } from './sqlite-schema.ts';

export interface SqliteStoreOptions {
  /** Changes kept for watchers to resume from; older ones are compacted (default 10,000). */
  keepEvents?: number;
  /** Called with the backup's path before a schema change rewrites the file. */
  backupDir?: string;
  /** Tests: caps the file's size in pages, to reproduce a full disk. */
  maxPageCount?: number;
}

interface Row { kind: string; name: string; doc: string; status: string | null; generation: number; resource_version: number; created_at: string }

export class SqliteStore implements ResourceStore {
  readonly info: StoreInfo;
  private readonly db: DatabaseSync;
  private readonly hub = new WatchHub();
  private readonly keepEvents: number;
  private readonly path: string;

  constructor(path: string, opts: SqliteStoreOptions = {}) {
    this.path = path;
    this.info = { backend: 'sqlite', location: path };
    this.keepEvents = opts.keepEvents ?? 10_000;
    try {
      this.db = new DatabaseSync(path);
      this.db.exec('PRAGMA busy_timeout = 5000');
      const check = this.db.prepare('PRAGMA quick_check').all().map((r) => Object.values(r as object)[0]);
      if (check.length !== 1 || check[0] !== 'ok') throw new Error(`integrity check failed: ${check.slice(0, 3).join('; ')}`);
      this.db.exec('PRAGMA journal_mode = WAL');
      if (opts.maxPageCount) this.db.exec(`PRAGMA max_page_count = ${Math.floor(opts.maxPageCount)}`);
      migrateSchema(this.db, path, opts.backupDir);
    } catch (e) {
      if (e instanceof StoreUnusableError) throw e;
      throw new StoreUnusableError(`the store ${path} is unusable (${(e as Error).message}): restore it from a backup, or run \`ferry store check\` for details`);
    }
  }

  /** The id written into this file when it was created: the node's marker names it. */
  storeId(): string {
    return this.meta('store_id') ?? '';
  }

  async revision(): Promise<number> {
    return this.rev();
  }

  async list(kind?: string): Promise<{ items: StoredResource[]; revision: number }> {
    return this.read(() => {
      const rows = (kind ? this.db.prepare('SELECT * FROM objects WHERE kind = ?').all(kind) : this.db.prepare('SELECT * FROM objects').all()) as unknown as Row[];
      return { items: rows.map(fromRow).sort(byKindAndName), revision: this.rev() };
    });
  }

  async get(kind: string, name: string): Promise<StoredResource | undefined> {
    return this.read(() => {
      const row = this.db.prepare('SELECT * FROM objects WHERE kind = ? AND name = ?').get(kind, name) as unknown as Row | undefined;
      return row ? fromRow(row) : undefined;
    });
  }

  async apply(resources: readonly Resource[]): Promise<ApplyResult[]> {
    const docs = resources.map((r) => ({ r, doc: specDocument(r) })); // throws before the transaction on a bad document
    return this.write((revision, now, events) => {
      const results: ApplyResult[] = [];
      for (const { r, doc } of docs) {
        const existing = this.row(r.kind, r.metadata.name);
        const expected = r.metadata.resourceVersion;
        if (expected !== undefined && expected !== '' && String(existing?.resource_version) !== expected) {
          throw new ConflictError(r.kind, r.metadata.name, expected, existing ? String(existing.resource_version) : undefined);
        }
        if (existing && isDeepStrictEqual(JSON.parse(existing.doc), doc)) {
          results.push({ kind: r.kind, name: r.metadata.name, action: 'unchanged' });
          continue;
        }
        const row: Row = {
          kind: r.kind, name: r.metadata.name, doc: JSON.stringify(doc), status: existing?.status ?? null,
          generation: (existing?.generation ?? 0) + 1, resource_version: revision, created_at: existing?.created_at ?? now,
        };
        this.put(row);
        events.push({ type: existing ? 'MODIFIED' : 'ADDED', revision, object: fromRow(row) });
        results.push({ kind: r.kind, name: r.metadata.name, action: existing ? 'configured' : 'created' });
      }
      return results;
    });
  }

  async updateStatus(kind: string, name: string, status: ObjectStatus, resourceVersion?: string): Promise<StoredResource> {
    const text = JSON.stringify(status);
    return this.write((revision, _now, events) => {
      const existing = this.row(kind, name);
      if (!existing) throw new NotFoundError(`${kind} ${name} not found`);
      if (resourceVersion !== undefined && String(existing.resource_version) !== resourceVersion) throw new ConflictError(kind, name, resourceVersion, String(existing.resource_version));
      if (existing.status === text) return fromRow(existing);
      const row = { ...existing, status: text, resource_version: revision };
      this.put(row);
      const object = fromRow(row);
      events.push({ type: 'MODIFIED', revision, object });
      return object;
    });
  }

  async delete(kind: string, name: string, resourceVersion?: string): Promise<boolean> {
    return this.write((revision, _now, events) => {
      const existing = this.row(kind, name);
      if (!existing) return false;
      if (resourceVersion !== undefined && String(existing.resource_version) !== resourceVersion) throw new ConflictError(kind, name, resourceVersion, String(existing.resource_version));
      this.db.prepare('DELETE FROM objects WHERE kind = ? AND name = ?').run(kind, name);
      events.push({ type: 'DELETED', revision, object: { ...fromRow(existing), metadata: { ...fromRow(existing).metadata, resourceVersion: String(revision) } } as StoredResource });
      return true;
    });
  }

  watch(kinds: readonly string[], fromRevision: number, onEvent: (e: WatchEvent) => void): Watch {
    // Read the backlog and subscribe in one synchronous step: no write can fall between them.
    const compacted = Number(this.meta('compacted') ?? 0);
    if (fromRevision < compacted) return this.hub.subscribe(kinds, [{ type: 'RESYNC', revision: this.rev(), reason: `revision ${fromRevision} is compacted (changes are kept from ${compacted + 1})` }], onEvent);
    const backlog = (this.db.prepare('SELECT revision, type, object FROM events WHERE revision > ? ORDER BY seq').all(fromRevision) as { revision: number; type: WatchEvent['type']; object: string }[])
      .map((e) => ({ type: e.type, revision: e.revision, object: JSON.parse(e.object) as StoredResource }) as WatchEvent);
    return this.hub.subscribe(kinds, backlog, onEvent);
  }

  async close(): Promise<void> {
    this.hub.close();
    if (this.db.isOpen) this.db.close();
  }

  /** Drops the change history up to the current revision (what etcd's compact does); watchers from before it get RESYNC. */
  compactHistory(): void {
    this.write(() => {
      const revision = this.rev();
      this.db.prepare('DELETE FROM events WHERE revision <= ?').run(revision);
      this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?)").run(String(revision));
    });
  }

  /** PRAGMA integrity_check, for `ferry store check`: 'ok' or the problems found. */
  integrityCheck(): string[] {
    return this.db.prepare('PRAGMA integrity_check').all().map((r) => String(Object.values(r as object)[0]));
  }

  private rev(): number {
    return Number(this.meta('revision') ?? 0);
  }

  private meta(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  private row(kind: string, name: string): Row | undefined {
    return this.db.prepare('SELECT * FROM objects WHERE kind = ? AND name = ?').get(kind, name) as unknown as Row | undefined;
  }

  private put(r: Row): void {
    this.db.prepare('INSERT OR REPLACE INTO objects (kind, name, doc, status, generation, resource_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(r.kind, r.name, r.doc, r.status, r.generation, r.resource_version, r.created_at);
  }

  /** Reads; a corrupt page found now is reported as such, not as a bare SQLite message. */
  private read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw classify(e, this.path, 'read');
    }
  }

  /**
   * One write transaction at the next revision. The events it produced are
   * kept in the log and delivered to watchers after the commit; nothing is
   * delivered when it fails.
   */
  private write<T>(fn: (revision: number, now: string, events: WatchEvent[]) => T): T {
    const events: WatchEvent[] = [];
    let result: T;
    try {
      this.db.exec('BEGIN IMMEDIATE');
      const revision = this.rev() + 1;
      result = fn(revision, new Date().toISOString(), events);
      if (events.length) {
        const log = this.db.prepare('INSERT INTO events (revision, type, kind, name, object) VALUES (?, ?, ?, ?, ?)');
        for (const e of events) if (e.type !== 'RESYNC') log.run(revision, e.type, e.object.kind, e.object.metadata.name, JSON.stringify(e.object));
        this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('revision', ?)").run(String(revision));
        this.compact();
      }
      this.db.exec('COMMIT');
    } catch (e) {
      // SQLite has already rolled back on some errors (a full disk): a second ROLLBACK would hide the cause.
      if (this.db.isOpen && this.db.isTransaction) {
        try { this.db.exec('ROLLBACK'); } catch { /* the cause below is what matters */ }
      }
      throw classify(e, this.path, 'write');
    }
    this.hub.publish(events);
    return result;
  }

  private compact(): void {
    const { n, first } = this.db.prepare('SELECT count(*) AS n, min(seq) AS first FROM events').get() as { n: number; first: number };
    if (n <= this.keepEvents * 1.1) return; // compact in steps, not on every write
    const cut = first + (n - this.keepEvents);
    const last = this.db.prepare('SELECT max(revision) AS r FROM events WHERE seq < ?').get(cut) as { r: number };
    // A revision is compacted whole (a transaction's events stay together).
    this.db.prepare('DELETE FROM events WHERE revision <= ?').run(last.r);
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('compacted', ?)").run(String(last.r));
  }
}

function fromRow(r: Row): StoredResource {
  const doc = JSON.parse(r.doc) as Resource;
  return {
    ...doc,
    metadata: { ...doc.metadata, resourceVersion: String(r.resource_version), generation: r.generation, creationTimestamp: r.created_at },
    ...(r.status ? { status: JSON.parse(r.status) as ObjectStatus } : {}),
  } as StoredResource;
}

const SQLITE_FULL = 13;
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;

/** Turns a SQLite failure into an error that says what happened and what to do; others pass through. */
function classify(e: unknown, path: string, op: 'read' | 'write'): unknown {
  const err = e as { errcode?: number; errstr?: string; code?: string; message?: string };
  if (err?.code !== 'ERR_SQLITE_ERROR' || err.errcode === undefined) return e;
  const primary = err.errcode & 0xff;
  const cause = `${path}: ${err.errstr ?? err.message}`;
  if (primary === SQLITE_FULL) return new StoreWriteError(`the store's disk is full (${cause}): nothing was written; free space and retry`, 507, e);
  if (primary === SQLITE_CORRUPT || primary === SQLITE_NOTADB) {
    return new StoreWriteError(`the store is damaged (${cause}): nothing was ${op === 'read' ? 'read' : 'written'}; stop the node, run \`ferry store check\`, and restore from a backup`, 503, e);
  }
  return new StoreWriteError(`the store could not ${op} (${cause}): nothing was ${op === 'read' ? 'read' : 'written'}; retry, or check the disk`, 503, e);
}

export { SCHEMA_VERSION };
