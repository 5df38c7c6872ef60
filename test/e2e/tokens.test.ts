// Kuscia token authentication with real Envoys: alice reaches bob by a Token
// route (no client certificate), tokens roll every 3 s under load with zero
// failed requests, old tokens stop working after two rolls, and the handshake
// endpoint refuses bad input without changing anything. carol keeps using mTLS
// to the same port.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHash, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { startHttpEcho, type Echo, type EchoReply } from '../../examples/echo-services.ts';
import { TestNode, curl, docs, partnerDomain, routeTo, service, waitFor } from '../support/harness.ts';
import { startLoad } from '../support/load.ts';
import { tokenRoute } from '../support/routes.ts';

const PERIOD_S = 3;

const tokenRouteTo = (from: TestNode, to: TestNode) => tokenRoute(from, to, { period: PERIOD_S, endpoint: { host: '127.0.0.1', port: to.ports.public } });
/** An inbound Token route as the destination declares it (no endpoint: it is the partner that dials). */
const inboundTokenRoute = (from: TestNode, to: TestNode) => tokenRoute(from, to, { period: PERIOD_S });

interface TokensFile {
  issued?: Record<string, { revision: number; tokens: { token: string; revision: number }[] }>;
  obtained?: Record<string, { token: string; revision: number }>;
}
const tokensOf = (n: TestNode): TokensFile => {
  try {
    return JSON.parse(readFileSync(join(n.home, 'data', 'tokens.json'), 'utf8')) as TokensFile;
  } catch {
    return {};
  }
};

