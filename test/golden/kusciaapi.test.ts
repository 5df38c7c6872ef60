// Golden cases of the KusciaAPI <-> resource mapping: kusciaapi/<case>.in.yaml
// is either a request (message type and JSON body as a client sends it) ->
// the resource it becomes, or Kuscia's error; or a stored resource -> the
// JSON response a query answers with. Regenerate after an intended change:
// UPDATE_GOLDEN=1, then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { messageType, requestFromJson, responseToJson } from '../../control-plane/kusciaapi/protos.ts';
import { checkedResource, domainData, domainResource, routeData, routeResource } from '../../control-plane/kusciaapi/mapping.ts';
import { KusciaError } from '../../control-plane/kusciaapi/codes.ts';
import { jobData, jobResource, localTaskFacts } from '../../control-plane/kusciaapi/job-mapping.ts';
import { appImageData, appImageResource } from '../../control-plane/kusciaapi/app-image-mapping.ts';
import type { StoredResource } from '../../control-plane/store/store.ts';
import { dataData, dataResource, grantData, grantResource, sourceData, sourceResource } from '../../control-plane/kusciaapi/data-mapping.ts';
import type { Resource } from '../../control-plane/resources/types.ts';

const dir = join(import.meta.dirname, 'kusciaapi');
const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.replace('.in.yaml', ''));

/** A job query may carry this party's KusciaTasks and the AppImages they name (task details). */
interface Case { self?: string; request?: string; body?: unknown; response?: string; stored?: StoredResource; localTasks?: StoredResource[]; appImages?: StoredResource[]; info?: Record<string, unknown>; signature?: string }

/** The DataMesh services' requests (ids given: generated ones are random). */
function dataRequest(name: string, req: Record<string, unknown>, self: string): [Resource, string] | undefined {
  if (name.includes('DomainDataSource')) return [sourceResource(req, self), 'datasource_id'];
  if (name.includes('DomainDataGrant')) return [grantResource(req, self, () => 'generated'), 'domaindatagrant_id'];
  if (name.includes('DomainData')) return [dataResource(req, self), 'domaindata_id'];
  return undefined;
}

function dataAnswer(c: Case): unknown {
  const self = c.self ?? 'alice';
  if (c.response!.includes('DomainDataSource')) return sourceData(c.stored!, self, c.info);
  if (c.response!.includes('DomainDataGrant')) return grantData(c.stored!, self, c.signature ?? '');
  if (c.response!.includes('DomainData')) return dataData(c.stored!, self);
  return undefined;
}

function jobAnswer(c: Case) {
  const self = c.self ?? 'alice';
  const apps = new Map((c.appImages ?? []).map((a) => [a.metadata.name, a]));
  const appOf = (t: StoredResource) => apps.get(((t.spec as { parties?: { appImageRef?: string }[] }).parties ?? [])[0]?.appImageRef ?? '');
  const local = new Map((c.localTasks ?? []).map((t) => [t.metadata.name, localTaskFacts(t, self, appOf(t))]));
  return jobData(c.stored!, local, self);
}

function run(c: Case): unknown {
  if (c.request) {
    try {
      const req = requestFromJson(messageType(c.request), c.body);
      const [resource, nameField] = dataRequest(c.request, req, c.self ?? 'alice') ?? (c.request.includes('AppImage') ? [appImageResource(req), 'name'] : c.request.includes('Job') ? [jobResource(req), 'job_id'] : c.request.includes('Route') ? [routeResource(req), 'source'] : [domainResource(req), 'domain_id']);
      return { resource: checkedResource(resource, c.self ?? 'alice', nameField) };
    } catch (e) {
      if (e instanceof KusciaError) return { error: { code: e.code, message: e.message } };
      throw e;
    }
  }
  const data = dataAnswer(c) ?? (c.response!.includes('AppImage') ? appImageData(c.stored!) : c.response!.includes('Job') ? jobAnswer(c) : c.response!.includes('Route') ? routeData(c.stored!) : domainData(c.stored!));
  return responseToJson(messageType(c.response!), { status: { code: 0, message: 'success', details: [] }, data });
}

test('kusciaapi golden cases exist', () => assert.ok(cases.length >= 10));

for (const name of cases) {
  test(`kusciaapi golden: ${name}`, () => {
    const input = YAML.parse(readFileSync(join(dir, `${name}.in.yaml`), 'utf8')) as Case;
    const actual = YAML.stringify(run(input), { lineWidth: 0 });
    const goldenPath = join(dir, `${name}.out.yaml`);
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenPath)) writeFileSync(goldenPath, actual);
    assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}.out.yaml differs: if intended, UPDATE_GOLDEN=1 and review the diff`);
  });
}
