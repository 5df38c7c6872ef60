// `ferry init` with an existing CA and API token (what the Helm chart's pod
// does with its Secret) and --bind; bad input refused, nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';
import { initHome } from '../../control-plane/home.ts';
import { homePaths, readConfig } from '../../control-plane/config.ts';
import { ferry, tempDir } from '../support/harness.ts';

const ca = createDomainCa('alice');

test('initHome with a given CA, token and bind address: gateway issued by that CA, token kept, listeners bound', () => {
  const home = join(tempDir('init-ca'), 'h');
  initHome(home, 'alice', {}, { ca, apiToken: 'a-token-of-sixteen-chars', bind: '0.0.0.0' });
  const p = homePaths(home);
  assert.equal(readFileSync(p.caCert, 'utf8'), ca.certPem);
  assert.equal(readFileSync(p.caKey, 'utf8'), ca.keyPem);
  assert.ok(new X509Certificate(readFileSync(p.gatewayCert, 'utf8')).verify(new X509Certificate(ca.certPem).publicKey), 'gateway certificate signed by the given CA');
  assert.equal(readFileSync(p.apiToken, 'utf8').trim(), 'a-token-of-sixteen-chars');
  const l = readConfig(home).listeners;
  assert.deepEqual([l.api.address, l.internal.address], ['0.0.0.0', '0.0.0.0']);
  assert.deepEqual([l.envoyAdmin, l.xds], [undefined, undefined], 'admin and xDS stay on their Unix sockets (no TCP port)');
});

test('initHome refuses a CA whose key does not match, a non-CA certificate and a short token, writing nothing', () => {
  const other = createDomainCa('alice');
  const gateway = issueGatewayCert(ca, 'alice');
  const cases: [Parameters<typeof initHome>[3], RegExp][] = [
    [{ ca: { certPem: ca.certPem, keyPem: other.keyPem } }, /--ca-key: the key does not belong to the certificate/],
    [{ ca: gateway }, /--ca-cert: .* is not a CA certificate/],
    [{ ca: { certPem: 'nope', keyPem: ca.keyPem } }, /--ca-cert: not a PEM certificate/],
    [{ apiToken: 'short' }, /--api-token-file: the token must be at least 16/],
  ];
  for (const [opts, message] of cases) {
    const home = join(tempDir('init-bad'), 'h');
    assert.throws(() => initHome(home, 'alice', {}, opts), message);
    assert.ok(!existsSync(home), 'nothing written');
  }
});

test('ferry init CLI: --ca-cert without --ca-key and a bad --bind are usage errors', () => {
  const dir = tempDir('init-cli');
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  const a = ferry(['init', 'alice', '--home', join(dir, 'h'), '--ca-cert', join(dir, 'ca.crt')]);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /--ca-cert and --ca-key go together/);
  const b = ferry(['init', 'alice', '--home', join(dir, 'h'), '--bind', 'everywhere']);
  assert.match(b.stderr, /--bind: "everywhere" is not an IP address/);
  const c = ferry(['init', 'alice', '--home', join(dir, 'h'), '--ca-cert', join(dir, 'missing.crt'), '--ca-key', join(dir, 'missing.key')]);
  assert.match(c.stderr, /--ca-cert: cannot read .*missing\.crt \(ENOENT\)/);
  assert.ok(!existsSync(join(dir, 'h')));
});

test("KusciaAPI gRPC: Kuscia's 8083 beside the default API port; with another API port only when given (two homes on one host)", () => {
  const init = (...args: string[]) => {
    const home = join(tempDir('init-kapi'), 'h');
    const r = ferry(['init', 'alice', '--home', home, ...args]);
    assert.equal(r.code, 0, r.stderr);
    return readConfig(home).kusciaApi;
  };
  assert.equal(init()?.grpcPort, 8083);
  assert.equal(init('--api-port', '31082')?.grpcPort, undefined, 'README-style homes on one host do not both take 8083');
  assert.equal(init('--api-port', '31082', '--kusciaapi-grpc-port', '31085')?.grpcPort, 31085);
});
