// Clusters and secrets: partner gateways (direct, through a proxy or a relay,
// over reverse tunnels), local services, the node's own sockets; certificates.
import type { Ir, LocalService, Peer } from '../translate/ir.ts';
import { SECRET, TYPE, spiffeId } from './envoy-types.ts';
import { type J, type GatewayKeyMaterial, IPV4, sds, memo, endpointCluster, httpOptions, pipeCluster, partnerAlpn, tunnelListenerName, proxyClusterName, relayClusterName, INTERNAL_LOOPBACK, HANDSHAKE_CLUSTER } from './common.ts';

/** Toward a Kuscia gateway, gRPC calls go on a cluster of their own in HTTP/2 (see peerCluster). */
export const kusciaGrpcCluster = (p: Peer) => `${p.cluster}-grpc`;

export function peerCluster(ir: Ir, p: Peer, grpc = false): J {
  // Token routes prove the sender by Kuscia-Token: no client certificate and no
  // partner ALPN token, so the peer authenticates exactly as it would behind a
  // TLS-terminating gateway.
  const mtls = p.auth === 'MTLS';
  const kuscia = p.gateway === 'kuscia';
  // A Kuscia gateway forwards each call to the service in the protocol it
  // arrived in (use_downstream_protocol_config): an HTTP/1.1 service must get
  // HTTP/1.1, a gRPC service HTTP/2. So toward Kuscia, gRPC calls (routed by
  // content-type) take an HTTP/2 cluster and all others an HTTP/1.1 one; a
  // Ferry partner gets every call multiplexed on one HTTP/2 link.
  const http2 = !kuscia || grpc;
  const protocol = httpOptions(http2);
  const endpoint = grpc ? renamed(peerEndpoint(ir, p), kusciaGrpcCluster(p)) : peerEndpoint(ir, p);
  if (p.plaintext) return { ...endpoint, typed_extension_protocol_options: protocol };
  const validation = p.endpointCaPem
    ? {
      // A TLS-terminating gateway (e.g. the partner institution's nginx) answers: its own CA and name.
      validation_context: {
        trusted_ca: { inline_string: p.endpointCaPem },
        // Kuscia's gateway certificates name only an IP address: the route's tlsCA alone vouches for them.
        ...(kuscia ? {} : { match_typed_subject_alt_names: [IPV4.test(p.host) ? { san_type: 'IP_ADDRESS', matcher: { exact: p.host } } : { san_type: 'DNS', matcher: { exact: p.host } }] }),
      },
    }
    : kuscia
    ? {
      // Kuscia's gateway certificate (CN=<domain>_ENVOY_EXTERNAL, an IP SAN,
      // no SPIFFE identity) is signed by the partner's domain certificate:
      // the chain to that partner's CA, trusted for this cluster alone, is the identity.
      validation_context_sds_secret_config: sds(SECRET.peerCa(p.domain)),
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
    ...endpoint,
    typed_extension_protocol_options: protocol,
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': TYPE.upstreamTls,
        sni: p.sni,
        common_tls_context: {
          alpn_protocols: kuscia ? [http2 ? 'h2' : 'http/1.1'] : mtls ? ['h2', partnerAlpn(ir.domain)] : ['h2'],
          ...(mtls ? { tls_certificate_sds_secret_configs: [sds(SECRET.gatewayCert)] } : {}),
          ...validation,
        },
      },
    },
  };
}

function renamed(cluster: J, name: string): J {
  return { ...cluster, name, load_assignment: { ...(cluster.load_assignment as J), cluster_name: name } };
}

/**
 * Where the TLS session to a peer goes: its endpoint; or an internal listener
 * that carries it in a CONNECT tunnel (through a relay domain or a forward
 * proxy); or, for a reverse tunnel, the node's tunnel broker, which splices it
 * into a connection the peer dialled in.
 */
export function peerEndpoint(ir: Ir, p: Peer): J {
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

/** The forward proxy (e.g. squid) a peer is reached through: plain HTTP/1.1, CONNECT. */
export function proxyCluster(p: Peer): J {
  const path = p.path as { host: string; port: number };
  return endpointCluster(proxyClusterName(p.domain), [path.host], path.port);
}

/** As a relay: plain TCP to each destination's endpoint (the bytes are the origin's TLS session). */
export function relayEndpointClusters(ir: Ir): J[] {
  const seen = new Map<string, J>();
  for (const r of ir.relays) {
    if (r.next.kind === 'endpoint' && !seen.has(r.destination)) seen.set(r.destination, endpointCluster(relayClusterName(r.destination), [r.next.host], r.next.port));
  }
  return [...seen.values()];
}

export function internalLoopbackCluster(ir: Ir): J {
  return { ...endpointCluster(INTERNAL_LOOPBACK, [ir.internalListener.address], ir.internalListener.port), typed_extension_protocol_options: httpOptions(true) };
}

export function handshakeCluster(ir: Ir): J {
  return {
    name: HANDSHAKE_CLUSTER,
    type: 'STATIC',
    connect_timeout: '5s',
    load_assignment: { cluster_name: HANDSHAKE_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: ir.sockets.handshake } } } }] }] },
  };
}

/**
 * A local service's connection pool: Envoy closes an idle connection after 4 s,
 * before the service does (Node's and Python's HTTP servers close after 5 s):
 * otherwise a request sent on a connection the service is closing at that very
 * moment is reset (a 502 "local service reset the connection").
 */
function serviceHttpOptions(http2: boolean): J {
  const options = httpOptions(http2);
  const key = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
  return { [key]: { ...(options[key] as J), common_http_protocol_options: { idle_timeout: '4s' } } };
}

export const serviceCluster = memo((s: LocalService): J => {
  const cluster = s.socketPath
    ? pipeCluster(s.cluster, s.socketPath)
    : s.protocol === 'TCP'
    ? endpointCluster(s.cluster, s.addresses, s.port)
    : { ...endpointCluster(s.cluster, s.addresses, s.port), typed_extension_protocol_options: serviceHttpOptions(s.protocol === 'GRPC') };
  // Statistics and access logs name the Service while it is alone on its backend (resources-to-ir.ts sharedBackends).
  return s.statName && s.statName !== s.cluster ? { ...cluster, alt_stat_name: s.statName } : cluster;
});

export function secrets(ir: Ir, gateway: GatewayKeyMaterial): J[] {
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
