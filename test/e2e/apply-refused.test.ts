// Issue 12 items 3 and 4 through the CLI: a route whose local port is taken
// by another process passes validation (nothing can know it at apply time)
// and Envoy refuses its listener. `ferry apply --wait` fails at once with
// Envoy's own message; the route alone is left out (its status says why),
// everything else is served and later changes go on; readiness is honest.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { curl, docs, freePorts, service, TestNode, waitFor } from '../support/harness.ts';
import { ALICE } from '../support/envoy-xds.ts';

const bobDomain = `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: bob }
spec: { role: partner, cert: ${ALICE.bobCaB64} }
`;
const route = (localPort: number) => `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata:
  name: alice-bob
  annotations: { ferry.secretflow/local-ports: "${localPort}:echo" }
spec:
  source: alice
  destination: bob
  authenticationType: MTLS
  endpoint: { host: 127.0.0.1, ports: [{ name: https, port: 9, protocol: HTTP }] }
`;

describe('a resource Envoy refuses, through the CLI', () => {
  const stops: (() => Promise<unknown> | void)[] = [];
  after(async () => { for (const s of stops.reverse()) await s(); });

  test('apply --wait prints Envoy\'s message; the rest is served; readiness is honest', async () => {
    const alice = await TestNode.init('alice');
    stops.push(() => alice.cleanup());
    await alice.start();
    stops.push(() => alice.stop());
    const web = createHttpServer((_req, res) => res.end('hello from good'));
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    stops.push(() => new Promise((r) => web.close(r)));
    const webPort = (web.address() as { port: number }).port;

    // Another process holds the port the route asks for.
    const [taken, free] = (await freePorts(2)) as [number, number];
    const squatter: Server = createServer().listen(taken, '127.0.0.1');
    await once(squatter, 'listening');
    stops.push(() => new Promise((r) => squatter.close(r)));

    const r = alice.cli(['apply', '--wait', '-f', '-'], docs(bobDomain, route(taken), service('good', webPort)));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /left out of Envoy's configuration \(everything else is served\): clusterdomainroute\/alice-bob: Envoy refused its configuration: .*local-port-\d+.*(bind|in use)/i);

    // Ready: Envoy runs exactly what it was sent (without the route); the route says why; the Service is served.
    await alice.waitReady();
    const item = (await (await alice.api('/api/v1/resources/route/alice-bob')).json()) as { status: { ready: boolean; isolated?: boolean; reason: string } };
    assert.equal(item.status.ready, false);
    assert.equal(item.status.isolated, true);
    assert.match(item.status.reason, /Envoy refused its configuration/);
    const call = await curl(['-H', 'Host: good.alice.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal(call.body, 'hello from good');

    // Other changes go on: a new Service is served while the route stays out.
    const applied = alice.cli(['apply', '--wait', '-f', '-'], service('newer', webPort));
    assert.equal(applied.code, 0, applied.stderr);
    assert.equal((await curl(['-H', 'Host: newer.alice.svc', `http://127.0.0.1:${alice.ports.internal}/`])).body, 'hello from good');

    // Fixed (another port): served again, ready.
    const fixed = alice.cli(['apply', '--wait', '-f', '-'], route(free));
    assert.equal(fixed.code, 0, fixed.stderr);
    await waitFor('the route back', async () => {
      const s = (await (await alice.api('/api/v1/resources/route/alice-bob')).json()) as { status: { isolated?: boolean } };
      return s.status.isolated ? undefined : true;
    });
  });
});
