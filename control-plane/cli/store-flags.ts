// `ferry init --store ...` and `ferry store migrate --to ...`: the store
// flags checked and turned into ferry.yaml's store settings.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseStoreUrl, type StoreConfig } from '../store/location.ts';
import { readStoreKey } from '../store/secrets.ts';

interface Flags { 'etcd-ca'?: string; 'etcd-cert'?: string; 'etcd-key'?: string; 'store-key-file'?: string }

export function storeFromFlags(url: string, domain: string, flags: Flags, flag = '--store'): { store: StoreConfig; storeKeyFile: string } {
  const store = parseStoreUrl(url, domain, flag);
  const file = (name: keyof Flags) => {
    const v = flags[name];
    if (v === undefined) return undefined;
    if (!existsSync(v)) throw new Error(`--${name}: ${v} does not exist`);
    return resolve(v);
  };
  const tls = { ca: file('etcd-ca'), cert: file('etcd-cert'), key: file('etcd-key') };
  if (Boolean(tls.cert) !== Boolean(tls.key)) throw new Error('--etcd-cert and --etcd-key go together: give both (the client certificate and its key), or neither');
  if (tls.ca || tls.cert) store.tls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v)) as StoreConfig['tls'];
  const keyFile = file('store-key-file');
  if (!keyFile) throw new Error(`--store-key-file is required with ${flag}: secrets (CA key, gateway key, tokens) are kept in the shared store encrypted with it; make one with \`openssl rand -base64 32 > store.key\` and give every replica the same file`);
  readStoreKey(keyFile); // fails now, naming the file, if it is not a key
  return { store, storeKeyFile: keyFile };
}

/** Copies the node's store to the one `to` names and points ferry.yaml at it; returns what to print. */
export async function migrateStore(home: string, to: string, flags: Flags & { force?: boolean }): Promise<string> {
  const { readConfig, writeConfig, homePaths } = await import('../config.ts');
  const { openStore, openEtcd, storeMarker } = await import('../store/open.ts');
  const { SqliteStore } = await import('../store/sqlite.ts');
  const { migrateObjects } = await import('../store/migrate.ts');
  const { writeSecretFile } = await import('../home.ts');
  const config = readConfig(home);
  const embedded = to === 'embedded';
  const next = embedded ? undefined : storeFromFlags(to, config.domain, { ...flags, 'store-key-file': flags['store-key-file'] ?? config.storeKeyFile }, '--to');
  if (!embedded && config.store && JSON.stringify(config.store) === JSON.stringify(next!.store)) return `the node already uses ${to}: nothing to do`;
  if (embedded && !config.store) return 'the node already uses the embedded store: nothing to do';
  const from = await openStore(home, config);
  let target: Awaited<ReturnType<typeof openEtcd>> | InstanceType<typeof SqliteStore> | undefined;
  try {
    target = embedded ? new SqliteStore(homePaths(home).store) : await openEtcd(next!.store, undefined, storeMarker(home));
    const result = await migrateObjects(from, target, Boolean(flags.force));
    const id = target instanceof SqliteStore ? target.storeId() : (await target.storeId(true))!;
    const { store: _old, storeKeyFile: _k, ...rest } = config;
    writeConfig(home, embedded ? rest : { ...rest, ...next! });
    writeSecretFile(storeMarker(home), `${id}\n`);
    const what = result.alreadyThere ? 'already held every object' : `${result.copied} object(s) copied${result.deleted ? `, ${result.deleted} removed (--force)` : ''}`;
    return `migrated to ${target.info.location}: ${what}; ${homePaths(home).config} now uses it (the old store is left as it was: migrate back with --to ${config.store ? `etcd://${config.store.endpoints.join(',')}${config.store.prefix}` : 'embedded'})`;
  } finally {
    await from.close();
    await target?.close();
  }
}
