// The node's durable store: resources in SQLite (node:sqlite) under <home>/data/.
// Applies are transactional: a batch is stored whole or not at all.
import { DatabaseSync } from 'node:sqlite';
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Kind, Resource } from '../resources/types.ts';

export type ApplyAction = 'created' | 'configured' | 'unchanged';

export interface StoredMeta {
  generation: number;
  creationTimestamp: string;
  updateTimestamp: string;
}

export class Store extends EventEmitter {
  private readonly db: DatabaseSync;

  constructor(path: string) {
    super();
    this.db = new DatabaseSync(path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS resources (
        kind TEXT NOT NULL,
        name TEXT NOT NULL,
        doc TEXT NOT NULL,
        generation INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (kind, name)
      );`);
  }

  /**
   * Every stored resource, parsed once and kept in memory: this process is the
   * store's only writer while it runs (the CLI writes directly only when no
   * node is running), so the copy stays true. Translation reads it on every change.
   */
  private byKey: Map<string, Resource & { meta: StoredMeta }> | undefined;
  private sorted: (Resource & { meta: StoredMeta })[] | undefined;

  private memory(): Map<string, Resource & { meta: StoredMeta }> {
    this.byKey ??= new Map(this.db.prepare('SELECT * FROM resources').all().map(fromRow).map((r) => [`${r.kind}/${r.metadata.name}`, r]));
    return this.byKey;
  }

  list(kind?: Kind): (Resource & { meta: StoredMeta })[] {
    this.sorted ??= [...this.memory().values()].sort((a, b) => a.kind.localeCompare(b.kind) || a.metadata.name.localeCompare(b.metadata.name));
    return kind ? this.sorted.filter((r) => r.kind === kind) : this.sorted;
  }

  get(kind: Kind, name: string): (Resource & { meta: StoredMeta }) | undefined {
    const row = this.db.prepare('SELECT * FROM resources WHERE kind = ? AND name = ?').get(kind, name);
    return row ? fromRow(row) : undefined;
  }

  /** Stores every resource in one transaction; emits 'change' if anything changed. */
  apply(resources: readonly Resource[]): { kind: Kind; name: string; action: ApplyAction }[] {
    const now = new Date().toISOString();
    const results: { kind: Kind; name: string; action: ApplyAction }[] = [];
    const select = this.db.prepare('SELECT doc, generation, created_at FROM resources WHERE kind = ? AND name = ?');
    const changed: (Resource & { meta: StoredMeta })[] = [];
    const insert = this.db.prepare('INSERT INTO resources (kind, name, doc, generation, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)');
    const update = this.db.prepare('UPDATE resources SET doc = ?, generation = ?, updated_at = ? WHERE kind = ? AND name = ?');
    this.db.exec('BEGIN IMMEDIATE');
    try {
      for (const r of resources) {
        const existing = select.get(r.kind, r.metadata.name) as { doc: string; generation: number; created_at: string } | undefined;
        const doc = JSON.stringify(r);
        if (!existing) {
          insert.run(r.kind, r.metadata.name, doc, now, now);
          changed.push({ ...structuredClone(r), meta: { generation: 1, creationTimestamp: now, updateTimestamp: now } });
          results.push({ kind: r.kind, name: r.metadata.name, action: 'created' });
        } else if (isDeepStrictEqual(JSON.parse(existing.doc), JSON.parse(doc))) {
          results.push({ kind: r.kind, name: r.metadata.name, action: 'unchanged' });
        } else {
          update.run(doc, existing.generation + 1, now, r.kind, r.metadata.name);
          const created = existing.created_at;
          changed.push({ ...structuredClone(r), meta: { generation: existing.generation + 1, creationTimestamp: created, updateTimestamp: now } });
          results.push({ kind: r.kind, name: r.metadata.name, action: 'configured' });
        }
      }
      this.db.exec('COMMIT');
      if (this.byKey) for (const r of changed) this.byKey.set(`${r.kind}/${r.metadata.name}`, r);
      if (changed.length) this.sorted = undefined;
    } catch (e) {
      this.db.exec('ROLLBACK');
      throw e;
    }
    if (results.some((r) => r.action !== 'unchanged')) this.emit('change');
    return results;
  }

  delete(kind: Kind, name: string): boolean {
    const { changes } = this.db.prepare('DELETE FROM resources WHERE kind = ? AND name = ?').run(kind, name);
    if (changes) {
      this.byKey?.delete(`${kind}/${name}`);
      this.sorted = undefined;
      this.emit('change');
    }
    return Number(changes) > 0;
  }

  close(): void {
    this.db.close();
  }
}

function fromRow(row: unknown): Resource & { meta: StoredMeta } {
  const r = row as { doc: string; generation: number; created_at: string; updated_at: string };
  return { ...(JSON.parse(r.doc) as Resource), meta: { generation: r.generation, creationTimestamp: r.created_at, updateTimestamp: r.updated_at } };
}