describe('Kuscia token authentication (RSA-GEN) through real Envoys', () => {
  let alice: TestNode, bob: TestNode, carol: TestNode;
  let echo: Echo;
  let bobCaFile: string;

  /** A request straight to bob's public port with no client certificate, as a TLS-terminating gateway's client would. */
  const direct = (headers: Record<string, string>, path = '/hello', extra: string[] = []) => curl([
    '--cacert', bobCaFile, '--resolve', `bob:${bob.ports.public}:127.0.0.1`,
    ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    ...extra,
    `https://bob:${bob.ports.public}${path}`,
  ]);
  const asEcho = (headers: Record<string, string>) => direct({ Host: 'echo.bob.svc', 'Kuscia-Host': 'echo.bob.svc', ...headers });
  const viaAlice = () => curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/via-alice`]);

  before(async () => {
    [alice, bob, carol] = await Promise.all([TestNode.init('alice'), TestNode.init('bob'), TestNode.init('carol')]);
    echo = await startHttpEcho('echo');
    bobCaFile = join(bob.home, '..', 'bob-ca.pem');
    writeFileSync(bobCaFile, bob.cli(['cert', 'export']).stdout);
    const env = { FERRY_HEARTBEAT_MS: '1000' };
    await Promise.all([alice.start(env), bob.start(env), carol.start(env)]);
    await bob.apply(docs(partnerDomain(alice), partnerDomain(carol), inboundTokenRoute(alice, bob), service('echo', echo.port, { access: 'alice,carol' }), service('secret', echo.port)));
    await Promise.all([alice.apply(docs(partnerDomain(bob), tokenRouteTo(alice, bob))), carol.apply(docs(partnerDomain(bob), routeTo(carol, bob)))]);
  });

  after(async () => {
    await Promise.all([alice, bob, carol].map((n) => n?.stop()));
    await echo?.close();
    for (const n of [alice, bob, carol]) n?.cleanup();
  });

  test('alice reaches bob with a token and no client certificate; the route status says so', async () => {
    const r = await waitFor('a 200 through the Token route', async () => { const x = await viaAlice(); return x.status === 200 ? x : undefined; }, 30_000);
    const reply = JSON.parse(r.body) as EchoReply;
    assert.equal(reply.kuscia['kuscia-source'], 'alice');
    assert.equal(reply.kuscia['kuscia-token'], undefined, 'the token stops at bob\'s gateway');
    // Envoy flushes access logs every second.
    const entry = await waitFor('bob\'s access log entry', async () => readFileSync(join(bob.home, 'logs', 'access-public.log'), 'utf8').trim().split('\n')
      .map((l) => JSON.parse(l) as { path: string; peer_identity: string }).find((l) => l.path === '/via-alice'), 10_000);
    assert.equal(entry.peer_identity, null, 'no client certificate was presented');
    const described = alice.cli(['describe', 'clusterdomainroute', 'alice-bob']);
    assert.match(described.stdout, /rolling token: token revision \d+ obtained/);
    const inbound = bob.cli(['describe', 'clusterdomainroute', 'alice-bob']);
    assert.match(inbound.stdout, /alice authenticates with a rolling token \(revision \d+/);
    // The token state is a metric on both sides.
    const metrics = async (n: TestNode) => (await fetch(`http://127.0.0.1:${n.ports.api}/metrics`)).text();
    assert.match(await metrics(alice), /ferry_token_revision\{peer_domain="bob",direction="outbound"\} [1-9]/);
    assert.match(await metrics(bob), /ferry_token_revision\{peer_domain="alice",direction="inbound"\} [1-9]/);
  });

  test('carol, an mTLS partner, keeps working on the same public port', async () => {
    const r = await curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${carol.ports.internal}/via-carol`]);
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as EchoReply).kuscia['kuscia-source'], 'carol');
  });

  test('no token, a made-up token, or the token claimed for another source: 401 with Kuscia\'s JSON body', async () => {
    const current = tokensOf(alice).obtained!.bob!.token;
    for (const headers of [
      { 'Kuscia-Source': 'alice' },
      { 'Kuscia-Source': 'alice', 'Kuscia-Token': randomBytes(32).toString('base64') },
      { 'Kuscia-Source': 'alice', 'Kuscia-Token': 'noop' },
      { 'Kuscia-Source': 'alice', 'Kuscia-Token': `${current},${current}` },
    ] as Record<string, string>[]) {
      const r = await asEcho(headers);
      assert.equal(r.status, 401, `${JSON.stringify(headers)}: ${r.body}`);
      assert.deepEqual(Object.keys(JSON.parse(r.body)).sort(), ['domain', 'instance', 'kuscia', 'reason']);
      assert.equal(JSON.parse(r.body).reason, 'unauthorized.');
      assert.equal(JSON.parse(r.body).domain, 'bob');
    }
    // alice's token with a claim to be carol: the token names alice, so the contradicting claim is refused.
    const claimed = await asEcho({ 'Kuscia-Source': 'carol', 'Kuscia-Token': current });
    assert.equal(claimed.status, 403, claimed.body);
    // Unknown services and the catch-all answer 401 too: nothing is revealed before authentication.
    const unknown = await direct({ Host: 'nothing.bob.svc', 'Kuscia-Host': 'nothing.bob.svc', 'Kuscia-Source': 'alice' });
    assert.equal(unknown.status, 401);
    // With the valid token: through, and a Service not open to alice is 403, not 401.
    const ok = await asEcho({ 'Kuscia-Source': 'alice', 'Kuscia-Token': tokensOf(alice).obtained!.bob!.token });
    assert.equal(ok.status, 200, ok.body);
    const secret = await direct({ Host: 'secret.bob.svc', 'Kuscia-Host': 'secret.bob.svc', 'Kuscia-Source': 'alice', 'Kuscia-Token': tokensOf(alice).obtained!.bob!.token });
    assert.equal(secret.status, 403);
    // Header values that try to name other services or sources: refused, nothing served.
    const token = tokensOf(alice).obtained!.bob!.token;
    for (const [what, args] of [
      ['two Kuscia-Host values', ['-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc,secret.bob.svc']],
      ['Host names echo, Kuscia-Host secret (Kuscia-Host decides)', ['-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: secret.bob.svc']],
    ] as const) {
      const r = await curl(['--cacert', bobCaFile, '--resolve', `bob:${bob.ports.public}:127.0.0.1`, '-H', 'Kuscia-Source: alice', '-H', `Kuscia-Token: ${token}`, ...args, `https://bob:${bob.ports.public}/x`]);
      assert.ok([400, 401, 403, 404].includes(r.status), `${what}: ${r.status} ${r.body}`);
    }
    // A second Kuscia-Source value never reaches the service: it is told the authenticated caller alone.
    const twice = await curl(['--cacert', bobCaFile, '--resolve', `bob:${bob.ports.public}:127.0.0.1`, '-H', 'Host: echo.bob.svc', '-H', 'Kuscia-Host: echo.bob.svc',
      '-H', 'Kuscia-Source: alice', '-H', 'Kuscia-Source: carol', '-H', 'Kuscia-Origin-Source: carol', '-H', `Kuscia-Token: ${token}`, `https://bob:${bob.ports.public}/x`]);
    if (twice.status === 200) {
      const seen = (JSON.parse(twice.body) as EchoReply).kuscia;
      assert.equal(seen['kuscia-source'], 'alice');
      assert.equal(seen['kuscia-origin-source'], 'alice');
    } else {
      assert.ok([401, 403].includes(twice.status), `${twice.status}`);
    }
  });

  test('tokens roll every 3 s under load with zero failed requests; a token is refused after two rolls', async () => {
    const first = tokensOf(alice).obtained!.bob!;
    const load = startLoad({ port: alice.ports.internal, host: 'echo.bob.svc', concurrency: 4, maxMs: 30_000 });
    await waitFor('two token rolls', async () => ((tokensOf(alice).obtained?.bob?.revision ?? 0) >= first.revision + 2 ? true : undefined), 20_000);
    // One more request after the last roll, then stop.
    const result = await load.stop();
    console.log(`token rolling under load: ${result.sent} requests, by status ${JSON.stringify(result.byStatus)}; revision ${first.revision} -> ${tokensOf(alice).obtained!.bob!.revision}`);
    assert.ok(result.sent > 50, `only ${result.sent} requests`);
    assert.deepEqual(result.failures, []);
    const replay = await asEcho({ 'Kuscia-Source': 'alice', 'Kuscia-Token': first.token });
    assert.equal(replay.status, 401, 'a token two rolls old is refused');
    const now = await asEcho({ 'Kuscia-Source': 'alice', 'Kuscia-Token': tokensOf(alice).obtained!.bob!.token });
    assert.equal(now.status, 200);
  });

  test('the handshake refuses bad input (wrong pubhash, undecryptable, malformed, oversized) and changes nothing', async () => {
    const bobKey = new X509Certificate(readFileSync(bobCaFile, 'utf8')).publicKey;
    const aliceCa = alice.cli(['cert', 'export']).stdout;
    const alicePubPem = createPublicKey(aliceCa).export({ type: 'pkcs1', format: 'pem' }) as string;
    const goodHash = createHash('sha256').update(alicePubPem).digest('base64');
    const encrypt = (bytes: Buffer) => publicEncrypt({ key: bobKey, padding: constants.RSA_PKCS1_PADDING }, bytes).toString('base64');
    const before = tokensOf(bob).issued!.alice!;
    const handshake = (body: string, extra: string[] = []) => curl([
      '--cacert', bobCaFile, '--resolve', `bob:${bob.ports.public}:127.0.0.1`,
      '-H', `Host: kuscia-handshake.bob.svc`, '-H', 'Kuscia-Host: kuscia-handshake.bob.svc', '-H', 'Kuscia-Source: alice',
      '-H', 'Content-Type: application/json', '--data-binary', body, ...extra, `https://bob:${bob.ports.public}/handshake`,
    ]);
    const request = (token: string, pubhash: string) => JSON.stringify({ domain_id: 'alice', type: 'RSA', token_config: { token, revision: 1, pubhash } });

    const wrongHash = await handshake(request(encrypt(Buffer.concat([Buffer.from('kuscia'), randomBytes(16)])), createHash('sha256').update('not the key').digest('base64')));
    assert.equal(wrongHash.status, 200);
    assert.equal(JSON.parse(wrongHash.body).status.code, 500);
    assert.match(JSON.parse(wrongHash.body).status.message, /pubhash/);

    for (const [what, token] of [
      ['random ciphertext', randomBytes(256).toString('base64')],
      ['no kuscia prefix', encrypt(randomBytes(22))],
      ['wrong length', encrypt(Buffer.concat([Buffer.from('kuscia'), randomBytes(8)]))],
      ['not base64', '!!!!'],
    ] as const) {
      const r = await handshake(request(token, goodHash));
      assert.equal(r.status, 200, `${what}: ${r.body}`);
      assert.equal(JSON.parse(r.body).status.code, 500, what);
      assert.match(JSON.parse(r.body).status.message, /does not decrypt/, what);
    }
    const malformed = await handshake('{"domain_id": "alice", "type": ');
    assert.equal(malformed.status, 400);
    const missing = await handshake(JSON.stringify({ domain_id: 'alice', type: 'RSA' }));
    assert.equal(missing.status, 400);
    assert.match(JSON.parse(missing.body).status.message, /token_config/);
    // Node's client (not curl): the answer comes while the body is still being sent, and Node reports it either way.
    const oversized = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({
        host: '127.0.0.1', port: bob.ports.public, servername: 'bob', ca: readFileSync(bobCaFile), method: 'POST', path: '/handshake',
        headers: { host: 'kuscia-handshake.bob.svc', 'kuscia-host': 'kuscia-handshake.bob.svc', 'kuscia-source': 'alice', 'content-type': 'application/json' },
      }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
      req.on('error', reject);
      req.end(JSON.stringify({ domain_id: 'alice', type: 'RSA', token_config: { token: 'A'.repeat(64 * 1024), pubhash: goodHash } }));
    });
    assert.equal(oversized, 413);
    const spoofed = await handshake(request(encrypt(Buffer.concat([Buffer.from('kuscia'), randomBytes(16)])), goodHash).replace('"alice"', '"mallory"'));
    assert.equal(JSON.parse(spoofed.body).status.code, 500, 'domain_id must match Kuscia-Source');

    const afterAll = tokensOf(bob).issued!.alice!;
    assert.ok(afterAll.revision >= before.revision, 'revision moved only by alice\'s own rolls');
    assert.ok(afterAll.tokens.every((t) => t.revision <= afterAll.revision));
    assert.equal((await viaAlice()).status, 200, 'alice still works');
  });

  test('a Kuscia-style source written from the wire description completes the handshake and is served', async () => {
    // This test plays a Kuscia node "alice" with alice's CA key (what Kuscia encrypts to is the key in Domain.spec.cert).
    const aliceKey = createPrivateKey(readFileSync(join(alice.home, 'certs', 'ca.key'), 'utf8'));
    const alicePubPem = createPublicKey(aliceKey).export({ type: 'pkcs1', format: 'pem' }) as string;
    const bobKey = new X509Certificate(readFileSync(bobCaFile, 'utf8')).publicKey;
    const s = randomBytes(16);
    const body = {
      domain_id: 'alice',
      type: 'RSA',
      token_config: {
        token: publicEncrypt({ key: bobKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([Buffer.from('kuscia'), s])).toString('base64'),
        revision: 7,
        pubhash: createHash('sha256').update(alicePubPem).digest('base64'),
      },
      request_time: Date.now() * 1e6,
    };
    const r = await curl(['--cacert', bobCaFile, '--resolve', `bob:${bob.ports.public}:127.0.0.1`, '-H', 'Host: bob', '-H', 'Kuscia-Host: kuscia-handshake.bob.svc',
      '-H', 'Kuscia-Source: alice', '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(body), `https://bob:${bob.ports.public}/some/prefix/handshake`]);
    assert.equal(r.status, 200, r.body);
    const answer = JSON.parse(r.body) as { status: { code?: number }; token: { token: string; revision: number; expiration_time: number } };
    assert.ok(!answer.status.code, r.body);
    assert.ok(answer.token.expiration_time > Date.now() * 1e6);
    const plain = privateDecrypt({ key: aliceKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.from(answer.token.token, 'base64'));
    assert.equal(plain.subarray(0, 6).toString(), 'kuscia');
    const token = Buffer.concat([s, plain.subarray(6)]).toString('base64');
    const ok = await asEcho({ 'Kuscia-Source': 'alice', 'Kuscia-Token': token });
    assert.equal(ok.status, 200, ok.body);
    // Heartbeat states for this revision and for bad probes.
    const beat = async (headers: Record<string, string>) => JSON.parse((await direct({ Host: 'bob', 'Kuscia-Host': 'kuscia-handshake.bob.svc', ...headers }, '/handshake')).body) as { namespace: string; state: number };
    assert.deepEqual(await beat({ 'Kuscia-Source': 'alice', 'Kuscia-Token-Revision': String(answer.token.revision) }), { namespace: 'bob', state: 0 });
    assert.equal((await beat({ 'Kuscia-Token-Revision': '1' })).state, 1, 'no Kuscia-Source: DomainIDInputInvalid');
    assert.equal((await beat({ 'Kuscia-Source': 'alice' })).state, 2, 'no revision: TokenRevisionInputInvalid');
    assert.equal((await beat({ 'Kuscia-Source': 'alice', 'Kuscia-Token-Revision': '99999' })).state, 4, 'unknown revision: TokenNotFound');
    assert.equal((await beat({ 'Kuscia-Source': 'carol', 'Kuscia-Token-Revision': '1' })).state, 5, 'no Token route: NoAuthentication');
  });
});
