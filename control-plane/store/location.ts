// Where a node's store lives, as `ferry init --store` and ferry.yaml say it:
// absent = the embedded SQLite file; etcd://host:port[,host:port...] = etcd,
// keys under /ferry/<domain>/ unless a prefix is given.
export interface StoreConfig {
  backend: 'etcd';
  endpoints: string[];
  prefix: string;
  /** PEM files for TLS to etcd: the CA that signed etcd's certificates, this client's certificate and key. */
  tls?: { ca?: string; cert?: string; key?: string };
}

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** Parses --store; throws naming the flag and the fix. */
export function parseStoreUrl(url: string, domain: string, flag = '--store'): StoreConfig {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new Error(`${flag}: "${url}" is not a store address: write etcd://host:2379[,host2:2379...] (or leave it out for the embedded store)`);
  const endpoints = m[1]!.split(',').map((e) => e.trim());
  for (const e of endpoints) {
    const hp = HOST_PORT.exec(e);
    if (!hp || Number(hp[2]) < 1 || Number(hp[2]) > 65535) throw new Error(`${flag}: "${e}" is not host:port, e.g. etcd://10.0.0.5:2379,10.0.0.6:2379`);
  }
  let prefix = m[2] && m[2] !== '/' ? m[2] : `/ferry/${domain}/`;
  if (!prefix.endsWith('/')) prefix += '/';
  return { backend: 'etcd', endpoints, prefix };
}

export function storeUrl(config: StoreConfig): string {
  return `etcd://${config.endpoints.join(',')}${config.prefix}`;
}
