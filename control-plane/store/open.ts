// Opens the store a node's config names (the embedded SQLite file by
// default), refusing one that cannot be the node's own: a missing or empty
// file after the node has run, a file from another store, a damaged file.
// The marker that remembers "this node has run, with that store" lives
// outside the store (<home>/store-id), so losing the file cannot erase it.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { homePaths, type NodeConfig } from '../config.ts';
import { writeSecretFile } from '../home.ts';
import { SqliteStore } from './sqlite.ts';
import { StoreUnusableError, type ResourceStore } from './store.ts';

export function storeMarker(home: string): string {
  return join(home, 'store-id');
}

export async function openStore(home: string, _config?: NodeConfig): Promise<ResourceStore> {
  const paths = homePaths(home);
  const marker = storeMarker(home);
  const expected = existsSync(marker) ? readFileSync(marker, 'utf8').trim() : undefined;
  const size = existsSync(paths.store) ? statSync(paths.store).size : -1;
  const check = `\`ferry store check --home ${home}\``;
  if (expected && size <= 0) {
    throw new StoreUnusableError(`the store ${paths.store} is ${size < 0 ? 'missing' : 'empty (0 bytes)'}, but this node has run with store ${expected} (${marker}): restore the file from a backup and start again (${check} verifies it); to start this node afresh with no resources on purpose, delete ${marker}`);
  }
  const store = new SqliteStore(paths.store);
  const id = store.storeId();
  if (expected && id !== expected) {
    await store.close();
    throw new StoreUnusableError(`the store ${paths.store} is store ${id}, not this node's store ${expected} (${marker}): put this node's own file back (${check} verifies it); to adopt this file on purpose, delete ${marker}`);
  }
  if (!expected) writeSecretFile(marker, `${id}\n`);
  return store;
}
