// interop/kuscia-identity.ts: the issuer name Ferry expects a Kuscia partner's
// client certificates to carry must be the string Envoy prints
// (X509_NAME_print_ex, XN_FLAG_RFC2253). OpenSSL's `-nameopt RFC2253` prints
// the same flags: it is the oracle here, on names Kuscia makes (CN=<domain>)
// and on harder ones (several attributes, escaped characters, a multi-valued
// RDN, UTF-8). The e2e check against Envoy itself is kuscia-interop.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { kusciaIssuerClashes, kusciaIssuers, rfc2253Subject } from '../../interop/kuscia-identity.ts';
import { defaultConfig } from '../../control-plane/config.ts';
import { groupResources } from '../../control-plane/resources/types.ts';
import { validateResource } from '../../control-plane/resources/validate.ts';
import { translateToIr } from '../../control-plane/translate/resources-to-ir.ts';
import { tempDir } from '../support/harness.ts';

const dir = tempDir('kuscia-identity');

function selfSigned(name: string, subject: string): string {
  const out = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', out, '-subj', subject, '-utf8', '-multivalue-rdn', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE'], { stdio: 'ignore' });
  return readFileSync(out, 'utf8');
}

const openssl = (pem: string) => execFileSync('openssl', ['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], { input: pem, encoding: 'utf8' }).trim().replace(/^subject=/, '');

test('issuer names as Envoy prints them (OpenSSL RFC 2253 as the oracle)', () => {
  const cases: [string, string, string][] = [
    ['kuscia', '/CN=kalice', 'CN=kalice'],
    ['several', '/C=CN/O=Ant, Inc./CN=dave', 'CN=dave,O=Ant\\, Inc.,C=CN'],
    ['escapes', '/O= lead#"quote";<x>+y/CN=e\\\\f', ''],
    ['multivalued', '/O=org/CN=mv+OU=unit', ''],
    ['utf8', '/CN=dävé', ''],
  ];
  for (const [name, subject, expected] of cases) {
    const pem = selfSigned(name, subject);
    const ours = rfc2253Subject(pem);
    assert.equal(ours, openssl(pem), `${name}: ${subject}`);
    if (expected) assert.equal(ours, expected);
  }
});

test('issuers of a rotation bundle, and partners whose CAs share a subject', () => {
  const a = selfSigned('a1', '/CN=kalice');
  const b = selfSigned('a2', '/CN=kalice');
  assert.deepEqual(kusciaIssuers(a + b), ['CN=kalice'], 'a bundle of two CAs of one subject: one name');
  const clashes = kusciaIssuerClashes([
    { domain: 'kalice', issuers: ['CN=kalice'] },
    { domain: 'kmallory', issuers: ['CN=kalice', 'CN=kmallory'] },
    { domain: 'kcarol', issuers: ['CN=kcarol'] },
  ]);
  assert.deepEqual([...clashes], [['kalice', ['kmallory']], ['kmallory', ['kalice']]]);
});

test('a clash that reaches the store anyway (apply refuses it): neither partner is identified by certificate, both Domains say why', () => {
  const domain = (name: string, pem: string) => validateResource({ apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'Domain', metadata: { name }, spec: { role: 'partner', cert: Buffer.from(pem).toString('base64') } }, { domain: 'fbob' });
  const own = selfSigned('own', '/CN=fbob Ferry CA');
  const ir = translateToIr(groupResources([domain('kalice', selfSigned('k1', '/CN=kalice')), domain('kmallory', selfSigned('k2', '/CN=kalice')), domain('kcarol', selfSigned('k3', '/CN=kcarol'))]), defaultConfig('fbob'), own, '/tmp');
  assert.deepEqual(ir.partners.map((p) => [p.domain, p.issuers]), [['kalice', undefined], ['kcarol', ['CN=kcarol']], ['kmallory', undefined]]);
  const status = ir.statuses.find((x) => x.kind === 'Domain' && x.name === 'kalice')!;
  assert.equal(status.ready, false);
  assert.match(status.reason, /same subject as the CA of kmallory/);
});
