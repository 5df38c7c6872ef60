// Pure translation: IR -> Envoy v3 resources in Envoy's JSON shape (what
// `envoy --config-yaml` would accept). Encoding to protobuf happens in ads/.
import type { Ir, LocalService, Peer, TokenPartner } from '../translate/ir.ts';
import { handshakeHost } from '../../interop/kuscia-handshake.ts';
import { LISTENER, SECRET, TYPE, spiffeId } from './envoy-types.ts';

type J = Record<string, unknown>;

export interface EnvoyResources {
  clusters: J[];
  listeners: J[];
  routes: J[];
  secrets: J[];
}

export interface GatewayKeyMaterial {
  certPem: string;
  keyPem: string;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

const ads = { ads: {}, resource_api_version: 'V3' };
const sds = (name: string) => ({ name, sds_config: ads });
const overwrite = (key: string, value: string) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' });
const addIfAbsent = (key: string, value: string) => ({ header: { key, value }, append_action: 'ADD_IF_ABSENT' });

/** `Kuscia-Error-Message: <domain>/<listener> => <cause>` (shared/DESIGN.md). */
const errorHeader = (at: { domain: string }, listener: string, cause: string) => `${at.domain}/${listener} => ${cause}`;

/**
 * Remembers fn's result per input object. IR objects for unchanged resources
 * are the same objects from one translation to the next (see
 * resources-to-ir.ts), so their Envoy JSON is the same object too, and the
 * snapshot reuses its encoding by identity.
 */
function memo<K extends object, V>(fn: (k: K) => V): (k: K) => V {
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

export function translateToEnvoy(ir: Ir, gateway: GatewayKeyMaterial): EnvoyResources {
  return {
    clusters: [
      ...ir.peers.map((p) => peerCluster(ir, p)),
      ...ir.services.map(serviceCluster),
      ...(ir.tokenPartners.length ? [handshakeCluster(ir)] : []),
      ...(ir.peers.some((p) => p.auth === 'Token' && p.localPorts.length) ? [internalLoopbackCluster(ir)] : []),
      ...ir.peers.filter((p) => p.path.kind === 'proxy').map(proxyCluster),
      ...relayEndpointClusters(ir),
      ...ir.reverseTunnels.map((t) => pipeCluster(tunnelInClusterName(t.peer), t.inSocket)),
    ],
    listeners: [
      publicListener(ir),
      internalListener(ir),
      ...ir.peers.flatMap((p) => p.localPorts.map((m) => localPortListener(ir, p, m))),
      ...(ir.peers.some((p) => p.auth === 'Token') ? [handshakeEgressListener(ir)] : []),
      ...ir.peers.filter((p) => p.path.kind === 'proxy' || p.path.kind === 'relay').map((p) => tunnelListener(ir, p)),
      ...ir.reverseDialers.map((d) => reverseDialListener(ir, d)),
    ],
    routes: [publicRoutes(ir), internalRoutes(ir)],
    secrets: secrets(ir, gateway),
  };
}

// ---- clusters ---------------------------------------------------------------

function endpointCluster(name: string, hosts: string[], port: number): J {
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
const H2_WINDOWS = { initial_stream_window_size: 4 * 1024 * 1024, initial_connection_window_size: 64 * 1024 * 1024 };

function httpOptions(http2: boolean): J {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': TYPE.httpProtocolOptions,
      explicit_http_config: http2
        ? { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' }, allow_connect: true, ...H2_WINDOWS } }
        : { http_protocol_options: {} },
    },
  };
}

/** Per-peer cluster: HTTP/2 over mTLS to the peer's public port; every task shares it. */
/**
 * The ALPN token a Ferry node offers besides h2 when it dials a partner. The
 * partner's public listener uses it to give each partner a filter chain of
 * its own (TLS happens after chain selection, so this only chooses where the
 * certificate is verified: the chain trusts that partner's CA alone).
 */
export const partnerAlpn = (domain: string) => `ferry-from-${domain}`;

function peerCluster(ir: Ir, p: Peer): J {
  // Token routes prove the sender by Kuscia-Token: no client certificate and no
  // partner ALPN token, so the peer authenticates exactly as it would behind a
  // TLS-terminating gateway.
  const mtls = p.auth === 'MTLS';
  const validation = p.endpointCaPem
    ? {
      // A TLS-terminating gateway (e.g. the partner institution's nginx) answers: its own CA and name.
      validation_context: {
        trusted_ca: { inline_string: p.endpointCaPem },
        match_typed_subject_alt_names: [IPV4.test(p.host) ? { san_type: 'IP_ADDRESS', matcher: { exact: p.host } } : { san_type: 'DNS', matcher: { exact: p.host } }],
      },
    }
    : {
      combined_validation_context: {
        // The peer must present its own gateway identity, signed by its own CA.
        default_validation_context: {
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: spiffeId(p.domain) } }],
        },
        validation_context_sds_secret_config: sds(SECRET.peerCa(p.domain)),
      },
    };
  return {
    ...peerEndpoint(ir, p),
    typed_extension_protocol_options: httpOptions(true),
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TYPE.upstreamTls,
        sni: p.sni,
        common_tls_context: {
          alpn_protocols: mtls ? ['h2', partnerAlpn(ir.domain)] : ['h2'],
          ...(mtls ? { tls_certificate_sds_secret_configs: [sds(SECRET.gatewayCert)] } : {}),
          ...validation,
        },
      },
    },
  };
}

/**
 * Where the TLS session to a peer goes: its endpoint; or an internal listener
 * that carries it in a CONNECT tunnel (through a relay domain or a forward
 * proxy); or, for a reverse tunnel, the node's tunnel broker, which splices it
 * into a connection the peer dialled in.
 */
