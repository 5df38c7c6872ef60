// Issue 13: Ferry and a Kuscia domain on the wire (test/support/kuscia-peer.ts:
// a real Envoy configured as Kuscia's gateway, Ferry's handshake code on its
// side). Kuscia's sender rewrites Host and carries Kuscia-Host; its receiver
// forwards in the protocol a call arrives in; its gateway certificate is
// CN=<domain>_ENVOY_EXTERNAL with an IP SAN only; its default deployments use
// Token routes over plain HTTP. Calls both ways, HTTP/1.1, h2 and gRPC.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { grpcEchoCall, startGrpcEcho, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { TestNode, curl, docs, service, waitFor } from '../support/harness.ts';
import { KusciaPeer } from '../support/kuscia-peer.ts';

interface Setup { name: string; plaintext: boolean; auth: 'MTLS' | 'Token' }

const setups: Setup[] = [
  { name: 'MTLS over TLS', plaintext: false, auth: 'MTLS' },
  { name: 'Token over TLS', plaintext: false, auth: 'Token' },
  { name: 'Token over plain HTTP (isTLS: false)', plaintext: true, auth: 'Token' },
];

for (const setup of setups) {
  describe(`Ferry <-> a Kuscia domain: ${setup.name}`, () => {
    let ferry: TestNode;
    let kuscia: KusciaPeer;
    const echoes: Echo[] = [];

    before(async () => {
      ferry = await TestNode.init('fbob');
      if (setup.plaintext) {
        const config = readConfig(ferry.home);
        config.publicPlaintext = true; // Kuscia's NOTLS partner sends plain HTTP to the public port
        writeConfig(ferry.home, config);
      }
      const [fHttp, fGrpc, kHttp, kGrpc] = await Promise.all([startHttpEcho('echo@fbob'), startGrpcEcho('greeter@fbob'), startHttpEcho('echo@kalice'), startGrpcEcho('greeter@kalice')]);
      echoes.push(fHttp, fGrpc, kHttp, kGrpc);
      kuscia = new KusciaPeer({ domain: 'kalice', plaintext: setup.plaintext, auth: setup.auth, services: { echo: { port: kHttp.port }, greeter: { port: kGrpc.port, grpc: true } } });
      await ferry.start();
      const caPem = readFileSync(join(ferry.home, 'certs', 'ca.crt'), 'utf8');
      const token = setup.auth === 'Token';
      const tokenConfig = token ? '\n  tokenConfig: { tokenGenMethod: RSA-GEN, rollingUpdatePeriod: 3600 }' : '';
      // What the Ferry admin applies: Kuscia's own shapes.
      await ferry.apply(docs(
        `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: kalice }
spec: { role: partner, cert: ${kuscia.certBase64} }
`,
        ...(token ? [`apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: kalice-fbob }
spec:
  source: kalice
  destination: fbob
  authenticationType: Token${tokenConfig}
`] : []),
        service('echo', fHttp.port, { access: 'kalice' }),
        service('greeter', fGrpc.port, { access: 'kalice', protocol: 'GRPC' }),
      ));
      // Kuscia -> Ferry: its handshake first (its Envoy then carries the token).
      if (token) await kuscia.handshakeWith({ domain: 'fbob', caPem, publicPort: ferry.ports.public });
      await kuscia.start({ domain: 'fbob', caPem, publicPort: ferry.ports.public });
      await ferry.apply(`apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: fbob-kalice }
spec:
  source: fbob
  destination: kalice
  authenticationType: ${setup.auth}${tokenConfig}
  endpoint: { host: 127.0.0.1, ports: [{ name: ${setup.plaintext ? 'http' : 'https'}, port: ${kuscia.ports.public}, protocol: HTTP, isTLS: ${!setup.plaintext} }] }
`);
      if (token) {
        await waitFor('Ferry holds a token from the Kuscia peer', async () => ((await curl(['-H', 'Host: echo.kalice.svc', `http://127.0.0.1:${ferry.ports.internal}/`])).status === 200 ? true : undefined), 20_000);
      }
    });

    after(async () => {
      await Promise.all([ferry?.stop(), kuscia?.stop()]);
      await Promise.all(echoes.map((e) => e.close()));
      ferry?.cleanup();
    });

    const viaFerry = (args: string[]) => curl([...args, '-H', 'Host: echo.kalice.svc', `http://127.0.0.1:${ferry.ports.internal}/from-ferry`]);
    const viaKuscia = (args: string[]) => curl([...args, '-H', 'Host: echo.fbob.svc', `http://127.0.0.1:${kuscia.ports.internal}/from-kuscia`]);

    test('Ferry -> Kuscia: HTTP/1.1 and h2 reach an HTTP/1.1 service as HTTP/1.1; gRPC works', async () => {
      for (const args of [['--http1.1'], ['--http2-prior-knowledge']]) {
        const r = await viaFerry(args);
        assert.equal(r.status, 200, `${args}: ${r.status} ${r.headers['kuscia-error-message'] ?? ''} ${r.body}`);
        const reply = JSON.parse(r.body) as EchoReply;
        assert.equal(reply.service, 'echo@kalice');
        assert.equal(reply.httpVersion, '1.1', 'Kuscia forwards in the protocol a call arrives in: Ferry must send HTTP/1.1');
        assert.equal(reply.host, 'echo.kalice.svc', 'the Kuscia side restored Host from Kuscia-Host');
        assert.equal(reply.kuscia['kuscia-source'], 'fbob');
      }
      const g = await grpcEchoCall(`127.0.0.1:${ferry.ports.internal}`, 'greeter.kalice.svc', 'hi');
      assert.equal(g.service, 'greeter@kalice');
      assert.equal(g.source, 'fbob');
    });

    test('the Kuscia side checks what it is given: a made-up token or no certificate is refused', async () => {
      const scheme = setup.plaintext ? 'http' : 'https';
      const r = await curl(['-k', '-H', 'Kuscia-Host: echo.kalice.svc', '-H', 'Kuscia-Source: fbob', '-H', 'Kuscia-Token: bm9wZQ==', `${scheme}://127.0.0.1:${kuscia.ports.public}/`]);
      assert.notEqual(r.status, 200, 'without the token or certificate Ferry got, the Kuscia peer refuses');
    });

    if (setup.auth === 'Token') {
      test('Kuscia -> Ferry: Host rewritten, Kuscia-Host carries the target; HTTP/1.1, h2 and gRPC', async () => {
        for (const args of [['--http1.1'], ['--http2-prior-knowledge']]) {
          const r = await viaKuscia(args);
          assert.equal(r.status, 200, `${args}: ${r.status} ${r.headers['kuscia-error-message'] ?? ''} ${r.body}`);
          const reply = JSON.parse(r.body) as EchoReply;
          assert.equal(reply.service, 'echo@fbob');
          assert.equal(reply.host, 'echo.fbob.svc', 'Ferry restored Host from Kuscia-Host');
          assert.equal(reply.kuscia['kuscia-source'], 'kalice');
        }
        const g = await grpcEchoCall(`127.0.0.1:${kuscia.ports.internal}`, 'greeter.fbob.svc', 'hi');
        assert.equal(g.service, 'greeter@fbob');
        assert.equal(g.source, 'kalice');
      });
    }

    test('Ferry\'s route status says what the link is', async () => {
      const r = ferry.cli(['describe', 'route', 'fbob-kalice']);
      assert.equal(r.code, 0, r.stderr);
      if (setup.plaintext) assert.match(r.stdout, /plain HTTP \(isTLS: false\): the link is not encrypted/);
      const d = ferry.cli(['describe', 'domain', 'kalice']);
      assert.match(d.stdout, /Kuscia gateway/);
    });
  });
}
