// What a party accepts from another about a job (docs/jobs.md "Protocol").
// The caller is the partner the gateway authenticated (certificate or token),
// never a header an engine could set. Pure: the caller, the job as stored here
// and the incoming message in; a decision out.
import type { JobSpec, PartyRecord } from './phase.ts';
import { jobParties } from './phase.ts';
import { specHash } from './spec.ts';

export type Refusal = { ok: false; status: 400 | 403 | 404 | 409; reason: string };

/** A partner proposes a job: only as its initiator, and only if this domain takes part. */
export function acceptProposal(caller: string, self: string, jobName: string, spec: JobSpec, claimedHash: string): { ok: true; hash: string } | Refusal {
  if (spec.initiator !== caller) return { ok: false, status: 403, reason: `${caller} proposed a job whose initiator is ${spec.initiator}: a domain proposes only jobs it initiates` };
  if (!jobParties(spec).includes(self)) return { ok: false, status: 403, reason: `${self} takes part in no task of job ${jobName}` };
  const hash = specHash(jobName, spec);
  if (hash !== claimedHash) return { ok: false, status: 409, reason: `spec hash mismatch: the spec received hashes to ${hash.slice(0, 12)}, the initiator claims ${claimedHash.slice(0, 12)}` };
  return { ok: true, hash };
}

/**
 * A party's record about a job this domain holds. `known` is the job here (its
 * spec hash and the records received so far); `undefined` when this domain has
 * no such job — then the caller learns nothing more than "no such job".
 */
export function acceptRecord(
  caller: string,
  known: { spec: JobSpec; hash: string; records: ReadonlyMap<string, PartyRecord> } | undefined,
  incoming: PartyRecord,
): { ok: true; changed: boolean } | Refusal {
  if (!known) return { ok: false, status: 404, reason: 'no such job' };
  if (!jobParties(known.spec).includes(caller)) return { ok: false, status: 404, reason: 'no such job' };
  if (incoming.domainID !== caller) return { ok: false, status: 403, reason: `${caller} sent a record written by ${incoming.domainID}: a party writes only its own record` };
  if (incoming.specHash !== known.hash) return { ok: false, status: 409, reason: `record for another spec (hash ${incoming.specHash.slice(0, 12)}, this job's is ${known.hash.slice(0, 12)}): refused` };
  if (!Number.isSafeInteger(incoming.seq) || incoming.seq < 1) return { ok: false, status: 400, reason: 'seq: must be a positive integer' };
  const current = known.records.get(caller);
  // Records are whole states, not deltas: an older or repeated one is already covered by what we have.
  return { ok: true, changed: !current || incoming.seq > current.seq };
}
