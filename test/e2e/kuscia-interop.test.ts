// Issue 13: Ferry and a Kuscia domain on the wire (test/support/kuscia-peer.ts:
// a real Envoy configured as Kuscia's gateway, Ferry's handshake code on its
// side). Kuscia's sender rewrites Host and carries Kuscia-Host; its receiver
// forwards in the protocol a call arrives in; its gateway certificate is
// CN=<domain>_ENVOY_EXTERNAL with an IP SAN only; its default deployments use
// Token routes over plain HTTP. Calls both ways, HTTP/1.1, h2 and gRPC. With
// MTLS, Kuscia presents its domain certificate (or one its CA issued), no
// SPIFFE identity: Ferry reads the caller from the issuer, and another
// partner's CA never vouches for it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { grpcEchoCall, startGrpcEcho, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { readConfig, writeConfig } from '../../control-plane/config.ts';
import { TestNode, curl, docs, service, tempDir, waitFor } from '../support/harness.ts';
import { KusciaPeer, domainCertificate, gatewayCertificate } from '../support/kuscia-peer.ts';

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
    // MTLS: another Kuscia partner of fbob, whose CA must never vouch for kalice.
    const kcarol = setup.auth === 'MTLS' ? domainCertificate('kcarol') : undefined;

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
        `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: kalice-fbob }
spec:
  source: kalice
  destination: fbob
  authenticationType: ${setup.auth}${tokenConfig}${token ? '' : `
  mTLSConfig: { sourceClientCert: ${Buffer.from(kuscia.clientCertificate.certPem).toString('base64')} }`}
`,
        ...(kcarol ? [`apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: kcarol }
spec: { role: partner, cert: ${Buffer.from(kcarol.certPem).toString('base64')} }
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

    {
      test(`Kuscia -> Ferry (${setup.auth}): Host rewritten, Kuscia-Host carries the target; HTTP/1.1, h2 and gRPC`, async () => {
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

    if (kcarol) {
      test('MTLS from Kuscia: any certificate kalice\'s CA signed is kalice; another partner\'s CA never vouches for kalice', async () => {
        const dir = tempDir('kuscia-certs');
        const files = (name: string, c: { certPem: string; keyPem: string }, chain = '') => {
          writeFileSync(join(dir, `${name}.crt`), c.certPem + chain);
          writeFileSync(join(dir, `${name}.key`), c.keyPem);
          return ['--cert', join(dir, `${name}.crt`), '--key', join(dir, `${name}.key`)];
        };
        const call = (cert: string[], extra: string[] = []) => curl(['-k', ...cert, ...extra, '-H', 'Kuscia-Host: echo.fbob.svc', '-H', 'Host: 127.0.0.1', `https://127.0.0.1:${ferry.ports.public}/direct`]);
        // kalice's gateway certificate (CN=kalice_ENVOY_EXTERNAL, issued by its CA) and its domain certificate: both kalice.
        for (const [name, c] of [['issued', kuscia.gateway], ['domain', kuscia.ca]] as const) {
          const r = await call(files(`kalice-${name}`, c), ['-H', 'Kuscia-Source: kalice']);
          assert.equal(r.status, 200, `${name}: ${r.status} ${r.body}`);
          assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'kalice');
        }
        // kcarol is a trusted partner, but echo is not exposed to it, and it cannot claim to be kalice.
        const carol = files('kcarol', kcarol);
        const own = await call(carol);
        assert.equal(own.status, 403, own.body);
        assert.match(own.headers['kuscia-error-message'] ?? '', /not exposed to spiffe:\/\/kcarol\/ferry\/gateway/);
        assert.equal((await call(carol, ['-H', 'Kuscia-Source: kalice'])).status, 403);
        // kcarol's CA issues a certificate that says kalice everywhere it can (CN, SPIFFE URI): still kcarol.
        const lookalike = gatewayCertificate('kalice', kcarol, { uri: 'spiffe://kalice/ferry/gateway' });
        const l = await call(files('lookalike', lookalike), ['-H', 'Kuscia-Source: kalice']);
        assert.equal(l.status, 403, `a certificate kcarol's CA signed is kcarol's, whatever it names: ${l.status} ${l.body}`);
        // kcarol's CA signs an intermediate named like kalice's CA (CN=kalice), which signs a leaf: refused in the handshake (depth 1).
        const fakeCa = gatewayCertificate('kalice', kcarol, { cn: 'kalice', ca: true });
        const chained = gatewayCertificate('kalice', fakeCa);
        const c = await call(files('chained', chained, fakeCa.certPem), ['-H', 'Kuscia-Source: kalice']);
        assert.equal(c.status, 0, `an intermediate named after kalice's CA must not pass: ${c.status} ${c.body}`);
        // A self-made CN=kalice CA certificate: not kalice's key, refused in the handshake.
        const forged = await call(files('forged', domainCertificate('kalice')), ['-H', 'Kuscia-Source: kalice']);
        assert.equal(forged.status, 0, `a forged kalice certificate must not pass: ${forged.status}`);
        // Without a certificate: no identity (401 when Token routes exist, else the handshake fails).
        const none = await call([]);
        assert.notEqual(none.status, 200);
      });

      test('a partner Domain whose CA has kalice\'s CA subject is refused, naming the clash; kalice keeps working', async () => {
        const impostor = domainCertificate('kalice'); // subject CN=kalice, another key
        const r = ferry.cli(['apply', '-f', '-'], `apiVersion: kuscia.secretflow/v1alpha1
kind: Domain
metadata: { name: kmallory }
spec: { role: partner, cert: ${Buffer.from(impostor.certPem).toString('base64')} }
`);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Domain\/kmallory: spec\.cert: its CA has the subject CN=kalice, as the CA of Domain kalice/);
        assert.equal(ferry.cli(['get', 'domain', 'kmallory']).code === 0 && /kmallory/.test(ferry.cli(['get', 'domain', 'kmallory']).stdout), false, 'nothing was stored');
        assert.equal((await viaKuscia(['--http1.1'])).status, 200);
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
