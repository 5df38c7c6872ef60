// Unit tests of resource validation (control-plane/resources/validate.ts) and
// the all-or-nothing batch apply (control-plane/resources/apply.ts).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateResource, decodePartnerCa, parseAccessDomains, parseBandwidthKiBps, ValidationError } from '../../control-plane/resources/validate.ts';
import { applyDocuments, ApplyError } from '../../control-plane/resources/apply.ts';
import { acceptanceConditions, notServedReason } from '../../control-plane/resources/conditions.ts';
import { SqliteStore } from '../../control-plane/store/sqlite.ts';
import { createDomainCa, issueGatewayCert, type CertAndKey } from '../../certs/authority.ts';

const ctx = { domain: 'alice' };
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

type Doc = Record<string, any>;

function route(spec: Doc = {}, name = 'alice-bob'): Doc {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1',
    kind: 'ClusterDomainRoute',
    metadata: { name },
    spec: {
      source: 'alice',
      destination: 'bob',
      authenticationType: 'MTLS',
      endpoint: { host: 'bob.example.com', ports: [{ name: 'http', port: 1080, protocol: 'HTTP' }] },
      ...spec,
    },
  };
}

function domain(name: string, spec: Doc = {}): Doc {
  return { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name }, spec: { role: 'partner', ...spec } };
}

function service(name = 'echo', annotations?: Record<string, string>, spec: Doc = {}): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, ...(annotations ? { annotations } : {}) },
    spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 8080 }], ...spec },
  };
}

/** Asserts that validating `doc` throws a ValidationError on `field` whose message matches `message`. */
function rejects(doc: unknown, field: string, message?: RegExp, context = ctx): void {
  assert.throws(
    () => validateResource(doc, context),
    (e: unknown) => {
      assert.ok(e instanceof ValidationError, `expected a ValidationError, got ${String(e)}`);
      assert.equal(e.field, field);
      assert.ok(e.message.startsWith(`${field}: `), `message names the field: ${e.message}`);
      if (message) assert.match(e.message, message);
      return true;
    },
  );
}

let bobCa: CertAndKey;
let bobGateway: CertAndKey;
before(() => {
  bobCa = createDomainCa('bob');
  bobGateway = issueGatewayCert(bobCa, 'bob');
});

describe('validateResource: valid resources', () => {
  test('an outbound ClusterDomainRoute passes and comes back typed', () => {
    const r = validateResource(route(), ctx);
    assert.equal(r.kind, 'ClusterDomainRoute');
    assert.equal(r.metadata.name, 'alice-bob');
    assert.deepEqual(r.spec, route().spec);
  });

  test('an inbound route (destination = own domain) needs no endpoint', () => {
    const doc = route({ source: 'bob', destination: 'alice' }, 'bob-alice');
    delete doc.spec.endpoint;
    assert.equal(validateResource(doc, ctx).metadata.name, 'bob-alice');
  });

  test('a DomainRoute is validated with the same rules', () => {
    assert.equal(validateResource({ ...route(), kind: 'DomainRoute' }, ctx).kind, 'DomainRoute');
    rejects({ ...route({ authenticationType: 'None' }), kind: 'DomainRoute' }, 'spec.authenticationType', /use MTLS/);
  });

  test('a partner Domain with base64 of a real CA PEM passes', () => {
    const r = validateResource(domain('bob', { cert: b64(bobCa.certPem) }), ctx);
    assert.equal(r.kind, 'Domain');
  });

  test('a partner Domain with the PEM itself (not base64) passes', () => {
    assert.equal(validateResource(domain('bob', { cert: bobCa.certPem }), ctx).kind, 'Domain');
  });

  test('the own Domain without a cert passes', () => {
    assert.equal(validateResource(domain('alice', { role: '' }), ctx).kind, 'Domain');
  });

  test('a Service with access-domain and protocol annotations passes', () => {
    const r = validateResource(service('echo', { 'kuscia.secretflow/access-domain': 'bob, carol', 'kuscia.secretflow/protocol': 'GRPC' }), ctx);
    assert.equal(r.kind, 'Service');
  });

  test('status is accepted and stripped; the input is not mutated', () => {
    const doc = { ...route(), status: { ready: true } };
    const r = validateResource(doc, ctx);
    assert.equal('status' in r, false);
    assert.deepEqual(doc.status, { ready: true });
  });

  test('kubectl metadata (uid, resourceVersion, creationTimestamp) is accepted', () => {
    const doc = service();
    doc.metadata = { ...doc.metadata, uid: 'x', resourceVersion: '1', generation: 2, creationTimestamp: '2024-01-01T00:00:00Z' };
    assert.equal(validateResource(doc, ctx).kind, 'Service');
  });
});

