// The DataMesh as a part of a node (node.ts): its key, its default source's
// directory, its plugins and its port from the home and ferry.yaml.
import type { Logger } from 'pino';
import { homePaths, type NodeConfig } from '../config.ts';
import type { ResourceStore } from '../store/store.ts';
import { loadPlugins } from './plugins.ts';
import { dataSourceKey } from './secrets.ts';
import { DEFAULT_DATAMESH_GRPC_PORT, DEFAULT_DATAMESH_HTTP_PORT, defaultDataDir, startDataMesh, type DataMesh } from './start.ts';

export async function startNodeDataMesh(home: string, config: NodeConfig, store: ResourceStore, log: Logger): Promise<DataMesh> {
  const c = config.datamesh ?? {};
  const base = { store, self: config.domain, sourceKey: dataSourceKey(home, config), dataDir: defaultDataDir(homePaths(home).data), log, ...(c.address ? { host: c.address } : {}), drivers: await loadPlugins(c.plugins ?? [], home) };
  if (c.port !== undefined && c.httpPort !== undefined) return startDataMesh({ ...base, port: c.port, httpPort: c.httpPort });
  try {
    return await startDataMesh({ ...base, port: c.port ?? DEFAULT_DATAMESH_GRPC_PORT, httpPort: c.httpPort ?? DEFAULT_DATAMESH_HTTP_PORT });
  } catch (e) {
    // Another node (or Kuscia) on this host has 8071/8070: free ports; the tasks are told where (their environment).
    log.info({ err: (e as Error).message }, `DataMesh: Kuscia's ports ${DEFAULT_DATAMESH_GRPC_PORT}/${DEFAULT_DATAMESH_HTTP_PORT} are taken; listening on free ports (set datamesh.port and datamesh.httpPort in ferry.yaml to choose)`);
    return startDataMesh({ ...base, port: c.port ?? 0, httpPort: c.httpPort ?? 0 });
  }
}
