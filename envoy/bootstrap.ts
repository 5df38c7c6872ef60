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
    layered_runtime: {
      layers: [{ name: 'static', static_layer: { 'overload.global_downstream_max_connections': 50000 } }],
    },
  };
}