describe('validateResource: schema errors name the field path', () => {
  test('wrong port type names spec.endpoint.ports[0].port', () => {
    rejects(route({ endpoint: { host: 'h', ports: [{ name: 'http', port: '1080', protocol: 'HTTP' }] } }), 'spec.endpoint.ports[0].port', /integer/);
  });

  test('a port out of range names the second port by index', () => {
    const ports = [{ name: 'http', port: 1080, protocol: 'HTTP' }, { name: 'grpc', port: 70000, protocol: 'GRPC' }];
    rejects(route({ endpoint: { host: 'h', ports } }), 'spec.endpoint.ports[1].port', /65535/);
  });

  test('a typo (spec.destinaton) is an unknown field, not silently ignored', () => {
    const doc = route();
    doc.spec.destinaton = doc.spec.destination;
    rejects(doc, 'spec.destinaton', /unknown field/);
  });

  test('an unknown top-level field is reported', () => {
    rejects({ ...route(), specs: {} }, 'specs', /unknown field/);
  });

  test('a missing required field is named', () => {
    const doc = route();
    delete doc.spec.authenticationType;
    rejects(doc, 'spec.authenticationType', /is required/);
  });

  test('a missing metadata.name is named', () => {
    rejects({ ...route(), metadata: {} }, 'metadata.name', /is required/);
  });

  test('a missing spec is named', () => {
    const doc = service();
    delete doc.spec;
    rejects(doc, 'spec', /is required/);
  });

  test('a bad enum value lists the allowed values', () => {
    rejects(route({ endpoint: { host: 'h', ports: [{ name: 'http', port: 1, protocol: 'TCP' }] } }), 'spec.endpoint.ports[0].protocol', /"HTTP", "GRPC"/);
  });

  test('a bad kind lists the kinds', () => {
    rejects({ ...route(), kind: 'Gateway' }, 'kind', /Domain, ClusterDomainRoute, DomainRoute, Service.*"Gateway"/);
  });

  test('a missing kind is reported on kind', () => {
    const doc = route();
    delete doc.kind;
    rejects(doc, 'kind');
  });

  test('a bad apiVersion says which one is expected', () => {
    rejects({ ...route(), apiVersion: 'v1' }, 'apiVersion', /kuscia\.secretflow\/v1alpha1/);
    rejects({ ...service(), apiVersion: 'kuscia.secretflow/v1alpha1' }, 'apiVersion', /"v1"/);
  });

  test('a name that is not a DNS label is rejected', () => {
    rejects({ ...route(), metadata: { name: 'Alice_Bob' } }, 'metadata.name', /DNS label/);
    rejects({ ...route(), metadata: { name: '-alice' } }, 'metadata.name', /DNS label/);
    rejects({ ...route(), metadata: { name: 'a'.repeat(64) } }, 'metadata.name', /at most 63/);
    assert.equal(validateResource({ ...route(), metadata: { name: 'a'.repeat(63) } }, ctx).metadata.name.length, 63);
  });

  test('a source or destination that is not a DNS label is rejected', () => {
    rejects(route({ destination: 'Bob' }), 'spec.destination', /DNS label/);
  });

  test('a pathPrefix not starting with "/" is rejected with its own message', () => {
    rejects(route({ endpoint: { host: 'h', ports: [{ name: 'http', port: 1, protocol: 'HTTP', pathPrefix: 'api' }] } }), 'spec.endpoint.ports[0].pathPrefix', /starting with "\/"/);
  });

  test('an annotation value that is not a string names the annotation key with its slash', () => {
    const doc = service();
    doc.metadata.annotations = { 'kuscia.secretflow/access-domain': 5 };
    rejects(doc, 'metadata.annotations.kuscia.secretflow/access-domain', /string/);
  });

  test('something that is not a mapping is rejected as a document', () => {
    for (const doc of [null, 'hello', 42, [route()]]) rejects(doc, '(document)', /mapping/);
  });
});