function peerEndpoint(ir: Ir, p: Peer): J {
  if (p.path.kind === 'direct') return endpointCluster(p.cluster, [p.host], p.port);
  const address = p.path.kind === 'reverse'
    ? { pipe: { path: ir.reverseTunnels.find((t) => t.peer === p.domain)!.outSocket } }
    : { envoy_internal_address: { server_listener_name: tunnelListenerName(p.domain) } };
  return {
    ...endpointCluster(p.cluster, ['127.0.0.1'], 1),
    type: 'STATIC',
    load_assignment: { cluster_name: p.cluster, endpoints: [{ lb_endpoints: [{ endpoint: { address } }] }] },
  };
}

const tunnelListenerName = (domain: string) => `tunnel-${domain}`;
/** The relay authority: CONNECT ferry-relay.<destination>.svc asks a relay to carry the tunnel to the destination. */
export const relayHost = (destination: string) => `ferry-relay.${destination}.svc`;
/** CONNECT ferry-tunnel.<domain>.svc: a reverse tunnel dialled into <domain>. */
export const tunnelHost = (domain: string) => `ferry-tunnel.${domain}.svc`;

/**
 * The internal listener that opens the CONNECT tunnel a relayed or proxied
 * peer's TLS session travels in: HTTP/2 CONNECT over the link to the relay
 * (as this domain, for this origin), or HTTP/1.1 CONNECT to the proxy.
 */
function tunnelListener(ir: Ir, p: Peer): J {
  const name = tunnelListenerName(p.domain);
  const relay = p.path.kind === 'relay';
  const tunneling = relay
    ? {
      hostname: `${relayHost(p.domain)}:443`,
      headers_to_add: [
        overwrite('Kuscia-Host', relayHost(p.domain)),
        overwrite('Kuscia-Source', ir.domain),
        overwrite('Kuscia-Origin-Source', ir.domain),
        overwrite('x-interconn-protocol', 'kuscia'),
      ],
    }
    : { hostname: `${p.host}:${p.port}` };
  return {
    name,
    internal_listener: {},
    filter_chains: [{ filters: [{
      name: 'envoy.filters.network.tcp_proxy',
      typed_config: {
        '@type': TYPE.tcpProxy,
        stat_prefix: name,
        cluster: p.path.kind === 'relay' ? p.path.relayCluster : proxyClusterName(p.domain),
        tunneling_config: tunneling,
        idle_timeout: '3600s',
      },
    }] }],
  };
}

const proxyClusterName = (domain: string) => `proxy-to-${domain}`;
const relayClusterName = (destination: string) => `relay-to-${destination}`;
const tunnelInClusterName = (peer: string) => `tunnel-in-${peer}`;

/** A Unix-socket upstream (the node's tunnel broker). */
function pipeCluster(name: string, path: string): J {
  return { name, type: 'STATIC', connect_timeout: '5s', load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path } } } }] }] } };
}

/** As a relay: plain TCP to each destination's endpoint (the bytes are the origin's TLS session). */
function relayEndpointClusters(ir: Ir): J[] {
  const seen = new Map<string, J>();
  for (const r of ir.relays) {
    if (r.next.kind === 'endpoint' && !seen.has(r.destination)) seen.set(r.destination, endpointCluster(relayClusterName(r.destination), [r.next.host], r.next.port));
  }
  return [...seen.values()];
}

/**
 * Reverse tunnel, dialling side: each connection the node opens to this Unix
 * socket becomes one CONNECT ferry-tunnel.<peer>.svc over this node's mTLS
 * link to the peer, which keeps it to carry its calls to this node.
 */
function reverseDialListener(ir: Ir, d: Ir['reverseDialers'][number]): J {
  const name = `reverse-dial-${d.peer}`;
  return {
    name,
    address: { pipe: { path: d.socket, mode: 0o600 } },
    filter_chains: [{ filters: [{
      name: 'envoy.filters.network.tcp_proxy',
      typed_config: {
        '@type': TYPE.tcpProxy,
        stat_prefix: name,
        cluster: d.cluster,
        tunneling_config: {
          hostname: `${tunnelHost(d.peer)}:443`,
          headers_to_add: [overwrite('Kuscia-Host', tunnelHost(d.peer)), overwrite('Kuscia-Source', ir.domain), overwrite('Kuscia-Origin-Source', ir.domain), overwrite('x-interconn-protocol', 'kuscia')],
        },
        // Idle tunnels wait for calls; the node replaces any that close.
        idle_timeout: '0s',
      },
    }] }],
  };
}

/** The forward proxy (e.g. squid) a peer is reached through: plain HTTP/1.1, CONNECT. */
function proxyCluster(p: Peer): J {
  const path = p.path as { host: string; port: number };
  return endpointCluster(proxyClusterName(p.domain), [path.host], path.port);
}

/** This node's internal listener as an upstream (HTTP/2 cleartext, loopback): local ports of Token routes go through it. */
export const INTERNAL_LOOPBACK = 'ferry-internal';

function internalLoopbackCluster(ir: Ir): J {
  return { ...endpointCluster(INTERNAL_LOOPBACK, [ir.internalListener.address], ir.internalListener.port), typed_extension_protocol_options: httpOptions(true) };
}

/** The node's handshake server (control-plane/tokens), on a Unix socket only Envoy and the node reach. */
export const HANDSHAKE_CLUSTER = 'ferry-handshake';

function handshakeCluster(ir: Ir): J {
  return {
    name: HANDSHAKE_CLUSTER,
    type: 'STATIC',
    connect_timeout: '5s',
    load_assignment: { cluster_name: HANDSHAKE_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: ir.sockets.handshake } } } }] }] },
  };
}

const serviceCluster = memo((s: LocalService): J => (
  s.socketPath
    ? pipeCluster(s.cluster, s.socketPath)
    : s.protocol === 'TCP'
    ? endpointCluster(s.cluster, s.addresses, s.port)
    : { ...endpointCluster(s.cluster, s.addresses, s.port), typed_extension_protocol_options: httpOptions(s.protocol === 'GRPC') }
));

// ---- secrets ----------------------------------------------------------------

