// Issue 12 item 3: every value that passed `ferry apply` and was then NACKed
// by Envoy (or was nonsense) is refused, naming the field and the fix; the
// parsers behind it (control-plane/resources/limits.ts) are exact.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateResource, ValidationError } from '../../control-plane/resources/validate.ts';
import { hostProblem, isIPv4, parseDuration, parseBandwidthKiBps, MAX_DURATION_SECONDS } from '../../control-plane/resources/limits.ts';

const ctx = { domain: 'alice' };
type Doc = Record<string, any>;

const service = (spec: Doc = {}, annotations?: Record<string, string>, labels?: Record<string, string>): Doc => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'echo', ...(annotations ? { annotations } : {}), ...(labels ? { labels } : {}) },
  spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 80 }], ...spec },
});
const route = (spec: Doc = {}, annotations?: Record<string, string>): Doc => ({
  apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'ClusterDomainRoute', metadata: { name: 'alice-bob', ...(annotations ? { annotations } : {}) },
  spec: { source: 'alice', destination: 'bob', authenticationType: 'MTLS', endpoint: { host: 'bob.example.com', ports: [{ name: 'http', port: 1080, protocol: 'HTTP' }] }, ...spec },
});

function refused(doc: unknown, field: string, fix: RegExp): void {
  assert.throws(() => validateResource(doc, ctx), (e: unknown) => {
    assert.ok(e instanceof ValidationError, String(e));
    assert.equal(e.field, field, e.message);
    assert.match(e.message, fix);
    return true;
  });
}

const BAD_HOSTS: [string, RegExp][] = [
  ['999.1.1.1', /not an IPv4 address.*no leading zeros/],
  ['010.0.0.1', /not an IPv4 address.*no leading zeros/],
  ['1.2.3', /not an IPv4 address/],
  [`${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(63)}.${'e'.repeat(45)}`, /at most 253/],
  [`${'a'.repeat(64)}.example`, /1-63 letters/],
  ['a'.repeat(300), /at most 253/],
  ['bad\uD800host', /lone UTF-16 surrogate/],
  ['10.0.0.0/8', /CIDR/],
  ['::1', /IPv6/],
  ['bob:443', /contains a port/],
  ['http://bob', /is a URL/],
  ['a b', /space or control character/],
  ['a\0b', /NUL|control/],
  ['-bob.example', /not starting or ending with "-"/],
  ['bob_1.example', /letters, digits or "-"/],
  ['', /is empty/],
];

describe('hosts: a real parser, not a pattern', () => {
  test('IPv4 is a strict dotted quad', () => {
    for (const ok of ['0.0.0.0', '10.1.2.3', '255.255.255.255', '127.0.0.1']) assert.ok(isIPv4(ok), ok);
    for (const bad of ['256.1.1.1', '010.0.0.1', '1.2.3', '1.2.3.4.5', '1..2.3', '+1.2.3.4', '1.2.3.4 ', '0x1.2.3.4']) assert.ok(!isIPv4(bad), bad);
  });

  test('DNS names per RFC 1123 with length limits; names that look numeric must be IPs', () => {
    for (const ok of ['bob', 'bob.example.com', 'kuscia-system.alice.svc', 'b0b.example.', '1bob.example', `${'a'.repeat(63)}.example`]) assert.equal(hostProblem(ok), undefined, ok);
    for (const [bad, why] of BAD_HOSTS) assert.match(hostProblem(bad) ?? 'accepted', why, JSON.stringify(bad));
    assert.match(hostProblem('example.123')!, /all digits/);
    assert.match(hostProblem('bob.example', false)!, /not an IPv4 address/);
  });

  test('each bad host is refused in every place a host is written, naming the field', () => {
    for (const [bad, why] of BAD_HOSTS) {
      // NUL and lone surrogates are refused before the schema (no proto string may hold them), at the same field.
      refused(service({ externalName: bad }), 'spec.externalName', bad === '' ? /is empty|must NOT have fewer/ : why);
      refused(route({ endpoint: { host: bad, ports: [{ name: 'http', port: 1080, protocol: 'HTTP' }] } }), 'spec.endpoint.host', bad === '' ? /is empty|must NOT have fewer/ : why);
    }
    refused(service({ externalName: '10.0.0.1', externalIPs: ['010.0.0.1'] }), 'spec.externalIPs[0]', /no leading zeros/);
    refused(service({ externalName: '10.0.0.1', externalIPs: ['10.0.0.0/8'] }), 'spec.externalIPs[0]', /CIDR/);
    for (const proxy of ['http://999.1.1.1:3128', 'http://a b:3128', 'http://10.0.0.0/8:3128', 'http://::1:3128']) {
      refused(route({}, { 'ferry.secretflow/proxy': proxy }), 'metadata.annotations.ferry.secretflow/proxy', /http:\/\/<host>:<port>/);
    }
  });
});

describe('durations, rates and sizes within what Envoy (and Kubernetes) accept', () => {
  test('timeouts: a number and a unit, at most a year', () => {
    assert.equal(parseDuration('500ms'), 0.5);
    assert.equal(parseDuration('8760h'), MAX_DURATION_SECONDS);
    for (const bad of ['99999999999h', '8761h', '1e5s', '-1s', '1.5h', '9'.repeat(400) + 's']) assert.equal(parseDuration(bad), undefined, bad);
    for (const key of ['ferry.secretflow/timeout', 'ferry.secretflow/idle-timeout']) {
      refused(service({}, { [key]: '99999999999h' }), `metadata.annotations.${key}`, /at most a year \(8760h\).*"90s"/);
    }
  });

  test('bandwidth from 1 KiB/s to 1 TiB/s', () => {
    assert.equal(parseBandwidthKiBps('1024GiB/s'), 1024 ** 3);
    for (const bad of ['1e20GiB/s', '100000000000000GiB/s', '1025GiB/s', '0KiB/s']) assert.equal(parseBandwidthKiBps(bad), undefined, bad);
    refused(route({}, { 'ferry.secretflow/bandwidth-limit': '1e20GiB/s' }), 'metadata.annotations.ferry.secretflow/bandwidth-limit', /1 KiB\/s to 1 TiB\/s.*"8MiB\/s"/);
  });

  test('rollingUpdatePeriod at most ten years', () => {
    const token = (period: number) => route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN', rollingUpdatePeriod: period } });
    validateResource(token(86400), ctx);
    refused(token(1e15), 'spec.tokenConfig.rollingUpdatePeriod', /must be <= 315360000.*0 = never roll/);
  });

  test('labels and annotations within Kubernetes limits', () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    refused(service({}, undefined, { big }), 'metadata.labels.big', /1-63 letters/);
    refused(service({}, { big }), 'metadata.annotations', /at most 262144 \(256 KiB/);
    refused(service({}, { [`${'a'.repeat(64)}`]: 'v' }), `metadata.annotations.${'a'.repeat(64)}`, /1-63/);
    refused(service({}, undefined, { 'Example.com/x': 'v' }), 'metadata.labels.Example.com/x', /lowercase DNS subdomain/);
    validateResource(service({}, { 'kuscia.secretflow/access-domain': 'bob', note: 'x'.repeat(200 * 1024) }, { app: 'echo', 'example.com/tier': '' }), ctx);
  });

  test('NUL and lone surrogates are refused anywhere in a document', () => {
    refused(service({}, { note: 'a\uDC00' }), 'metadata.annotations.note', /lone UTF-16 surrogate/);
    refused(route({ requestHeadersToAdd: { 'x-a': 'a\0' } }), 'spec.requestHeadersToAdd.x-a', /NUL/);
  });
});