describe('validateResource: route rules', () => {
  test('authenticationType Token needs tokenGenMethod RSA-GEN', () => {
    rejects(route({ authenticationType: 'Token' }), 'spec.tokenConfig.tokenGenMethod', /is required.*RSA-GEN/);
    // Kuscia's other method: accepted (a Kuscia node writes it), not served, saying so.
    const uid = validateResource(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'UID-RSA-GEN' } }), ctx);
    assert.match(notServedReason(acceptanceConditions(uid, 'alice'))!, /UID-RSA-GEN is not supported.*use RSA-GEN/);
    rejects(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN', rollingUpdatePeriod: -1 } }), 'spec.tokenConfig.rollingUpdatePeriod');
    validateResource(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN', rollingUpdatePeriod: 600 } }), ctx);
  });

  test('tokenConfig on an MTLS route is kept and ignored, saying so', () => {
    const r = validateResource(route({ tokenConfig: { tokenGenMethod: 'RSA-GEN' } }), ctx);
    assert.deepEqual(acceptanceConditions(r, 'alice').map((c) => [c.type, c.field]), [['Ignored', 'spec.tokenConfig']]);
  });

  test('authenticationType None is refused, saying what to use', () => {
    rejects(route({ authenticationType: 'None' }), 'spec.authenticationType', /use MTLS, or Token/);
  });

  test('THIRD-DOMAIN: the relay is named and third (Token relays hop by hop, with a warning); the relay itself may hold the pair it carries', () => {
    validateResource(route({ transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'carol' } } }), ctx);
    validateResource(route({ endpoint: undefined, transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'carol' } } }), ctx);
    rejects(route({ transit: { transitMethod: 'THIRD-DOMAIN' } }), 'spec.transit.domain.domainID', /relay domain/);
    rejects(route({ transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'bob' } } }), 'spec.transit.domain.domainID', /third domain/);
    const tokenRelay = validateResource(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN' }, transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'carol' } } }), ctx);
    assert.match(acceptanceConditions(tokenRelay, 'alice').find((c) => c.type === 'Warning')!.message, /relay can read the traffic/);
    // On carol: carry alice -> bob.
    validateResource(route({ endpoint: undefined, transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'carol' } } }), { domain: 'carol' });
    rejects(route({ endpoint: undefined }), 'spec.source', /to relay for them/, { domain: 'carol' });
  });

  test('REVERSE-TUNNEL: the destination dials in (a kept endpoint is ignored, saying so), no hub yet', () => {
    validateResource(route({ endpoint: undefined, transit: { transitMethod: 'REVERSE-TUNNEL' } }), ctx);
    const kept = validateResource(route({ transit: { transitMethod: 'REVERSE-TUNNEL' } }), ctx);
    assert.match(acceptanceConditions(kept, 'alice').find((c) => c.field === 'spec.endpoint')!.message, /dials in/);
    rejects(route({ endpoint: undefined, transit: { transitMethod: 'REVERSE-TUNNEL', domain: { domainID: 'hub' } } }), 'spec.transit.domain', /hub is not supported/);
  });

  test('the proxy annotation is http://host:port on an outbound route', () => {
    const withProxy = (v: string, spec: Doc = {}) => ({ ...route(spec), metadata: { name: 'alice-bob', annotations: { 'ferry.secretflow/proxy': v } } });
    validateResource(withProxy('http://proxy.bank.example:3128'), ctx);
    validateResource(withProxy('http://198.18.0.1:3128/'), ctx);
    rejects(withProxy('https://proxy:3128'), 'metadata.annotations.ferry.secretflow/proxy', /http:\/\/<host>:<port>/);
    rejects(withProxy('proxy:3128'), 'metadata.annotations.ferry.secretflow/proxy');
    rejects(withProxy('http://proxy:99999'), 'metadata.annotations.ferry.secretflow/proxy');
    rejects(withProxy('http://p:3128', { endpoint: undefined, transit: { transitMethod: 'REVERSE-TUNNEL' } }), 'metadata.annotations.ferry.secretflow/proxy', /dials nothing/);
  });

  test('mTLSConfig.tlsCA is a CA on a Token route over TLS; elsewhere (Kuscia writes it everywhere) it is ignored, saying so', () => {
    const ca = b64(bobCa.certPem);
    validateResource(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN' }, mTLSConfig: { tlsCA: ca } }), ctx);
    const mtls = validateResource(route({ mTLSConfig: { tlsCA: ca } }), ctx);
    assert.match(acceptanceConditions(mtls, 'alice').find((c) => c.field === 'spec.mTLSConfig.tlsCA')!.message, /Domain spec.cert/);
    rejects(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN' }, mTLSConfig: { tlsCA: b64('junk') } }), 'spec.mTLSConfig.tlsCA');
  });

  test('reserved Service names are refused', () => {
    for (const name of ['kuscia-handshake', 'ferry-relay', 'ferry-tunnel']) {
      rejects({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port: 80 }] } }, 'metadata.name', /reserved/);
    }
  });

  test('a route involving neither source nor destination == own domain is rejected', () => {
    rejects(route({ source: 'carol', destination: 'bob' }, 'carol-bob'), 'spec.source', /carol.*bob.*alice/);
  });

  test('source == destination is rejected', () => {
    rejects(route({ source: 'alice', destination: 'alice' }), 'spec.destination', /differ/);
  });

  test('an outbound route without an endpoint is accepted (a Kuscia lite node writes one to its master) and not served, saying why', () => {
    const doc = route();
    delete doc.spec.endpoint;
    assert.match(notServedReason(acceptanceConditions(validateResource(doc, ctx), 'alice'))!, /spec.endpoint: is missing.*add spec.endpoint/);
  });

  test('isTLS: false is refused with MTLS (saying why and what to use), accepted on a Token route with a "not encrypted" warning', () => {
    rejects(route({ endpoint: { host: 'h', ports: [{ name: 'http', port: 1, protocol: 'HTTP', isTLS: false }] } }), 'spec.endpoint.ports[0].isTLS', /cannot be used with authenticationType MTLS \(mTLS is TLS\): set isTLS: true.*or use authenticationType Token/);
    validateResource(route({ endpoint: { host: 'h', ports: [{ name: 'http', port: 1, protocol: 'HTTP', isTLS: true }] } }), ctx);
    const plain = validateResource(route({ authenticationType: 'Token', tokenConfig: { tokenGenMethod: 'RSA-GEN' }, endpoint: { host: 'h', ports: [{ name: 'http', port: 1, protocol: 'HTTP', isTLS: false }] } }), ctx);
    const warning = acceptanceConditions(plain, 'alice').find((c) => c.type === 'Warning');
    assert.match(warning!.message, /^link not encrypted/);
    assert.equal(notServedReason(acceptanceConditions(plain, 'alice')), undefined, 'served');
  });

  test('requestHeadersToAdd: Kuscia-*, Host, pseudo-headers and invalid names are rejected', () => {
    for (const header of ['Kuscia-Source', 'host', ':authority', 'bad header']) {
      rejects(route({ requestHeadersToAdd: { [header]: 'v' } }), `spec.requestHeadersToAdd.${header}`, /header name/);
    }
    validateResource(route({ requestHeadersToAdd: { 'X-Trace': 'v', 'Hostname': 'x' } }), ctx);
  });
});