function secrets(ir: Ir, gateway: GatewayKeyMaterial): J[] {
  const trustDomains = [
    { name: ir.domain, trust_bundle: { inline_string: ir.ownCaPem } },
    ...ir.partners.map((p) => ({ name: p.domain, trust_bundle: { inline_string: p.caPem } })),
  ];
  return [
    {
      name: SECRET.gatewayCert,
      tls_certificate: { certificate_chain: { inline_string: gateway.certPem }, private_key: { inline_string: gateway.keyPem } },
    },
    {
      // Each partner CA is trusted only for certificates naming that partner's
      // SPIFFE trust domain: carol's CA cannot vouch for "alice".
      name: SECRET.partnerTrust,
      validation_context: {
        custom_validator_config: {
          name: 'envoy.tls.cert_validator.spiffe',
          typed_config: { '@type': TYPE.spiffeValidator, trust_domains: trustDomains },
        },
      },
    },
    ...ir.peers.map((p) => ({ name: SECRET.peerCa(p.domain), validation_context: { trusted_ca: { inline_string: p.caPem } } })),
  ];
}

// ---- listeners --------------------------------------------------------------

/**
 * Locally generated replies: a JSON body and, when the reply did not set one,
 * a Kuscia-Error-Message naming the cause. Replies Ferry generates on purpose
 * (direct responses) set the header themselves; upstream failures get it here.
 */
function localReplyConfig(ir: Ir, listener: string): J {
  const upstream = listener === LISTENER.public ? 'local service' : 'peer';
  const mapper = (flags: string[], cause: string, status?: number): J => ({
    filter: { response_flag_filter: { flags } },
    ...(status ? { status_code: status } : {}),
    headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener, cause))],
  });
  // Kuscia's unauthenticated answer, byte for byte in its fields (KUSCIA-WIRE.md).
  const unauthorized: J = {
    filter: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 401, runtime_key: 'ferry.unauthorized_status' } } } },
    headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener, 'unauthenticated'))],
    body_format_override: { json_format: { domain: ir.domain, instance: '%HOSTNAME%', kuscia: 'ferry', reason: 'unauthorized.' } },
  };
  return {
    mappers: [
      ...(listener === LISTENER.public ? [unauthorized] : []),
      mapper(['UF', 'UH', 'DF'], `${upstream} unreachable: %UPSTREAM_TRANSPORT_FAILURE_REASON%`, 503),
      mapper(['URX', 'UC', 'UR', 'UPE', 'UMSDR'], `${upstream} reset the connection: %UPSTREAM_TRANSPORT_FAILURE_REASON%`, 502),
      mapper(['UT', 'SI'], `${upstream} timed out`, 504),
      mapper(['NR', 'NC'], 'no route for this request', 404),
      {
        filter: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 403, runtime_key: 'ferry.rbac_status' } } } },
        headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener,
          'Kuscia-Source "%REQ(kuscia-source)%" does not match the client certificate (%DOWNSTREAM_PEER_URI_SAN%) or the origin is not allowed'))],
      },
    ],
    body_format: {
      json_format: {
        domain: ir.domain,
        listener,
        status: '%RESPONSE_CODE%',
        message: '%RESP(kuscia-error-message)%',
        details: '%RESPONSE_CODE_DETAILS%',
        request_id: '%REQ(x-request-id)%',
      },
    },
  };
}

/**
 * JSON access log per listener. The request id is the same in the sending and
 * the receiving domain (the public listener keeps the partner's x-request-id),
 * so one request can be followed across domains.
 */
function accessLog(ir: Ir, listener: string, file = listener): J[] {
  return [{
    name: 'envoy.access_loggers.file',
    typed_config: {
      '@type': TYPE.fileAccessLog,
      path: `${ir.accessLogDir}/access-${file}.log`,
      log_format: {
        json_format: {
          time: '%START_TIME%',
          domain: ir.domain,
          listener,
          request_id: '%REQ(X-REQUEST-ID)%',
          source: '%REQ(KUSCIA-SOURCE)%',
          peer: '%METADATA(ROUTE:ferry:peer)%',
          destination: '%METADATA(ROUTE:ferry:destination)%',
          service: '%METADATA(ROUTE:ferry:service)%',
          direction: '%METADATA(ROUTE:ferry:direction)%',
          route: '%ROUTE_NAME%',
          origin: '%REQ(KUSCIA-ORIGIN-SOURCE)%',
          host: '%REQ(:AUTHORITY)%',
          method: '%REQ(:METHOD)%',
          path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
          protocol: '%PROTOCOL%',
          status: '%RESPONSE_CODE%',
          grpc_status: '%GRPC_STATUS_NUMBER%',
          flags: '%RESPONSE_FLAGS%',
          details: '%RESPONSE_CODE_DETAILS%',
          bytes_in: '%BYTES_RECEIVED%',
          bytes_out: '%BYTES_SENT%',
          duration_ms: '%DURATION%',
          upstream_host: '%UPSTREAM_HOST%',
          upstream_cluster: '%UPSTREAM_CLUSTER%',
          upstream_failure: '%UPSTREAM_TRANSPORT_FAILURE_REASON%',
          peer_identity: '%DOWNSTREAM_PEER_URI_SAN%',
        },
      },
    },
  }];
}

