// KusciaAPI's transport settings and server pair (control-plane/kusciaapi/tls.ts):
// where it may listen with which protocol, the pair made at first start, and
// bad pairs refused with the file and the fix; `ferry init` flags checked
// before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainCa, issueServiceCert } from '../../certs/authority.ts';
import { initHome } from '../../control-plane/home.ts';
import { finishCaRotation, startCaRotation } from '../../control-plane/ca-rotation.ts';
import { defaultConfig, readConfig, type NodeConfig } from '../../control-plane/config.ts';
import { checkPair, kusciaApiSettings, kusciaServerCertPaths, kusciaServerTls } from '../../control-plane/kusciaapi/tls.ts';
import { kusciaToken } from '../../control-plane/kusciaapi/start.ts';
import { ferry, tempDir } from '../support/harness.ts';

const config = (kusciaApi: NodeConfig['kusciaApi'], apiAddress = '127.0.0.1'): NodeConfig => {
  const c = defaultConfig('alice', { api: 31082, kusciaApiGrpc: 31083 });
  c.listeners.api.address = apiAddress;
  return { ...c, kusciaApi: { ...c.kusciaApi, ...kusciaApi } };
};

test('settings: NOTLS on loopback by default; beyond loopback only with TLS or MTLS on a port of its own', () => {
  assert.deepEqual(kusciaApiSettings(config({})), { protocol: 'NOTLS', address: '127.0.0.1', shared: true, sharedButExposed: false, sans: [] });
  const wide = kusciaApiSettings(config({ protocol: 'MTLS', address: '0.0.0.0', httpPort: 31084 }));
  assert.deepEqual([wide.protocol, wide.address, wide.shared], ['MTLS', '0.0.0.0', false]);
  assert.equal(kusciaApiSettings(config({ protocol: 'TLS', address: '::', httpPort: 31084 })).protocol, 'TLS');
  assert.equal(kusciaApiSettings(config({}, '0.0.0.0')).sharedButExposed, true, 'a REST listener bound wide does not carry NOTLS KusciaAPI');
  const refused: [NodeConfig['kusciaApi'], RegExp][] = [
    [{ address: '0.0.0.0' }, /kusciaApi\.address in ferry\.yaml: 0\.0\.0\.0 is not a loopback address, and without TLS the token would cross the network in clear: set kusciaApi\.protocol to MTLS or TLS/],
    [{ protocol: 'MTLS' }, /kusciaApi\.httpPort in ferry\.yaml: with protocol MTLS, KusciaAPI HTTP needs a port of its own/],
    [{ protocol: 'TLS', httpPort: 31082 }, /kusciaApi\.httpPort in ferry\.yaml: with protocol TLS/],
    [{ protocol: 'SSL' as 'TLS' }, /kusciaApi\.protocol in ferry\.yaml: "SSL" is not NOTLS, TLS or MTLS/],
    [{ address: 'example.org', protocol: 'TLS', httpPort: 31084 }, /kusciaApi\.address in ferry\.yaml: "example\.org" is not an IP address/],
    [{ sans: [''], protocol: 'TLS', httpPort: 31084 }, /kusciaApi\.sans in ferry\.yaml/],
  ];
  for (const [k, message] of refused) assert.throws(() => kusciaApiSettings(config(k)), message);
});

test('the server pair: made at first start (CA-signed, Kuscia\'s names, sans), kept after, made again when expired', () => {
  const home = join(tempDir('kapi-tls'), 'h');
  const c = initHome(home, 'alice', { api: 31082 });
  const cfg = { ...c, kusciaApi: { httpPort: 31084, protocol: 'MTLS' as const, sans: ['kapi.alice.example', '10.1.2.3'] } };
  const notes: string[] = [];
  const tls = kusciaServerTls(home, cfg, kusciaApiSettings(cfg), (m) => notes.push(m))!;
  assert.equal(tls.mtls, true);
  assert.match(notes[0]!, /made the KusciaAPI server certificate/);
  const cert = new X509Certificate(tls.certPem);
  assert.ok(cert.verify(new X509Certificate(tls.caPem).publicKey));
  assert.match(cert.subject, /CN=KusciaAPI/);
  for (const san of ['DNS:kusciaapi', 'DNS:localhost', 'DNS:kapi.alice.example', 'IP Address:127.0.0.1', 'IP Address:10.1.2.3']) assert.ok(cert.subjectAltName!.includes(san), san);
  assert.equal(kusciaServerTls(home, cfg, kusciaApiSettings(cfg), (m) => notes.push(m))!.certPem, tls.certPem, 'kept at the next start');
  assert.equal(notes.length, 1);
  // An expired pair (same CA) is made again, said in the log.
  const paths = kusciaServerCertPaths(home);
  const ca = { certPem: readFileSync(join(home, 'certs', 'ca.crt'), 'utf8'), keyPem: readFileSync(join(home, 'certs', 'ca.key'), 'utf8') };
  const old = issueServiceCert(ca, { commonName: 'KusciaAPI', organization: 'alice', dnsNames: ['kusciaapi'], ipAddresses: [], days: 1, now: new Date(Date.now() - 3 * 86_400_000) });
  writeFileSync(paths.cert, old.certPem);
  writeFileSync(paths.key, old.keyPem);
  const renewed = kusciaServerTls(home, cfg, kusciaApiSettings(cfg), (m) => notes.push(m))!;
  assert.notEqual(renewed.certPem, old.certPem);
  assert.match(notes[1]!, /had expired: made a new one/);
  // NOTLS makes nothing.
  const plain = join(tempDir('kapi-notls'), 'h');
  const pc = initHome(plain, 'alice', { api: 31082 });
  assert.equal(kusciaServerTls(plain, pc, kusciaApiSettings(pc), () => {}), undefined);
  assert.ok(!existsSync(kusciaServerCertPaths(plain).cert));
});

