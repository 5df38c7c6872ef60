// A DomainDataSource's credentials (`spec.info`) at rest: sealed with the
// store's sealed-secrets scheme (store/secrets.ts, AES-256-GCM bound to the
// object's name) into Kuscia's field `spec.data.encryptedInfo`, before the
// store sees them. The key: the shared store's key (storeKeyFile) when the node
// has one, else a key of this home's own (<home>/certs/datamesh-info.key, 0600).
// Answers and logs get `redactSource`: never the sealed value, never the info.
import { randomBytes, createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { homePaths, type NodeConfig } from '../config.ts';
import { writeSecretFile } from '../home.ts';
import { readStoreKey, seal, unseal, type StoreKey } from '../store/secrets.ts';
import type { DataSourceInfo, DomainDataSourceSpec } from './spec.ts';

export function dataSourceKeyFile(home: string): string {
  return join(homePaths(home).certs, 'datamesh-info.key');
}

/** The key that seals data-source credentials: the shared store's key, else this home's own (made on first use). */
export function dataSourceKey(home: string, config: Pick<NodeConfig, 'storeKeyFile'>): StoreKey {
  if (config.storeKeyFile) return readStoreKey(config.storeKeyFile);
  const file = dataSourceKeyFile(home);
  if (!existsSync(file)) writeSecretFile(file, `${randomBytes(32).toString('base64')}\n`);
  return readStoreKey(file);
}

/** A key for tests and tools that have no home: 32 given bytes. */
export function keyFromBytes(key: Buffer): StoreKey {
  return { key, id: createHash('sha256').update(key).digest('hex').slice(0, 16) };
}

const aad = (name: string) => `DomainDataSource/${name}`;

/**
 * The spec as stored: `info` sealed into data.encryptedInfo. Without `info`,
 * the stored source's sealed info is kept (a `ferry get -o yaml` re-applied
 * does not wipe the credentials it could not show).
 */
export function sealSourceSpec(name: string, spec: DomainDataSourceSpec, existing: DomainDataSourceSpec | undefined, key: StoreKey | undefined): DomainDataSourceSpec {
  const { info, ...rest } = spec;
  const out: DomainDataSourceSpec = { ...rest, data: { ...(rest.data ?? {}) } };
  if (info !== undefined) {
    if (!key) throw new Error(`DomainDataSource/${name}: spec.info cannot be sealed here (no key): apply it through the node's API`);
    out.data!.encryptedInfo = seal(key, aad(name), JSON.stringify(info));
  } else if (existing?.data?.encryptedInfo) {
    out.data!.encryptedInfo = existing.data.encryptedInfo;
  } else if ((spec.type === 'mysql' || spec.type === 'postgresql') && !spec.infoKey) {
    throw new Error(`DomainDataSource/${name}: spec.info.database is required (no credentials are stored for this source yet): give endpoint, user, password and database`);
  } else if (spec.type === 'oss' && !spec.infoKey) {
    throw new Error(`DomainDataSource/${name}: spec.info.oss is required (no credentials are stored for this source yet): give endpoint, bucket, access_key_id and access_key_secret`);
  }
  if (!Object.keys(out.data!).length) delete out.data;
  return out;
}

/** The plain credentials, for the DataMesh's own reads; {} when the source has none. */
export function openSourceInfo(name: string, spec: DomainDataSourceSpec, key: StoreKey): DataSourceInfo {
  const sealed = spec.data?.encryptedInfo;
  if (!sealed) return {};
  return JSON.parse(unseal(key, aad(name), sealed)) as DataSourceInfo;
}

/** What an answer may show of any resource: a DomainDataSource loses its sealed info (and any plain one). */
export function redactSource<T extends { kind: string; spec?: unknown }>(r: T): T {
  if (r.kind !== 'DomainDataSource') return r;
  const copy = structuredClone(r) as T & { spec: DomainDataSourceSpec };
  delete copy.spec.info;
  if (copy.spec.data) {
    delete copy.spec.data.encryptedInfo;
    if (!Object.keys(copy.spec.data).length) delete copy.spec.data;
  }
  return copy;
}