/** The HCM of a listener: routes by RDS (`listener` names the route configuration), or inline. */
function httpConnectionManager(ir: Ir, listener: string, httpFilters: J[], inline?: { routes: J; logFile: string }, statPrefix = listener): J {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': TYPE.hcm,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      ...(inline ? { route_config: inline.routes } : { rds: { route_config_name: listener, config_source: ads } }),
      http_filters: [...httpFilters, { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE.router } }],
      strip_any_host_port: true,
      local_reply_config: localReplyConfig(ir, listener),
      access_log: accessLog(ir, listener, inline?.logFile),
      // A tunnel (CONNECT, relays, reverse tunnels) is logged when it opens, not only hours later when it closes.
      access_log_options: { flush_log_on_tunnel_successfully_established: true },
      // Local tools such as `nc -X connect` and socat speak HTTP/1.0 CONNECT; partners never need it.
      ...(listener === LISTENER.internal ? { http_protocol_options: { accept_http_10: true } } : {}),
      // Partners are authenticated: their request id is kept, so both domains log the same id.
      preserve_external_request_id: listener === LISTENER.public,
      common_http_protocol_options: { idle_timeout: '3600s' },
      // Long idle streams (a PSI party waiting on its peer) live for an hour; Envoy's default is 5 minutes.
      stream_idle_timeout: '3600s',
      // allow_connect: WebSocket and CONNECT over HTTP/2 between gateways (RFC 8441).
      // max_concurrent_streams: Envoy's default (1,024 per connection) would queue
      // the thousands of task streams one engine or one partner link multiplexes.
      http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' }, allow_connect: true, max_concurrent_streams: 65536, ...H2_WINDOWS },
      upgrade_configs: [{ upgrade_type: 'websocket' }, { upgrade_type: 'CONNECT' }],
    },
  };
}

/**
 * RBAC on the public listener: a request is allowed only when the client
 * certificate's identity is spiffe://P/ferry/gateway for a trusted partner P and
 * the request claims Kuscia-Source P (with no other origin: relays come later).
 *
 * The listener's filter refuses everything; the partner policies ride on the
 * public RouteConfiguration (per-route RBAC), so a removed partner's next
 * request on an open connection is refused as soon as the routes change (its
 * own filter chain, and with it its connections, is drained within 1 s).
 */
const DENY_ALL_RBAC = { name: 'envoy.filters.http.rbac', typed_config: { '@type': TYPE.rbac, rules: { action: 'ALLOW', policies: {} } } };

/** The request claims to come from `domain` itself (no other origin: relays come later). */
const claimsSource = (domain: string): J => ({
  and_rules: {
    rules: [
      { header: { name: 'kuscia-source', string_match: { exact: domain } } },
      {
        or_rules: {
          rules: [
            { not_rule: { header: { name: 'kuscia-origin-source', present_match: true } } },
            { header: { name: 'kuscia-origin-source', string_match: { exact: domain } } },
          ],
        },
      },
    ],
  },
});

const rbacPerRoute = (policies: Record<string, J>): J => ({ [DENY_ALL_RBAC.name]: { '@type': TYPE.rbacPerRoute, rbac: { rules: { action: 'ALLOW', policies } } } });

function partnerRbacPerRoute(ir: Ir): J {
  const policies: Record<string, J> = {};
  for (const p of ir.partners) {
    policies[`partner-${p.domain}`] = {
      permissions: [claimsSource(p.domain)],
      principals: [{ authenticated: { principal_name: { exact: spiffeId(p.domain) } } }],
    };
  }
  return rbacPerRoute(policies);
}

/**
 * Token routes: the route matched Kuscia-Source and a valid Kuscia-Token, so
 * the token is the principal; the origin must still be the source itself.
 */
const tokenRbac = (domain: string) => ({ typed_per_filter_config: rbacPerRoute({ [`token-${domain}`]: { permissions: [claimsSource(domain)], principals: [{ any: true }] } }) });
/** Answers anyone may get (401, the handshake): the route itself decides. */
const OPEN_RBAC = { typed_per_filter_config: rbacPerRoute({ open: { permissions: [{ any: true }], principals: [{ any: true }] } }) };

/** Escapes base64 (A-Z a-z 0-9 + / =) for RE2. */
const tokenAlternatives = (tokens: string[]) => `^(?:${tokens.map((t) => t.replace(/[+/=]/g, (c) => `\\${c}`)).join('|')})$`;

/** Matches a request from `t.domain` carrying one of its accepted tokens. */
const tokenHeaders = (t: TokenPartner): J[] => [
  { name: 'kuscia-source', string_match: { exact: t.domain } },
  { name: 'kuscia-token', string_match: { safe_regex: { regex: tokenAlternatives(t.tokens) } } },
];

/** Connections without a client certificate (only possible when Token routes exist). */
const NO_CLIENT_CERT = { tls_context: { presented: false } };
const unauthenticatedCause = 'no client certificate, and Kuscia-Token is missing, expired or not the token of Kuscia-Source \"%REQ(kuscia-source)%\": the source node must complete the token handshake (check its route status)';

function downstreamTls(validation: J, requireClientCertificate = true): J {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TYPE.downstreamTls,
      require_client_certificate: requireClientCertificate,
      common_tls_context: { alpn_protocols: ['h2', 'http/1.1'], tls_certificate_sds_secret_configs: [sds(SECRET.gatewayCert)], ...validation },
    },
  };
}

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

function publicListener(ir: Ir): J {
  const hcm = httpConnectionManager(ir, LISTENER.public, [DENY_ALL_RBAC]);
  return {
    name: LISTENER.public,
    address: { socket_address: { address: ir.publicListener.address, port_value: ir.publicListener.port } },
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE.tlsInspector } }],
    filter_chains: [...ir.partners.map((p): J => ({
      name: `partner-${p.domain}`,
      filter_chain_match: { application_protocols: [partnerAlpn(p.domain)] },
      transport_socket: downstreamTls({
        validation_context: {
          custom_validator_config: {
            name: 'envoy.tls.cert_validator.spiffe',
            typed_config: { '@type': TYPE.spiffeValidator, trust_domains: [{ name: p.domain, trust_bundle: { inline_string: p.caPem } }] },
          },
        },
      }),
      filters: [httpConnectionManager(ir, LISTENER.public, [DENY_ALL_RBAC], undefined, partnerStatPrefix(p.domain))],
    })), ...(ir.publicPlaintext ? [{
      // publicPlaintext: a TLS-terminating gateway in front forwards plain HTTP.
      // No certificate here, ever: only a valid token authenticates (else 401).
      name: 'plaintext',
      filter_chain_match: { transport_protocol: 'raw_buffer' },
      filters: [hcm],
    }] : [])],
    // Senders without the ALPN token: with Token routes, token senders (Kuscia,
    // a TLS-terminating gateway, a Ferry Token route): no client certificate is
    // asked for and every request needs a valid token (see tokenGate). Envoy's
    // SPIFFE validator always demands a certificate, and trusting every partner
    // CA without it would let one partner's CA vouch for another: so certificate
    // senders without the token (MTLS Kuscia nodes) are served only when no Token
    // route exists (docs/security.md).
    default_filter_chain: {
      name: ir.tokenPartners.length ? 'token-senders' : 'any-partner',
      transport_socket: ir.tokenPartners.length
        ? downstreamTls({}, false)
        : downstreamTls({ validation_context_sds_secret_config: sds(SECRET.partnerTrust) }),
      filters: [hcm],
    },
  };
}

