// Issue 13.4: every Kuscia document (rendered from Kuscia's scripts and docs,
// test/golden/kuscia/) applies to Ferry unchanged. Each document is parsed as
// `ferry apply -f` parses it, validated, and what Ferry makes of it (accepted;
// fields ignored, warnings, not served) is compared with <file>.out.yaml.
// Regenerate after an intended change: UPDATE_GOLDEN=1 (then review the diff).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { parseDocuments } from '../../interop/documents.ts';
import { validateResource } from '../../control-plane/resources/validate.ts';
import { acceptanceConditions, notServedReason } from '../../control-plane/resources/conditions.ts';

const dir = join(import.meta.dirname, 'kuscia');
const certDir = join(import.meta.dirname, 'testdata', 'certs');
const b64 = (name: string) => Buffer.from(readFileSync(join(certDir, `${name}.pem`), 'utf8')).toString('base64');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !f.endsWith('.out.yaml'));

test('the Kuscia golden set holds every template and docs shape', () => {
  assert.ok(files.length >= 14, files.join());
  const all = files.map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
  // The shapes issue 13.4 names, each present.
  for (const shape of ['resourceQuota:', 'interConnProtocols:', 'sourceClientCert:', 'sourceClientPrivateKey:', 'destinationPublicKey:', 'sourcePublicKey:', 'transitMethod: THIRD-DOMAIN', 'transitMethod: REVERSE-TUNNEL', 'pathPrefix:\n', 'isTLS: false', 'bodyEncryption:']) {
    assert.ok(all.includes(shape), shape);
  }
});

for (const file of files) {
  test(`Kuscia documents apply unchanged: ${file}`, () => {
    const node = file.split('--')[0]!;
    const text = readFileSync(join(dir, file), 'utf8').replace(/@cert:([a-z-]+)/g, (_, name: string) => b64(name));
    const outcome = parseDocuments(text, file).map((doc, i) => {
      let r;
      try {
        r = validateResource(doc, { domain: node });
      } catch (e) {
        assert.fail(`document ${i + 1} of ${file} is refused: ${(e as Error).message}`);
      }
      const conditions = acceptanceConditions(r, node);
      return {
        resource: `${r.kind}/${r.metadata.name}`,
        served: notServedReason(conditions) === undefined,
        conditions: conditions.map((c) => `${c.type} ${c.field}: ${c.message}`),
      };
    });
    const actual = YAML.stringify(outcome, { lineWidth: 0 });
    const golden = join(dir, file.replace(/\.yaml$/, '.out.yaml'));
    if (process.env.UPDATE_GOLDEN || !existsSync(golden)) writeFileSync(golden, actual);
    assert.equal(actual, readFileSync(golden, 'utf8'));
  });
}
