// Golden-file tests of the pure translation pipeline:
// testdata/<case>.in.yaml (node + resources) -> testdata/<case>.out.yaml (Envoy resources).
// Regenerate after an intended change: UPDATE_GOLDEN=1 npm test (then review the diff).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { defaultConfig } from '../../control-plane/config.ts';
import { groupResources, type Resource } from '../../control-plane/resources/types.ts';
import { validateResource } from '../../control-plane/resources/validate.ts';
import { NO_RUNTIME, translateToIr, type TranslationRuntime } from '../../control-plane/translate/resources-to-ir.ts';
import { translateToEnvoy } from '../../control-plane/xds/ir-to-envoy.ts';
import { buildSnapshot, checkReferences } from '../../control-plane/ads/snapshot.ts';

const dir = join(import.meta.dirname, 'testdata');
const certDir = join(dir, 'certs');
const pems = new Map(readdirSync(certDir).map((f) => [f.replace(/\.(pem|key)$/, (m) => (m === '.key' ? '-key' : '')), readFileSync(join(certDir, f), 'utf8')]));

/** "@cert:bob-ca" in an input becomes base64 of that fixture PEM (as Domain.spec.cert expects). */
function expandFixtures(text: string): string {
  return text.replace(/@cert:([a-z-]+)/g, (_, name: string) => Buffer.from(pems.get(name)!).toString('base64'));
}

/** PEM blocks in the output become <pem:name> so the golden files stay readable. */
function foldPems(value: unknown): unknown {
  if (typeof value === 'string') {
    for (const [name, pem] of pems) if (value === pem) return `<pem:${name}>`;
    return value;
  }
  if (Array.isArray(value)) return value.map(foldPems);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, foldPems(v)]));
  return value;
}

const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.replace('.in.yaml', ''));

test('golden cases exist', () => assert.ok(cases.length >= 3));

for (const name of cases) {
  test(`translator golden: ${name}`, () => {
    const input = YAML.parse(expandFixtures(readFileSync(join(dir, `${name}.in.yaml`), 'utf8'))) as {
      domain: string;
      resources: unknown[];
      /** Kuscia tokens the node holds: inbound (per source, newest first) and outbound (per destination). */
      tokens?: { inbound?: Record<string, string[]>; outbound?: Record<string, { value: string } | { pending: string }> };
      /** Local ports of running tasks mapped to partners' task Services (control-plane/runtime/task-ports.ts). */
      taskPorts?: TranslationRuntime['taskPorts'];
    };
    const config = defaultConfig(input.domain);
    const resources: Resource[] = input.resources.map((r) => validateResource(r, { domain: input.domain }));
    const runtime: TranslationRuntime = {
      ...NO_RUNTIME,
      tokens: { inbound: new Map(Object.entries(input.tokens?.inbound ?? {})), outbound: new Map(Object.entries(input.tokens?.outbound ?? {})) },
      ...(input.taskPorts ? { taskPorts: input.taskPorts } : {}),
    };
    const ir = translateToIr(groupResources(resources), config, pems.get(`${input.domain}-ca`)!, '/var/log/ferry', runtime);
    const envoy = translateToEnvoy(ir, { certPem: pems.get('alice-gateway')!, keyPem: pems.get('alice-gateway-key')! });
    assert.deepEqual(checkReferences(envoy), [], 'every reference resolves');
    buildSnapshot(envoy); // every resource encodes against Envoy's protos
    const actual = YAML.stringify(foldPems({ statuses: ir.statuses, ...envoy }), { lineWidth: 0 });
    const goldenPath = join(dir, `${name}.out.yaml`);
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenPath)) writeFileSync(goldenPath, actual);
    assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}.out.yaml differs: if intended, UPDATE_GOLDEN=1 and review the diff`);
  });
}
