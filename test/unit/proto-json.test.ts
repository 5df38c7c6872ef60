// Unit tests of Envoy JSON -> protobuf encoding (envoy/proto-json.ts), checked
// by decoding the bytes again with the same Envoy protos.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { encodeJson, decodeToJson, typeForUrl } from '../../envoy/proto-json.ts';
import { messageType, TYPE_PREFIX } from '../../envoy/protos.ts';

const Cluster = messageType('envoy.config.cluster.v3.Cluster');
const Listener = messageType('envoy.config.listener.v3.Listener');
const FormatString = messageType('envoy.config.core.v3.SubstitutionFormatString');

type Obj = Record<string, any>;

function roundTrip(type: ReturnType<typeof messageType>, value: unknown): Obj {
  return decodeToJson(type, encodeJson(type, value)) as Obj;
}

/** Decodes a protobuf Any (as decodeToJson returns it: type_url + base64 value). */
function unpackAny(any: Obj): Obj {
  assert.equal(typeof any.type_url, 'string');
  return decodeToJson(typeForUrl(any.type_url), Buffer.from(any.value, 'base64')) as Obj;
}

const TLS_CONTEXT = `${TYPE_PREFIX}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`;
const HCM = `${TYPE_PREFIX}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = `${TYPE_PREFIX}envoy.extensions.filters.http.router.v3.Router`;
const FILE_LOG = `${TYPE_PREFIX}envoy.extensions.access_loggers.file.v3.FileAccessLog`;

describe('encodeJson: well-known types', () => {
  test('Duration strings become seconds + nanos', () => {
    const cases: [string, Obj][] = [
      ['3s', { seconds: 3 }],
      ['1.5s', { seconds: 1, nanos: 500_000_000 }],
      ['0.001s', { nanos: 1_000_000 }],
      ['0.000000001s', { nanos: 1 }],
      ['-1.5s', { seconds: -1, nanos: -500_000_000 }],
      ['0s', {}],
    ];
    for (const [text, expected] of cases) {
      assert.deepEqual(roundTrip(Cluster, { connect_timeout: text }).connect_timeout, expected, text);
    }
  });

  // proto3 JSON: "-0.5s" is seconds 0, nanos -500000000. parseDuration reads the
  // sign from Number("-0") < 0, which is false, so the sign is lost.
  test('a negative sub-second Duration keeps its sign', () => {
    assert.deepEqual(roundTrip(Cluster, { connect_timeout: '-0.5s' }).connect_timeout, { nanos: -500_000_000 });
  });

  test('a bad Duration is an error naming the field and the expected form', () => {
    for (const bad of ['1500ms', '1.5', 1.5, '1.1234567891s', 's', { seconds: 1 }]) {
      assert.throws(() => encodeJson(Cluster, { connect_timeout: bad }), (e: Error) => {
        assert.match(e.message, /^connect_timeout: expected a duration like "1\.5s", got /);
        assert.ok(e.message.endsWith(JSON.stringify(bad)), e.message);
        return true;
      });
    }
  });

  test('wrapper types take bare scalars', () => {
    const out = roundTrip(Cluster, {
      per_connection_buffer_limit_bytes: 32768, // UInt32Value
      common_lb_config: { healthy_panic_threshold: { value: 50 } }, // Percent (a message, not a wrapper)
      respect_dns_ttl: true,
    });
    assert.deepEqual(out.per_connection_buffer_limit_bytes, { value: 32768 });
    assert.deepEqual(out.common_lb_config, { healthy_panic_threshold: { value: 50 } });
    const hcm = roundTrip(messageType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager'), {
      stat_prefix: 'x',
      use_remote_address: true, // BoolValue
      xff_num_trusted_hops: 1,
    });
    assert.deepEqual(hcm.use_remote_address, { value: true });
  });

  test('a wrapper with the wrong scalar type is an error naming the field', () => {
    assert.throws(() => encodeJson(Cluster, { per_connection_buffer_limit_bytes: 'big' }), /per_connection_buffer_limit_bytes\.value: integer expected/);
  });

  test('Struct (SubstitutionFormatString.json_format) round-trips every JSON value kind', () => {
    const json = { start: '%START_TIME%', code: 200, ok: true, none: null, list: [1, 'two'], nested: { path: '%REQ(:PATH)%' } };
    const out = roundTrip(FormatString, { json_format: json });
    assert.deepEqual(out, {
      json_format: {
        fields: {
          start: { stringValue: '%START_TIME%' },
          code: { numberValue: 200 },
          ok: { boolValue: true },
          none: { nullValue: 'NULL_VALUE' },
          list: { listValue: { values: [{ numberValue: 1 }, { stringValue: 'two' }] } },
          nested: { structValue: { fields: { path: { stringValue: '%REQ(:PATH)%' } } } },
        },
      },
    });
  });

  // convertField passes any value to structFields: a string becomes a Struct with
  // keys "0", "1", ... (silently), null throws a bare TypeError without the path.
  test('a Struct given a non-object is an error naming the field', () => {
    for (const bad of ['abc', ['a'], null]) {
      assert.throws(() => encodeJson(FormatString, { json_format: bad }), /^Error: json_format: /, JSON.stringify(bad));
    }
  });
});

describe('encodeJson: Any with @type', () => {
  test('a typed_config is packed with its type URL and its own fields', () => {
    const out = roundTrip(Cluster, {
      name: 'alice-to-bob-http',
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TLS_CONTEXT, sni: 'bob.example.com' } },
    });
    assert.equal(out.transport_socket.typed_config.type_url, TLS_CONTEXT);
    assert.deepEqual(unpackAny(out.transport_socket.typed_config), { sni: 'bob.example.com' });
  });

  test('nested Any (Listener -> HCM -> router and access log) encodes all the way down', () => {
    const listener = {
      name: 'public',
      address: { socket_address: { address: '0.0.0.0', port_value: 1080 } },
      filter_chains: [{
        filters: [{
          name: 'envoy.filters.network.http_connection_manager',
          typed_config: {
            '@type': HCM,
            stat_prefix: 'public',
            codec_type: 'HTTP2',
            stream_idle_timeout: '300s',
            http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER, suppress_envoy_headers: true } }],
            access_log: [{
              name: 'envoy.access_loggers.file',
              typed_config: { '@type': FILE_LOG, path: '/dev/stdout', log_format: { json_format: { code: '%RESPONSE_CODE%' } } },
            }],
          },
        }],
      }],
    };
    const out = roundTrip(Listener, listener);
    assert.deepEqual(out.address, { socket_address: { address: '0.0.0.0', port_value: 1080 } });
    const hcm = unpackAny(out.filter_chains[0].filters[0].typed_config);
    assert.equal(hcm.stat_prefix, 'public');
    assert.equal(hcm.codec_type, 'HTTP2');
    assert.deepEqual(hcm.stream_idle_timeout, { seconds: 300 });
    assert.equal(hcm.http_filters[0].typed_config.type_url, ROUTER);
    assert.deepEqual(unpackAny(hcm.http_filters[0].typed_config), { suppress_envoy_headers: true });
    const log = unpackAny(hcm.access_log[0].typed_config);
    assert.equal(log.path, '/dev/stdout');
    assert.deepEqual(log.log_format.json_format, { fields: { code: { stringValue: '%RESPONSE_CODE%' } } });
  });

  test('an Any without @type is an error naming the field', () => {
    assert.throws(
      () => encodeJson(Cluster, { transport_socket: { name: 'tls', typed_config: { sni: 'x' } } }),
      /^Error: transport_socket\.typed_config: Any needs an "@type"$/,
    );
  });

  test('an unknown @type is an error naming the type URL', () => {
    assert.throws(
      () => encodeJson(Cluster, { transport_socket: { name: 'tls', typed_config: { '@type': `${TYPE_PREFIX}envoy.Nope` } } }),
      /unknown message type type\.googleapis\.com\/envoy\.Nope/,
    );
  });

  test('typeForUrl accepts a full type URL or a bare name', () => {
    assert.equal(typeForUrl(TLS_CONTEXT).name, 'UpstreamTlsContext');
    assert.equal(typeForUrl('envoy.config.cluster.v3.Cluster').name, 'Cluster');
  });
});

describe('encodeJson: enums', () => {
  test('enum names encode and decode back as names', () => {
    const out = roundTrip(Cluster, { type: 'STRICT_DNS', lb_policy: 'LEAST_REQUEST', dns_lookup_family: 'V4_ONLY' });
    assert.equal(out.type, 'STRICT_DNS');
    assert.equal(out.lb_policy, 'LEAST_REQUEST');
    assert.equal(out.dns_lookup_family, 'V4_ONLY');
  });

  test('enum numbers are accepted', () => {
    assert.equal(roundTrip(Cluster, { type: 1 }).type, 'STRICT_DNS');
  });

  test('a bad enum name is an error that lists the allowed values', () => {
    assert.throws(() => encodeJson(Cluster, { lb_policy: 'ROUND_ROBINN' }), (e: Error) => {
      assert.match(e.message, /^lb_policy: "ROUND_ROBINN" is not one of /);
      for (const name of ['ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH', 'RANDOM', 'MAGLEV']) assert.ok(e.message.includes(name), name);
      return true;
    });
  });

  test('a bad enum deep in a message names the full path', () => {
    const bad = { load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 1, protocol: 'SCTP' } } } }] }] } };
    assert.throws(() => encodeJson(Cluster, bad), /^Error: load_assignment\.endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.socket_address\.protocol: "SCTP" is not one of TCP, UDP$/);
  });
});

describe('encodeJson: shape errors', () => {
  test('an unknown field is an error naming its path and the message type', () => {
    assert.throws(() => encodeJson(Cluster, { conect_timeout: '1s' }), /^Error: conect_timeout: no such field in envoy\.config\.cluster\.v3\.Cluster$/);
  });

  test('an unknown field in a list item names the index', () => {
    const bad = { load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{}, { endpiont: {} }] }] } };
    assert.throws(() => encodeJson(Cluster, bad), /^Error: load_assignment\.endpoints\[0\]\.lb_endpoints\[1\]\.endpiont: no such field in envoy\.config\.endpoint\.v3\.LbEndpoint$/);
  });

  test('an unknown field inside a typed_config names the path through the Any', () => {
    const bad = { transport_socket: { name: 'tls', typed_config: { '@type': TLS_CONTEXT, snii: 'x' } } };
    assert.throws(() => encodeJson(Cluster, bad), /^Error: transport_socket\.typed_config\.snii: no such field in envoy\.extensions\.transport_sockets\.tls\.v3\.UpstreamTlsContext$/);
  });

  test('a non-list for a repeated field is an error', () => {
    assert.throws(() => encodeJson(Cluster, { load_assignment: { cluster_name: 'c', endpoints: {} } }), /^Error: load_assignment\.endpoints: expected a list$/);
  });

  test('a scalar where a message belongs is an error', () => {
    assert.throws(() => encodeJson(Cluster, { load_assignment: 'c' }), /load_assignment: expected an object for envoy\.config\.endpoint\.v3\.ClusterLoadAssignment/);
  });

  test('a wrong scalar type is caught by verify', () => {
    assert.throws(() => encodeJson(Cluster, { name: 5 }), /name: string expected/);
  });

  test('map fields convert their values (typed_extension_protocol_options holds Any values)', () => {
    const HTTP_OPTS = `${TYPE_PREFIX}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`;
    const out = roundTrip(Cluster, {
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': HTTP_OPTS, explicit_http_config: { http2_protocol_options: {} } },
      },
    });
    const any = out.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
    assert.equal(any.type_url, HTTP_OPTS);
    assert.deepEqual(unpackAny(any), { explicit_http_config: { http2_protocol_options: {} } });
  });
});
