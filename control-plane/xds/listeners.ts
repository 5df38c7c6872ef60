// Listeners: the public port (a filter chain per partner), the internal
// listener for engines, local ports, and the node's tunnel and handshake listeners.
import type { Ir, Peer } from '../translate/ir.ts';
import { handshakeHost } from '../../interop/kuscia-handshake.ts';
import { LISTENER, SECRET, TYPE } from './envoy-types.ts';
import { NO_ROUTE_RBAC } from './access.ts';
import { PUBLIC_SCOPED_ROUTES, publicRoutesScoped, unroutedReplies } from './public-scopes.ts';
import { type J, ads, sds, overwrite, addIfAbsent, errorHeader, H2_WINDOWS, routeMeta, outboundStats, partnerAlpn, tunnelListenerName, relayHost, tunnelHost, proxyClusterName, INTERNAL_LOOPBACK, partnerStatPrefix, PUBLIC_EARLY_MUTATION, LINK_CHECK_HEADER, UNSENT_RETRY, BANDWIDTH_FILTER, bandwidthLimit, outboundHeaders } from './common.ts';
import { tokenGate } from './routes.ts';
import { accessLogFilter } from './access-log.ts';
import { kusciaCertPartners, kusciaValidation, kusciaIdentityFilter } from './kuscia-identity.ts';

/**
 * Locally generated replies: a JSON body and, when the reply did not set one,
 * a Kuscia-Error-Message naming the cause. Replies Ferry generates on purpose
 * (direct responses) set the header themselves; upstream failures get it here.
 */
