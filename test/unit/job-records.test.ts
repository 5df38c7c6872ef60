// The job protocol's acceptance rules: a partner proposes only its own jobs,
// writes only its own record, for this spec only; a non-party learns nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptProposal, acceptRecord } from '../../control-plane/jobs/records.ts';
import { normalizeJobSpec, specHash } from '../../control-plane/jobs/spec.ts';
import type { PartyRecord } from '../../control-plane/jobs/phase.ts';

const spec = normalizeJobSpec('j1', { initiator: 'alice', tasks: [{ alias: 'psi', appImage: 'psi', parties: [{ domainID: 'alice' }, { domainID: 'bob' }] }] });
const hash = specHash('j1', spec);
const known = (records: PartyRecord[] = []) => ({ spec, hash, records: new Map(records.map((r) => [r.domainID, r])) });

test('a proposal is accepted from its initiator, for a job this domain takes part in, with the right hash', () => {
  assert.deepEqual(acceptProposal('alice', 'bob', 'j1', spec, hash), { ok: true, hash });
  assert.match((acceptProposal('carol', 'bob', 'j1', spec, hash) as { reason: string }).reason, /carol proposed a job whose initiator is alice/);
  assert.match((acceptProposal('alice', 'carol', 'j1', spec, hash) as { reason: string }).reason, /carol takes part in no task/);
  assert.equal((acceptProposal('alice', 'bob', 'j1', spec, 'f'.repeat(64)) as { status: number }).status, 409);
});

test('records: own only, this spec only, newer only; a non-party gets "no such job"', () => {
  const bob1: PartyRecord = { domainID: 'bob', seq: 1, specHash: hash };
  assert.deepEqual(acceptRecord('bob', known(), bob1), { ok: true, changed: true });
  assert.deepEqual(acceptRecord('bob', known([{ ...bob1, seq: 2 }]), bob1), { ok: true, changed: false }, 'an older record changes nothing');
  assert.deepEqual(acceptRecord('carol', known(), { ...bob1, domainID: 'carol' }), { ok: false, status: 404, reason: 'no such job' });
  assert.deepEqual(acceptRecord('bob', undefined, bob1), { ok: false, status: 404, reason: 'no such job' });
  assert.equal((acceptRecord('bob', known(), { ...bob1, domainID: 'alice' }) as { status: number }).status, 403);
  assert.match((acceptRecord('bob', known(), { ...bob1, specHash: '0'.repeat(64) }) as { reason: string }).reason, /record for another spec/);
  assert.equal((acceptRecord('bob', known(), { ...bob1, seq: 0 }) as { status: number }).status, 400);
});