/** Engines are never trusted to set Kuscia-* headers: Ferry overwrites them all on the way out. */
function outboundHeaders(ir: Ir, p: Peer, kusciaHost: string): J[] {
  return [
    overwrite('Kuscia-Host', kusciaHost),
    overwrite('Kuscia-Source', ir.domain),
    overwrite('Kuscia-Origin-Source', ir.domain),
    overwrite('Kuscia-Token', p.token && 'value' in p.token ? p.token.value : 'noop'),
    overwrite('x-interconn-protocol', 'kuscia'),
    // User values are literal text: escape Envoy's %FORMATTER% syntax.
    ...p.headersToAdd.map(([k, v]) => overwrite(k, v.replaceAll('%', '%%'))),
  ];
}

/**
 * 127.0.0.1:<port> for one service of a peer, for engines that can neither set
 * Host nor use a proxy. HTTP: any request is sent as <svc>.<peer>.svc. TCP:
 * each connection becomes a CONNECT tunnel to <svc>.<peer>.svc over the
 * peer link (the peer ends it, as for CONNECT from an engine).
 */
function localPortListener(ir: Ir, p: Peer, m: Peer['localPorts'][number]): J {
  const host = `${m.service}.${p.domain}.svc`;
  const name = `local-port-${m.port}`;
  const address = { socket_address: { address: ir.internalListener.address, port_value: m.port } };
  // A Token route's headers change with every token roll: rather than rewrite
  // (and so drain) this listener, go through the internal listener, whose
  // routes (RDS) carry the current token.
  const viaInternal = p.auth === 'Token';
  const cluster = viaInternal ? INTERNAL_LOOPBACK : p.cluster;
  const headers = viaInternal ? [] : outboundHeaders(ir, p, host);
  if (m.tcp) {
    return {
      name,
      address,
      filter_chains: [{ filters: [{
        name: 'envoy.filters.network.tcp_proxy',
        typed_config: {
          '@type': TYPE.tcpProxy,
          stat_prefix: name,
          cluster,
          tunneling_config: { hostname: `${host}:${m.port}`, ...(headers.length ? { headers_to_add: headers } : {}) },
          idle_timeout: '3600s',
        },
      }] }],
    };
  }
  const routes = {
    name,
    virtual_hosts: [{
      name,
      domains: ['*'],
      routes: [{
        name: `${p.route}/${name}`,
        stat_prefix: outboundStats(p),
        ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
        match: { prefix: '/' },
        route: { cluster, timeout: '0s', idle_timeout: '0s', retry_policy: UNSENT_RETRY, host_rewrite_literal: host, ...(p.pathPrefix && !viaInternal ? { prefix_rewrite: `${p.pathPrefix}/` } : {}) },
        ...(headers.length ? { request_headers_to_add: headers } : {}),
        ...bandwidthLimit(p),
      }],
    }],
  };
  const hcm = httpConnectionManager(ir, name, [BANDWIDTH_FILTER], { routes, logFile: LISTENER.internal });
  return { name, address, filter_chains: [{ filters: [hcm] }] };
}

/**
 * Requests the partner never processed are retried: a stream refused because
 * the connection was going away (the partner drained it: its trust or
 * certificate changed), or reset before anything was sent. Safe for any
 * method; a body larger than Envoy's retry buffer simply is not retried.
 */
const UNSENT_RETRY = { retry_on: 'refused-stream,reset-before-request', num_retries: 2 };

/** Off by default; a peer route with a bandwidth annotation turns it on for itself. */
const BANDWIDTH_FILTER = { name: 'envoy.filters.http.bandwidth_limit', typed_config: { '@type': TYPE.bandwidthLimit, stat_prefix: 'ferry' } };

function internalListener(ir: Ir): J {
  return {
    name: LISTENER.internal,
    address: { socket_address: { address: ir.internalListener.address, port_value: ir.internalListener.port } },
    filter_chains: [{ filters: [httpConnectionManager(ir, LISTENER.internal, [BANDWIDTH_FILTER])] }],
  };
}

/** Per-route config capping one peer's traffic (one token bucket shared by all its streams). */
function bandwidthLimit(p: Peer): J {
  if (!p.bandwidthKiBps) return {};
  return {
    typed_per_filter_config: {
      [BANDWIDTH_FILTER.name]: { '@type': TYPE.bandwidthLimit, stat_prefix: `peer_${p.domain.replaceAll('-', '_')}`, enable_mode: 'REQUEST_AND_RESPONSE', limit_kbps: p.bandwidthKiBps }, // Envoy's limit_kbps is KiB/s
    },
  };
}

/**
 * The node's own way to a peer for the token handshake and heartbeat: a Unix
 * socket (0600) that only the node's user reaches, so no engine can start a
 * handshake in this domain's name. kuscia-handshake.<peer>.svc goes over the
 * peer's cluster (its TLS, its path prefix) like any request.
 */
