// Opens the store a node's config names (the embedded SQLite file by
// default, or etcd), refusing one that cannot be the node's own: a missing or
// empty store after the node has run, a store with another id, a damaged
// file. The marker that remembers "this node has run, with that store" lives
// outside the store (<home>/store-id), so losing the store cannot erase it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { homePaths, readConfig, type NodeConfig } from '../config.ts';
import { writeSecretFile } from '../home.ts';
import { SqliteStore } from './sqlite.ts';
import { EtcdStore } from './etcd.ts';
import { storeUrl, type StoreConfig } from './location.ts';
import { StoreUnusableError, type ResourceStore } from './store.ts';

export function storeMarker(home: string): string {
  return join(home, 'store-id');
}

export async function openStore(home: string, config: NodeConfig = readConfig(home)): Promise<ResourceStore> {
  const marker = storeMarker(home);
  const expected = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
  const check = `\`ferry store check --home ${home}\``;
  const store = config.store ? await openEtcd(config.store, expected, marker) : await openSqlite(home, expected, marker, check);
  const id = store instanceof SqliteStore ? store.storeId() : await (store as EtcdStore).storeId(false);
  if (expected && id !== expected) {
    await store.close();
    throw new StoreUnusableError(`the store ${store.info.location} is store ${id}, not this node's store ${expected} (${marker}): put this node's own store back (${check} verifies it); to adopt this one on purpose, delete ${marker}`);
  }
  if (!expected) writeSecretFile(marker, `${id}\n`);
  return store;
}

async function openSqlite(home: string, expected: string | undefined, marker: string, check: string): Promise<SqliteStore> {
  const path = homePaths(home).store;
  const size = existsSync(path) ? statSync(path).size : -1;
  if (expected && size <= 0) {
    throw new StoreUnusableError(`the store ${path} is ${size < 0 ? 'missing' : 'empty (0 bytes)'}, but this node has run with store ${expected} (${marker}): restore the file from a backup and start again (${check} verifies it); to start this node afresh with no resources on purpose, delete ${marker}`);
  }
  return new SqliteStore(path);
}

/** Opens etcd, at most `timeoutMs` to answer; an empty prefix is refused when this node has run on it before. */
export async function openEtcd(config: StoreConfig, expected: string | undefined, marker: string): Promise<EtcdStore> {
  const store = new EtcdStore({ endpoints: config.endpoints, prefix: config.prefix, ...(config.tls ? { tls: config.tls } : {}) });
  try {
    const id = await store.storeId(!expected);
    if (expected && !id) {
      throw new StoreUnusableError(`the store ${storeUrl(config)} holds no Ferry store, but this node has run with store ${expected} (${marker}): restore etcd from its snapshot (\`etcdctl snapshot restore\`), or point --store at the right prefix; to start afresh on purpose, delete ${marker}`);
    }
    return store;
  } catch (e) {
    await store.close();
    if (e instanceof StoreUnusableError) throw e;
    throw new StoreUnusableError(`the store ${storeUrl(config)} does not answer (${(e as { cause?: Error }).cause?.message ?? (e as Error).message}): start etcd (a quorum of its members), or check --store and its TLS files, then start again`);
  }
}
