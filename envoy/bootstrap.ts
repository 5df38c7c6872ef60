// Envoy's bootstrap: only the admin interface and the way to the control
// plane. Everything else arrives over delta ADS.
import type { NodeConfig } from '../control-plane/config.ts';

export function envoyBootstrap(config: NodeConfig): Record<string, unknown> {
  const { envoyAdmin, xds } = config.listeners;
  return {
    node: { id: `${config.domain}-gateway`, cluster: `ferry-${config.domain}` },
    admin: {
      address: { socket_address: { address: envoyAdmin.address, port_value: envoyAdmin.port } },
      access_log: [{ name: 'envoy.access_loggers.file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: '/dev/null' } }],
    },
    dynamic_resources: {
      ads_config: {
        api_type: config.xdsVariant === 'sotw' ? 'GRPC' : 'DELTA_GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: 'ferry-xds' } }],
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
          endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: xds.address, port_value: xds.port } } } }] }],
        },
      }],
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
