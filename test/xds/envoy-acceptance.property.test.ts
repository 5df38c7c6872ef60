// Issue 12 item 3, the class: validation accepts only what Envoy accepts.
// fast-check generates resources (Domains, routes, Services) with random and
// hostile field values; for each generated set, every document is either
// refused by validation or, with the rest of the accepted set, translated and
// ACKed by a real Envoy (both would be bugs otherwise: a translation that
// throws, or a NACK). Seeded and bounded: FERRY_PROPERTY_SEED and
// FERRY_PROPERTY_RUNS reproduce or widen a run; a failure prints the seed,
// the path and the shrunk documents.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { groupResources, type Resource } from '../../control-plane/resources/types.ts';
import { validateResource } from '../../control-plane/resources/validate.ts';
import { acceptanceConditions, notServedReason } from '../../control-plane/resources/conditions.ts';
import { NO_RUNTIME, translateToIr, type TranslationRuntime } from '../../control-plane/translate/resources-to-ir.ts';
import { translateToEnvoy } from '../../control-plane/xds/ir-to-envoy.ts';
import { buildSnapshot, checkReferences, type Snapshot } from '../../control-plane/ads/snapshot.ts';
import { ALICE, startEnvoyUnderXds, type EnvoyUnderXds } from '../support/envoy-xds.ts';
import { tempDir } from '../support/harness.ts';

const SEED = Number(process.env.FERRY_PROPERTY_SEED ?? 20261203);
const RUNS = Number(process.env.FERRY_PROPERTY_RUNS ?? 200);
const self = 'alice';

// Values people (and attackers) write where a host, duration, rate or path goes.
const hostile = fc.oneof(
  fc.constantFrom('999.1.1.1', '010.0.0.1', '10.0.0.0/8', '::1', 'bob:443', 'http://bob', 'a b', 'a\0b', 'x\uD800', 'x'.repeat(300),
    'bob.', '-a', 'a-', '1.2.3', 'localhost', '127.0.0.1', '10.1.2.3', 'bob.example.com', 'xn--bcher-kva.example', '0.0.0.0',
    '255.255.255.255', '', '1e20', '-1', '99999999999h', '\u00e9t\u00e9.example', 'a..b', '*.example', '%00', '..', '/', '/a b', '/a?b#c'),
  fc.domain(), fc.ipV4(), fc.ipV4Extended(), fc.ipV6(), fc.webUrl(), fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: 'binary' }),
  fc.string({ maxLength: 8, unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) }),
);
/** Mostly plausible values, sometimes hostile ones: so that whole documents get past validation often enough to reach Envoy. */
const mostly = <T, U>(plausible: fc.Arbitrary<T>, bad: fc.Arbitrary<U>) => fc.oneof({ arbitrary: plausible, weight: 6 }, { arbitrary: bad, weight: 1 });
const host = mostly(fc.oneof(fc.domain(), fc.ipV4(), fc.constantFrom('127.0.0.1', 'localhost')), hostile);
const number = (max: number) => fc.oneof(fc.nat({ max }), fc.double({ min: 0, max, noNaN: true }).map((n) => n.toFixed(2)));
const duration = mostly(fc.tuple(fc.nat({ max: 400_000 }), fc.constantFrom('ms', 's', 'm', 'h')).map(([n, u]) => `${n}${u}`),
  fc.oneof(hostile, fc.tuple(fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: 10n ** 20n }).map(String)), fc.constantFrom('ms', 's', 'm', 'h', 'd', '')).map(([n, u]) => `${n}${u}`)));
const bandwidth = mostly(fc.tuple(number(100_000), fc.constantFrom('KiB/s', 'MiB/s', 'GiB/s', 'kbit/s', 'Mbit/s', 'Gbit/s')).map(([n, u]) => `${n}${u}`),
  fc.oneof(hostile, fc.tuple(fc.oneof(fc.nat(), fc.double({ min: 0, max: 1e22, noNaN: true })), fc.constantFrom('KiB/s', 'GiB/s', 'kbit/s', 'TB/s')).map(([n, u]) => `${n}${u}`)));
