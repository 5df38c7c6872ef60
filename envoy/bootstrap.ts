// Envoy's bootstrap: only the admin interface and the way to the control
// plane. Everything else arrives over delta ADS.
import type { NodeConfig } from '../control-plane/config.ts';

/** The header carrying the per-home xDS secret: the ADS server serves only streams that present it. */
export const XDS_SECRET_HEADER = 'x-ferry-xds-secret';

/**
 * Where Envoy's admin and the control plane are: Unix sockets in <home>/run
 * (the default; only the node's user can reach them), and the per-home secret
 * Envoy presents on its xDS stream. Without them (tests of the supervisor
 * alone), the TCP addresses of the configuration are used.
 */
export interface LocalEndpoints {
  adminSocket?: string;
  xdsSocket?: string;
  xdsSecret?: string;
}

/** A Unix socket; a listening one (admin) is made 0600, whatever the umask. */
const pipe = (path: string, listening = false) => ({ pipe: listening ? { path, mode: 0o600 } : { path } });
const tcp = (a: { address: string; port: number }) => ({ socket_address: { address: a.address, port_value: a.port } });

export function envoyBootstrap(config: NodeConfig, local: LocalEndpoints = {}): Record<string, unknown> {
  const { envoyAdmin, xds } = config.listeners;
  const need = <T>(v: T | undefined, what: string): T => {
    if (v === undefined) throw new Error(`ferry.yaml: listeners.${what} is not set and no Unix socket was given`);
    return v;
  };
  const adminAddress = local.adminSocket ? pipe(local.adminSocket, true) : tcp(need(envoyAdmin, 'envoyAdmin'));
  const xdsAddress = local.xdsSocket ? pipe(local.xdsSocket) : tcp(need(xds, 'xds'));
  // The admin TCP port, when configured beside the socket: a TCP proxy to the socket (Envoy's admin has one address).
  const adminTcp = local.adminSocket && envoyAdmin ? adminTcpProxy(envoyAdmin, local.adminSocket) : undefined;
  return {
    node: { id: `${config.domain}-gateway`, cluster: `ferry-${config.domain}` },
    admin: {
      address: adminAddress,
      access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/null' } }],
    },
    dynamic_resources: {
      ads_config: {
        api_type: config.xdsVariant === 'sotw' ? 'GRPC' : 'DELTA_GRPC',
        transport_api_version: 'V3',
        grpc_services: [{
          // Back on a restarted control plane within a second or two (Envoy's default waits up to 30 s).
          envoy_grpc: { cluster_name: 'ferry-xds', retry_policy: { retry_back_off: { base_interval: '0.25s', max_interval: '2s' } } },
          ...(local.xdsSecret ? { initial_metadata: [{ key: XDS_SECRET_HEADER, value: local.xdsSecret }] } : {}),
        }],
        set_node_on_first_message_only: true,
      },
      cds_config: { ads: {}, resource_api_version: 'V3' },
      lds_config: { ads: {}, resource_api_version: 'V3' },
    },
    static_resources: {
      clusters: [{
        name: 'ferry-xds',
        type: 'STATIC',
        connect_timeout: '1s',
        typed_extension_protocol_options: {
          'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
            '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
            explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '10s', timeout: '5s' } } },
          },
        },
        load_assignment: {
          cluster_name: 'ferry-xds',
          endpoints: [{ lb_endpoints: [{ endpoint: { address: xdsAddress } }] }],
        },
      }, ...(adminTcp ? [adminTcp.cluster] : [])],
      ...(adminTcp ? { listeners: [adminTcp.listener] } : {}),
    },
    // Internal listeners: a peer reached through a relay or a forward proxy is
    // dialled as TLS to the peer, carried by a CONNECT tunnel that an internal
    // listener opens (control-plane/xds: relays and proxies).
    bootstrap_extensions: [{
      name: 'envoy.bootstrap.internal_listener',
      typed_config: { '@type': 'type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener' },
    }],
    stats_config: statsConfig(),
    layered_runtime: {
      layers: [{ name: 'static', static_layer: { 'overload.global_downstream_max_connections': 50000 } }],
    },
  };
}

/** A loopback TCP listener forwarding to the admin socket (the optional --admin-port). */
function adminTcpProxy(at: { address: string; port: number }, socket: string) {
  return {
    listener: {
      name: 'ferry-admin-tcp',
      address: tcp(at),
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'ferry_admin', cluster: 'ferry-admin' } }] }],
    },
    cluster: {
      name: 'ferry-admin',
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: { cluster_name: 'ferry-admin', endpoints: [{ lb_endpoints: [{ endpoint: { address: pipe(socket) } }] }] },
    },
  };
}

/**
 * Tags that turn the names Ferry gives its routes into labels, so Envoy's
 * /stats/prometheus (and the node's /metrics, which curates it: see
 * control-plane/metrics.ts and docs/metrics.md) carries them as labels and
 * not inside metric names. Route stat prefixes are
 * `inbound.<peer>.<service>` and `outbound.<peer>.<route>` (DNS labels: no
 * dots), so `vhost.<vh>.route.inbound.bob.echo.upstream_rq_2xx` becomes
 * `route.upstream_rq` with direction, peer_domain, service and
 * the response class. Envoy's default tags (cluster name, listener address,
 * connection manager prefix, response code...) stay on. No stats_matcher:
 * every stat stays available on the admin port for debugging; the node
 * exports a bounded, curated subset.
 */
function statsConfig(): Record<string, unknown> {
  return {
    use_all_default_tags: true,
    stats_tags: [
      { tag_name: 'direction', regex: String.raw`^vhost\.[^.]+\.route\.((inbound|outbound)\.)[^.]+\.[^.]+\.` },
      { tag_name: 'peer_domain', regex: String.raw`^vhost\.[^.]+\.route\.(?:inbound|outbound)\.(([^.]+)\.)[^.]+\.` },
      { tag_name: 'service', regex: String.raw`^vhost\.[^.]+\.route\.inbound\.[^.]+\.(([^.]+)\.)` },
      { tag_name: 'route', regex: String.raw`^vhost\.[^.]+\.route\.outbound\.[^.]+\.(([^.]+)\.)` },
    ],
  };
}
