// Which DomainData a task reads and writes at a party (control-plane/jobs/task-data.ts):
// the DataMesh credential's scope and what a job is admitted against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobAdmission, taskData } from '../../control-plane/jobs/task-data.ts';

const cfg = (o: object) => JSON.stringify(o);
const here = (...ids: string[]) => (id: string) => ids.includes(id);

test('reads: the sf_input_ids stored in this domain; the others are the partners\'', () => {
  const c = cfg({ sf_input_ids: ['alice-table', 'bob-table'], sf_output_ids: ['out-a', 'out-b'], sf_output_uris: ['a.csv', 'b.csv'] });
  assert.deepEqual(taskData('alice', c, ['alice', 'bob'], here('alice-table')), { reads: ['alice-table'], writes: ['out-a'], uris: { 'out-a': 'a.csv' } });
  assert.deepEqual(taskData('bob', c, ['alice', 'bob'], here('bob-table')), { reads: ['bob-table'], writes: ['out-b'], uris: { 'out-b': 'b.csv' } });
  // A domain holding none of them reads nothing (its partners' nodes admit their own).
  assert.deepEqual(taskData('bob', c, ['alice', 'bob'], here()).reads, []);
});

test('writes: one output for all parties, or one per party in the task\'s order; a default URI', () => {
  assert.deepEqual(taskData('bob', cfg({ sf_output_ids: ['psi-output'] }), ['alice', 'bob'], here()), { reads: [], writes: ['psi-output'], uris: { 'psi-output': 'psi-output.csv' } });
  // An output that exists already is not the task's: it may not overwrite this domain's data.
  assert.deepEqual(taskData('alice', cfg({ sf_input_ids: ['alice-table'], sf_output_ids: ['alice-table'] }), ['alice'], here('alice-table')).writes, []);
  // Neither one nor one per party: this party writes nothing (the engine refuses the config, naming the field).
  assert.deepEqual(taskData('bob', cfg({ sf_output_ids: ['a', 'b', 'c'] }), ['alice', 'bob'], here()).writes, []);
});

test('a task input config that is not a JSON object names no DomainData', () => {
  for (const c of [undefined, '', 'not json', '[1,2]', 'null', cfg({ sf_input_ids: 'alice-table' })]) {
    assert.deepEqual(taskData('alice', c, ['alice', 'bob'], here('alice-table')).reads, [], String(c));
  }
});

test('jobAdmission: this party\'s tasks only, each with its reads and its AppImage as the component', () => {
  const spec = {
    initiator: 'alice',
    tasks: [
      { alias: 'psi', taskID: 'j-psi', appImage: 'secretflow-psi', taskInputConfig: cfg({ sf_input_ids: ['alice-table', 'bob-table'] }), parties: [{ domainID: 'alice' }, { domainID: 'bob' }] },
      { alias: 'other', taskID: 'j-other', appImage: 'x', parties: [{ domainID: 'bob' }, { domainID: 'carol' }] },
    ],
  };
  assert.deepEqual(jobAdmission('alice', 'j', spec, here('alice-table')), {
    jobID: 'j', initiator: 'alice', parties: ['alice', 'bob', 'carol'],
    tasks: [{ taskID: 'j-psi', parties: ['alice', 'bob'], domainDataIDs: ['alice-table'], component: 'secretflow-psi' }],
  });
  // The job's flow goes with it (a grant's limit.flowID).
  assert.equal(jobAdmission('alice', 'j', { ...spec, flowID: 'flow-1' }, here('alice-table')).flowID, 'flow-1');
});
