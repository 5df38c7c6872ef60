// Unit tests of the domain CA and gateway certificates (certs/authority.ts),
// checked with node:crypto, the openssl CLI and a real mTLS handshake.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { createDomainCa, issueGatewayCert, inspectCertificate, gatewaySpiffeId, type CertAndKey } from '../../certs/authority.ts';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY_MS = 24 * 3600 * 1000;

let aliceCa: CertAndKey;
let aliceGw: CertAndKey;
let bobCa: CertAndKey;
let bobGw: CertAndKey;
let dir: string;

before(() => {
  aliceCa = createDomainCa('alice');
  aliceGw = issueGatewayCert(aliceCa, 'alice');
  bobCa = createDomainCa('bob');
  bobGw = issueGatewayCert(bobCa, 'bob');
  dir = mkdtempSync(join(tmpdir(), 'ferry-certs-test-'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

function opensslText(pem: string): string {
  return execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem, encoding: 'utf8' });
}

/** Runs `openssl verify` with a purpose; returns its output, or throws with it. */
function opensslVerify(caPem: string, certPem: string, purpose: string): string {
  const ca = join(dir, `ca-${purpose}.pem`);
  const cert = join(dir, `cert-${purpose}.pem`);
  writeFileSync(ca, caPem);
  writeFileSync(cert, certPem);
  return execFileSync('openssl', ['verify', '-CAfile', ca, '-purpose', purpose, cert], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('createDomainCa', () => {
  test('is an RSA >= 2048 self-signed CA', () => {
    const x = new X509Certificate(aliceCa.certPem);
    assert.equal(x.ca, true);
    assert.equal(x.publicKey.asymmetricKeyType, 'rsa');
    assert.ok((x.publicKey.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048);
    assert.equal(x.subject, x.issuer);
    assert.ok(x.verify(x.publicKey), 'self-signed');
    assert.match(x.subject, /alice/);
  });

  test('the key PEM is the CA certificate key', () => {
    assert.ok(new X509Certificate(aliceCa.certPem).checkPrivateKey(createPrivateKey(aliceCa.keyPem)));
    assert.ok(!new X509Certificate(aliceCa.certPem).checkPrivateKey(createPrivateKey(bobCa.keyPem)));
  });

  test('basicConstraints CA:TRUE is critical and the key may sign certificates', () => {
    const text = opensslText(aliceCa.certPem);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /Certificate Sign/);
  });

  test('is valid now, for about 10 years by default, and honours days/now', () => {
    const x = new X509Certificate(aliceCa.certPem);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    assert.ok(from <= Date.now() && to > Date.now());
    assert.ok(Math.abs(to - Date.now() - 3650 * DAY_MS) < 2 * DAY_MS);
    const now = new Date('2030-01-01T00:00:00Z');
    const short = new X509Certificate(createDomainCa('carol', { days: 30, now, bits: 2048 }).certPem);
    assert.equal(Date.parse(short.validTo), now.getTime() + 30 * DAY_MS);
    assert.ok(Date.parse(short.validFrom) <= now.getTime());
  });

  test('two CAs of the same domain have different keys and serials', () => {
    const again = new X509Certificate(createDomainCa('alice').certPem);
    const first = new X509Certificate(aliceCa.certPem);
    assert.notEqual(again.serialNumber, first.serialNumber);
    assert.ok(!again.publicKey.equals(first.publicKey));
  });
});

describe('issueGatewayCert', () => {
  test('verifies against its domain CA and not against another domain CA', () => {
    const gw = new X509Certificate(aliceGw.certPem);
    const ca = new X509Certificate(aliceCa.certPem);
    const other = new X509Certificate(bobCa.certPem);
    assert.ok(gw.checkIssued(ca));
    assert.ok(gw.verify(ca.publicKey));
    assert.ok(!gw.verify(other.publicKey));
    assert.ok(!gw.checkIssued(other));
  });

  test('carries URI SAN spiffe://<domain>/ferry/gateway and DNS SAN <domain>', () => {
    const facts = inspectCertificate(bobGw.certPem);
    assert.equal(gatewaySpiffeId('bob'), 'spiffe://bob/ferry/gateway');
    assert.deepEqual(facts.uris, ['spiffe://bob/ferry/gateway']);
    assert.deepEqual(facts.dnsNames, ['bob']);
    const x = new X509Certificate(bobGw.certPem);
    assert.equal(x.checkHost('bob'), 'bob');
    assert.match(x.subject, /CN=bob/);
  });

  test('is not a CA', () => {
    assert.equal(new X509Certificate(aliceGw.certPem).ca, false);
    assert.match(opensslText(aliceGw.certPem), /X509v3 Basic Constraints: critical\s+CA:FALSE/);
  });

  test('has both serverAuth and clientAuth extended key usage', () => {
    const eku = new X509Certificate(aliceGw.certPem).keyUsage;
    assert.ok(eku.includes(SERVER_AUTH), 'serverAuth');
    assert.ok(eku.includes(CLIENT_AUTH), 'clientAuth');
    assert.match(opensslText(aliceGw.certPem), /TLS Web Server Authentication, TLS Web Client Authentication/);
  });

  test('openssl accepts it for both TLS server and TLS client use', () => {
    assert.match(opensslVerify(aliceCa.certPem, aliceGw.certPem, 'sslserver'), /: OK/);
    assert.match(opensslVerify(aliceCa.certPem, aliceGw.certPem, 'sslclient'), /: OK/);
    assert.throws(() => opensslVerify(bobCa.certPem, aliceGw.certPem, 'sslclient'));
  });

  test('the key PEM matches the certificate and is RSA', () => {
    const key = createPrivateKey(bobGw.keyPem);
    assert.equal(key.asymmetricKeyType, 'rsa');
    assert.ok(new X509Certificate(bobGw.certPem).checkPrivateKey(key));
  });

  test('is short-lived (24 h) by default and honours lifetimeSeconds, days and now', () => {
    const x = new X509Certificate(aliceGw.certPem);
    assert.ok(Math.abs(Date.parse(x.validTo) - Date.now() - DAY_MS) < 10 * 60_000);
    const brief = new X509Certificate(issueGatewayCert(aliceCa, 'alice', { lifetimeSeconds: 90, now: new Date('2030-06-01T00:00:00Z') }).certPem);
    assert.equal(Date.parse(brief.validTo), Date.parse('2030-06-01T00:01:30Z'));
    const now = new Date('2030-06-01T00:00:00Z');
    const short = new X509Certificate(issueGatewayCert(aliceCa, 'alice', { days: 7, now }).certPem);
    assert.equal(Date.parse(short.validTo), now.getTime() + 7 * DAY_MS);
  });

  test('mutual TLS works between two domains that trust each other\'s CA', async () => {
    const server = createServer({
      cert: bobGw.certPem, key: bobGw.keyPem, ca: [aliceCa.certPem], requestCert: true, rejectUnauthorized: true,
    }, (socket) => {
      const peer = socket.getPeerCertificate();
      socket.end(`${socket.authorized ? 'authorized' : 'rejected'} ${peer.subjectaltname ?? ''}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      let serverSan = '';
      const reply = await new Promise<string>((resolve, reject) => {
        const client: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'bob', cert: aliceGw.certPem, key: aliceGw.keyPem, ca: [bobCa.certPem] }, () => {
          if (!client.authorized) reject(new Error(`client did not authorize the server: ${String(client.authorizationError)}`));
          serverSan = client.getPeerCertificate().subjectaltname ?? '';
        });
        let data = '';
        client.setEncoding('utf8');
        client.on('data', (d: string) => (data += d));
        client.on('end', () => resolve(data));
        client.on('error', reject);
      });
      assert.match(serverSan, /URI:spiffe:\/\/bob\/ferry\/gateway/);
      assert.match(reply, /^authorized .*URI:spiffe:\/\/alice\/ferry\/gateway/);
    } finally {
      server.close();
    }
  });
});

describe('inspectCertificate', () => {
  test('reports the facts of a CA', () => {
    const facts = inspectCertificate(aliceCa.certPem);
    assert.equal(facts.isCa, true);
    assert.equal(facts.publicKeyType, 'rsa');
    assert.equal(facts.subject, facts.issuer);
    assert.match(facts.subject, /CN=alice Ferry CA/);
    assert.ok(!facts.subject.includes('\n'), 'one line');
    assert.ok(facts.notAfter.getTime() > Date.now());
    assert.deepEqual(facts.uris, []);
  });

  test('accepts a certificate with surrounding text', () => {
    assert.equal(inspectCertificate(`issued by alice\n${aliceCa.certPem}\ntrailer`).isCa, true);
  });

  test('errors on garbage', () => {
    assert.throws(() => inspectCertificate('hello world'), /expected exactly one PEM certificate.*found 0/);
    assert.throws(() => inspectCertificate(''), /found 0/);
    assert.throws(() => inspectCertificate(aliceCa.keyPem), /found 0/);
  });

  test('errors on a PEM block that is not a certificate', () => {
    assert.throws(() => inspectCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'), /not a valid X\.509 certificate/);
  });

  test('errors on two certificates', () => {
    assert.throws(() => inspectCertificate(aliceCa.certPem + aliceGw.certPem), /expected exactly one PEM certificate.*found 2/);
  });
});
