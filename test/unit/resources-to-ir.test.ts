// Unit tests of the pure translation stored resources -> IR
// (control-plane/translate/resources-to-ir.ts): peers, blocked peers, services
// and the status (reason + fix) of every resource.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { defaultConfig } from '../../control-plane/config.ts';
import { groupResources, type Resource, type RouteResource } from '../../control-plane/resources/types.ts';
import { translateToIr } from '../../control-plane/translate/resources-to-ir.ts';
import type { Ir, ResourceStatus } from '../../control-plane/translate/ir.ts';
import { createDomainCa, type CertAndKey } from '../../certs/authority.ts';

const config = defaultConfig('alice');
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

let aliceCa: CertAndKey;
let bobCa: CertAndKey;
let carolCa: CertAndKey;
before(() => {
  aliceCa = createDomainCa('alice');
  bobCa = createDomainCa('bob');
  carolCa = createDomainCa('carol');
});

function outbound(name: string, destination = 'bob', endpoint: Partial<RouteResource['spec']['endpoint']> = {}, extra: Partial<RouteResource['spec']> = {}): RouteResource {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1',
    kind: 'ClusterDomainRoute',
    metadata: { name },
    spec: {
      source: 'alice',
      destination,
      authenticationType: 'MTLS',
      endpoint: { host: `${destination}.example.com`, ports: [{ name: 'http', port: 1080, protocol: 'HTTP' }], ...endpoint },
      ...extra,
    },
  };
}

function inbound(name: string, source: string): RouteResource {
  const r = outbound(name, 'alice');
  r.spec.source = source;
  return r;
}

function partner(name: string, certPem?: string): Resource {
  return { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name }, spec: { role: 'partner', ...(certPem ? { cert: b64(certPem) } : {}) } };
}

function service(name: string, annotations?: Record<string, string>): Resource {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { type: 'ExternalName', externalName: 'echo.internal', ports: [{ port: 8080 }] },
  };
}

function translate(resources: Resource[]): Ir {
  return translateToIr(groupResources(resources), config, aliceCa.certPem, '/var/log/ferry');
}

function statusOf(ir: Ir, kind: string, name: string): ResourceStatus {
  const found = ir.statuses.filter((s) => s.kind === kind && s.name === name);
  assert.equal(found.length, 1, `exactly one status for ${kind}/${name}`);
  return found[0]!;
}

describe('translateToIr: node', () => {
  test('carries the domain, listeners and own CA from the config', () => {
    const ir = translate([]);
    assert.equal(ir.domain, 'alice');
    assert.deepEqual(ir.publicListener, { address: '0.0.0.0', port: 1080 });
    assert.deepEqual(ir.internalListener, { address: '127.0.0.1', port: 1081 });
    assert.equal(ir.ownCaPem, aliceCa.certPem);
    assert.deepEqual([ir.partners, ir.peers, ir.blockedPeers, ir.services, ir.statuses], [[], [], [], [], []]);
  });

  test('listener ports follow the config', () => {
    const ir = translateToIr(groupResources([]), defaultConfig('alice', { public: 2080, internal: 2081 }), aliceCa.certPem, '/var/log/ferry');
    assert.equal(ir.publicListener.port, 2080);
    assert.equal(ir.internalListener.port, 2081);
  });
});

