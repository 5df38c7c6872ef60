// KusciaAPI's DomainDataSource and DomainData calls on Ferry's DataMesh kinds,
// through the store. Writes go through applyDocuments, as `ferry apply`: a
// source's info is sealed before the store sees it; answers never carry its
// secrets (data-mapping.ts shownInfo).
import type { StoredResource } from '../store/store.ts';
import type { Resource } from '../resources/types.ts';
import { ApplyError, applyDocuments } from '../resources/apply.ts';
import { openSourceInfo } from '../datamesh/secrets.ts';
import type { DataSourceInfo, DomainDataGrantSpec, DomainDataSourceSpec, DomainDataSpec } from '../datamesh/spec.ts';
import { Code, KusciaError, validation } from './codes.ts';
import { checkedResource, kusciaMessage, requireField } from './mapping.ts';
import { dataData, dataResource, ownDomain, sourceData, sourceResource } from './data-mapping.ts';
import type { Call, Msg, ServiceDeps } from './call.ts';

const call = (service: string, method: string, path: string, failCode: number, handle: Call['handle']): Call => ({
  service, method, path, request: `${method}Request`, response: `${method}Response`, failCode, handle,
});

/** Checked, then applied as `ferry apply` applies (a source's info sealed); an error names KusciaAPI's field. */
export async function applyChecked(deps: ServiceDeps, r: Resource, nameField: string): Promise<void> {
  checkedResource(structuredClone(r), deps.domain, nameField);
  try {
    await applyDocuments(deps.store, [r], { domain: deps.domain, ...(deps.sourceKey ? { sourceKey: deps.sourceKey } : {}) });
  } catch (e) {
    // The store failing is the call's failure (its code), not the caller's.
    if (!(e instanceof ApplyError)) throw e;
    const m = /^(?:document 1 \([^)]*\): |[A-Za-z]+\/[^:]+: )?(.*)$/s.exec(e.message)![1]!;
    throw new KusciaError(Code.RequestValidate, kusciaMessage(m, nameField));
  }
  await deps.seen();
}

export function dataSourceCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;
  const S = 'DomainDataSourceService';
  const get = async (id: string, field: string): Promise<StoredResource> => {
    const r = await store.get('DomainDataSource', id);
    if (!r) throw new KusciaError(Code.DomainDataSourceNotExists, `${field}: domain data source ${id} does not exist in ${deps.domain}`);
    return r;
  };
  const info = (r: StoredResource): DataSourceInfo | undefined => {
    if (!deps.sourceKey) return undefined;
    try {
      return openSourceInfo(r.metadata.name, r.spec as unknown as DomainDataSourceSpec, deps.sourceKey);
    } catch {
      return undefined; // sealed with another key: shown without its info
    }
  };
  const answer = (r: StoredResource) => sourceData(r, deps.domain, info(r));
  const query = async (q: Msg, prefix: string) => {
    ownDomain(q, deps.domain, `${prefix}domain_id`);
    return answer(await get(requireField(q, 'datasource_id', `${prefix}datasource_id`), `${prefix}datasource_id`));
  };
  return [
    call(S, 'CreateDomainDataSource', '/api/v1/domaindatasource/create', Code.CreateDomainDataSource, async (req) => {
      const r = sourceResource(req, deps.domain);
      if (await store.get('DomainDataSource', r.metadata.name)) throw new KusciaError(Code.DomainDataSourceExists, `datasource_id: domain data source ${r.metadata.name} already exists: change it with /api/v1/domaindatasource/update`);
      await applyChecked(deps, r, 'datasource_id');
      return { datasource_id: r.metadata.name };
    }),
    call(S, 'UpdateDomainDataSource', '/api/v1/domaindatasource/update', Code.UpdateDomainDataSource, async (req) => {
      ownDomain(req, deps.domain);
      const stored = await get(requireField(req, 'datasource_id'), 'datasource_id');
      await applyChecked(deps, sourceResource(req, deps.domain, stored), 'datasource_id');
      return undefined;
    }),
    call(S, 'DeleteDomainDataSource', '/api/v1/domaindatasource/delete', Code.DeleteDomainDataSource, async (req) => {
      ownDomain(req, deps.domain);
      const id = requireField(req, 'datasource_id');
      // A source its DomainData still live in is kept: they would point nowhere.
      const users = (await store.list('DomainData')).items.filter((d) => ((d.spec as unknown as DomainDataSpec).dataSource ?? 'default-data-source') === id).map((d) => d.metadata.name);
      if (users.length) throw validation('datasource_id', `domain data source ${id} holds DomainData ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''}: delete them first (/api/v1/domaindata/delete)`);
      // Kuscia answers success for a source that is not there.
      if (await store.delete('DomainDataSource', id)) await deps.seen();
      return undefined;
    }),
    call(S, 'QueryDomainDataSource', '/api/v1/domaindatasource/query', Code.QueryDomainDataSource, (req) => query(req, '')),
    call(S, 'BatchQueryDomainDataSource', '/api/v1/domaindatasource/batchQuery', Code.BatchQueryDomainDataSource, async (req) => {
      const items = req.data as Msg[];
      if (items.length === 0) throw validation('data', 'is required: list at least one {domain_id, datasource_id}');
      const out = [];
      for (const [i, q] of items.entries()) out.push(await query(q, `data[${i}].`));
      return { datasource_list: out };
    }),
    call(S, 'ListDomainDataSource', '/api/v1/domaindatasource/list', Code.ListDomainDataSource, async (req) => {
      ownDomain(req, deps.domain);
      return { datasource_list: (await store.list('DomainDataSource')).items.map(answer) };
    }),
  ];
}

