// The console's pure core (console/src/model.ts): the topology graph from the
// stored routes (relays, reverse tunnels, the failing step), the routes
// table's rows, and traffic rates from the node's cumulative samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { graph, rates, rows, type Item, type Partner, type Sample } from '../../console/src/model.ts';

const route = (name: string, spec: Record<string, unknown>, status: Item['status']): Item => ({ kind: 'ClusterDomainRoute', metadata: { name }, spec, status });
const domain = (name: string): Item => ({ kind: 'Domain', metadata: { name }, spec: {} });

test('graph: one edge per route of this domain, through its relay; reverse tunnels flagged; the failing step from the link check', () => {
  const routes = [
    route('alice-bob', { source: 'alice', destination: 'bob' }, { ready: false, reason: 'the last check (t) failed at TCP connect: ECONNREFUSED', fix: 'start bob' }),
    route('alice-carol', { source: 'alice', destination: 'carol', transit: { transitMethod: 'THIRD-DOMAIN', domain: { domainID: 'relay' } } }, { ready: true }),
    route('dave-alice', { source: 'dave', destination: 'alice', transit: { transitMethod: 'REVERSE-TUNNEL' } }, { ready: true }),
    route('bob-carol', { source: 'bob', destination: 'carol' }, { ready: true }), // not this domain's
  ];
  const partners: Partner[] = [{ domain: 'bob', tokens: [], linkCheck: { ok: false, reason: 'x', step: 'TCP connect', fix: 'start bob' } }];
  const g = graph('alice', [domain('alice'), domain('bob'), domain('carol'), domain('dave'), domain('relay')], routes, partners);
  assert.deepEqual(g.edges.map((e) => [e.route.name, e.path.join('>'), e.outbound, e.reverseTunnel, e.ready, e.step ?? '', e.fix ?? '']), [
    ['alice-bob', 'alice>bob', true, false, false, 'TCP connect', 'start bob'],
    ['alice-carol', 'alice>relay>carol', true, false, true, '', ''],
    ['dave-alice', 'alice>dave', false, true, true, '', ''],
  ]);
  assert.deepEqual(g.nodes.map((n) => `${n.id}:${n.role}`).sort(), ['alice:self', 'bob:partner', 'carol:partner', 'dave:partner', 'relay:relay']);
  for (const n of g.nodes) assert.ok(n.x >= 0 && n.x <= g.width && n.y >= 0 && n.y <= g.height, `${n.id} inside the drawing`);
  // Without a link check the step comes from the route's reason.
  assert.equal(graph('alice', [], routes.slice(0, 1), []).edges[0]!.step, 'TCP connect');
});

test('rows: peer, token of the route\'s direction, last link check and CA expiry; Services have no peer', () => {
  const r = rows('alice', [
    route('alice-bob', { source: 'alice', destination: 'bob' }, { ready: true, conditions: [{ type: 'Ready', status: 'True', message: 'ok' }] }),
    { kind: 'Service', metadata: { name: 'echo' }, spec: { access: 'bob' }, status: { ready: true } },
  ], [{ domain: 'bob', tokens: [{ direction: 'inbound', revision: 1 }, { direction: 'outbound', revision: 4, heartbeatAgeSeconds: 12 }], linkCheck: { ok: true, reason: 'checked t: bob answered' }, caNotAfter: '2030-05-06T00:00:00.000Z' }]);
  assert.deepEqual(r[0], { kind: 'ClusterDomainRoute', name: 'alice-bob', peer: 'bob', ready: true, reason: '', conditions: 'Ready=True: ok', linkCheck: 'ok — checked t: bob answered', tokenRevision: '4', heartbeatAge: '12 s', caExpiry: '2030-05-06' });
  assert.equal(r[1]!.peer, '');
});

test('rates: differences over time per series; a counter that went back counts 0; totals add up', () => {
  const s = (at: number, requests: number): Sample => ({ at, series: [{ direction: 'outbound', peer: 'bob', requests, errors: 0, bytesSent: 0, bytesReceived: 0 }] });
  const r = rates([s(0, 10), s(2000, 30), s(4000, 5), s(5000, 15)], (x) => x.requests);
  assert.deepEqual(r.labels, ['→ bob']);
  assert.deepEqual(r.times, [2, 4, 5]);
  assert.deepEqual(r.values, [[10, 0, 10]]);
  assert.deepEqual(r.totals, [30]);
  assert.deepEqual(rates([s(0, 0), s(1000, 0)], (x) => x.errors).labels, [], 'a series that never counted is not drawn');
});
