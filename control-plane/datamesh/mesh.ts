// The DataMesh's operations over the store, shared by Flight (flight.ts) and
// HTTP (http.ts): find a DomainData, its source and driver; decide access
// (access.ts) with the grants as stored now; record each read's uses on its
// grants (optimistic writes, so two reads never share a grant's last use);
// create DomainData. Nothing here logs a source's info.
import type { Logger } from 'pino';
import { ConflictError, type ResourceStore, type StoredResource } from '../store/store.ts';
import type { StoreKey } from '../store/secrets.ts';
import { applyDocuments } from '../resources/apply.ts';
import { KUSCIA_API_VERSION } from '../resources/types.ts';
import { decideAccess, grantProblem, useRecord, type GrantView, type TaskCredential } from './access.ts';
import { openSourceInfo } from './secrets.ts';
import { localfsDriver, type DataSourceDriver, type SourceContext } from './sources.ts';
import { mysqlDriver, postgresqlDriver } from './sources-db.ts';
import { ossDriver } from './sources-oss.ts';
import { DEFAULT_DATA_SOURCE, type DataColumn, type DomainDataSourceSpec, type DomainDataSpec, type GrantStatus } from './spec.ts';

/** An error the DataMesh answers with: HTTP code, and gRPC's by code (flight.ts). */
export class MeshError extends Error {
  readonly code: 400 | 401 | 403 | 404 | 409 | 500 | 501;
  constructor(code: MeshError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

export interface MeshDeps {
  store: ResourceStore;
  self: string;
  sourceKey: StoreKey;
  log: Logger;
  /** Drivers by source type: localfs built in, more from plugins. */
  drivers?: Map<string, DataSourceDriver>;
  now?: () => Date;
}

export interface ResolvedData {
  id: string;
  spec: DomainDataSpec;
  driver: DataSourceDriver;
  ctx: SourceContext;
}

export class Mesh {
  readonly deps: MeshDeps;
  readonly drivers: Map<string, DataSourceDriver>;

  constructor(deps: MeshDeps) {
    this.deps = deps;
    this.drivers = deps.drivers ?? new Map();
    for (const d of [localfsDriver, mysqlDriver, postgresqlDriver, ossDriver]) if (!this.drivers.has(d.type)) this.drivers.set(d.type, d);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async grants(): Promise<GrantView[]> {
    return (await this.deps.store.list('DomainDataGrant')).items.map((g) => ({ name: g.metadata.name, spec: g.spec as unknown as GrantView['spec'], status: g.status as Partial<GrantStatus> | undefined }));
  }

  /** Access for one operation, refused with a MeshError naming the reason. Returns the grants a read relies on. */
  async authorize(credential: TaskCredential | undefined, id: string, op: 'read' | 'write' | 'create'): Promise<string[]> {
    const exists = !!(await this.deps.store.get('DomainData', id));
    const d = decideAccess({ self: this.deps.self, credential, domainDataID: id, exists, op, grants: op === 'read' ? await this.grants() : [], now: this.now() });
    if (!d.ok) throw new MeshError(d.code, d.reason);
    return d.grants;
  }

  /** Records one use on each grant; refuses when a grant can no longer serve (another read took its last use). */
  async recordUses(grants: string[], credential: TaskCredential, id: string): Promise<void> {
    for (const name of grants) {
      for (let attempt = 0; ; attempt++) {
        const g = await this.deps.store.get('DomainDataGrant', name);
        if (!g) throw new MeshError(403, `DomainDataGrant ${name} was deleted (revoked)`);
        const view: GrantView = { name, spec: g.spec as unknown as GrantView['spec'], status: g.status as Partial<GrantStatus> | undefined };
        const problem = grantProblem(view, view.spec.grantDomain, credential, this.now());
        if (problem) throw new MeshError(403, `task ${credential.taskID} may not read DomainData ${id}: ${problem}`);
        const status = { ...(g.status ?? {}), phase: view.status?.phase ?? 'Ready', message: view.status?.message ?? '', use_records: [...(view.status?.use_records ?? []), useRecord(view.spec.grantDomain, this.now(), credential.component, credential.taskID)] };
        try {
          await this.deps.store.updateStatus('DomainDataGrant', name, status, g.metadata.resourceVersion);
          break;
        } catch (e) {
          if (!(e instanceof ConflictError) || attempt >= 20) throw e;
        }
      }
    }
  }

  /** The DomainData, its source (credentials unsealed) and the driver for it. */
  async resolve(id: string): Promise<ResolvedData> {
    const d = await this.deps.store.get('DomainData', id);
    if (!d) throw new MeshError(404, `DomainData ${id} does not exist in ${this.deps.self}`);
    const spec = d.spec as unknown as DomainDataSpec;
    const sourceName = spec.dataSource ?? DEFAULT_DATA_SOURCE;
    const s = await this.deps.store.get('DomainDataSource', sourceName);
    if (!s) throw new MeshError(404, `DomainData ${id} names DomainDataSource ${sourceName}, which does not exist in ${this.deps.self}`);
    const src = s.spec as unknown as DomainDataSourceSpec;
    const driver = this.drivers.get(src.type);
    if (!driver) throw new MeshError(501, `DomainDataSource ${sourceName} has type ${src.type}, which no driver serves here (built in: ${[...this.drivers.keys()].join(', ')}; plugins: ferry.yaml datamesh.plugins)`);
    let info;
    try {
      info = openSourceInfo(sourceName, src, this.deps.sourceKey);
    } catch (e) {
      throw new MeshError(500, `DomainDataSource ${sourceName}: ${(e as Error).message}`);
    }
    return {
      id, spec, driver,
      ctx: {
        source: { name: sourceName, type: src.type, ...(src.uri ? { uri: src.uri } : {}), info },
        data: { id, relativeURI: spec.relativeURI, columns: spec.columns ?? [], ...(spec.fileFormat ? { fileFormat: spec.fileFormat } : {}) },
      },
    };
  }

  /** Creates a DomainData (Kuscia's CreateDomainData), checked as `ferry apply` checks it. */
  async createDomainData(req: { id: string; name: string; type: string; relativeURI: string; dataSource?: string; attributes?: Record<string, string>; columns?: DataColumn[]; vendor?: string; fileFormat?: string }): Promise<string> {
    const spec: Record<string, unknown> = {
      relativeURI: req.relativeURI, name: req.name || req.id, type: req.type || 'table', author: this.deps.self,
      dataSource: req.dataSource || DEFAULT_DATA_SOURCE,
      ...(req.attributes && Object.keys(req.attributes).length ? { attributes: req.attributes } : {}),
      ...(req.columns?.length ? { columns: req.columns.map((c) => ({ name: c.name, type: c.type, ...(c.comment ? { comment: c.comment } : {}), ...(c.notNullable ? { notNullable: true } : {}) })) } : {}),
      ...(req.vendor ? { vendor: req.vendor } : {}),
      ...(req.fileFormat && req.fileFormat !== 'UNKNOWN' ? { fileFormat: req.fileFormat } : {}),
    };
    if (!(await this.deps.store.get('DomainDataSource', spec.dataSource as string))) throw new MeshError(404, `datasource_id: DomainDataSource ${String(spec.dataSource)} does not exist in ${this.deps.self}`);
    try {
      await applyDocuments(this.deps.store, [{ apiVersion: KUSCIA_API_VERSION, kind: 'DomainData', metadata: { name: req.id }, spec }], { domain: this.deps.self });
    } catch (e) {
      throw new MeshError(400, (e as Error).message.replace(/^document 1 \(DomainData\/[^)]*\): /, ''));
    }
    return req.id;
  }

  async domainData(id: string): Promise<StoredResource | undefined> {
    return this.deps.store.get('DomainData', id);
  }
}
