// Golden cases of the DataMesh's access core (control-plane/datamesh/access.ts):
// datamesh/<case>.in.yaml (this domain, the time, grants as stored, the
// DomainData that exist, reads asked with a task's credential, jobs asking
// admission) -> datamesh/<case>.out.yaml (each decision, with its reason).
// Regenerate after an intended change: UPDATE_GOLDEN=1, then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { admitJob, decideAccess, type GrantView, type JobAdmission, type TaskCredential } from '../../control-plane/datamesh/access.ts';

const dir = join(import.meta.dirname, 'datamesh');
const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.replace('.in.yaml', ''));

interface Case {
  self: string;
  now: string;
  grants: GrantView[];
  data: string[];
  requests?: { name: string; credential?: TaskCredential; domainDataID: string; op: 'read' | 'write' | 'create' }[];
  jobs?: JobAdmission[];
}

test('datamesh golden cases exist', () => assert.ok(cases.length >= 2));

for (const name of cases) {
  test(`datamesh golden: ${name}`, () => {
    const c = YAML.parse(readFileSync(join(dir, `${name}.in.yaml`), 'utf8')) as Case;
    const now = new Date(c.now);
    const known = new Set(c.data);
    const requests = Object.fromEntries((c.requests ?? []).map((r) => [r.name, decideAccess({ self: c.self, credential: r.credential, domainDataID: r.domainDataID, exists: known.has(r.domainDataID), op: r.op, grants: c.grants, now })]));
    const jobs = Object.fromEntries((c.jobs ?? []).map((j) => [j.jobID, admitJob(c.self, j, c.grants, known, now)]));
    const actual = YAML.stringify({ requests, jobs }, { lineWidth: 0 });
    const goldenPath = join(dir, `${name}.out.yaml`);
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenPath)) writeFileSync(goldenPath, actual);
    assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}.out.yaml differs: if intended, UPDATE_GOLDEN=1 and review the diff`);
  });
}