const port = mostly(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: -5, max: 70000 }));
const maybe = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });
const headerName = mostly(fc.constantFrom('x-ok', 'Authorization', 'x-trace_id'), fc.oneof(fc.constantFrom('Host', 'kuscia-source', ':path', 'x bad', 'x\u00e9'), fc.string({ maxLength: 12 })));
const headerValue = mostly(fc.oneof(fc.constantFrom('Bearer 781292.db7bc3a58fc5f07e', ''), fc.string({ maxLength: 30, unit: 'grapheme-ascii' })), hostile);
const labels = mostly(fc.dictionary(fc.constantFrom('app', 'example.com/tier', 'a.b-c_d'), fc.constantFrom('', 'echo', 'v1.2-x_y')),
  fc.dictionary(fc.oneof(fc.constantFrom('Example.com/x', '-a'), fc.string({ maxLength: 70 })), fc.string({ maxLength: 70 }), { maxKeys: 3 }));
const path = mostly(fc.oneof(fc.constantFrom('/', '/api', '/a/b/', '/%20x', null), fc.webPath()), hostile);

const serviceDoc = fc.record({
  name: fc.constantFrom('echo', 'db', 'svc-1'),
  externalName: host,
  externalIPs: fc.option(mostly(fc.array(fc.ipV4(), { maxLength: 2 }), fc.array(host, { maxLength: 3 })), { nil: undefined, freq: 4 }),
  port,
  timeout: fc.option(duration, { nil: undefined, freq: 3 }),
  idle: fc.option(duration, { nil: undefined, freq: 3 }),
  protocol: maybe(mostly(fc.constantFrom('HTTP', 'GRPC', 'TCP'), fc.constantFrom('UDP', 'http'))),
  access: maybe(mostly(fc.constantFrom('bob', 'bob,carol', 'bob, ,carol'), fc.oneof(fc.constantFrom('BOB'), fc.string({ maxLength: 10 })))),
  labels: maybe(labels),
}).map((s) => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: {
    name: s.name,
    ...(s.labels ? { labels: s.labels } : {}),
    annotations: Object.fromEntries(Object.entries({ 'ferry.secretflow/timeout': s.timeout, 'ferry.secretflow/idle-timeout': s.idle, 'kuscia.secretflow/protocol': s.protocol, 'kuscia.secretflow/access-domain': s.access }).filter(([, v]) => v !== undefined)),
  },
  spec: { type: 'ExternalName', externalName: s.externalName, ...(s.externalIPs ? { externalIPs: s.externalIPs } : {}), ports: [{ port: s.port }] },
}));

const routeDoc = fc.record({
  destination: fc.constantFrom('bob', 'carol'),
  auth: mostly(fc.constantFrom('MTLS', 'Token'), fc.constant('None')),
  host,
  port,
  portName: fc.constantFrom('http', 'https', 'p-1'),
  protocol: fc.constantFrom('HTTP', 'GRPC'),
  isTLS: maybe(fc.boolean()),
  pathPrefix: maybe(path),
  rolling: maybe(mostly(fc.constantFrom(86400, 0, 300), fc.oneof(fc.nat(), fc.constantFrom(1e15, -1)))),
  transit: maybe(fc.constantFrom('THIRD-DOMAIN', 'REVERSE-TUNNEL')),
  headers: maybe(fc.dictionary(headerName, headerValue, { maxKeys: 2 })),
  bandwidth: fc.option(bandwidth, { nil: undefined, freq: 3 }),
  proxy: fc.option(mostly(host.map((h) => `http://${h}:3128`), hostile), { nil: undefined, freq: 8 }),
  kusciaKeys: fc.boolean(),
  protocolName: mostly(fc.constant('kuscia'), fc.constantFrom('bfia', '')),
  method: mostly(fc.constant('RSA-GEN'), fc.constant('UID-RSA-GEN')),
}).map((r) => ({
  apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'ClusterDomainRoute',
  metadata: {
    name: `${self}-${r.destination}`,
    annotations: Object.fromEntries(Object.entries({ 'ferry.secretflow/bandwidth-limit': r.bandwidth, 'ferry.secretflow/proxy': r.proxy }).filter(([, v]) => v !== undefined)),
  },
  spec: {
    source: self, destination: r.destination, interConnProtocol: r.protocolName, authenticationType: r.auth,
    endpoint: { host: r.host, ports: [{ name: r.portName, port: r.port, protocol: r.protocol, ...(r.isTLS !== undefined ? { isTLS: r.isTLS } : {}), ...(r.pathPrefix !== undefined ? { pathPrefix: r.pathPrefix } : {}) }] },
    ...(r.auth === 'Token' ? { tokenConfig: { tokenGenMethod: r.method, ...(r.rolling !== undefined ? { rollingUpdatePeriod: r.rolling } : {}), ...(r.kusciaKeys ? { destinationPublicKey: 'AAAA', sourcePublicKey: 'BBBB' } : {}) } } : {}),
    ...(r.transit === 'THIRD-DOMAIN' ? { transit: { transitMethod: r.transit, domain: { domainID: r.destination === 'bob' ? 'carol' : 'bob' } } } : r.transit ? { transit: { transitMethod: r.transit } } : {}),
    ...(r.headers ? { requestHeadersToAdd: r.headers } : {}),
    ...(r.kusciaKeys ? { mTLSConfig: { sourceClientCert: 'Q0VSVA==', sourceClientPrivateKey: 'S0VZ' } } : {}),
  },
}));

