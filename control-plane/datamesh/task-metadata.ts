// What a task may learn and change of its domain's DataMesh metadata, shared
// by Flight (flight.ts) and HTTP (http.ts) so both transports answer alike:
// a DomainDataSource (with its credentials) only to a task that may read a
// DomainData in it; DomainData update/delete and grants only by the domain's
// admin; SQL over a whole source never (it would read past every DomainData
// and grant — Kuscia serves it to any task).
import type { TaskCredential } from './access.ts';
import { MeshError, type Mesh } from './mesh.ts';
import { openSourceInfo } from './secrets.ts';
import { DEFAULT_DATA_SOURCE, type DomainDataSourceSpec, type DomainDataSpec } from './spec.ts';

export const refuseDataChange = (verb: string) => new MeshError(403, `a task may not ${verb} DomainData: the domain's admin does (ferry apply / ferry delete); a task creates its outputs (create) and writes the DomainData its credential names`);
export const refuseGrantCall = () => new MeshError(403, 'grants are the data owner\'s: the domain\'s admin manages them (ferry apply -f grant.yaml, docs/datamesh.md), not its tasks');
export const refuseSqlQuery = () => new MeshError(403, 'CommandDataSourceSqlQuery is refused: SQL over a whole data source reads past every DomainData and grant; read a DomainData the task names (CommandDomainDataQuery, with columns)');
export const refusePartition = (field: string) => new MeshError(400, `${field}: partitions are not served by Ferry's DataMesh (Kuscia serves them for odps only); leave it empty`);

/** Kuscia's DomainDataSource message for a task that may read a DomainData in it: its credentials included, as Kuscia gives them to engines. */
export async function sourceForTask(mesh: Mesh, cred: TaskCredential, name: string): Promise<Record<string, unknown>> {
  const own: string[] = [];
  for (const d of cred.domainDataIDs) {
    const r = await mesh.domainData(d);
    if (r && ((r.spec as unknown as DomainDataSpec).dataSource ?? DEFAULT_DATA_SOURCE) === name) own.push(d);
  }
  if (!own.length) throw new MeshError(403, `task ${cred.taskID} may not use DomainDataSource ${name}: none of its DomainData (${cred.domainDataIDs.join(', ') || 'none'}) is in it`);
  await mesh.authorize(cred, own[0]!, 'read');
  const s = await mesh.deps.store.get('DomainDataSource', name);
  if (!s) throw new MeshError(404, `DomainDataSource ${name} does not exist`);
  const spec = s.spec as unknown as DomainDataSourceSpec;
  return {
    datasource_id: name, name: spec.name ?? name, type: spec.type, status: (s.status?.phase as string | undefined) ?? 'Available',
    info: openSourceInfo(name, spec, mesh.deps.sourceKey), info_key: spec.infoKey ?? '', access_directly: !!spec.accessDirectly,
  };
}