describe('translateToIr: outbound routes', () => {
  test('a route to a partner without a Domain is blocked and not ready, naming the Domain and the fix', () => {
    const ir = translate([outbound('alice-bob')]);
    assert.deepEqual(ir.peers, []);
    assert.equal(ir.blockedPeers.length, 1);
    const blocked = ir.blockedPeers[0]!;
    assert.equal(blocked.domain, 'bob');
    assert.equal(blocked.route, 'ClusterDomainRoute/alice-bob');
    assert.match(blocked.reason, /Domain bob/);
    const status = statusOf(ir, 'ClusterDomainRoute', 'alice-bob');
    assert.equal(status.ready, false);
    assert.match(status.reason, /partner Domain bob is unknown/);
    assert.ok(status.fix, 'a not-ready status says what fixes it');
    assert.match(status.fix, /apply a Domain named bob/);
    assert.match(status.fix, /role: partner/);
    assert.match(status.fix, /spec\.cert/);
    assert.match(status.fix, /ferry cert export/);
  });

  test('a partner Domain without a cert blocks the route with its own reason', () => {
    const ir = translate([outbound('alice-bob'), partner('bob')]);
    assert.equal(ir.blockedPeers.length, 1);
    assert.match(statusOf(ir, 'ClusterDomainRoute', 'alice-bob').reason, /Domain bob has no CA certificate/);
    const domainStatus = statusOf(ir, 'Domain', 'bob');
    assert.equal(domainStatus.ready, false);
    assert.match(domainStatus.reason, /spec\.cert is empty/);
    assert.match(domainStatus.fix ?? '', /apply a Domain named bob/);
    assert.deepEqual(ir.partners, []);
  });

  test('with the partner Domain (real CA, base64) the route yields a Peer', () => {
    const ir = translate([outbound('alice-bob'), partner('bob', bobCa.certPem)]);
    assert.deepEqual(ir.blockedPeers, []);
    assert.deepEqual(ir.partners, [{ domain: 'bob', caPem: bobCa.certPem, gateway: 'ferry' }]);
    assert.deepEqual(ir.peers, [{
      domain: 'bob',
      route: 'ClusterDomainRoute/alice-bob',
      cluster: 'alice-to-bob-http',
      host: 'bob.example.com',
      port: 1080,
      sni: 'bob.example.com',
      pathPrefix: '',
      headersToAdd: [],
      caPem: bobCa.certPem,
      gateway: 'ferry',
      auth: 'MTLS',
      plaintext: false,
      path: { kind: 'direct' },
      localPorts: [],
    }]);
    const status = statusOf(ir, 'ClusterDomainRoute', 'alice-bob');
    assert.equal(status.ready, true);
    assert.equal(status.fix, undefined);
    assert.equal(statusOf(ir, 'Domain', 'bob').ready, true);
  });

  test('a partner is a Kuscia gateway by annotation, or when its CA is not a Ferry CA', () => {
    const annotated = translate([outbound('alice-bob'), { ...partner('bob', bobCa.certPem), metadata: { name: 'bob', annotations: { 'ferry.secretflow/gateway': 'kuscia' } } }]);
    assert.equal(annotated.partners[0]!.gateway, 'kuscia');
    assert.equal(annotated.peers[0]!.gateway, 'kuscia');
    assert.match(statusOf(annotated, 'Domain', 'bob').reason, /runs a Kuscia gateway \(ferry\.secretflow\/gateway\)/);
    const ferry = translate([outbound('alice-bob'), partner('bob', bobCa.certPem)]);
    assert.equal(ferry.partners[0]!.gateway, 'ferry', 'a CA made by ferry init');
  });

  test('the cluster is named <src>-to-<dst>-<portName> after the first port', () => {
    const ir = translate([
      outbound('alice-bob', 'bob', { ports: [{ name: 'grpc', port: 443, protocol: 'GRPC' }, { name: 'http', port: 80, protocol: 'HTTP' }] }),
      partner('bob', bobCa.certPem),
    ]);
    assert.equal(ir.peers[0]?.cluster, 'alice-to-bob-grpc');
    assert.equal(ir.peers[0]?.port, 443);
  });

  test('SNI is the host for a name, the domain id for an IP address', () => {
    const v4 = translate([outbound('alice-bob', 'bob', { host: '10.1.2.3' }), partner('bob', bobCa.certPem)]);
    assert.equal(v4.peers[0]?.sni, 'bob');
    assert.equal(v4.peers[0]?.host, '10.1.2.3');
    const v6 = translate([outbound('alice-bob', 'bob', { host: 'fd00::1' }), partner('bob', bobCa.certPem)]);
    assert.equal(v6.peers[0]?.sni, 'bob');
  });

  test('pathPrefix loses trailing slashes; headers are sorted pairs', () => {
    const ir = translate([
      outbound('alice-bob', 'bob', { ports: [{ name: 'http', port: 1080, protocol: 'HTTP', pathPrefix: '/gw/bob//' }] }, { requestHeadersToAdd: { 'X-Z': 'z', 'X-A': 'a' } }),
      partner('bob', bobCa.certPem),
    ]);
    assert.equal(ir.peers[0]?.pathPrefix, '/gw/bob');
    assert.deepEqual(ir.peers[0]?.headersToAdd, [['X-A', 'a'], ['X-Z', 'z']]);
  });

  test('a second outbound route to the same destination is not ready and names the first', () => {
    const ir = translate([outbound('alice-bob'), outbound('alice-bob-2', 'bob', { host: 'other.example.com' }), partner('bob', bobCa.certPem)]);
    assert.equal(ir.peers.length, 1);
    assert.equal(ir.peers[0]?.route, 'ClusterDomainRoute/alice-bob');
    assert.equal(ir.peers[0]?.host, 'bob.example.com');
    assert.equal(statusOf(ir, 'ClusterDomainRoute', 'alice-bob').ready, true);
    const second = statusOf(ir, 'ClusterDomainRoute', 'alice-bob-2');
    assert.equal(second.ready, false);
    assert.match(second.reason, /ClusterDomainRoute\/alice-bob already routes alice -> bob/);
    assert.match(second.fix ?? '', /delete one/);
  });

  test('a duplicate of a blocked route is reported as the duplicate, and blocks only once', () => {
    const ir = translate([outbound('alice-bob'), outbound('alice-bob-2')]);
    assert.equal(ir.blockedPeers.length, 1);
    assert.match(statusOf(ir, 'ClusterDomainRoute', 'alice-bob-2').reason, /already routes/);
  });

  test('routes to two partners give two peers; one missing Domain blocks only its route', () => {
    const ir = translate([outbound('alice-bob'), outbound('alice-carol', 'carol'), outbound('alice-dave', 'dave'), partner('bob', bobCa.certPem), partner('carol', carolCa.certPem)]);
    assert.deepEqual(ir.peers.map((p) => p.cluster), ['alice-to-bob-http', 'alice-to-carol-http']);
    assert.equal(ir.peers[1]?.caPem, carolCa.certPem, 'each peer is verified against its own CA');
    assert.deepEqual(ir.blockedPeers.map((b) => b.domain), ['dave']);
  });

  test('an expired partner CA makes the Domain and its route not ready', () => {
    const expired = createDomainCa('bob', { days: 1, now: new Date(Date.now() - 30 * 24 * 3600 * 1000) });
    const ir = translate([outbound('alice-bob'), partner('bob', expired.certPem)]);
    assert.deepEqual(ir.partners, []);
    assert.deepEqual(ir.peers, []);
    assert.equal(ir.blockedPeers.length, 1);
    const domainStatus = statusOf(ir, 'Domain', 'bob');
    assert.equal(domainStatus.ready, false);
    assert.match(domainStatus.reason, /expired/);
    assert.match(statusOf(ir, 'ClusterDomainRoute', 'alice-bob').reason, /unusable CA certificate/);
  });

  test('the own Domain is ready and not a partner', () => {
    const ir = translate([{ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'alice' }, spec: { role: '' } }]);
    assert.deepEqual(ir.partners, []);
    assert.equal(statusOf(ir, 'Domain', 'alice').ready, true);
  });
});

