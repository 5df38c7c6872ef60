// Type URLs and names Ferry uses in Envoy configuration.
export const TYPE = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  routeConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  scopedRouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  tlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
  tcpProxy: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  rbac: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
  rbacPerRoute: 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
  bandwidthLimit: 'type.googleapis.com/envoy.extensions.filters.http.bandwidth_limit.v3.BandwidthLimit',
  upstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  downstreamTls: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  spiffeValidator: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
  httpProtocolOptions: 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  fileAccessLog: 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog',
  earlyHeaderMutation: 'type.googleapis.com/envoy.extensions.http.early_header_mutation.header_mutation.v3.HeaderMutation',
} as const;

/**
 * xDS resource types in the order a push applies them: what is used before
 * what uses it. Scopes (SRDS) before route configurations: Envoy asks for a
 * scope's route configuration only once it holds the scope.
 */
export const PUSH_ORDER = [TYPE.cluster, TYPE.secret, TYPE.listener, TYPE.scopedRouteConfiguration, TYPE.routeConfiguration] as const;
export type ResourceTypeUrl = (typeof PUSH_ORDER)[number];

export const SHORT_TYPE_NAME: Record<ResourceTypeUrl, string> = {
  [TYPE.cluster]: 'clusters',
  [TYPE.secret]: 'secrets',
  [TYPE.listener]: 'listeners',
  [TYPE.routeConfiguration]: 'routes',
  [TYPE.scopedRouteConfiguration]: 'scoped_routes',
};

export const SECRET = {
  gatewayCert: 'gateway-cert',
  partnerTrust: 'partner-trust',
  peerCa: (domain: string) => `ca-${domain}`,
} as const;

export const LISTENER = { public: 'public', internal: 'internal' } as const;

export function spiffeId(domain: string): string {
  return `spiffe://${domain}/ferry/gateway`;
}
