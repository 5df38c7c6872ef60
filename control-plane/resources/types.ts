// The resource contract of shared/DESIGN.md: Kuscia kinds plus a Kubernetes-shaped Service.

export const KUSCIA_API_VERSION = 'kuscia.secretflow/v1alpha1';

export type GatewayKind = 'Domain' | 'ClusterDomainRoute' | 'DomainRoute' | 'Service';
/** The job kinds (control-plane/jobs, control-plane/runtime): stored like the others, never translated. */
export type JobKind = 'KusciaJob' | 'KusciaTask' | 'AppImage';
/** The DataMesh kinds (control-plane/datamesh, docs/datamesh.md): stored, checked by their part, never translated. */
export type DataKind = 'DomainDataSource' | 'DomainData' | 'DomainDataGrant';
export type Kind = GatewayKind | JobKind | DataKind;
/** The kinds the gateway (translation, tokens) reads. */
export const GATEWAY_KINDS: readonly GatewayKind[] = ['Domain', 'ClusterDomainRoute', 'DomainRoute', 'Service'];
export const KINDS: readonly Kind[] = ['Domain', 'ClusterDomainRoute', 'DomainRoute', 'Service', 'KusciaJob', 'KusciaTask', 'AppImage', 'DomainDataSource', 'DomainData', 'DomainDataGrant'];

export interface Metadata {
  name: string;
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  /** Set by the store (control-plane/store/store.ts); a writer names it to write only over that version. */
  resourceVersion?: string;
}

export interface DomainSpec {
  /** null only before validation (Kuscia's `role:` with no value): validation drops it. */
  role?: '' | 'partner' | null;
  /** base64 of the partner's CA certificate PEM (what `ferry cert export` prints). */
  cert?: string;
  master?: string;
  /** Kuscia's fields, kept and not used by Ferry (a condition says so). */
  authCenter?: { authenticationType?: string; tokenGenMethod?: string };
  resourceQuota?: { podMaxCount?: number };
  interConnProtocols?: ('kuscia' | 'bfia')[];
}

export interface RoutePort {
  name: string;
  port: number;
  protocol: 'HTTP' | 'GRPC';
  isTLS?: boolean;
  /** null only before validation (Kuscia's empty `pathPrefix:`): validation drops it. */
  pathPrefix?: string | null;
}

export interface RouteSpec {
  source: string;
  destination: string;
  /** '' only before validation (dropped); 'bfia' is accepted and not served. */
  interConnProtocol?: 'kuscia' | 'bfia' | '';
  endpoint: { host: string; ports: RoutePort[] };
  authenticationType: 'MTLS' | 'Token' | 'None';
  /** destinationPublicKey/sourcePublicKey: written by Kuscia's controller, kept; Ferry takes keys from Domain certificates. */
  tokenConfig?: { tokenGenMethod?: string; rollingUpdatePeriod?: number; destinationPublicKey?: string; sourcePublicKey?: string };
  /** transitMethod is always set after validation (Kuscia's default THIRD-DOMAIN). */
  transit?: { transitMethod: 'THIRD-DOMAIN' | 'REVERSE-TUNNEL'; domain?: { domainID: string } };
  /**
   * Kuscia's field. Ferry reads tlsCA on an outbound Token route over TLS: the CA
   * of a TLS-terminating gateway at the endpoint (base64 PEM). The rest is kept, ignored.
   */
  mTLSConfig?: { tlsCA?: string; sourceClientCert?: string; sourceClientPrivateKey?: string };
  requestHeadersToAdd?: Record<string, string>;
  /** Kuscia's; kept, not used by Ferry (conditions say so). */
  bodyEncryption?: { algorithm?: 'AES' | 'SM4' };
  sourceWhiteIPList?: string[];
}

export interface ServiceSpec {
  type: 'ExternalName';
  externalName: string;
  externalIPs?: string[];
  ports: { name?: string; port: number; protocol?: string }[];
}

interface Base<K extends Kind, S> {
  apiVersion: string;
  kind: K;
  metadata: Metadata;
  spec: S;
}