describe('translateToIr: inbound routes', () => {
  test('an inbound route from a trusted partner is ready and adds no peer', () => {
    const ir = translate([inbound('bob-alice', 'bob'), partner('bob', bobCa.certPem)]);
    assert.deepEqual(ir.peers, []);
    assert.deepEqual(ir.blockedPeers, []);
    assert.equal(statusOf(ir, 'ClusterDomainRoute', 'bob-alice').ready, true);
  });

  test('an inbound route from an unknown partner is not ready, with the fix', () => {
    const ir = translate([inbound('bob-alice', 'bob')]);
    const status = statusOf(ir, 'ClusterDomainRoute', 'bob-alice');
    assert.equal(status.ready, false);
    assert.match(status.reason, /Domain bob is unknown/);
    assert.match(status.fix ?? '', /apply a Domain named bob/);
    assert.deepEqual(ir.blockedPeers, [], 'an inbound route blocks no outbound traffic');
  });

  test('an inbound and an outbound route with the same partner do not collide', () => {
    const ir = translate([inbound('bob-alice', 'bob'), outbound('alice-bob'), partner('bob', bobCa.certPem)]);
    assert.equal(ir.peers.length, 1);
    assert.ok(ir.statuses.filter((s) => s.kind === 'ClusterDomainRoute').every((s) => s.ready));
  });
});