describe('validateResource: Domain rules', () => {
  test('spec.cert that is not base64 of a PEM is rejected and says what to give', () => {
    rejects(domain('bob', { cert: b64('not a certificate') }), 'spec.cert', /found 0.*ferry cert export/);
    rejects(domain('bob', { cert: '!!!garbage!!!' }), 'spec.cert', /ferry cert export/);
  });

  test('spec.cert with a corrupted PEM body is rejected as not X.509', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n';
    rejects(domain('bob', { cert: b64(broken) }), 'spec.cert', /not a valid X\.509/);
  });

  test('spec.cert may be a bundle of CAs (a partner rotating its CA), each a CA', () => {
    rejects(domain('bob', { cert: b64(bobCa.certPem + bobGateway.certPem) }), 'spec.cert', /not a CA/);
    rejects(domain('bob', { cert: b64(bobCa.certPem.repeat(5)) }), 'spec.cert', /up to four.*found 5/);
    const next = createDomainCa('bob');
    assert.equal(decodePartnerCa(b64(bobCa.certPem + next.certPem)), bobCa.certPem + next.certPem);
  });

  test('a leaf (gateway) certificate is not a CA', () => {
    rejects(domain('bob', { cert: b64(bobGateway.certPem) }), 'spec.cert', /not a CA/);
  });

  test('an expired CA is rejected', () => {
    const old = createDomainCa('bob', { days: 1, now: new Date(Date.now() - 10 * 24 * 3600 * 1000) });
    rejects(domain('bob', { cert: b64(old.certPem) }), 'spec.cert', /expired/);
  });

  test('the own domain cannot be a partner', () => {
    rejects(domain('alice', { role: 'partner' }), 'spec.role', /own domain/);
  });

  test('spec.role must be "" or partner', () => {
    rejects(domain('bob', { role: 'master' }), 'spec.role', /"", "partner"/);
  });

  test('decodePartnerCa returns the PEM for base64 input and for PEM input', () => {
    assert.equal(decodePartnerCa(b64(bobCa.certPem)), bobCa.certPem);
    assert.equal(decodePartnerCa(bobCa.certPem), bobCa.certPem);
  });
});

