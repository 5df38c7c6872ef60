// What an admin (CLI, REST, KusciaAPI) says about a job at this domain:
// approve or reject it, stop, cancel, suspend or restart it. Each becomes part
// of this party's own record, written through the store; the jobs controller
// sees the change, recomputes the job and pushes the record to every party.
// A command that makes no sense in the job's phase is refused with why.
import { computeJob, currentEpoch, type CommandStage, type JobSpec, type PartyRecord } from './phase.ts';
import type { JobStatus } from './job-status.ts';
import type { JobsStore } from './controller.ts';

export class JobCommandError extends Error {
  readonly statusCode: 400 | 404 | 409;
  constructor(statusCode: 400 | 404 | 409, message: string) {
    super(message);
    this.statusCode = statusCode;
  }
}

export type JobCommand = { kind: 'approve' | 'reject'; reason?: string } | { kind: 'stop' | 'cancel' | 'suspend' | 'restart'; reason?: string };

const STAGE: Record<'stop' | 'cancel' | 'suspend' | 'restart', CommandStage> = { stop: 'Stop', cancel: 'Cancel', suspend: 'Suspend', restart: 'Restart' };

/** This party's record with the command applied, or an error saying why it cannot be. Pure. */
export function applyCommand(self: string, name: string, spec: JobSpec, status: JobStatus, cmd: JobCommand, now: string): PartyRecord {
  const records = Object.values(status.partyRecords ?? {});
  const own = status.partyRecords?.[self];
  if (!own || !status.specHash) throw new JobCommandError(409, `job ${name} is not set up at ${self} yet: retry in a moment`);
  const view = computeJob(spec, records);
  const reason = cmd.reason?.slice(0, 1000);
  if (cmd.kind === 'approve' || cmd.kind === 'reject') {
    if (spec.initiator === self) throw new JobCommandError(400, `${self} initiated job ${name}: the initiator approves by creating it; only the other parties approve`);
    if (own.approval) throw new JobCommandError(409, `${self} already ${own.approval.decision === 'Accepted' ? 'approved' : 'rejected'} job ${name}`);
    if (view.phase === 'Cancelled') throw new JobCommandError(409, `job ${name} was cancelled`);
    return { ...own, seq: own.seq + 1, approval: { decision: cmd.kind === 'approve' ? 'Accepted' : 'Rejected', ...(reason ? { reason } : {}), at: now } };
  }
  const epoch = currentEpoch(records);
  const allowed: Record<typeof cmd.kind, string[]> = {
    stop: ['Running', 'AwaitingApproval'],
    suspend: ['Running'],
    restart: ['Failed', 'Suspended'],
    cancel: ['Running', 'AwaitingApproval', 'Failed', 'Suspended'],
  };
  if (!allowed[cmd.kind].includes(view.phase)) {
    throw new JobCommandError(409, `job ${name} is ${view.phase}: ${cmd.kind} applies to a job that is ${allowed[cmd.kind].join(' or ')}`);
  }
  const command = { stage: STAGE[cmd.kind], epoch: cmd.kind === 'restart' ? epoch + 1 : epoch, ...(reason ? { reason } : {}), at: now };
  return { ...own, seq: own.seq + 1, commands: [...(own.commands ?? []), command] };
}

/** Applies a command through the store (retrying when the job changed meanwhile). */
export async function runJobCommand(store: JobsStore, self: string, name: string, cmd: JobCommand): Promise<PartyRecord> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const job = await store.get('KusciaJob', name);
    if (!job) throw new JobCommandError(404, `job ${name} not found at ${self}`);
    const status = (job.status ?? {}) as JobStatus;
    const own = applyCommand(self, name, job.spec as JobSpec, status, cmd, new Date().toISOString());
    try {
      await store.updateStatus('KusciaJob', name, { ...status, partyRecords: { ...status.partyRecords, [self]: own } }, job.metadata.resourceVersion);
      return own;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode !== 409) throw e;
    }
  }
  throw new JobCommandError(409, `job ${name} changed too often meanwhile: retry`);
}
