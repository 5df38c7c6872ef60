// Shared pieces of the IR -> Envoy translation: Envoy JSON helpers, the names
// Ferry gives clusters, hosts and stats, and what several resources reuse.
import type { Ir, Peer } from '../translate/ir.ts';
import { TYPE, spiffeId } from './envoy-types.ts';

export type J = Record<string, unknown>;

export interface GatewayKeyMaterial {
  certPem: string;
  keyPem: string;
}

export const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

export const ads = { ads: {}, resource_api_version: 'V3' };

export const sds = (name: string) => ({ name, sds_config: ads });

export const overwrite = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });

export const addIfAbsent = (key: string, value: string) => ({ header: { key, value }, append_action: 'ADD_IF_ABSENT' });

/** `Kuscia-Error-Message: <domain>/<listener> => <cause>` (shared/DESIGN.md). */
export const errorHeader = (at: { domain: string }, listener: string, cause: string) => `${at.domain}/${listener} => ${cause}`;

/**
 * Remembers fn's result per input object. IR objects for unchanged resources
 * are the same objects from one translation to the next (see
 * resources-to-ir.ts), so their Envoy JSON is the same object too, and the
 * snapshot reuses its encoding by identity.
 */
export function memo<K extends object, V>(fn: (k: K) => V): (k: K) => V {
  const cache = new WeakMap<K, V>();
  return (k) => {
    let v = cache.get(k);
    if (v === undefined) {
      v = fn(k);
      cache.set(k, v);
    }
    return v;
  };
}

export function endpointCluster(name: string, hosts: string[], port: number): J {
  return {
    name,
    type: hosts.every((h) => IPV4.test(h)) ? 'STATIC' : 'STRICT_DNS',
    // Consistent hashing: requests carrying one Kuscia-Session-Id reach one endpoint (see sessionAffinity).
    ...(hosts.length > 1 ? { lb_policy: 'RING_HASH' } : {}),
    connect_timeout: '5s',
    dns_lookup_family: 'V4_PREFERRED',
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: hosts.map((host) => ({ endpoint: { address: { socket_address: { address: host, port_value: port } } } })) }],
    },
    // Idle links between organisations cross NATs and firewalls that forget quiet flows.
    upstream_connection_options: { tcp_keepalive: { keepalive_time: 60, keepalive_interval: 20, keepalive_probes: 3 } },
    // Envoy's defaults (1,024 requests/pending per cluster) would refuse the
    // thousands of concurrent task streams one peer link carries.
    circuit_breakers: {
      thresholds: [{ priority: 'DEFAULT', max_connections: 100000, max_pending_requests: 100000, max_requests: 100000, max_retries: 16 }],
    },
  };
}

/**
 * HTTP/2 flow-control windows. A small stream window bounds what one stalled
 * task can park in a gateway (Envoy 1.40's default is 16 MiB); 4 MiB per stream
 * still fills ~80 MB/s on a 50 ms cross-organisation link, and 64 MiB per
 * connection lets many tasks run at full speed on one peer link.
 */
export const H2_WINDOWS = { initial_stream_window_size: 4 * 1024 * 1024, initial_connection_window_size: 64 * 1024 * 1024 };

export function httpOptions(http2: boolean): J {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': TYPE.httpProtocolOptions,
      explicit_http_config: http2
        ? { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' }, allow_connect: true, ...H2_WINDOWS } }
        : { http_protocol_options: {} },
    },
  };
}