describe('validateResource: Service rules', () => {
  test('access-domain with an invalid domain is rejected, naming the annotation and the bad entry', () => {
    rejects(service('echo', { 'kuscia.secretflow/access-domain': 'bob,Carol_X' }), 'metadata.annotations.kuscia.secretflow/access-domain', /"Carol_X" is not a domain id/);
  });

  test('an empty access-domain is accepted (nobody)', () => {
    validateResource(service('echo', { 'kuscia.secretflow/access-domain': '' }), ctx);
  });

  test('an invalid protocol annotation is rejected, listing the supported ones', () => {
    rejects(service('echo', { 'kuscia.secretflow/protocol': 'HTTPS' }), 'metadata.annotations.kuscia.secretflow/protocol', /HTTP, GRPC.*"HTTPS"/);
    rejects(service('echo', { 'kuscia.secretflow/protocol': 'http' }), 'metadata.annotations.kuscia.secretflow/protocol');
  });

  test('timeout annotations take durations; anything else is rejected with an example', () => {
    validateResource(service('echo', { 'ferry.secretflow/idle-timeout': '30m', 'ferry.secretflow/timeout': '90s' }), ctx);
    rejects(service('echo', { 'ferry.secretflow/idle-timeout': '30 minutes' }), 'metadata.annotations.ferry.secretflow/idle-timeout', /"30 minutes" is not a duration.*"90s", "30m", "2h"/);
    rejects(service('echo', { 'ferry.secretflow/timeout': '-1s' }), 'metadata.annotations.ferry.secretflow/timeout');
  });

  test('bandwidth limits take a unit; Envoy gets KiB/s', () => {
    assert.equal(parseBandwidthKiBps('8MiB/s'), 8192);
    assert.equal(parseBandwidthKiBps('100Mbit/s'), 12207);
    assert.equal(parseBandwidthKiBps('512KiB/s'), 512);
    assert.equal(parseBandwidthKiBps('100'), undefined);
    assert.equal(parseBandwidthKiBps('1kbit/s'), undefined, 'below 1 KiB/s');
  });

  test('externalIPs must be IPv4 addresses, and then externalName too', () => {
    validateResource(service('echo', undefined, { externalName: '10.0.0.1', externalIPs: ['10.0.0.2'] }), ctx);
    rejects(service('echo', undefined, { externalName: '10.0.0.1', externalIPs: ['db.local'] }), 'spec.externalIPs[0]', /IPv4 address/);
    rejects(service('echo', undefined, { externalName: '10.0.0.1', externalIPs: ['999.1.1.1'] }), 'spec.externalIPs[0]', /four parts 0-255/);
    rejects(service('echo', undefined, { externalName: 'db.local', externalIPs: ['10.0.0.2'] }), 'spec.externalName', /must be an IPv4 address/);
  });

  test('more than one port is rejected', () => {
    rejects(service('echo', undefined, { ports: [{ port: 1 }, { port: 2 }] }), 'spec.ports', /one Service per port/);
  });

  test('a type other than ExternalName is rejected', () => {
    rejects(service('echo', undefined, { type: 'ClusterIP' }), 'spec.type', /ExternalName/);
  });

  test('parseAccessDomains trims and drops empty entries', () => {
    assert.deepEqual(parseAccessDomains(' bob , ,carol,'), ['bob', 'carol']);
    assert.deepEqual(parseAccessDomains(undefined), []);
    assert.deepEqual(parseAccessDomains(''), []);
  });
});

