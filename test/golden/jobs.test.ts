// Golden cases of the job core: jobs/<case>.in.yaml (spec, every party's
// records, the local party and the time) -> jobs/<case>.out.yaml (the job's
// view, identical at every party, and the local party's actions).
// Regenerate after an intended change: UPDATE_GOLDEN=1, then review the diff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { computeJob, localActions, type JobSpec, type PartyRecord } from '../../control-plane/jobs/phase.ts';

const dir = join(import.meta.dirname, 'jobs');
const cases = readdirSync(dir).filter((f) => f.endsWith('.in.yaml')).map((f) => f.replace('.in.yaml', ''));

test('job golden cases exist', () => assert.ok(cases.length >= 8));

for (const name of cases) {
  test(`job golden: ${name}`, () => {
    const input = YAML.parse(readFileSync(join(dir, `${name}.in.yaml`), 'utf8')) as { spec: JobSpec; records: PartyRecord[]; self: string; now: string };
    const view = computeJob(input.spec, input.records);
    // Every party computes the same view whatever order the records arrived in.
    assert.deepEqual(computeJob(input.spec, [...input.records].reverse()), view, 'the view does not depend on record order');
    const own = input.records.find((r) => r.domainID === input.self);
    const actions = localActions(input.spec, view, input.self, own, Date.parse(input.now));
    const actual = YAML.stringify({ view, actions: { [input.self]: actions } }, { lineWidth: 0 });
    const goldenPath = join(dir, `${name}.out.yaml`);
    if (process.env.UPDATE_GOLDEN || !existsSync(goldenPath)) writeFileSync(goldenPath, actual);
    assert.equal(actual, readFileSync(goldenPath, 'utf8'), `${name}.out.yaml differs: if intended, UPDATE_GOLDEN=1 and review the diff`);
  });
}
