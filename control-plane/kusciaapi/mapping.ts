// KusciaAPI messages <-> Ferry resources, pure (golden-tested in
// test/golden/kusciaapi). A KusciaAPI Domain is Ferry's Domain; a KusciaAPI
// DomainRoute is Ferry's ClusterDomainRoute <source>-<destination>. Fields
// Ferry cannot honour are refused by name, never dropped.
import { KUSCIA_API_VERSION, type Resource, type DomainResource, type RouteResource, type RoutePort, type RouteSpec } from '../resources/types.ts';
import type { StoredResource } from '../store/store.ts';
import { validateResource, ValidationError } from '../resources/validate.ts';
import { Code, KusciaError, validation } from './codes.ts';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const routeName = (source: string, destination: string) => `${source}-${destination}`;

export function requireField(req: Msg, field: string, label = field): string {
  const v = req[field];
  if (typeof v !== 'string' || v === '') throw validation(label, 'is required');
  return v;
}

export function domainResource(req: Msg): DomainResource {
  const name = requireField(req, 'domain_id');
  if (req.role !== '' && req.role !== 'partner') throw validation('role', `must be "" (a domain of this node) or "partner" (got ${JSON.stringify(req.role)})`);
  const spec: DomainResource['spec'] = {};
  if (req.role) spec.role = 'partner';
  if (req.cert) spec.cert = req.cert;
  if (req.master_domain_id) spec.master = req.master_domain_id;
  return { apiVersion: KUSCIA_API_VERSION, kind: 'Domain', metadata: { name }, spec };
}

export function domainData(r: StoredResource): Msg {
  const spec = r.spec as DomainResource['spec'];
  return {
    domain_id: r.metadata.name,
    role: spec.role ?? '',
    cert: spec.cert ?? '',
    node_statuses: [],
    deploy_token_statuses: [],
    annotations: r.metadata.annotations ?? {},
    master_domain_id: spec.master ?? '',
  };
}

export function domainSummary(r: StoredResource): Msg {
  const d = domainData(r);
  return { domain_id: d.domain_id, role: d.role, cert: d.cert, node_statuses: [] };
}

const PROTOCOLS: Record<string, { protocol: RoutePort['protocol']; tls: boolean }> = {
  '': { protocol: 'HTTP', tls: false },
  HTTP: { protocol: 'HTTP', tls: false },
  HTTPS: { protocol: 'HTTP', tls: true },
  GRPC: { protocol: 'GRPC', tls: false },
  GRPCS: { protocol: 'GRPC', tls: true },
};

const isEmpty = (m: Msg | null | undefined) => !m || Object.values(m).every((v) => v === '' || v === 0 || v === '0' || v === false || v === null || (Array.isArray(v) && v.length === 0));

export function routeResource(req: Msg): RouteResource {
  const source = requireField(req, 'source');
  const destination = requireField(req, 'destination');
  const auth = req.authentication_type === '' ? undefined : req.authentication_type;
  if (auth === undefined) throw validation('authentication_type', 'is required: "MTLS" or "Token"');
  if (!['MTLS', 'Token', 'None'].includes(auth)) throw validation('authentication_type', `must be "MTLS" or "Token" (got ${JSON.stringify(auth)})`);
  const spec: RouteSpec = { source, destination, authenticationType: auth } as RouteSpec;
  if (!isEmpty(req.endpoint)) {
    const ports = (req.endpoint.ports as Msg[]).map((p, i): RoutePort => {
      const proto = PROTOCOLS[String(p.protocol).toUpperCase()];
      if (!proto) throw validation(`endpoint.ports[${i}].protocol`, `must be HTTP, HTTPS, GRPC or GRPCS (got ${JSON.stringify(p.protocol)})`);
      const port: RoutePort = { name: p.name || (proto.tls ? 'https' : 'http'), port: p.port, protocol: proto.protocol };
      if (proto.tls || p.isTLS) port.isTLS = true;
      if (p.path_prefix) port.pathPrefix = p.path_prefix;
      return port;
    });
    spec.endpoint = { host: req.endpoint.host, ports };
  }
  const token = req.token_config as Msg | null;
  if (token?.destination_public_key) throw validation('token_config.destination_public_key', "Ferry takes each domain's key from its CA certificate (the Domain's cert): leave it empty");
  if (token?.source_public_key) throw validation('token_config.source_public_key', "Ferry takes each domain's key from its CA certificate (the Domain's cert): leave it empty");
  if (auth === 'Token') {
    spec.tokenConfig = { tokenGenMethod: token?.token_gen_method || 'RSA-GEN' };
    if (token?.rolling_update_period) spec.tokenConfig.rollingUpdatePeriod = token.rolling_update_period;
  } else if (!isEmpty(token)) {
    spec.tokenConfig = { ...(token!.token_gen_method ? { tokenGenMethod: token!.token_gen_method } : {}), ...(token!.rolling_update_period ? { rollingUpdatePeriod: token!.rolling_update_period } : {}) };
  }
  const mtls = req.mtls_config as Msg | null;
  if (mtls?.source_client_cert) throw validation('mtls_config.source_client_cert', "Ferry presents its own gateway certificate (issued by this domain's CA, renewed by the node): leave it empty");
  if (mtls?.source_client_private_key) throw validation('mtls_config.source_client_private_key', "Ferry presents its own gateway certificate and never takes a private key over the API: leave it empty");
  if (mtls?.tls_ca) spec.mTLSConfig = { tlsCA: mtls.tls_ca };
  const transit = req.transit as Msg | null;
  if (transit?.transit_method) {
    if (transit.transit_method !== 'THIRD-DOMAIN' && transit.transit_method !== 'REVERSE-TUNNEL') {
      throw validation('transit.transit_method', `must be "THIRD-DOMAIN" or "REVERSE-TUNNEL" (got ${JSON.stringify(transit.transit_method)})`);
    }
    spec.transit = { transitMethod: transit.transit_method };
    if (transit.domain?.domain_id) spec.transit.domain = { domainID: transit.domain.domain_id };
  } else if (transit?.domain?.domain_id) {
    throw validation('transit.transit_method', 'is required with transit.domain: "THIRD-DOMAIN"');
  }
  if (req.body_encryption?.algorithm) throw validation('body_encryption.algorithm', 'Ferry keeps TLS end to end (relays included) and does not encrypt bodies: remove body_encryption');
  return { apiVersion: KUSCIA_API_VERSION, kind: 'ClusterDomainRoute', metadata: { name: routeName(source, destination) }, spec };
}

