// The KusciaAPI service layer both transports (http.ts, grpc.ts) serve: one
// table of calls, each with its HTTP path, gRPC service and method, message
// types and handler. A handler returns the response's data (or nothing) or
// throws a KusciaError; the transport wraps either in Kuscia's envelope.
import type { ResourceStore, StoredResource } from '../store/store.ts';
import type { Resource } from '../resources/types.ts';
import { Code, KusciaError, validation } from './codes.ts';
import type { Call, Msg, ServiceDeps, StreamCall } from './call.ts';

export type { Call, ServiceDeps, StreamCall } from './call.ts';
import { jobCalls } from './job-service.ts';
import { appImageCalls } from './app-image-service.ts';
import { dataSourceCalls, domainDataCalls } from './data-service.ts';
import { grantCalls } from './grant-service.ts';
import { watchJobs } from './job-watch.ts';
import { checkedResource, domainData, domainResource, domainSummary, requireField, routeData, routeName, routeResource, routeStatus } from './mapping.ts';



export function kusciaStreams(deps: ServiceDeps): StreamCall[] {
  return [{
    service: 'JobService', method: 'WatchJob', path: '/api/v1/job/watch', request: 'WatchJobRequest', response: 'WatchJobEventResponse',
    start: (req, emit, end) => watchJobs(deps.store, deps.domain, req, emit, end),
  }];
}