export function localReplyConfig(ir: Ir, listener: string): J {
  const upstream = listener === LISTENER.public ? 'local service' : 'peer';
  const mapper = (flags: string[], cause: string, status?: number): J => ({
    filter: { response_flag_filter: { flags } },
    ...(status ? { status_code: status } : {}),
    headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener, cause))],
  });
  // Kuscia's unauthenticated answer, byte for byte in its fields (KUSCIA-WIRE.md).
  const unauthorizedBody = { json_format: { domain: ir.domain, instance: '%HOSTNAME%', kuscia: 'ferry', reason: 'unauthorized.' } };
  const unauthorized: J = {
    filter: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 401, runtime_key: 'ferry.unauthorized_status' } } } },
    headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener, 'unauthenticated'))],
    body_format_override: unauthorizedBody,
  };
  // A failure on a path whose last link check learnt why (a relay refusing): that reason first.
  const explained: J = {
    filter: { and_filter: { filters: [
      { response_flag_filter: { flags: ['UF', 'UH', 'DF', 'URX', 'UC', 'UR', 'UPE', 'UMSDR'] } },
      { header_filter: { header: { name: LINK_CHECK_HEADER, present_match: true } } },
    ] } },
    status_code: 503,
    headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener, `${upstream} unreachable: %REQ(${LINK_CHECK_HEADER})% (%UPSTREAM_TRANSPORT_FAILURE_REASON%)`))],
  };
  return {
    mappers: [
      // Public requests of no scope (no route): the fallback's answers (public-scopes.ts), first.
      ...(listener === LISTENER.public ? [...unroutedReplies(ir, unauthorizedBody), unauthorized] : [explained]),
      mapper(['UF', 'UH', 'DF'], `${upstream} unreachable: %UPSTREAM_TRANSPORT_FAILURE_REASON%`, 503),
      mapper(['URX', 'UC', 'UR', 'UPE', 'UMSDR'], `${upstream} reset the connection: %UPSTREAM_TRANSPORT_FAILURE_REASON%`, 502),
      mapper(['UT', 'SI'], `${upstream} timed out`, 504),
      mapper(['NR', 'NC'], 'no route for this request', 404),
      {
        filter: { status_code_filter: { comparison: { op: 'EQ', value: { default_value: 403, runtime_key: 'ferry.rbac_status' } } } },
        headers_to_add: [addIfAbsent('Kuscia-Error-Message', errorHeader(ir, listener,
          'Kuscia-Source "%REQ(kuscia-source)%" / Kuscia-Origin-Source "%REQ(kuscia-origin-source)%" is not the caller proven by its client certificate (%DOWNSTREAM_PEER_URI_SAN%) or token, or the origin is not allowed'))],
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
export function accessLog(ir: Ir, listener: string, file = listener): J[] {
  const filter = accessLogFilter(ir.accessLogSuccessPercent);
  return [{
    name: 'envoy.access_loggers.file',
    ...(filter ? { filter } : {}),
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
export function httpConnectionManager(ir: Ir, listener: string, httpFilters: J[], inline?: { routes: J; logFile: string }, statPrefix = listener): J {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': TYPE.hcm,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      // The caller's identity and the target, fixed before any route is chosen (common.ts).
      ...(listener === LISTENER.public ? { early_header_mutation_extensions: [PUBLIC_EARLY_MUTATION] } : {}),
      ...(inline ? { route_config: inline.routes } : listener === LISTENER.public && publicRoutesScoped(ir) ? { scoped_routes: PUBLIC_SCOPED_ROUTES } : { rds: { route_config_name: listener, config_source: ads } }),
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

export function downstreamTls(validation: J, requireClientCertificate = true): J {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TYPE.downstreamTls,
      require_client_certificate: requireClientCertificate,
      common_tls_context: { alpn_protocols: ['h2', 'http/1.1'], tls_certificate_sds_secret_configs: [sds(SECRET.gatewayCert)], ...validation },
    },
  };
}

export function publicListener(ir: Ir): J {
  const hcm = httpConnectionManager(ir, LISTENER.public, [NO_ROUTE_RBAC]);
  return {
    name: LISTENER.public,
    address: { socket_address: { address: ir.publicListener.address, port_value: ir.publicListener.port } },
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': TYPE.tlsInspector } }],
    filter_chains: [...ir.partners.filter((p) => p.gateway === 'ferry').map((p): J => ({
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
      filters: [httpConnectionManager(ir, LISTENER.public, [NO_ROUTE_RBAC], undefined, partnerStatPrefix(p.domain))],
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
    default_filter_chain: kusciaCertPartners(ir).length ? kusciaDefaultChain(ir) : {
      name: ir.tokenPartners.length ? 'token-senders' : 'any-partner',
      // The trusted partners are part of the chain: when they change, Envoy
      // replaces the chain and drains its connections, so a partner that
      // connected here before it was trusted (no chain of its own yet, no
      // identity) reconnects onto its own chain, and a removed one is cut off.
      metadata: { filter_metadata: { ferry: { partners: ir.partners.map((p) => p.domain).join(',') } } },
      transport_socket: ir.tokenPartners.length
        ? downstreamTls({}, false)
        : downstreamTls({ validation_context_sds_secret_config: sds(SECRET.partnerTrust) }),
      filters: [hcm],
    },
  };
}

/**
 * The default chain when Kuscia partners may call with client certificates
 * (MTLS): their CAs alone, at depth 1, and the caller read from the issuer
 * (kuscia-identity.ts). A certificate is required unless Token routes exist.
 * Ferry partners keep their own chains; a Ferry sender without its ALPN token
 * is not identified here (only Kuscia CAs are trusted on this chain).
 */
function kusciaDefaultChain(ir: Ir): J {
  return {
    name: ir.tokenPartners.length ? 'token-and-kuscia-senders' : 'kuscia-partners',
    metadata: { filter_metadata: { ferry: { partners: ir.partners.map((p) => p.domain).join(',') } } },
    transport_socket: withoutResumption(downstreamTls(kusciaValidation(ir), ir.tokenPartners.length === 0)),
    filters: [httpConnectionManager(ir, LISTENER.public, [kusciaIdentityFilter(ir), NO_ROUTE_RBAC])],
  };
}

/**
 * No TLS session resumption: Envoy marks the peer certificate of a resumed
 * session as not validated (it was, in the first handshake), and the identity
 * filter trusts only a certificate validated on this connection.
 */
function withoutResumption(socket: J): J {
  const config = socket.typed_config as J;
  return { ...socket, typed_config: { ...config, disable_stateless_session_resumption: true, disable_stateful_session_resumption: true } };
}

/**
 * 127.0.0.1:<port> for one service of a peer, for engines that can neither set
 * Host nor use a proxy. HTTP: any request is sent as <svc>.<peer>.svc. TCP:
 * each connection becomes a CONNECT tunnel to <svc>.<peer>.svc over the
 * peer link (the peer ends it, as for CONNECT from an engine).
 */
export function localPortListener(ir: Ir, p: Peer, m: Peer['localPorts'][number]): J {
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

export function internalListener(ir: Ir): J {
  return {
    name: LISTENER.internal,
    address: { socket_address: { address: ir.internalListener.address, port_value: ir.internalListener.port } },
    filter_chains: [{ filters: [httpConnectionManager(ir, LISTENER.internal, [BANDWIDTH_FILTER])] }],
  };
}

/**
 * The node's own way to a peer for the token handshake and heartbeat: a Unix
 * socket (0600) that only the node's user reaches, so no engine can start a
 * handshake in this domain's name. kuscia-handshake.<peer>.svc goes over the
 * peer's cluster (its TLS, its path prefix) like any request.
 */
export function handshakeEgressListener(ir: Ir): J {
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
          // Hop by hop: the relay forwards only what its link with this node authenticates.
          ...(p.path.kind === 'hop' && p.token && 'value' in p.token ? [overwrite('Kuscia-Token', p.token.value)] : []),
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

/**
 * The internal listener that opens the CONNECT tunnel a relayed or proxied
 * peer's TLS session travels in: HTTP/2 CONNECT over the link to the relay
 * (as this domain, for this origin), or HTTP/1.1 CONNECT to the proxy.
 */
export function tunnelListener(ir: Ir, p: Peer): J {
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

/**
 * Reverse tunnel, dialling side: each connection the node opens to this Unix
 * socket becomes one CONNECT ferry-tunnel.<peer>.svc over this node's mTLS
 * link to the peer, which keeps it to carry its calls to this node.
 */
export function reverseDialListener(ir: Ir, d: Ir['reverseDialers'][number]): J {
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