test('a bad server pair is refused with the file and the fix', () => {
  const ca = createDomainCa('alice');
  const other = createDomainCa('mallory');
  const paths = { cert: '/h/certs/kusciaapi-server.crt', key: '/h/certs/kusciaapi-server.key' };
  const good = issueServiceCert(ca, { commonName: 'KusciaAPI', organization: 'alice', dnsNames: ['kusciaapi'], ipAddresses: ['127.0.0.1'], days: 1 });
  const foreign = issueServiceCert(other, { commonName: 'KusciaAPI', organization: 'mallory', dnsNames: ['kusciaapi'], ipAddresses: [], days: 1 });
  assert.deepEqual(checkPair(good.certPem, good.keyPem, ca.certPem, paths), { expired: false });
  const fix = /remove kusciaapi-server\.crt and kusciaapi-server\.key, and the node makes a new pair signed by the domain CA$/;
  const cases: [string, string, RegExp][] = [
    ['garbage', good.keyPem, /^\/h\/certs\/kusciaapi-server\.crt: not a PEM certificate/],
    [good.certPem, 'garbage', /^\/h\/certs\/kusciaapi-server\.key: not a PEM private key/],
    [good.certPem, foreign.keyPem, /^\/h\/certs\/kusciaapi-server\.key: the key does not belong to \/h\/certs\/kusciaapi-server\.crt/],
    [foreign.certPem, foreign.keyPem, /^\/h\/certs\/kusciaapi-server\.crt: not signed by this domain's CA \(issuer "CN=mallory Ferry CA, O=mallory"\)/],
  ];
  for (const [cert, key, message] of cases) {
    assert.throws(() => checkPair(cert, key, ca.certPem, paths), (e: Error) => message.test(e.message) && fix.test(e.message));
  }
  // Half a pair on disk: the node says which half is missing.
  const home = join(tempDir('kapi-half'), 'h');
  const c = initHome(home, 'alice', { api: 31082 });
  writeFileSync(kusciaServerCertPaths(home).cert, good.certPem);
  const cfg = { ...c, kusciaApi: { httpPort: 31084, protocol: 'TLS' as const } };
  assert.throws(() => kusciaServerTls(home, cfg, kusciaApiSettings(cfg), () => {}), /kusciaapi-server\.key is missing while .*kusciaapi-server\.crt exists: remove both/);
});

test('ferry init --kusciaapi-protocol/--kusciaapi-address: written to ferry.yaml; refused before anything is written', () => {
  const home = join(tempDir('init-kapi-tls'), 'h');
  const ok = ferry(['init', 'alice', '--home', home, '--api-port', '31082', '--kusciaapi-http-port', '31084', '--kusciaapi-grpc-port', '31085', '--kusciaapi-protocol', 'mtls', '--kusciaapi-address', '0.0.0.0']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(readConfig(home).kusciaApi, { httpPort: 31084, grpcPort: 31085, protocol: 'MTLS', address: '0.0.0.0' });
  for (const [args, message] of [
    [['--kusciaapi-protocol', 'TLS'], /--kusciaapi-http-port: with protocol TLS, KusciaAPI HTTP needs a port of its own/],
    [['--kusciaapi-address', '0.0.0.0'], /--kusciaapi-address: 0\.0\.0\.0 is not a loopback address/],
    [['--kusciaapi-protocol', 'SSL'], /--kusciaapi-protocol: "SSL" is not NOTLS, TLS or MTLS/],
  ] as [string[], RegExp][]) {
    const bad = join(tempDir('init-kapi-bad'), 'h');
    const r = ferry(['init', 'alice', '--home', bad, ...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
    assert.ok(!existsSync(bad), 'nothing written');
  }
});

test("the token is Kuscia's: base64 of the RSA-SHA256 signature of the domain id with the domain key, first 32 characters (checked with openssl)", () => {
  const home = join(tempDir('kapi-token'), 'h');
  initHome(home, 'alice', { api: 31082 });
  const token = kusciaToken(home, 'alice');
  const signed = spawnSync('openssl', ['dgst', '-sha256', '-sign', join(home, 'certs', 'ca.key')], { input: 'alice' });
  assert.equal(signed.status, 0, String(signed.stderr));
  assert.equal(token, signed.stdout.toString('base64').slice(0, 32));
  assert.equal(statSync(join(home, 'certs', 'token')).mode & 0o777, 0o600);
  assert.equal(kusciaToken(home, 'alice'), token, 'read back, not made again');
});

test('after a CA rotation the server pair signed by the replaced CA is made again from the new one', () => {
  const home = join(tempDir('kapi-rotate'), 'h');
  const c = initHome(home, 'alice', { api: 31082 });
  const cfg = { ...c, kusciaApi: { httpPort: 31084, protocol: 'MTLS' as const } };
  const first = kusciaServerTls(home, cfg, kusciaApiSettings(cfg), () => {})!;
  startCaRotation(home, 'alice', 60);
  finishCaRotation(home);
  const notes: string[] = [];
  const after = kusciaServerTls(home, cfg, kusciaApiSettings(cfg), (m) => notes.push(m))!;
  assert.notEqual(after.certPem, first.certPem);
  assert.ok(new X509Certificate(after.certPem).verify(new X509Certificate(readFileSync(join(home, 'certs', 'ca.crt'))).publicKey));
  assert.match(notes[0]!, /signed by the CA a rotation replaced: made a new one/);
});
