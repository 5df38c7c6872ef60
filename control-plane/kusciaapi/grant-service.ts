// KusciaAPI's DomainDataGrant calls on Ferry's DomainDataGrant, through the
// store. This node is the author: it signs each grant with the domain key
// (Kuscia's scheme, datamesh/grant-sign.ts) and the grant sync sends it to the
// grantee. A signature in a request must be that signature; answers carry it.
import type { StoredResource } from '../store/store.ts';
import type { DomainDataGrantSpec, DomainDataSpec } from '../datamesh/spec.ts';
import { signGrant } from '../datamesh/grant-sign.ts';
import { SYNCED_FROM_ANNOTATION } from '../datamesh/grant-server.ts';
import { Code, KusciaError, validation } from './codes.ts';
import { requireField } from './mapping.ts';
import { grantData, grantResource, ownDomain } from './data-mapping.ts';
import { applyChecked } from './data-service.ts';
import type { Call, Msg, ServiceDeps } from './call.ts';

const call = (method: string, path: string, failCode: number, handle: Call['handle']): Call => ({
  service: 'DomainDataGrantService', method, path, request: `${method}Request`, response: `${method}Response`, failCode, handle,
});

export function grantCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;
  const get = async (id: string, field: string): Promise<StoredResource> => {
    const r = await store.get('DomainDataGrant', id);
    if (!r) throw new KusciaError(Code.DomainDataGrantNotExists, `${field}: domain data grant ${id} does not exist in ${deps.domain}`);
    return r;
  };
  /** The author's signature: this node's over the spec as stored; a received grant's as it came. */
  const signature = (r: StoredResource): string => {
    const spec = r.spec as unknown as DomainDataGrantSpec;
    if (spec.author !== deps.domain || r.metadata.annotations?.[SYNCED_FROM_ANNOTATION]) return spec.signature ?? '';
    return deps.domainKey ? signGrant({ ...spec, signature: '' }, deps.domainKey()) : '';
  };
  const answer = (r: StoredResource) => grantData(r, deps.domain, signature(r));
  /** Built, its DomainData checked, a given signature compared with the node's. */
  const build = async (req: Msg) => {
    const r = grantResource(req, deps.domain);
    const spec = r.spec as unknown as DomainDataGrantSpec;
    if (!(await store.get('DomainData', spec.domainDataID))) throw validation('domaindata_id', `domain data ${spec.domainDataID} does not exist in ${deps.domain}: a grant gives access to an existing DomainData`);
    if (req.signature) {
      const own = deps.domainKey ? signGrant({ ...spec, signature: '' }, deps.domainKey()) : '';
      if (req.signature !== own) throw validation('signature', `is not ${deps.domain}'s signature of this grant: leave it empty, the node signs with the domain key (RSA-SHA256 over the grant, Kuscia's scheme)`);
    }
    return r;
  };
  return [
    call('CreateDomainDataGrant', '/api/v1/domaindatagrant/create', Code.CreateDomainDataGrant, async (req) => {
      const r = await build(req);
      if (await store.get('DomainDataGrant', r.metadata.name)) throw new KusciaError(Code.DomainDataGrantExists, `domaindatagrant_id: domain data grant ${r.metadata.name} already exists: change it with /api/v1/domaindatagrant/update`);
      await applyChecked(deps, r, 'domaindatagrant_id');
      return { domaindatagrant_id: r.metadata.name };
    }),
    call('UpdateDomainDataGrant', '/api/v1/domaindatagrant/update', Code.UpdateDomainDataGrant, async (req) => {
      const id = requireField(req, 'domaindatagrant_id');
      ownDomain(req, deps.domain);
      const old = await get(id, 'domaindatagrant_id');
      const oldSpec = old.spec as unknown as DomainDataGrantSpec;
      if (oldSpec.author !== deps.domain) throw validation('domaindatagrant_id', `domain data grant ${id} was given by ${oldSpec.author}: only its author changes it`);
      if (req.domaindata_id && req.domaindata_id !== oldSpec.domainDataID) throw validation('domaindata_id', `cannot change (grant ${id} gives ${oldSpec.domainDataID}): create another grant`);
      const r = await build(req);
      r.metadata = { ...old.metadata, name: id };
      delete r.metadata.resourceVersion;
      await applyChecked(deps, r, 'domaindatagrant_id');
      return undefined;
    }),
    call('DeleteDomainDataGrant', '/api/v1/domaindatagrant/delete', Code.DeleteDomainDataGrant, async (req) => {
      ownDomain(req, deps.domain);
      const id = requireField(req, 'domaindatagrant_id');
      // Deleting revokes it: the next read is refused, and the grantee's copy goes too (grant sync).
      if (!(await store.delete('DomainDataGrant', id))) throw new KusciaError(Code.DomainDataGrantNotExists, `domaindatagrant_id: domain data grant ${id} does not exist in ${deps.domain}`);
      await deps.seen();
      return undefined;
    }),
    call('QueryDomainDataGrant', '/api/v1/domaindatagrant/query', Code.QueryDomainDataGrant, async (req) => {
      ownDomain(req, deps.domain);
      return answer(await get(requireField(req, 'domaindatagrant_id'), 'domaindatagrant_id'));
    }),
    call('BatchQueryDomainDataGrant', '/api/v1/domaindatagrant/batchQuery', Code.QueryDomainDataGrant, async (req) => {
      const items = req.data as Msg[];
      if (items.length === 0) throw validation('data', 'is required: list at least one {domain_id, domaindatagrant_id}');
      const out = [];
      for (const [i, q] of items.entries()) {
        ownDomain(q, deps.domain, `data[${i}].domain_id`);
        out.push(answer(await get(requireField(q, 'domaindatagrant_id', `data[${i}].domaindatagrant_id`), `data[${i}].domaindatagrant_id`)));
      }
      return out as unknown as Msg;
    }),
    call('ListDomainDataGrant', '/api/v1/domaindatagrant/list', Code.QueryDomainDataGrant, async (req) => {
      const q = (req.data ?? {}) as Msg;
      ownDomain(q, deps.domain, 'data.domain_id');
      const vendors = new Map<string, string>();
      if (q.domaindata_vendor) for (const d of (await store.list('DomainData')).items) vendors.set(d.metadata.name, (d.spec as unknown as DomainDataSpec).vendor ?? '');
      const items = (await store.list('DomainDataGrant')).items.filter((g) => {
        const s = g.spec as unknown as DomainDataGrantSpec;
        return (!q.grant_domain || s.grantDomain === q.grant_domain) && (!q.domaindata_vendor || vendors.get(s.domainDataID) === q.domaindata_vendor);
      });
      return { domaindatagrant_list: items.map(answer) };
    }),
  ];
}