export function kusciaCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;

  const check = (r: Resource, nameField: string): Resource => checkedResource(r, deps.domain, nameField);
  const write = async (r: Resource) => {
    await store.apply([r]);
    await deps.seen();
  };
  const getDomain = async (id: string, field = 'domain_id'): Promise<StoredResource> => {
    const d = await store.get('Domain', id);
    if (!d) throw new KusciaError(Code.DomainNotExists, `${field}: domain ${id} does not exist`);
    return d;
  };
  const routeKey = (req: Msg, prefix = '') => {
    const source = requireField(req, 'source', `${prefix}source`);
    const destination = requireField(req, 'destination', `${prefix}destination`);
    return routeName(source, destination);
  };
  const getRoute = async (name: string, field: string): Promise<StoredResource> => {
    const r = await store.get('ClusterDomainRoute', name);
    if (!r) throw new KusciaError(Code.DomainRouteNotExists, `${field}: route ${name} does not exist`);
    return r;
  };

  return [
    ...jobCalls(deps),
    ...appImageCalls(deps),
    ...dataSourceCalls(deps),
    ...domainDataCalls(deps),
    ...grantCalls(deps),
    {
      service: 'HealthService', method: 'healthZ', path: '/healthZ', request: 'HealthRequest', response: 'HealthResponse', failCode: Code.ForUnexpected,
      handle: async () => ({ ready: true }),
    },
    {
      service: 'DomainService', method: 'CreateDomain', path: '/api/v1/domain/create', request: 'CreateDomainRequest', response: 'CreateDomainResponse', failCode: Code.CreateDomain,
      handle: async (req) => {
        const r = check(domainResource(req), 'domain_id');
        if (await store.get('Domain', r.metadata.name)) throw new KusciaError(Code.DomainExists, `domain_id: domain ${r.metadata.name} already exists: change it with /api/v1/domain/update`);
        await write(r);
        return undefined;
      },
    },
    {
      service: 'DomainService', method: 'UpdateDomain', path: '/api/v1/domain/update', request: 'UpdateDomainRequest', response: 'UpdateDomainResponse', failCode: Code.UpdateDomain,
      handle: async (req) => {
        const r = check(domainResource(req), 'domain_id');
        const old = await getDomain(r.metadata.name);
        // Annotations and labels set with Ferry's own tools stay.
        r.metadata = { ...old.metadata, name: r.metadata.name };
        delete r.metadata.resourceVersion;
        await write(r);
        return undefined;
      },
    },
    {
      service: 'DomainService', method: 'DeleteDomain', path: '/api/v1/domain/delete', request: 'DeleteDomainRequest', response: 'DeleteDomainResponse', failCode: Code.DeleteDomain,
      handle: async (req) => {
        const id = requireField(req, 'domain_id');
        if (id === deps.domain) throw validation('domain_id', `${id} is this node's own domain; it cannot be deleted through the API`);
        if (!(await store.delete('Domain', id))) throw new KusciaError(Code.DomainNotExists, `domain_id: domain ${id} does not exist`);
        await deps.seen();
        return undefined;
      },
    },
    {
      service: 'DomainService', method: 'QueryDomain', path: '/api/v1/domain/query', request: 'QueryDomainRequest', response: 'QueryDomainResponse', failCode: Code.QueryDomain,
      handle: async (req) => domainData(await getDomain(requireField(req, 'domain_id'))),
    },
    {
      service: 'DomainService', method: 'BatchQueryDomain', path: '/api/v1/domain/batchQuery', request: 'BatchQueryDomainRequest', response: 'BatchQueryDomainResponse', failCode: Code.QueryDomain,
      handle: async (req) => {
        const ids = req.domain_ids as string[];
        if (ids.length === 0) throw validation('domain_ids', 'is required: list at least one domain id');
        const domains = [];
        for (const [i, id] of ids.entries()) {
          if (!id) throw validation(`domain_ids[${i}]`, 'is empty');
          domains.push(domainSummary(await getDomain(id, `domain_ids[${i}]`)));
        }
        return { domains };
      },
    },
    {
      service: 'DomainRouteService', method: 'CreateDomainRoute', path: '/api/v1/route/create', request: 'CreateDomainRouteRequest', response: 'CreateDomainRouteResponse', failCode: Code.CreateDomainRoute,
      handle: async (req) => {
        const r = check(routeResource(req), 'source');
        if (await store.get('ClusterDomainRoute', r.metadata.name)) throw new KusciaError(Code.DomainRouteExists, `source, destination: route ${r.metadata.name} already exists: delete it first to change it`);
        await write(r);
        return { name: r.metadata.name };
      },
    },
    {
      service: 'DomainRouteService', method: 'DeleteDomainRoute', path: '/api/v1/route/delete', request: 'DeleteDomainRouteRequest', response: 'DeleteDomainRouteResponse', failCode: Code.DeleteDomainRoute,
      handle: async (req) => {
        const name = routeKey(req);
        if (!(await store.delete('ClusterDomainRoute', name))) throw new KusciaError(Code.DomainRouteNotExists, `source, destination: route ${name} does not exist`);
        await deps.seen();
        return undefined;
      },
    },
    {
      service: 'DomainRouteService', method: 'QueryDomainRoute', path: '/api/v1/route/query', request: 'QueryDomainRouteRequest', response: 'QueryDomainRouteResponse', failCode: Code.QueryDomainRoute,
      handle: async (req) => routeData(await getRoute(routeKey(req), 'source, destination')),
    },
    {
      service: 'DomainRouteService', method: 'BatchQueryDomainRouteStatus', path: '/api/v1/route/status/batchQuery', request: 'BatchQueryDomainRouteStatusRequest', response: 'BatchQueryDomainRouteStatusResponse', failCode: Code.QueryDomainRouteStatus,
      handle: async (req) => {
        const keys = req.route_keys as Msg[];
        if (keys.length === 0) throw validation('route_keys', 'is required: list at least one {source, destination}');
        const routes = [];
        for (const [i, key] of keys.entries()) {
          const r = await getRoute(routeKey(key, `route_keys[${i}].`), `route_keys[${i}]`);
          const spec = r.spec as { source: string; destination: string };
          routes.push({ name: r.metadata.name, destination: spec.destination, source: spec.source, status: routeStatus(r) });
        }
        return { routes };
      },
    },
  ];
}

/** Runs a call: the response message (status + data) as a plain object, whatever happened. */
export async function runCall(call: Call, req: Msg, onUnexpected: (e: unknown) => void): Promise<Msg> {
  try {
    const data = await call.handle(req);
    return { status: { code: Code.SUCCESS, message: 'success', details: [] }, ...(data ? { data } : {}) };
  } catch (e) {
    return errorResponse(e, call.failCode, onUnexpected);
  }
}

export function errorResponse(e: unknown, failCode: number, onUnexpected: (e: unknown) => void = () => {}): Msg {
  if (e instanceof KusciaError) return { status: { code: e.code, message: e.message, details: [] } };
  onUnexpected(e);
  return { status: { code: failCode, message: (e as Error)?.message ?? String(e), details: [] } };
}
