// KusciaJob specs: Kuscia-shaped YAML is accepted and completed the same way at
// every party; each bad spec is refused naming the field and the fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import YAML from 'yaml';
import { normalizeJobSpec, specHash, canonicalJson } from '../../control-plane/jobs/spec.ts';

// The shape of Kuscia's documented examples (job-best-effort-linear), with a short taskInputConfig.
const kusciaJob = YAML.parse(`
apiVersion: kuscia.secretflow/v1alpha1
kind: KusciaJob
metadata:
  name: job-best-effort-linear
  namespace: cross-domain
spec:
  initiator: alice
  scheduleMode: BestEffort
  maxParallelism: 2
  tasks:
    - taskID: job-psi
      alias: job-psi
      priority: 100
      taskInputConfig: '{"sf_input_ids":["alice-table","bob-table"]}'
      appImage: secretflow-image
      parties:
        - domainID: alice
        - domainID: bob
    - taskID: job-split
      alias: job-split
      priority: 100
      dependencies: ['job-psi']
      tolerable: true
      taskInputConfig: '{}'
      appImage: secretflow-image
      scheduleConfig: { resourceReservedSeconds: 60, lifecycleSeconds: 300 }
      parties:
        - domainID: alice
          role: guest
          resources: { limits: { cpu: "1", memory: 2Gi } }
        - domainID: bob
          role: host
`);

test("Kuscia's documented job shape is accepted unchanged", () => {
  const spec = normalizeJobSpec(kusciaJob.metadata.name, kusciaJob.spec, 'alice');
  assert.equal(spec.tasks.length, 2);
  assert.equal(spec.tasks[1]!.tolerable, true);
  assert.deepEqual(spec.tasks[1]!.parties[0]!.resources, { limits: { cpu: '1', memory: '2Gi' } });
});

test("defaults are Kuscia's (Strict, maxParallelism 1) and task ids derive from the job name and alias", () => {
  const spec = normalizeJobSpec('j7', { initiator: 'alice', tasks: [{ alias: 'psi', appImage: 'psi', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }, { alias: 'Train_Model', appImage: 'sf', dependencies: ['psi'], parties: [{ domainID: 'alice' }] }] });
  assert.equal(spec.scheduleMode, 'Strict');
  assert.equal(spec.maxParallelism, 1);
  assert.equal(spec.tasks[0]!.taskID, 'j7-psi');
  assert.match(spec.tasks[1]!.taskID, /^j7-[0-9a-f]{8}$/, 'an alias that is no DNS label gets a hashed suffix');
});

test('the spec hash is the same whatever the key order, and differs for another spec', () => {
  const a = normalizeJobSpec('j', { initiator: 'alice', tasks: [{ alias: 't', appImage: 'x', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }] });
  const reordered = JSON.parse(canonicalJson(a)) as typeof a; // keys sorted: another order of the same spec
  assert.equal(specHash('j', reordered), specHash('j', a));
  assert.notEqual(specHash('j', { ...a, maxParallelism: 2 }), specHash('j', a));
  assert.notEqual(specHash('k', a), specHash('j', a), 'the job name is part of what is bound');
});

const base = () => ({ initiator: 'alice', tasks: [{ alias: 'psi', appImage: 'psi', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }] as Record<string, unknown>[] });
const cases: [string, (s: ReturnType<typeof base>) => unknown, RegExp][] = [
  ['no tasks', (s) => ({ ...s, tasks: [] }), /spec\.tasks: must NOT have fewer than 1 items/],
  ['unknown field', (s) => ({ ...s, shedule: 'x' }), /spec\.shedule: unknown field/],
  ['bad schedule mode', (s) => ({ ...s, scheduleMode: 'Eager' }), /spec\.scheduleMode: must be one of "Strict", "BestEffort"/],
  ['maxParallelism 0', (s) => ({ ...s, maxParallelism: 0 }), /spec\.maxParallelism: must be >= 1/],
  ['task without parties', (s) => ({ ...s, tasks: [{ alias: 'a', appImage: 'x', parties: [] }] }), /spec\.tasks\[0\]\.parties: must NOT have fewer than 1 items/],
  ['bad domain id', (s) => ({ ...s, tasks: [{ alias: 'a', appImage: 'x', parties: [{ domainID: 'Bob!' }] }] }), /spec\.tasks\[0\]\.parties\[0\]\.domainID: must be a lowercase DNS label/],
  ['duplicate alias', (s) => ({ ...s, tasks: [s.tasks[0], s.tasks[0]] }), /spec\.tasks\[1\]\.alias: "psi" is also the alias of tasks\[0\]/],
  ['unknown dependency', (s) => ({ ...s, tasks: [{ ...s.tasks[0], dependencies: ['split'] }] }), /spec\.tasks\[0\]\.dependencies\[0\]: no task has alias "split"/],
  ['self dependency', (s) => ({ ...s, tasks: [{ ...s.tasks[0], dependencies: ['psi'] }] }), /cannot depend on itself/],
  ['cycle', (s) => ({ ...s, tasks: [{ ...s.tasks[0], dependencies: ['b'] }, { alias: 'b', appImage: 'x', dependencies: ['psi'], parties: [{ domainID: 'alice' }] }] }), /spec\.tasks\[\]\.dependencies: .*cycle through psi -> b -> psi/],
  ['initiator not a party', (s) => ({ ...s, initiator: 'carol' }), /spec\.initiator: carol takes part in no task/],
  ['party listed twice', (s) => ({ ...s, tasks: [{ alias: 'a', appImage: 'x', parties: [{ domainID: 'alice' }, { domainID: 'alice' }] }] }), /parties\[1\]: alice appears twice/],
  ['bandwidth limits', (s) => ({ ...s, tasks: [{ alias: 'a', appImage: 'x', parties: [{ domainID: 'alice', bandwidthLimits: [{ destinationID: 'bob', limitKBps: 10 }] }] }] }), /bandwidthLimits: per-task bandwidth limits are not supported yet/],
  ['negative timeout', (s) => ({ ...s, tasks: [{ ...s.tasks[0], scheduleConfig: { lifecycleSeconds: -1 } }] }), /lifecycleSeconds: must be >= 0/],
  ['non-integer priority', (s) => ({ ...s, tasks: [{ ...s.tasks[0], priority: 1.5 }] }), /priority: must be integer/],
  ['bad job name', () => 'name', /metadata\.name: must be a lowercase DNS label/],
];

for (const [name, make, want] of cases) {
  test(`refused: ${name}`, () => {
    const spec = make(base());
    assert.throws(() => (spec === 'name' ? normalizeJobSpec('Job_1', base(), 'alice') : normalizeJobSpec('j', spec, 'alice')), want);
  });
}

test('a domain creates only jobs it initiates', () => {
  assert.throws(() => normalizeJobSpec('j', base(), 'bob'), /spec\.initiator: must be this domain \(bob\)/);
});