function handshakeEgressListener(ir: Ir): J {
  const name = 'handshake-egress';
  const routes = {
    name,
    virtual_hosts: ir.peers.filter((p) => p.auth === 'Token').map((p) => ({
      name: `handshake-${p.domain}`,
      domains: [handshakeHost(p.domain)],
      routes: [{
        name: `${p.route}/handshake`,
        match: { prefix: '/' },
        route: { cluster: p.cluster, timeout: '30s', ...(p.pathPrefix ? { prefix_rewrite: `${p.pathPrefix}/` } : {}) },
        request_headers_to_add: [
          overwrite('Kuscia-Host', handshakeHost(p.domain)),
          overwrite('Kuscia-Source', ir.domain),
          overwrite('Kuscia-Origin-Source', ir.domain),
          overwrite('x-interconn-protocol', 'kuscia'),
        ],
      }],
    })),
  };
  return {
    name,
    address: { pipe: { path: ir.sockets.egress, mode: 0o600 } },
    filter_chains: [{ filters: [httpConnectionManager(ir, name, [], { routes, logFile: LISTENER.internal })] }],
  };
}

// ---- routes -----------------------------------------------------------------

/**
 * Route stat names carry the labels docs/metrics.md documents, split on dots
 * (domain, service and route names are DNS labels: they have no dots):
 * vhost.<vh>.route.inbound.<peer>.<service>.* and vhost.<vh>.route.outbound.<peer>.<route>.*
 */
const inboundStats = (peer: string, service: string) => `inbound.${peer}.${service}`;
/** Route metadata the access logs print: which partner, which domain is called, which service. */
const routeMeta = (meta: { peer: string; destination: string; service?: string; direction: 'inbound' | 'outbound' }): J => ({ metadata: { filter_metadata: { ferry: meta } } });
const outboundStats = (p: Peer) => `outbound.${p.domain}.${p.route.slice(p.route.indexOf('/') + 1)}`;

function directError(at: { domain: string }, listener: string, status: number, cause: string): J {
  return {
    direct_response: { status },
    response_headers_to_add: [overwrite('Kuscia-Error-Message', errorHeader(at, listener, cause))],
  };
}

const kusciaHost = (host: string) => ({ name: 'kuscia-host', string_match: { exact: host } });
/** For CONNECT the authority, and so Kuscia-Host, carries the port. */
const kusciaHostAnyPort = (host: string) => ({ name: 'kuscia-host', string_match: { safe_regex: { regex: `^${host.replaceAll('.', '\\.')}(:[0-9]+)?$` } } });

/**
 * Route settings of a Service: its timeouts (gRPC deadlines, grpc-timeout,
 * are honoured across gateways) and, with several endpoints, Kuscia-Session-Id
 * stickiness.
 */
function serviceRouteAction(s: LocalService): J {
  return {
    ...(s.addresses.length > 1 ? { hash_policy: [{ header: { header_name: 'kuscia-session-id' } }] } : {}),
    timeout: `${s.timeoutSeconds}s`,
    idle_timeout: `${s.idleTimeoutSeconds}s`,
    ...(s.protocol === 'GRPC' ? { max_stream_duration: { grpc_timeout_header_max: '0s' } } : {}),
  };
}

/** The same answer for CONNECT requests, which never match a path prefix (listed first). */
function alsoForConnect(route: J): J[] {
  const { prefix: _prefix, ...rest } = route.match as J;
  return [{ ...route, name: `${route.name}/connect`, match: { ...rest, connect_matcher: {} } }, route];
}

/**
 * What the local service is told: the authenticated caller, one value, whatever
 * the request carried (a repeated Kuscia-Source header must not reach it as a
 * list); the token stays at the gateway.
 */
const asserted = (domain: string): J => ({
  request_headers_to_add: [overwrite('Kuscia-Source', domain), overwrite('Kuscia-Origin-Source', domain)],
  request_headers_to_remove: ['kuscia-token'],
});

/** A Service's public routes, in order: the partners it admits, then the refusals. */
const publicServiceRoutes = memo((s: LocalService) => {
  const L = LISTENER.public;
  // A TCP service is reached by CONNECT <svc>.<domain>.svc:<port>: Ferry ends the tunnel here.
  const tcp = s.protocol === 'TCP';
  const any = tcp ? { connect_matcher: {} } : { prefix: '/' };
  const named = tcp ? kusciaHostAnyPort(s.host) : kusciaHost(s.host);
  const forward = { cluster: s.cluster, ...serviceRouteAction(s), ...(tcp ? { upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } : {}) };
  const denied = (name: string, match: J): J => ({
    name,
    match,
    ...directError(s, L, 403, `service ${s.host} is not exposed to %REQ(kuscia-source)%: ${s.domain} must list it in the Service's kuscia.secretflow/access-domain annotation`),
  });
  return {
    any,
    named,
    forward,
    denied,
    admitted: s.allowed.map((d) => ({
      name: `${s.name}-from-${d}`,
      stat_prefix: inboundStats(d, s.name),
      ...routeMeta({ peer: d, destination: s.domain, service: s.name, direction: 'inbound' }),
      match: { ...any, headers: [named, { name: 'kuscia-source', string_match: { exact: d } }] },
      route: forward,
      ...asserted(d),
    })),
    refusals: [
      denied(`${s.name}-denied`, { ...any, headers: [named] }),
      ...(tcp ? [] : [{
        name: `${s.name}-not-tcp`,
        match: { connect_matcher: {} },
        ...directError(s, L, 404, `service ${s.host} speaks ${s.protocol}; CONNECT reaches only Services declared with protocol TCP`),
      }]),
      {
        name: `${s.name}-host-mismatch`,
        match: any,
        ...directError(s, L, 404, `Kuscia-Host "%REQ(kuscia-host)%" does not name ${s.host}, the Host of the request`),
      },
    ] as J[],
  };
});

/**
 * One virtual host per Service, found by Host (a hash lookup, however many
 * Services exist). Inside it the Kuscia-Host header must name the same
 * service, and the calling domain must be one the Service admits: proven by
 * its certificate (per-route RBAC) or, for Token partners, by a route that
 * matches one of its current tokens. Without either, a connection that has no
 * client certificate gets 401.
 */