describe('applyDocuments', () => {
  let dir: string;
  let store: SqliteStore;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-validate-test-'));
  });
  after(() => {
    void store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one bad document among good ones throws naming "document N (Kind/name)" and stores nothing', async () => {
    store = new SqliteStore(join(dir, 'apply.db'));
    const bad = route({ endpoint: { host: 'h', ports: [{ name: 'http', port: '1080', protocol: 'HTTP' }] } }, 'alice-carol');
    bad.spec.destination = 'carol';
    const docs = [domain('bob', { cert: b64(bobCa.certPem) }), route(), bad, service()];
    await assert.rejects(
      () => applyDocuments(store, docs, ctx),
      (e: unknown) => {
        assert.ok(e instanceof ApplyError);
        assert.match(e.message, /^document 3 \(ClusterDomainRoute\/alice-carol\): spec\.endpoint\.ports\[0\]\.port: /);
        return true;
      },
    );
    assert.deepEqual((await store.list()).items, []);
    assert.equal(await store.revision(), 0, 'no write happened');
  });

  test('a bad document without a kind is labelled by its number only', async () => {
    await assert.rejects(
      () => applyDocuments(store, [service(), { metadata: { name: 'x' } }], ctx),
      (e: unknown) => {
        assert.ok(e instanceof ApplyError);
        assert.match(e.message, /^document 2: kind: must be one of/);
        return true;
      },
    );
    assert.deepEqual((await store.list()).items, []);
  });

  test('good documents are all stored, with an action each', async () => {
    const result = await applyDocuments(store, [domain('bob', { cert: b64(bobCa.certPem) }), route(), service()], ctx);
    assert.deepEqual(result, [
      { kind: 'Domain', name: 'bob', action: 'created' },
      { kind: 'ClusterDomainRoute', name: 'alice-bob', action: 'created' },
      { kind: 'Service', name: 'echo', action: 'created' },
    ]);
    assert.equal((await store.list()).items.length, 3);
  });

  test('a later bad batch leaves earlier stored resources untouched', async () => {
    const changed = route({ endpoint: { host: 'bob2.example.com', ports: [{ name: 'http', port: 2080, protocol: 'HTTP' }] } });
    await assert.rejects(() => applyDocuments(store, [changed, route({ authenticationType: 'None' }, 'alice-bob-2')], ctx), /document 2 \(ClusterDomainRoute\/alice-bob-2\): spec\.authenticationType/);
    const stored = await store.get('ClusterDomainRoute', 'alice-bob');
    assert.ok(stored && stored.kind === 'ClusterDomainRoute');
    assert.equal(stored.spec.endpoint.host, 'bob.example.com');
    assert.equal(stored.metadata.generation, 1);
    assert.equal(await store.get('ClusterDomainRoute', 'alice-bob-2'), undefined);
  });

  test('the same resource twice in one input is rejected and nothing is stored', async () => {
    await assert.rejects(() => applyDocuments(store, [service('twice'), service('twice')], ctx), /Service\/twice appears twice/);
    assert.equal(await store.get('Service', 'twice'), undefined);
  });

  test('an empty input is an error', async () => {
    await assert.rejects(() => applyDocuments(store, [], ctx), /no documents/);
  });

  test('status in a document is not stored', async () => {
    await applyDocuments(store, [{ ...service('with-status'), status: { ready: false } }], ctx);
    const stored = await store.get('Service', 'with-status');
    assert.ok(stored);
    assert.equal('status' in stored, false);
  });

  test('a resourceVersion in an applied document is ignored; replace writes only over the version it names', async () => {
    const [before] = (await store.list('Service')).items;
    assert.ok(before);
    await applyDocuments(store, [{ ...service('echo'), metadata: { name: 'echo', resourceVersion: '999999' } }], ctx);
    const changed = (ip: string) => ({ ...service('echo'), spec: { ...service('echo').spec, externalName: ip }, metadata: { name: 'echo', resourceVersion: before.metadata.resourceVersion } });
    assert.deepEqual(await applyDocuments(store, [changed('127.0.0.2')], ctx, 'replace'), [{ kind: 'Service', name: 'echo', action: 'configured' }]);
    await assert.rejects(() => applyDocuments(store, [changed('127.0.0.3')], ctx, 'replace'), new RegExp(`changed since resourceVersion ${before.metadata.resourceVersion}`));
    await assert.rejects(() => applyDocuments(store, [service('echo')], ctx, 'replace'), /resourceVersion is required/);
  });
});
