// `ferry store check`: is this node's store whole, and its own? Reads the
// file read-only (a running node may have it open) and reports what it finds,
// one line each; `ok` is false when the node would refuse to start on it.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { homePaths } from '../config.ts';
import { storeMarker } from './open.ts';
import { EtcdStore } from './etcd.ts';
import { storeUrl, type StoreConfig } from './location.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';

export interface StoreCheck { ok: boolean; lines: string[] }

/** The shared store (etcd): does it answer, is it this node's, what does it hold. */
export async function checkSharedStore(home: string, config: StoreConfig): Promise<StoreCheck> {
  const marker = storeMarker(home);
  const expected = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
  const store = new EtcdStore({ endpoints: config.endpoints, prefix: config.prefix, ...(config.tls ? { tls: config.tls } : {}) });
  try {
    const id = await store.storeId(false);
    const { items, revision } = await store.list();
    const lines = [`ok   ${storeUrl(config)} answers: revision ${revision}, ${items.length} object(s)`];
    if (!id) return { ok: !expected, lines: [...lines, `${expected ? 'FAIL' : 'ok  '} no Ferry store under ${config.prefix}${expected ? `, but this node has run with store ${expected}: restore etcd from its snapshot (\`etcdctl snapshot restore\`)` : ' yet: the first replica creates it'}`] };
    if (expected && id !== expected) return { ok: false, lines: [...lines, `FAIL the prefix holds store ${id}, not this node's store ${expected} (${marker})`] };
    return { ok: true, lines: [...lines, `ok   store ${id}${expected ? ' (this node\'s)' : ''}`] };
  } catch (e) {
    return { ok: false, lines: [`FAIL ${storeUrl(config)} does not answer (${(e as Error).message}): start a quorum of etcd members`] };
  } finally {
    await store.close();
  }
}

export function checkStore(home: string): StoreCheck {
  const paths = homePaths(home);
  const lines: string[] = [];
  let ok = true;
  const fail = (line: string) => { ok = false; lines.push(`FAIL ${line}`); };
  const marker = storeMarker(home);
  const expected = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
  lines.push(expected ? `ok   marker ${marker}: this node has run with store ${expected}` : `ok   no marker (${marker}): this node has not started yet`);
  const backups = join(paths.data, 'backups');
  const backupList = existsSync(backups) ? readdirSync(backups).sort() : [];
  const restore = backupList.length ? `restore the newest good copy from ${backups} (${backupList.at(-1)})` : 'restore the file from your own backup';
  if (!existsSync(paths.store) || statSync(paths.store).size === 0) {
    if (expected) fail(`${paths.store} is ${existsSync(paths.store) ? 'empty' : 'missing'}: ${restore}`);
    else lines.push(`ok   ${paths.store} does not exist yet: the node creates it at start`);
    return { ok, lines };
  }
  let db: DatabaseSync | undefined;
  try {
    db = new DatabaseSync(paths.store, { readOnly: true });
    const integrity = db.prepare('PRAGMA integrity_check').all().map((r) => String(Object.values(r as object)[0]));
    if (integrity.length === 1 && integrity[0] === 'ok') lines.push(`ok   ${paths.store}: integrity check passed`);
    else fail(`${paths.store}: integrity check found ${integrity.length} problem(s): ${integrity.slice(0, 5).join('; ')}: ${restore}`);
    const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all().map((r) => (r as { name: string }).name));
    if (!tables.has('meta')) {
      lines.push(`note schema version ${tables.has('resources') ? 1 : 0} (this Ferry: ${SCHEMA_VERSION}; upgraded at the next start, after a backup)`);
      return { ok, lines };
    }
    const meta = new Map((db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
    const version = Number(meta.get('schema_version') ?? 0);
    lines.push(`${version === SCHEMA_VERSION ? 'ok  ' : 'note'} schema version ${version} (this Ferry: ${SCHEMA_VERSION}${version < SCHEMA_VERSION ? '; upgraded at the next start, after a backup' : ''})`);
    const id = meta.get('store_id');
    if (expected && id !== expected) fail(`the file is store ${id}, not this node's store ${expected}: put this node's own file back, or delete ${marker} to adopt it`);
    const counts = db.prepare('SELECT kind, count(*) AS n FROM objects GROUP BY kind ORDER BY kind').all() as { kind: string; n: number }[];
    lines.push(`ok   revision ${meta.get('revision') ?? 0}; ${counts.length ? counts.map((c) => `${c.n} ${c.kind}`).join(', ') : 'no resources'}`);
  } catch (e) {
    fail(`${paths.store} cannot be read (${(e as Error).message}): ${restore}`);
  } finally {
    db?.close();
  }
  if (backupList.length) lines.push(`note ${backupList.length} backup(s) in ${backups}, newest ${backupList.at(-1)}`);
  return { ok, lines };
}