const mtlsServiceHost = memo((s: LocalService): J => {
  const r = publicServiceRoutes(s);
  return { name: `service-${s.name}`, domains: serviceDomains(s), routes: [...r.admitted, ...r.refusals] };
});

const serviceDomains = (s: LocalService) => (s.protocol === 'TCP' ? [s.host, `${s.host}:*`] : [s.host]);

function publicServiceHost(ir: Ir, s: LocalService): J {
  if (ir.tokenPartners.length === 0) return mtlsServiceHost(s);
  const r = publicServiceRoutes(s);
  const tokenRoutes = ir.tokenPartners.filter((t) => t.tokens.length > 0).map((t): J => {
    const match = { ...r.any, headers: [r.named, ...tokenHeaders(t)] };
    return s.allowed.includes(t.domain)
      ? { name: `${s.name}-from-${t.domain}-token`, stat_prefix: inboundStats(t.domain, s.name), ...routeMeta({ peer: t.domain, destination: s.domain, service: s.name, direction: 'inbound' }), match, route: r.forward, ...asserted(t.domain), ...tokenRbac(t.domain) }
      : { ...r.denied(`${s.name}-denied-${t.domain}-token`, match), ...OPEN_RBAC };
  });
  const unauthenticated = { name: `${s.name}-unauthenticated`, match: { ...r.any, ...NO_CLIENT_CERT }, ...directError(s, LISTENER.public, 401, unauthenticatedCause), ...OPEN_RBAC };
  return { name: `service-${s.name}`, domains: serviceDomains(s), routes: [...tokenRoutes, unauthenticated, ...r.admitted, ...r.refusals] };
}

/** Public routes: by Host (restored from Kuscia-Host by the sender) to a local service the caller may call. */
function publicRoutes(ir: Ir): J {
  const L = LISTENER.public;
  const unknown = [
    ...alsoForConnect({
      name: 'missing-kuscia-host',
      match: { prefix: '/', headers: [{ name: 'kuscia-host', present_match: true, invert_match: true }] },
      ...directError(ir, L, 404, 'request has no Kuscia-Host header: send it through a Ferry or Kuscia gateway'),
    }),
    ...alsoForConnect({
      name: 'unknown-service',
      match: { prefix: '/' },
      ...directError(ir, L, 404, `no service %REQ(kuscia-host)% in ${ir.domain} (Host %REQ(:authority)%): apply a Service of that name, and let intermediaries pass Host through`),
    }),
  ];
  const fallback = { name: 'unknown', domains: ['*'], routes: ir.tokenPartners.length ? [...tokenGate(ir), ...unknown] : unknown };
  return {
    name: L,
    typed_per_filter_config: partnerRbacPerRoute(ir),
    virtual_hosts: [...ir.services.map((s) => publicServiceHost(ir, s)), ...relayHosts(ir), ...tunnelHosts(ir), fallback],
  };
}

/**
 * As a relay: CONNECT ferry-relay.<destination>.svc from a partner, for an
 * origin/destination pair this node agreed to carry, goes on as TCP to the
 * destination's endpoint (or as CONNECT to the next relay). Any other pair: 403.
 * The hop may be the origin itself or a relay before this one (any partner,
 * authenticated by its certificate); the origin is what the pair names.
 */
function relayHosts(ir: Ir): J[] {
  const L = LISTENER.public;
  const byDestination = new Map<string, Ir['relays']>();
  for (const r of ir.relays) byDestination.set(r.destination, [...(byDestination.get(r.destination) ?? []), r]);
  const hopRbac = { typed_per_filter_config: rbacPerRoute(Object.fromEntries(ir.partners.map((p) => [`hop-${p.domain}`, {
    permissions: [{ header: { name: 'kuscia-source', string_match: { exact: p.domain } } }],
    principals: [{ authenticated: { principal_name: { exact: spiffeId(p.domain) } } }],
  }]))) };
  return [...byDestination].map(([destination, rules]) => ({
    name: `relay-${destination}`,
    domains: [relayHost(destination), `${relayHost(destination)}:*`],
    routes: [
      ...rules.map((r) => ({
        name: `relay-${r.origin}-to-${destination}`,
        stat_prefix: `relay.${r.origin}.${destination}`,
        match: { connect_matcher: {}, headers: [{ name: 'kuscia-origin-source', string_match: { exact: r.origin } }] },
        route: r.next.kind === 'endpoint'
          ? { cluster: relayClusterName(destination), timeout: '0s', idle_timeout: '3600s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] }
          : { cluster: r.next.cluster, timeout: '0s', idle_timeout: '3600s', upgrade_configs: [{ upgrade_type: 'CONNECT' }] },
        ...(r.next.kind === 'relay' ? { request_headers_to_add: [overwrite('Kuscia-Source', ir.domain), overwrite('Kuscia-Host', relayHost(destination))] } : {}),
        ...hopRbac,
      })),
      ...alsoForConnect({
        name: `relay-refused-${destination}`,
        match: { prefix: '/' },
        ...directError(ir, L, 403, `${ir.domain} does not relay %REQ(kuscia-origin-source)% -> ${destination}: ${ir.domain} must apply a route from that origin to ${destination} with transit THIRD-DOMAIN via ${ir.domain}`),
        ...hopRbac,
      }),
    ],
  }));
}

/** Reverse tunnels dialled into this node: CONNECT ferry-tunnel.<self>.svc from a partner whose route here is REVERSE-TUNNEL. */
function tunnelHosts(ir: Ir): J[] {
  if (!ir.reverseTunnels.length) return [];
  const L = LISTENER.public;
  return [{
    name: 'reverse-tunnels',
    domains: [tunnelHost(ir.domain), `${tunnelHost(ir.domain)}:*`],
    routes: [
      ...ir.reverseTunnels.map(({ peer }) => ({
        name: `tunnel-from-${peer}`,
        match: { connect_matcher: {}, headers: [{ name: 'kuscia-source', string_match: { exact: peer } }] },
        route: { cluster: tunnelInClusterName(peer), timeout: '0s', idle_timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] },
      })),
      ...alsoForConnect({ name: 'tunnel-refused', match: { prefix: '/' }, ...directError(ir, L, 403, `${ir.domain} takes reverse tunnels only from partners its REVERSE-TUNNEL routes name`) }),
    ],
  }];
}

