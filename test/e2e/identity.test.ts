// Issue 12 (1, 2): the caller's domain comes from exactly one thing, the
// verified certificate on that partner's own filter chain (one Ferry identity,
// from that partner's CA) or a valid token; headers a caller sends about
// itself or its target never widen what it may call, and the service always
// sees the authenticated caller.
//
// One set of nodes, table-driven: alice serves; bob (certificate), dave (token)
// and carol (certificate; also relays bob's calls to alice) call her. Each row
// sends a request straight to alice's public port with a credential, a set of
// forged headers and a protocol, and checks the answer against one rule:
// 200 only for a service granted to the credential's domain, with no other
// source claimed, and then the service saw that domain.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import forge from 'node-forge';
import { startGrpcEcho, startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { readCa } from '../../control-plane/home.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, startTcpEcho, waitFor } from '../support/harness.ts';
import { relayedRoute, relayRule, tokenRoute } from '../support/routes.ts';

/** Header sets a caller may forge: [name, value] pairs, repeated names allowed. */
type Forged = [string, string][];

interface Credential {
  name: string;
  /** The domain the credential proves, or undefined when no request may pass with it. */
  identity: string | undefined;
  tls: { cert?: string; key?: string; alpn: string[] };
  headers: Forged;
}

/** A certificate from `ca` with several SPIFFE identities (bob's CA can issue one naming carol). */
function severalIdentities(ca: { certPem: string; keyPem: string }, domains: string[]): { cert: string; key: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01' + Date.now().toString(16);
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3600_000);
  cert.setSubject([{ name: 'commonName', value: domains[0]! }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: domains.map((d) => ({ type: 6, value: `spiffe://${d}/ferry/gateway` })) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}

interface Answer {
  status: number;
  /** kuscia-source and kuscia-origin-source as the service saw them (200 only). */
  seen?: { source: string | undefined; origin: string | undefined };
}

describe('identity: one derived caller for every decision', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode, dave: TestNode;
  const servers: Echo[] = [];
  let tcpEcho: { port: number; close: () => Promise<void> };
  const credentials: Credential[] = [];

  before(async () => {
    [alice, bob, carol, dave] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol'), TestNode.init('dave')]);
    const [http, grpc] = await Promise.all([startHttpEcho('echo@alice'), startGrpcEcho('grpc@alice')]);
    servers.push(http, grpc);
    tcpEcho = await startTcpEcho();
    await Promise.all([alice, bob, carol, dave].map((n) => n.start()));
    await alice.apply(docs(
      partnerDomain(bob), partnerDomain(carol), partnerDomain(dave),
      tokenRoute(dave, alice, { period: 3600 }),
      service('forbob', http.port, { access: 'bob' }),
      service('forcarol', http.port, { access: 'carol' }),
      service('fordave', http.port, { access: 'dave' }),
      service('grpc-forbob', grpc.port, { access: 'bob', protocol: 'GRPC' }),
      service('grpc-forcarol', grpc.port, { access: 'carol', protocol: 'GRPC' }),
      service('grpc-fordave', grpc.port, { access: 'dave', protocol: 'GRPC' }),
      service('tcp-forbob', tcpEcho.port, { access: 'bob', protocol: 'TCP' }),
      service('tcp-forcarol', tcpEcho.port, { access: 'carol', protocol: 'TCP' }),
      service('tcp-fordave', tcpEcho.port, { access: 'dave', protocol: 'TCP' }),
    ));
    await carol.apply(docs(partnerDomain(alice), partnerDomain(bob), routeTo(carol, alice), relayRule(bob, alice, carol)));
    await bob.apply(docs(partnerDomain(alice), partnerDomain(carol), routeTo(bob, carol), relayedRoute(bob, alice, carol)));
    await dave.apply(docs(partnerDomain(alice), tokenRoute(dave, alice, { period: 3600, endpoint: { host: '127.0.0.1', port: alice.ports.public } })));
    const daveToken = await waitFor('dave holds a token for alice', async () => {
      try {
        const t = (JSON.parse(readFileSync(join(dave.home, 'data', 'tokens.json'), 'utf8')) as { obtained?: Record<string, { token: string }> }).obtained?.alice?.token;
        return t;
      } catch { return undefined; }
    });
    await waitFor('alice accepts dave\'s token', async () => ((await curl(['-s', '-H', 'Host: fordave.alice.svc', `http://127.0.0.1:${dave.ports.internal}/`])).status === 200 ? true : undefined));
    const certs = (n: TestNode) => ({ cert: readFileSync(join(n.home, 'certs', 'gateway.crt'), 'utf8'), key: readFileSync(join(n.home, 'certs', 'gateway.key'), 'utf8') });
    const multi = severalIdentities(readCa(bob.home), ['bob', 'carol']);
    credentials.push(
      { name: "bob's certificate on bob's chain", identity: 'bob', tls: { ...certs(bob), alpn: ['ferry-from-bob'] }, headers: [] },
      { name: 'certificate with bob and carol (bob\'s CA) on bob\'s chain', identity: undefined, tls: { ...multi, alpn: ['ferry-from-bob'] }, headers: [] },
      { name: 'certificate with bob and carol (bob\'s CA) on carol\'s chain', identity: undefined, tls: { ...multi, alpn: ['ferry-from-carol'] }, headers: [] },
      { name: 'certificate with bob and carol (bob\'s CA), no chain token', identity: undefined, tls: { ...multi, alpn: [] }, headers: [] },
      { name: "dave's token", identity: 'dave', tls: { alpn: [] }, headers: [['kuscia-token', daveToken]] },
    );
  });

  after(async () => {
    await Promise.all([alice, bob, carol, dave].map((n) => n?.stop()));
    await Promise.all([...servers.map((s) => s.close()), tcpEcho?.close()]);
    for (const n of [alice, bob, carol, dave]) n?.cleanup();
  });

  /**
   * Forged header sets, for a target service host and the credential's own
   * domain. `rule`: honest requests are served exactly when the target is
   * granted; a single contradicting claim is refused; with repeated headers
   * the gateway may refuse or serve, but only a granted target, and the
   * service is told the credential's domain (the claims are overwritten).
   */
  const forgeries = (target: string, decoy: string, self: string | undefined): { name: string; headers: Forged; rule: 'honest' | 'refuse' | 'either'; /** the host that decides */ routedTo: string }[] => [
    { name: 'no Kuscia headers', headers: [['host', target]], rule: 'honest', routedTo: target },
    { name: 'Kuscia-Host only (Host rewritten)', headers: [['host', '127.0.0.1'], ['kuscia-host', target]], rule: 'honest', routedTo: target },
    ...(self ? [{ name: 'its own Kuscia-Source', headers: [['host', target], ['kuscia-host', target], ['kuscia-source', self], ['kuscia-origin-source', self]] as Forged, rule: 'honest' as const, routedTo: target }] : []),
    { name: 'Kuscia-Source carol', headers: [['host', target], ['kuscia-host', target], ['kuscia-source', 'carol']], rule: 'refuse', routedTo: target },
    { name: 'Kuscia-Origin-Source carol', headers: [['host', target], ['kuscia-host', target], ['kuscia-origin-source', 'carol']], rule: 'refuse', routedTo: target },
    { name: 'two Kuscia-Source (carol, self)', headers: [['host', target], ['kuscia-host', target], ['kuscia-source', 'carol'], ['kuscia-source', self ?? 'bob']], rule: 'either', routedTo: target },
    { name: 'two Kuscia-Source (self, carol)', headers: [['host', target], ['kuscia-host', target], ['kuscia-source', self ?? 'bob'], ['kuscia-source', 'carol']], rule: 'either', routedTo: target },
    { name: 'two Kuscia-Origin-Source (self, carol)', headers: [['host', target], ['kuscia-host', target], ['kuscia-origin-source', self ?? 'bob'], ['kuscia-origin-source', 'carol']], rule: 'either', routedTo: target },
    { name: 'Host names the decoy, Kuscia-Host the target', headers: [['host', decoy], ['kuscia-host', target]], rule: 'honest', routedTo: target },
    { name: 'Host names the target, Kuscia-Host the decoy', headers: [['host', target], ['kuscia-host', decoy]], rule: 'honest', routedTo: decoy },
    { name: 'two Kuscia-Host (target, decoy)', headers: [['host', target], ['kuscia-host', target], ['kuscia-host', decoy]], rule: 'either', routedTo: target },
    { name: 'two Kuscia-Host (decoy, target)', headers: [['host', target], ['kuscia-host', decoy], ['kuscia-host', target]], rule: 'either', routedTo: decoy },
    { name: 'one Kuscia-Host naming two services', headers: [['host', target], ['kuscia-host', `${target},${decoy}`]], rule: 'refuse', routedTo: target },
  ];

  const granted = (host: string, identity: string | undefined) => identity !== undefined && host.split('.')[0]!.endsWith(`for${identity}`);

  function tlsOptions(c: Credential, alpn: string) {
    return { host: '127.0.0.1', port: alice.ports.public, servername: 'alice', rejectUnauthorized: false, cert: c.tls.cert, key: c.tls.key, ALPNProtocols: [alpn, ...c.tls.alpn] };
  }

  /** HTTP/1.1 over TLS, repeated headers sent as separate lines. */
  function h1(c: Credential, headers: Forged): Promise<Answer> {
    return new Promise((resolve) => {
      const flat: string[] = [];
      for (const [k, v] of [...c.headers, ...headers]) flat.push(k, v);
      const req = httpsRequest({ ...tlsOptions(c, 'http/1.1'), method: 'GET', path: '/', agent: false, headers: flat as never }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve(answer(res.statusCode ?? 0, body)));
      });
      req.on('error', () => resolve({ status: 0 }));
      req.end();
    });
  }

  function answer(status: number, body: string): Answer {
    if (status !== 200) return { status };
    const reply = JSON.parse(body) as EchoReply;
    return { status, seen: { source: reply.kuscia['kuscia-source'], origin: reply.kuscia['kuscia-origin-source'] } };
  }

  async function h2Session(c: Credential): Promise<ClientHttp2Session> {
    // node:http2 offers only h2: the partner's ALPN token needs a TLS socket of our own.
    const session = http2Connect(`https://127.0.0.1:${alice.ports.public}`, { createConnection: () => tlsConnect(tlsOptions(c, 'h2')) });
    await new Promise<void>((resolve, reject) => { session.once('connect', () => resolve()); session.once('error', reject); });
    return session;
  }

  /** HTTP/2 (or gRPC with `grpc`): repeated headers as separate fields; Host becomes :authority. */
  async function h2(c: Credential, headers: Forged, grpc = false): Promise<Answer> {
    let session: ClientHttp2Session;
    try { session = await h2Session(c); } catch { return { status: 0 }; }
    try {
      const out: Record<string, string | string[]> = { ':method': grpc ? 'POST' : 'GET', ':path': grpc ? '/ferry.demo.Echo/Say' : '/' };
      for (const [k, v] of [...c.headers, ...headers]) {
        const key = k === 'host' ? ':authority' : k;
        const prev = out[key];
        out[key] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
      }
      if (grpc) Object.assign(out, { 'content-type': 'application/grpc', te: 'trailers' });
      const stream = session.request(out, { endStream: !grpc });
      if (grpc) {
        const msg = Buffer.from(JSON.stringify({ message: 'hi' }));
        const frame = Buffer.alloc(5 + msg.length);
        frame.writeUInt32BE(msg.length, 1);
        msg.copy(frame, 5);
        stream.end(frame);
      }
      return await new Promise<Answer>((resolve) => {
        let status = 0;
        let grpcStatus: string | undefined;
        const chunks: Buffer[] = [];
        stream.on('response', (h) => { status = Number(h[':status']); grpcStatus = h['grpc-status'] as string | undefined; });
        stream.on('trailers', (t) => { grpcStatus = t['grpc-status'] as string | undefined; });
        stream.on('data', (d: Buffer) => chunks.push(d));
        stream.on('error', () => resolve({ status: 0 }));
        stream.on('close', () => {
          const body = Buffer.concat(chunks);
          if (!grpc) return resolve(answer(status, body.toString('utf8')));
          if (status !== 200 || grpcStatus !== '0') return resolve({ status: status === 200 ? 1000 + Number(grpcStatus ?? 2) : status });
          const reply = JSON.parse(body.subarray(5).toString('utf8')) as { source: string | null };
          resolve({ status: 200, seen: { source: reply.source ?? undefined, origin: reply.source ?? undefined } });
        });
      });
    } finally {
      session.close();
    }
  }

  /** CONNECT <target>:<port> over TLS (HTTP/1.1); a 200 is checked by an echo through the tunnel. */
  function connectTcp(c: Credential, headers: Forged): Promise<Answer> {
    return new Promise((resolve) => {
      const socket = tlsConnect(tlsOptions(c, 'http/1.1'), () => {
        const authority = headers.find(([k]) => k === 'host')![1];
        const lines = [`CONNECT ${authority}:${tcpEcho.port} HTTP/1.1`, `Host: ${authority}:${tcpEcho.port}`,
          ...[...c.headers, ...headers].filter(([k]) => k !== 'host').map(([k, v]) => `${k}: ${k === 'kuscia-host' ? `${v}:${tcpEcho.port}` : v}`)];
        socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => {
        text += d;
        const head = /^HTTP\/1\.1 (\d{3})[^]*?\r\n\r\n/.exec(text);
        if (!head) return;
        const status = Number(head[1]);
        if (status !== 200) { socket.destroy(); return resolve({ status }); }
        if (text.length === head[0].length) return socket.write('ping');
        if (text.endsWith('ping')) { socket.destroy(); resolve({ status: 200 }); }
      });
      socket.on('error', () => resolve({ status: 0 }));
      socket.on('close', () => resolve({ status: 0 }));
    });
  }

  type Protocol = { name: string; kind: 'http' | 'grpc' | 'tcp'; send: (c: Credential, h: Forged) => Promise<Answer> };
  const protocols: Protocol[] = [
    { name: 'HTTP/1.1', kind: 'http', send: h1 },
    { name: 'h2', kind: 'http', send: (c, h) => h2(c, h) },
    { name: 'gRPC', kind: 'grpc', send: (c, h) => h2(c, h, true) },
    { name: 'CONNECT', kind: 'tcp', send: connectTcp },
  ];

  const hostsFor = (kind: Protocol['kind']) => {
    const p = kind === 'grpc' ? 'grpc-' : kind === 'tcp' ? 'tcp-' : '';
    return { bob: `${p}forbob.alice.svc`, carol: `${p}forcarol.alice.svc`, dave: `${p}fordave.alice.svc` };
  };

  for (const protocol of protocols) {
    test(`${protocol.name}: only the credential's grants, and the service sees the credential's domain`, async () => {
      const failures: string[] = [];
      let admitted = 0;
      const hosts = hostsFor(protocol.kind);
      for (const c of credentials) {
        const own = c.identity ? hosts[c.identity as 'bob' | 'dave'] : hosts.bob;
        for (const target of [own, hosts.carol]) {
          const decoy = target === hosts.carol ? own : hosts.carol;
          for (const f of forgeries(target, decoy, c.identity)) {
            if (protocol.kind === 'tcp' && f.headers.some(([k]) => k === 'host') && f.headers.find(([k]) => k === 'host')![1] === '127.0.0.1') continue; // CONNECT names its target in the authority
            const r = await protocol.send(c, f.headers);
            const may = f.rule !== 'refuse' && granted(f.routedTo, c.identity);
            const must = f.rule === 'honest' && may;
            const label = `${c.name} | ${f.name} | target ${target}: ${r.status}`;
            if (r.status === 200 && !may) failures.push(`${label} (must be refused)`);
            if (r.status !== 200 && must) failures.push(`${label} (must be served)`);
            if (r.status === 200) {
              admitted++;
              if (r.seen && protocol.kind !== 'tcp' && (r.seen.source !== c.identity || (protocol.kind === 'http' && r.seen.origin !== c.identity))) {
                failures.push(`${label}: the service saw source ${r.seen.source} origin ${r.seen.origin}`);
              }
            }
          }
        }
      }
      assert.deepEqual(failures, []);
      assert.ok(admitted > 0, 'honest rows are served');
    });
  }

  test('Kuscia-Host decides the target (Host rewritten by the sender); a 404 names both headers as sent', async () => {
    const bobChain = credentials[0]!;
    const served = await h1(bobChain, [['host', `127.0.0.1:${alice.ports.public}`], ['kuscia-host', 'forbob.alice.svc']]);
    assert.equal(served.status, 200);
    const reply = await new Promise<{ status: number; message: string }>((resolve) => {
      const req = httpsRequest({ ...tlsOptions(bobChain, 'http/1.1'), path: '/', agent: false, headers: { host: '10.1.2.3:1080', 'kuscia-host': 'nothing.alice.svc' } }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, message: String(res.headers['kuscia-error-message'] ?? '') });
      });
      req.on('error', () => resolve({ status: 0, message: '' }));
      req.end();
    });
    assert.equal(reply.status, 404);
    // (Envoy strips the port from Host first: strip_any_host_port.)
    assert.match(reply.message, /^alice\/public => no service nothing\.alice\.svc in alice \(Kuscia-Host "nothing\.alice\.svc", Host "10\.1\.2\.3(:1080)?"; Kuscia-Host decides, Host when Kuscia-Host is absent\): apply a Service of that name in alice$/);
  });

  test('relay: bob through carol reaches only bob\'s grants, and alice\'s service sees bob', async () => {
    const via = (host: string, extra: string[] = []) => curl([...extra, '-H', `Host: ${host}`, `http://127.0.0.1:${bob.ports.internal}/`]);
    const ok = await waitFor('bob -> alice through carol', async () => { const r = await via('forbob.alice.svc'); return r.status === 200 ? r : undefined; }, 20_000);
    assert.equal((JSON.parse(ok.body) as EchoReply).kuscia['kuscia-source'], 'bob');
    for (const forged of [[], ['-H', 'Kuscia-Source: carol'], ['-H', 'Kuscia-Source: carol', '-H', 'Kuscia-Source: bob'], ['-H', 'Kuscia-Origin-Source: carol'], ['-H', 'Kuscia-Host: forcarol.alice.svc']]) {
      const own = await via('forbob.alice.svc', forged);
      assert.equal(own.status, 200, `bob's own grant with ${forged.join(' ')}`);
      const seen = (JSON.parse(own.body) as EchoReply).kuscia;
      assert.equal(seen['kuscia-source'], 'bob');
      assert.equal(seen['kuscia-origin-source'], 'bob');
      const other = await via('forcarol.alice.svc', forged);
      assert.equal(other.status, 403, `carol's grant through the relay with ${forged.join(' ')}`);
    }
  });
});