export type DomainResource = Base<'Domain', DomainSpec>;
export type RouteResource = Base<'ClusterDomainRoute' | 'DomainRoute', RouteSpec>;
export type ServiceResource = Base<'Service', ServiceSpec>;
/** KusciaJob, KusciaTask, AppImage: their specs are checked by their own parts (jobs/spec.ts, runtime/render.ts). */
export type JobResource = Base<JobKind, Record<string, unknown>>;
/** DomainDataSource, DomainData, DomainDataGrant: typed by datamesh/spec.ts. */
export type DataResource = Base<DataKind, Record<string, unknown>>;
export type Resource = DomainResource | RouteResource | ServiceResource | JobResource | DataResource;

/** Annotation on a Service listing the partner domains that may call it. */
export const ACCESS_DOMAIN_ANNOTATION = 'kuscia.secretflow/access-domain';
export const PROTOCOL_ANNOTATION = 'kuscia.secretflow/protocol';
/** Ferry's own: how long a request/stream to this Service may stay idle (default 1h). */
export const IDLE_TIMEOUT_ANNOTATION = 'ferry.secretflow/idle-timeout';
/** Ferry's own: total time a request to this Service may take (default: none, streams run as long as they need). */
export const TIMEOUT_ANNOTATION = 'ferry.secretflow/timeout';
/** Ferry's own, on an outbound route: bandwidth cap on that route's traffic, both directions together ("8MiB/s", "100Mbit/s"). */
export const BANDWIDTH_ANNOTATION = 'ferry.secretflow/bandwidth-limit';
/**
 * Ferry's own, on an outbound route: local ports for engines that can neither
 * set Host nor use a proxy, "19000:echo, 19001:link/tcp" (127.0.0.1:19000 ->
 * echo.<peer>.svc over HTTP; 127.0.0.1:19001 -> link.<peer>.svc as raw TCP).
 */
export const LOCAL_PORTS_ANNOTATION = 'ferry.secretflow/local-ports';
/** On an outbound route: reach the endpoint through this HTTP forward proxy (CONNECT), e.g. "http://proxy.bank.example:3128". */
export const PROXY_ANNOTATION = 'ferry.secretflow/proxy';

/** On a partner Domain: "ferry" or "kuscia", what runs at the partner's gateway (else told by its CA). */
export const GATEWAY_ANNOTATION = 'ferry.secretflow/gateway';
/** Service names Ferry uses for itself on every domain: not available to Services. */
export const RESERVED_SERVICE_NAMES = ['kuscia-handshake', 'ferry-relay', 'ferry-tunnel', 'ferry-diagnose', 'ferry-interop', 'ferry-datamesh'];
/** The built-in service every authenticated partner may call: `ferry diagnose network` measures a link with it. */
export const DIAGNOSE_SERVICE = 'ferry-diagnose';
/** The built-in service of the job protocol (control-plane/jobs, docs/jobs.md): every authenticated partner may call it. */
export const INTEROP_SERVICE = 'ferry-interop';
/** The built-in service of the grant protocol (control-plane/datamesh, docs/datamesh.md): authors push their grants to grantees. */
export const DATAMESH_SERVICE = 'ferry-datamesh';

/** Everything the translator reads: the stored resources, grouped by kind. */
export interface ResourceSet {
  domains: DomainResource[];
  routes: RouteResource[];
  services: ServiceResource[];
}

export function groupResources(all: readonly Resource[]): ResourceSet {
  const set: ResourceSet = { domains: [], routes: [], services: [] };
  for (const r of all) {
    if (r.kind === 'Domain') set.domains.push(r);
    else if (r.kind === 'Service') set.services.push(r);
    else if (r.kind === 'ClusterDomainRoute' || r.kind === 'DomainRoute') set.routes.push(r);
  }
  const byName = (a: Resource, b: Resource) => a.metadata.name.localeCompare(b.metadata.name);
  set.domains.sort(byName);
  set.routes.sort(byName);
  set.services.sort(byName);
  return set;
}