/**
 * With Token routes: the Kuscia handshake (no token needed: it is how one is
 * obtained), then "unknown service" for requests with a valid token, and 401
 * for everything else that came without a client certificate.
 */
function tokenGate(ir: Ir): J[] {
  const handshake: J = {
    name: 'kuscia-handshake',
    // Any path prefix a sender or an intermediary put in front: [pathPrefix]/handshake.
    match: { safe_regex: { regex: '^(/.*)?/handshake$' }, headers: [kusciaHost(handshakeHost(ir.domain))] },
    route: { cluster: HANDSHAKE_CLUSTER, timeout: '30s' },
    ...OPEN_RBAC,
  };
  const withToken = ir.tokenPartners.filter((t) => t.tokens.length > 0).map((t): J => ({
    name: `unknown-service-${t.domain}-token`,
    match: { prefix: '/', headers: tokenHeaders(t) },
    ...directError(ir, LISTENER.public, 404, `no service %REQ(kuscia-host)% in ${ir.domain}: ask ${ir.domain} which services it exposes to ${t.domain}`),
    ...OPEN_RBAC,
  }));
  const unauthenticated = { name: 'unauthenticated', match: { prefix: '/', ...NO_CLIENT_CERT }, ...directError(ir, LISTENER.public, 401, unauthenticatedCause), ...OPEN_RBAC };
  return [handshake, ...withToken.flatMap(alsoForConnect), ...alsoForConnect(unauthenticated)];
}

/** An engine of this domain calling a local service by its .svc name (CONNECT for a TCP one). */
const localServiceHost = memo((s: LocalService): J => {
  const tcp = s.protocol === 'TCP';
  return {
    name: `local-${s.name}`,
    domains: tcp ? [s.host, `${s.host}:*`] : [s.host],
    routes: [{
      name: `local-${s.name}`,
      match: tcp ? { connect_matcher: {} } : { prefix: '/' },
      route: { cluster: s.cluster, ...serviceRouteAction(s), ...(tcp ? { upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } : {}) },
      request_headers_to_add: [overwrite('Kuscia-Source', s.domain), overwrite('Kuscia-Origin-Source', s.domain)],
      request_headers_to_remove: ['kuscia-token', 'kuscia-host'],
    }],
  };
});

/** Internal routes: <svc>.<peer>.svc to the peer's cluster, <svc>.<self>.svc to the local service. */
function internalRoutes(ir: Ir): J {
  const L = LISTENER.internal;
  const hosts: J[] = [];
  for (const p of ir.peers) {
    if (p.token && 'pending' in p.token) {
      hosts.push({
        name: `peer-${p.domain}`,
        domains: [`*.${p.domain}.svc`, `*.${p.domain}.svc:*`],
        routes: alsoForConnect({ name: p.route, match: { prefix: '/' }, ...directError(ir, L, 503, `route ${p.route} is not ready: no token yet: ${p.token.pending}`) }),
      });
      continue;
    }
    const kusciaHeaders = outboundHeaders(ir, p, '%REQ(:authority)%');
    hosts.push({
      name: `peer-${p.domain}`,
      domains: [`*.${p.domain}.svc`, `*.${p.domain}.svc:*`],
      routes: [
        {
          // CONNECT <svc>.<peer>.svc:<port> travels to the peer as CONNECT over HTTP/2.
          name: `${p.route}/connect`,
          stat_prefix: outboundStats(p),
        ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          match: { connect_matcher: {} },
          route: { cluster: p.cluster, timeout: '0s', idle_timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT' }] },
          request_headers_to_add: kusciaHeaders,
          ...bandwidthLimit(p),
        },
        {
          name: p.route,
          stat_prefix: outboundStats(p),
        ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          match: { prefix: '/' },
          // Timeouts are the destination Service's to set (its gateway enforces them): none on this hop.
          route: { cluster: p.cluster, timeout: '0s', idle_timeout: '0s', retry_policy: UNSENT_RETRY, ...(p.pathPrefix ? { prefix_rewrite: `${p.pathPrefix}/` } : {}) },
          request_headers_to_add: kusciaHeaders,
          ...bandwidthLimit(p),
        },
      ],
    });
  }
  for (const b of ir.blockedPeers) {
    hosts.push({
      name: `peer-${b.domain}`,
      domains: [`*.${b.domain}.svc`, `*.${b.domain}.svc:*`],
      routes: alsoForConnect({ name: b.route, match: { prefix: '/' }, ...directError(ir, L, 503, `route ${b.route} is not ready: ${b.reason}`) }),
    });
  }
  hosts.push(...ir.services.map(localServiceHost));
  hosts.push({
    name: `local-${ir.domain}`,
    domains: [`*.${ir.domain}.svc`, `*.${ir.domain}.svc:*`],
    routes: alsoForConnect({ name: 'unknown-local-service', match: { prefix: '/' }, ...directError(ir, L, 404, `no service %REQ(:authority)% in ${ir.domain}: apply a Service of that name`) }),
  });
  hosts.push({
    name: 'unknown-destination',
    domains: ['*'],
    routes: alsoForConnect({
      name: 'no-route',
      match: { prefix: '/' },
      ...directError(ir, L, 404, `no route to %REQ(:authority)%: call <service>.<domain>.svc for a domain with a route from ${ir.domain}`),
    }),
  });
  return { name: L, virtual_hosts: hosts };
}
