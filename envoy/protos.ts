// Loads the Envoy v3 API protos that @grpc/grpc-js-xds carries into one
// protobufjs Root, so xDS resources written as plain objects (Envoy's JSON
// shape, with `@type` on Any) can be encoded to the bytes Envoy expects.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const includeDirs = [
  ...['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) => join(depsDir, d)),
  dirname(require.resolve('protobufjs/package.json')), // google/protobuf/descriptor.proto
];

/** Every message type Ferry puts in an Any or a DiscoveryResponse. */
const entryFiles = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/route/v3/scoped_route.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/bandwidth_limit/v3/bandwidth_limit.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/http/early_header_mutation/header_mutation/v3/header_mutation.proto',
];

function loadRoot(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    for (const dir of includeDirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(entryFiles, { keepCase: true });
  // Newer than the protos @grpc/grpc-js-xds carries (Envoy >= 1.33; number 18 in Envoy 1.40's descriptor):
  // the header a RouteConfiguration picks its virtual host by (Ferry: Kuscia-Host).
  const routeConfiguration = root.lookupType('envoy.config.route.v3.RouteConfiguration');
  if (!routeConfiguration.fields.vhost_header) routeConfiguration.add(new protobuf.Field('vhost_header', 18, 'string'));
  root.resolveAll();
  return root;
}

export const protoRoot = loadRoot();

export function messageType(fullName: string): protobuf.Type {
  return protoRoot.lookupType(fullName);
}

export const TYPE_PREFIX = 'type.googleapis.com/';