describe('translateToIr: services', () => {
  test('no access-domain annotation: allowed is empty (nobody), and the status says so', () => {
    const ir = translate([service('echo')]);
    assert.deepEqual(ir.services, [{
      name: 'echo',
      domain: 'alice',
      host: 'echo.alice.svc',
      cluster: 'backend-echo_internal-8080-http',
      statName: 'service-echo',
      addresses: ['echo.internal'],
      port: 8080,
      protocol: 'HTTP',
      allowed: [],
      idleTimeoutSeconds: 3600,
      timeoutSeconds: 0,
    }]);
    const status = statusOf(ir, 'Service', 'echo');
    assert.equal(status.ready, true);
    assert.match(status.reason, /no partner may call it/);
  });

  test('access-domain is split, trimmed, de-duplicated and sorted', () => {
    const ir = translate([service('echo', { 'kuscia.secretflow/access-domain': ' carol, bob,bob ,' }), partner('bob', bobCa.certPem), partner('carol', carolCa.certPem)]);
    assert.deepEqual(ir.services[0]?.allowed, ['bob', 'carol']);
    assert.match(statusOf(ir, 'Service', 'echo').reason, /partners bob, carol may call it as echo\.alice\.svc/);
  });

  test('an empty access-domain means nobody', () => {
    const ir = translate([service('echo', { 'kuscia.secretflow/access-domain': '' })]);
    assert.deepEqual(ir.services[0]?.allowed, []);
  });

  test('allowed partners that are not trusted yet are named in the status', () => {
    const ir = translate([service('echo', { 'kuscia.secretflow/access-domain': 'bob,carol' }), partner('bob', bobCa.certPem)]);
    assert.deepEqual(ir.services[0]?.allowed, ['bob', 'carol']);
    const reason = statusOf(ir, 'Service', 'echo').reason;
    assert.match(reason, /; carol not trusted yet/);
    assert.doesNotMatch(reason, /; [^;]*bob[^;]*not trusted/);
  });

  test('the protocol annotation sets the protocol; the default is HTTP', () => {
    const ir = translate([service('grpc-svc', { 'kuscia.secretflow/protocol': 'GRPC' }), service('web')]);
    assert.deepEqual(ir.services.map((s) => [s.name, s.protocol]), [['grpc-svc', 'GRPC'], ['web', 'HTTP']]);
  });

  test('services are sorted by name whatever the input order', () => {
    const ir = translate([service('zeta'), service('alpha'), service('mid')]);
    assert.deepEqual(ir.services.map((s) => s.name), ['alpha', 'mid', 'zeta']);
  });
});

describe('translateToIr: purity', () => {
  test('the same input gives the same IR, and the input is not modified', () => {
    const input: Resource[] = [outbound('alice-bob'), partner('bob', bobCa.certPem), service('echo', { 'kuscia.secretflow/access-domain': 'bob' })];
    const copy = structuredClone(input);
    const a = translate(input);
    const b = translate([...input].reverse());
    assert.deepEqual(a, b);
    assert.deepEqual(input, copy);
  });
});