export function domainDataCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;
  const S = 'DomainDataService';
  const get = async (id: string, field: string, code: number = Code.DomainDataNotExists): Promise<StoredResource> => {
    const r = await store.get('DomainData', id);
    if (!r) throw new KusciaError(code, `${field}: domain data ${id} does not exist in ${deps.domain}`);
    return r;
  };
  /** The source a DomainData names must exist (Kuscia's CheckDomainDataSourceExists). */
  const sourceExists = async (r: Resource) => {
    const source = (r.spec as unknown as DomainDataSpec).dataSource!;
    if (!(await store.get('DomainDataSource', source))) throw new KusciaError(Code.DomainDataSourceNotExists, `datasource_id: domain data source ${source} does not exist in ${deps.domain}: create it first (/api/v1/domaindatasource/create)`);
  };
  const update = async (req: Msg) => {
    ownDomain(req, deps.domain);
    const stored = await get(requireField(req, 'domaindata_id'), 'domaindata_id');
    const r = dataResource(req, deps.domain, stored);
    await sourceExists(r);
    await applyChecked(deps, r, 'domaindata_id');
  };
  const query = async (q: Msg, prefix: string) => {
    ownDomain(q, deps.domain, `${prefix}domain_id`);
    return dataData(await get(requireField(q, 'domaindata_id', `${prefix}domaindata_id`), `${prefix}domaindata_id`), deps.domain);
  };
  /** The DomainData and the grants this domain authored for it (Kuscia's owner references): revoked here, and at the grantee by the sync. */
  const remove = async (id: string) => {
    for (const g of (await store.list('DomainDataGrant')).items) {
      const s = g.spec as unknown as DomainDataGrantSpec;
      if (s.domainDataID === id && s.author === deps.domain) await store.delete('DomainDataGrant', g.metadata.name);
    }
    await store.delete('DomainData', id);
    await deps.seen();
  };
  return [
    call(S, 'CreateDomainData', '/api/v1/domaindata/create', Code.CreateDomainData, async (req) => {
      // Kuscia: creating an id that exists updates it.
      if (req.domaindata_id && (await store.get('DomainData', req.domaindata_id))) {
        await update(req);
        return { domaindata_id: req.domaindata_id };
      }
      const r = dataResource(req, deps.domain);
      await sourceExists(r);
      await applyChecked(deps, r, 'domaindata_id');
      return { domaindata_id: r.metadata.name };
    }),
    call(S, 'UpdateDomainData', '/api/v1/domaindata/update', Code.PatchDomainData, async (req) => {
      await update(req);
      return undefined;
    }),
    call(S, 'DeleteDomainData', '/api/v1/domaindata/delete', Code.DeleteDomainData, async (req) => {
      ownDomain(req, deps.domain);
      const id = requireField(req, 'domaindata_id');
      await get(id, 'domaindata_id');
      await remove(id);
      return undefined;
    }),
    // Kuscia's newer call: the stored data (file, object or table) first, then the DomainData; the data left as it was when its removal fails.
    { ...call(S, 'DeleteDomainDataAndRaw', '/api/v1/domaindata/deleteDataAndRaw', Code.DeleteDomainData, async (req) => {
      ownDomain(req, deps.domain);
      const id = requireField(req, 'domaindata_id');
      await get(id, 'domaindata_id');
      if (!deps.resolveData) throw new KusciaError(Code.DeleteDomainData, 'the DataMesh does not run here: the stored data cannot be removed (use /api/v1/domaindata/delete to remove the DomainData alone)');
      const { driver, ctx } = await deps.resolveData(id).catch((e: Error) => { throw new KusciaError(Code.DeleteDomainData, `domaindata_id: ${e.message}`); });
      if (!driver.deleteData) throw new KusciaError(Code.DeleteDomainData, `domaindata_id: its data source ${ctx.source.name} is of type ${driver.type}, whose driver cannot remove data; nothing was deleted`);
      await driver.deleteData(ctx).catch((e: Error) => { throw new KusciaError(Code.DeleteDomainData, `domaindata_id: removing the data of ${id} failed, nothing was deleted: ${e.message}`); });
      await remove(id);
      return undefined;
    }), request: 'DeleteDomainDataRequest', response: 'DeleteDomainDataResponse' }, // Kuscia's messages for it
    call(S, 'QueryDomainData', '/api/v1/domaindata/query', Code.GetDomainData, (req) => query(req.data ?? {}, 'data.')),
    call(S, 'BatchQueryDomainData', '/api/v1/domaindata/batchQuery', Code.GetDomainData, async (req) => {
      const items = req.data as Msg[];
      if (items.length === 0) throw validation('data', 'is required: list at least one {domain_id, domaindata_id}');
      const out = [];
      for (const [i, q] of items.entries()) {
        ownDomain(q, deps.domain, `data[${i}].domain_id`);
        const r = await store.get('DomainData', requireField(q, 'domaindata_id', `data[${i}].domaindata_id`));
        // Kuscia leaves out the ones that do not exist.
        if (r) out.push(dataData(r, deps.domain));
      }
      return { domaindata_list: out };
    }),
    call(S, 'ListDomainData', '/api/v1/domaindata/list', Code.ListDomainData, async (req) => {
      const q = (req.data ?? {}) as Msg;
      ownDomain(q, deps.domain, 'data.domain_id');
      const items = (await store.list('DomainData')).items.filter((d) => {
        const s = d.spec as unknown as DomainDataSpec;
        return (!q.domaindata_type || s.type === q.domaindata_type) && (!q.domaindata_vendor || (s.vendor ?? '') === q.domaindata_vendor);
      });
      return { domaindata_list: items.map((d) => dataData(d, deps.domain)) };
    }),
  ];
}
