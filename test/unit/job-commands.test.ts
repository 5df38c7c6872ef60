// Commands at one party: each lands in its own record, only where it makes sense.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyCommand } from '../../control-plane/jobs/commands.ts';
import { normalizeJobSpec, specHash } from '../../control-plane/jobs/spec.ts';
import type { JobStatus } from '../../control-plane/jobs/job-status.ts';

const spec = normalizeJobSpec('j', { initiator: 'alice', tasks: [{ alias: 't', appImage: 'x', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }] });
const h = specHash('j', spec);
const at = '2026-12-03T10:00:00Z';
const status = (bob: object = {}): JobStatus => ({ specHash: h, partyRecords: { alice: { domainID: 'alice', seq: 1, specHash: h }, bob: { domainID: 'bob', seq: 1, specHash: h, ...bob } } });

test('approve and reject: only a non-initiator, once', () => {
  const r = applyCommand('bob', 'j', spec, status(), { kind: 'approve', reason: 'ok' }, at);
  assert.deepEqual(r.approval, { decision: 'Accepted', reason: 'ok', at });
  assert.equal(r.seq, 2);
  assert.throws(() => applyCommand('alice', 'j', spec, status(), { kind: 'approve' }, at), /the initiator approves by creating it/);
  assert.throws(() => applyCommand('bob', 'j', spec, status({ approval: { decision: 'Rejected', at } }), { kind: 'approve' }, at), /bob already rejected job j/);
});

test('stop, suspend, restart and cancel apply in their phases only; restart opens the next run', () => {
  const running = status({ approval: { decision: 'Accepted', at } });
  assert.throws(() => applyCommand('alice', 'j', spec, running, { kind: 'restart' }, at), /job j is Running: restart applies to a job that is Failed or Suspended/);
  const stopped = applyCommand('alice', 'j', spec, running, { kind: 'stop', reason: 'wrong input' }, at);
  assert.deepEqual(stopped.commands, [{ stage: 'Stop', epoch: 0, reason: 'wrong input', at }]);
  const failed = { ...running, partyRecords: { ...running.partyRecords, alice: stopped } };
  assert.throws(() => applyCommand('bob', 'j', spec, failed, { kind: 'suspend' }, at), /job j is Failed: suspend applies to a job that is Running/);
  const restarted = applyCommand('bob', 'j', spec, failed, { kind: 'restart' }, at);
  assert.deepEqual(restarted.commands, [{ stage: 'Restart', epoch: 1, at }]);
  assert.throws(() => applyCommand('bob', 'j', spec, { ...failed, partyRecords: { ...failed.partyRecords, alice: { ...stopped, commands: [...stopped.commands!, { stage: 'Cancel', epoch: 0, at }] } } }, { kind: 'restart' }, at), /job j is Cancelled/);
});