/** A Unix-socket upstream (the node's tunnel broker). */
export function pipeCluster(name: string, path: string): J {
  return { name, type: 'STATIC', connect_timeout: '5s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path } } } }] }] } };
}

export function directError(at: { domain: string }, listener: string, status: number, cause: string): J {
  return {
    direct_response: { status },
    response_headers_to_add: [overwrite('Kuscia-Error-Message', errorHeader(at, listener, cause))],
  };
}

/** The same answer for CONNECT requests, which never match a path prefix (listed first). */
export function alsoForConnect(route: J): J[] {
  const { prefix: _prefix, ...rest } = route.match as J;
  return [{ ...route, name: `${route.name}/connect`, match: { ...rest, connect_matcher: {} } }, route];
}

export const kusciaHost = (host: string) => ({ name: 'kuscia-host', string_match: { exact: host } });

/**
 * The caller's identity on the public listener, written by the listener
 * itself before any routing: the URI SANs of the verified client certificate
 * (Envoy joins several with commas, so a certificate with more than one
 * identity matches no partner). Whatever a caller sends under this name is
 * removed first. Route match and RBAC read this, never Kuscia-Source.
 */
export const PEER_IDENTITY = 'x-ferry-peer-identity';

/** Set on a sender's request when the last link check found the path refusing (relay-check.ts): read by its local reply mapper. */
export const LINK_CHECK_HEADER = 'x-ferry-link-check';

/** The Host and Kuscia-Host the caller sent, kept for error messages (routing may replace them). */
export const SENT_HOST = 'x-ferry-sent-host';
export const SENT_KUSCIA_HOST = 'x-ferry-sent-kuscia-host';

/** The request comes from partner `domain`, by its certificate. */
export const peerIs = (domain: string): J => ({ name: PEER_IDENTITY, string_match: { exact: spiffeId(domain) } });

/** A certificate with several URI SANs (several identities): never a partner. */
export const SEVERAL_IDENTITIES: J = { name: PEER_IDENTITY, string_match: { contains: ',' } };

/** Several Kuscia-Host values (Envoy matches their comma-joined list): refused, whichever the route would pick. */
export const SEVERAL_KUSCIA_HOSTS: J = { name: 'kuscia-host', string_match: { contains: ',' } };
export const ONE_KUSCIA_HOST: J = { ...SEVERAL_KUSCIA_HOSTS, invert_match: true };

const setHeader = (key: string, value: string, action = 'OVERWRITE_IF_EXISTS_OR_ADD'): J => ({ append: { header: { key, value }, append_action: action } });

/**
 * Runs on the public listener before the route is chosen (Envoy's early
 * header mutation): the identity header from the certificate, and Kuscia-Host
 * from Host when the sender set none (Kuscia senders rewrite Host to the
 * endpoint host and carry the target in Kuscia-Host; the public routes pick
 * their virtual host by Kuscia-Host). An empty value adds nothing.
 */
export const PUBLIC_EARLY_MUTATION: J = {
  name: 'ferry.public-identity',
  typed_config: {
    '@type': TYPE.earlyHeaderMutation,
    mutations: [
      { remove: PEER_IDENTITY },
      { remove: SENT_HOST },
      { remove: SENT_KUSCIA_HOST },
      { remove: LINK_CHECK_HEADER },
      setHeader(PEER_IDENTITY, '%DOWNSTREAM_PEER_URI_SAN%'),
      setHeader(SENT_HOST, '%REQ(:authority)%'),
      setHeader(SENT_KUSCIA_HOST, '%REQ(kuscia-host)%'),
      setHeader('kuscia-host', '%REQ(:authority)%', 'ADD_IF_ABSENT'),
    ],
  },
};

/** Internal headers of the public listener: never passed on. */
export const PUBLIC_INTERNAL_HEADERS = [PEER_IDENTITY, SENT_HOST, SENT_KUSCIA_HOST];

/** Which header named the target, for error messages. */
export const targetNamedBy = `Kuscia-Host "%REQ(${SENT_KUSCIA_HOST})%", Host "%REQ(${SENT_HOST})%"; Kuscia-Host decides, Host when Kuscia-Host is absent`;

/**
 * Route stat names carry the labels docs/metrics.md documents, split on dots
 * (domain, service and route names are DNS labels: they have no dots):
 * vhost.<vh>.route.inbound.<peer>.<service>.* and vhost.<vh>.route.outbound.<peer>.<route>.*
 */
export const inboundStats = (peer: string, service: string) => `inbound.${peer}.${service}`;

/** Route metadata the access logs print: which partner, which domain is called, which service. */
export const routeMeta = (meta: { peer: string; destination: string; service?: string; direction: 'inbound' | 'outbound' }): J => ({ metadata: { filter_metadata: { ferry: meta } } });

export const outboundStats = (p: Peer) => `outbound.${p.domain}.${p.route.slice(p.route.indexOf('/') + 1)}`;

/** Per-peer cluster: HTTP/2 over mTLS to the peer's public port; every task shares it. */
/**
 * The ALPN token a Ferry node offers besides h2 when it dials a partner. The
 * partner's public listener uses it to give each partner a filter chain of
 * its own (TLS happens after chain selection, so this only chooses where the
 * certificate is verified: the chain trusts that partner's CA alone).
 */
export const partnerAlpn = (domain: string) => `ferry-from-${domain}`;

export const tunnelListenerName = (domain: string) => `tunnel-${domain}`;

/** The relay authority: CONNECT ferry-relay.<destination>.svc asks a relay to carry the tunnel to the destination. */
export const relayHost = (destination: string) => `ferry-relay.${destination}.svc`;

/** CONNECT ferry-tunnel.<domain>.svc: a reverse tunnel dialled into <domain>. */
export const tunnelHost = (domain: string) => `ferry-tunnel.${domain}.svc`;

export const proxyClusterName = (domain: string) => `proxy-to-${domain}`;

export const relayClusterName = (destination: string) => `relay-to-${destination}`;

export const tunnelInClusterName = (peer: string) => `tunnel-in-${peer}`;

/** This node's internal listener as an upstream (HTTP/2 cleartext, loopback): local ports of Token routes go through it. */
export const INTERNAL_LOOPBACK = 'ferry-internal';

/** The node's handshake server (control-plane/tokens), on a Unix socket only Envoy and the node reach. */
export const HANDSHAKE_CLUSTER = 'ferry-handshake';

/**
 * The public listener. A Ferry partner P offers the ALPN token ferry-from-P
 * and lands on a filter chain of its own, which trusts P's CA only (inline:
 * replacing that CA rewrites the chain). Removing P, or replacing its CA,
 * removes or replaces that chain alone, and Envoy drains exactly P's
 * connections (within the drain time, 1 s) while other partners' connections
 * go on. Senders that offer no token (not Ferry) use the default chain, which
 * trusts every partner CA for its own domain (partner-trust, SDS), or, with
 * Token routes, asks for no certificate and relies on tokens.
 */
/** Stats of a partner's own filter chain: http.public_from_<peer>.* (bytes and connections per partner). */
export const partnerStatPrefix = (domain: string) => `public_from_${domain}`;

/**
 * Requests the partner never processed are retried: a stream refused because
 * the connection was going away (the partner drained it: its trust or
 * certificate changed), or reset before anything was sent. Safe for any
 * method; a body larger than Envoy's retry buffer simply is not retried.
 */
export const UNSENT_RETRY = {
  retry_on: 'refused-stream,reset-before-request,retriable-status-codes',
  // 421: the partner saw this request on a connection that opened before it
  // trusted this node (no identity there): it drains that connection, and the
  // retry goes out on a new one (see staleConnection in routes.ts).
  retriable_status_codes: [421],
  num_retries: 2,
};

/** Off by default; a peer route with a bandwidth annotation turns it on for itself. */
export const BANDWIDTH_FILTER = { name: 'envoy.filters.http.bandwidth_limit', typed_config: { '@type': TYPE.bandwidthLimit, stat_prefix: 'ferry' } };

/** Per-route config capping one peer's traffic (one token bucket shared by all its streams). */
export function bandwidthLimit(p: Peer): J {
  if (!p.bandwidthKiBps) return {};
  return {
    typed_per_filter_config: {
      [BANDWIDTH_FILTER.name]: { '@type': TYPE.bandwidthLimit, stat_prefix: `peer_${p.domain.replaceAll('-', '_')}`, enable_mode: 'REQUEST_AND_RESPONSE', limit_kbps: p.bandwidthKiBps }, // Envoy's limit_kbps is KiB/s
    },
  };
}

/** Engines are never trusted to set Kuscia-* headers: Ferry overwrites them all on the way out. */
export function outboundHeaders(ir: Ir, p: Peer, kusciaHost: string): J[] {
  return [
    ...(p.linkProblem ? [overwrite(LINK_CHECK_HEADER, p.linkProblem.replaceAll('%', '%%'))] : []),
    overwrite('Kuscia-Host', kusciaHost),
    overwrite('Kuscia-Source', ir.domain),
    overwrite('Kuscia-Origin-Source', ir.domain),
    overwrite('Kuscia-Token', p.token && 'value' in p.token ? p.token.value : 'noop'),
    overwrite('x-interconn-protocol', 'kuscia'),
    // User values are literal text: escape Envoy's %FORMATTER% syntax.
    ...p.headersToAdd.map(([k, v]) => overwrite(k, v.replaceAll('%', '%%'))),
  ];
}