const domains = [
  { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'bob' }, spec: { role: 'partner', cert: ALICE.bobCaB64, resourceQuota: { podMaxCount: 10 } } },
  { apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name: 'carol' }, spec: { role: 'partner', cert: ALICE.carolCaB64, interConnProtocols: ['kuscia'] } },
];

const documents = fc.tuple(fc.uniqueArray(serviceDoc, { maxLength: 3, selector: (d) => d.metadata.name }), fc.uniqueArray(routeDoc, { maxLength: 2, selector: (d) => d.metadata.name }));

/** Resolves with Envoy's answer to `snapshot`: undefined when every type is ACKed, else its NACK message. */
function answerTo(envoy: EnvoyUnderXds, snapshot: Snapshot): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (envoy.ads.converged()) return finish(undefined);
      for (const p of envoy.ads.proxies()) {
        for (const [type, t] of Object.entries(p.types)) {
          if (t.nack && t.nack.snapshotVersion.replace(/\+held$/, '') === snapshot.version) return finish(`${type}: ${t.nack.message}`);
        }
      }
    };
    const finish = (v: string | undefined) => { clearTimeout(timer); envoy.ads.off('progress', check); resolve(v); };
    const timer = setTimeout(() => { envoy.ads.off('progress', check); reject(new Error('Envoy did not answer in 15 s')); }, 15_000);
    envoy.ads.on('progress', check);
    envoy.ads.setSnapshot(snapshot);
    check();
  });
}

describe('property: a generated resource is refused by validation or ACKed by a real Envoy', () => {
  let envoy: EnvoyUnderXds;
  let logs: string;
  let runtime: TranslationRuntime;
  const tally = { refused: 0, accepted: 0, notServed: 0, served: 0 };
  before(async () => {
    envoy = await startEnvoyUnderXds(self);
    logs = tempDir('prop-logs');
    const run = tempDir('prop-run'); // Envoy binds the handshake/egress sockets here
    runtime = { ...NO_RUNTIME, sockets: { handshake: `${run}/handshake.sock`, egress: `${run}/egress.sock`, run } };
  });
  after(async () => { await envoy?.stop(); });

  test(`seed ${SEED}, ${RUNS} runs`, async () => {
    await fc.assert(
      fc.asyncProperty(documents, async ([services, routes]) => {
        const accepted: Resource[] = [];
        for (const doc of [...domains, ...services, ...routes]) {
          let r: Resource;
          try {
            r = validateResource(structuredClone(doc), { domain: self });
          } catch (e) {
            if (process.env.FERRY_PROPERTY_DEBUG) console.log('refused', (e as Error).message.split(':')[0]);
            tally.refused++;
            continue;
          }
          tally.accepted++;
          if (notServedReason(acceptanceConditions(r, self))) { tally.notServed++; continue; } // left out, as the reconciler does
          accepted.push(r);
          if (r.kind !== 'Domain') tally.served++;
        }
        const ir = translateToIr(groupResources(accepted), envoy.config, ALICE.caPem, logs, runtime);
        const resources = translateToEnvoy(ir, ALICE.gateway);
        assert.deepEqual(checkReferences(resources), []);
        const nack = await answerTo(envoy, buildSnapshot(resources));
        assert.equal(nack, undefined, `Envoy refused what validation accepted: ${nack}\n${JSON.stringify(accepted, null, 1).slice(0, 4000)}`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    // The generator reaches both sides of the property.
    console.log(`tally ${JSON.stringify(tally)}`);
    assert.ok(tally.refused > RUNS / 2 && tally.served > RUNS / 3 && tally.notServed > 0, JSON.stringify(tally));
  });
});
