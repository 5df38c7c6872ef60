// Regenerates the fixed certificates the golden tests use (run once; committed).
// bash scripts/node.sh test/golden/make-fixtures.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDomainCa, issueGatewayCert } from '../../certs/authority.ts';

const dir = join(import.meta.dirname, 'testdata', 'certs');
for (const domain of ['alice', 'bob', 'carol']) {
  const ca = createDomainCa(domain, { days: 36500 });
  writeFileSync(join(dir, `${domain}-ca.pem`), ca.certPem);
  if (domain === 'alice') {
    const gw = issueGatewayCert(ca, domain, { days: 36500 });
    writeFileSync(join(dir, 'alice-gateway.pem'), gw.certPem);
    writeFileSync(join(dir, 'alice-gateway.key'), gw.keyPem);
  }
}
// kuscia-ca.pem (kbob2 in kuscia-partner) is a Kuscia domain certificate (self-signed, CN=kbob2), made once with:
// openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=kbob2 -days 36500 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,digitalSignature -addext extendedKeyUsage=clientAuth,serverAuth