/** Kuscia's route status from the Ready condition the translator writes: Succeeded only when it holds for the current spec. */
export function routeStatus(r: StoredResource): { status: 'Succeeded' | 'Failed'; reason: string } {
  const ready = r.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return { status: 'Failed', reason: 'not translated yet: the node has not written a Ready condition for this route' };
  if (r.status?.observedGeneration !== r.metadata.generation) return { status: 'Failed', reason: `the node has not translated the current spec yet (generation ${r.metadata.generation}); last: ${ready.message}` };
  return { status: ready.status === 'True' ? 'Succeeded' : 'Failed', reason: ready.message };
}

export function routeData(r: StoredResource): Msg {
  const spec = r.spec as RouteSpec;
  const authTLS = spec.authenticationType === 'MTLS';
  return {
    name: r.metadata.name,
    authentication_type: spec.authenticationType,
    destination: spec.destination,
    endpoint: spec.endpoint
      ? { host: spec.endpoint.host, ports: spec.endpoint.ports.map((p) => ({ name: p.name, port: p.port, protocol: p.protocol, isTLS: p.isTLS ?? authTLS, path_prefix: p.pathPrefix ?? '' })) }
      : null,
    source: spec.source,
    token_config: spec.tokenConfig ? { destination_public_key: '', rolling_update_period: spec.tokenConfig.rollingUpdatePeriod ?? 0, source_public_key: '', token_gen_method: spec.tokenConfig.tokenGenMethod ?? '' } : null,
    mtls_config: spec.mTLSConfig?.tlsCA ? { tls_ca: spec.mTLSConfig.tlsCA, source_client_private_key: '', source_client_cert: '' } : null,
    status: routeStatus(r),
    transit: spec.transit ? { transit_method: spec.transit.transitMethod, domain: spec.transit.domain ? { domain_id: spec.transit.domain.domainID } : null } : null,
    body_encryption: null,
  };
}

const FERRY_TO_KUSCIA: Record<string, string> = {
  mTLSConfig: 'mtls_config', tlsCA: 'tls_ca', domainID: 'domain_id', isTLS: 'isTLS', master: 'master_domain_id',
  taskID: 'task_id', scheduleConfig: 'schedule_config', lifecycleSeconds: 'task_timeout_seconds', retryIntervalSeconds: 'resource_reallocation_interval_seconds',
  relativeURI: 'relative_uri', dataSource: 'datasource_id', partitions: 'partition', domainDataID: 'domaindata_id', flowID: 'flow_id',
};

/** A Ferry field path (spec.tokenConfig.tokenGenMethod) in KusciaAPI's names (token_config.token_gen_method). */
export function kusciaPath(path: string, nameField: string): string {
  if (path === 'metadata.name') return nameField;
  return path.replace(/^spec\./, '').split('.').map((seg) => {
    const [, word, index = ''] = /^([^[]*)(.*)$/.exec(seg)!;
    return (FERRY_TO_KUSCIA[word!] ?? word!.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)) + index;
  }).join('.');
}

/** A Ferry validation message with every field path in it renamed to KusciaAPI's. */
export function kusciaMessage(message: string, nameField: string): string {
  return message
    .replace(/\b(?:spec|metadata)\.[A-Za-z0-9_.[\]]*[A-Za-z0-9\]]/g, (p) => (p.startsWith('metadata.') && p !== 'metadata.name' ? p : kusciaPath(p, nameField)))
    .replace(/\btransitMethod\b/g, 'transit_method').replace(/\bdomainID\b/g, 'domain_id')
    // KusciaAPI's deploy template has no spec level: its containers sit beside its name.
    .replace(/(deploy_templates\[\d+\])\.spec\./g, '$1.');
}

/** Checked as `ferry apply` checks it; a Ferry field path in the error becomes KusciaAPI's. */
export function checkedResource(r: Resource, self: string, nameField: string): Resource {
  try {
    return validateResource(r, { domain: self });
  } catch (e) {
    if (e instanceof ValidationError) throw new KusciaError(Code.RequestValidate, kusciaMessage(e.message, nameField));
    throw e;
  }
}
