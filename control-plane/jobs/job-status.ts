// What a KusciaJob's and a KusciaTask's status say, built from the job's view
// (phase.ts) — Kuscia's fields first (phase, approveStatus, taskStatus,
// conditions, reason, message), then Ferry's: every party's record, the
// events that explain the job, and who it waits for. Pure.
import type { JobView, PartyRecord, PartyTaskRecord } from './phase.ts';
import type { Condition } from '../store/store.ts';

export type { Condition };

export interface JobEvent {
  at: string;
  /** The party the event is about (or this domain for its own decisions). */
  party: string;
  message: string;
}

/**
 * The runtime's side of one local task (control-plane/runtime), as it writes it
 * in KusciaTask.status.runtime: a party's task record, with the run it belongs to.
 */
export type RuntimeState = Omit<PartyTaskRecord, 'epoch'> & { epoch?: number };

export type JobStatus = {
  phase?: string;
  approveStatus?: Record<string, string>;
  taskStatus?: Record<string, string>;
  conditions?: Condition[];
  reason?: string;
  message?: string;
  startTime?: string;
  completionTime?: string;
  observedGeneration?: number;
  /** Ferry: the hash every party's records are bound to. */
  specHash?: string;
  epoch?: number;
  /** Ferry: each party's own record, as last received (this domain's own included). */
  partyRecords?: Record<string, PartyRecord>;
  /** Ferry: what the job still waits for (party and action). */
  waitingFor?: { domainID: string; action: string }[];
  /** Ferry: per task and party, Kuscia's partyTaskStatus shape. */
  partyTaskStatus?: Record<string, { domainID: string; role?: string; phase: string; message?: string; logTail?: string[] }[]>;
  events?: JobEvent[];
};

const MAX_EVENTS = 100;
const TERMINAL = new Set(['Succeeded', 'Failed', 'Cancelled', 'ApprovalReject']);

export function isTerminal(phase: string | undefined): boolean {
  return phase !== undefined && TERMINAL.has(phase);
}

/** The condition list with `c` set: lastTransitionTime moves only when its status flips. */
export function setCondition(list: readonly Condition[] | undefined, c: Condition): Condition[] {
  const old = list?.find((x) => x.type === c.type);
  const next = old && old.status === c.status ? { ...c, lastTransitionTime: old.lastTransitionTime } : c;
  return [...(list ?? []).filter((x) => x.type !== c.type), next];
}

/** Events for what changed between two views: phase, approvals, each party's task states. */
export function eventsBetween(before: JobView | undefined, after: JobView, now: string, self: string): JobEvent[] {
  const out: JobEvent[] = [];
  if (!before || before.phase !== after.phase) out.push({ at: now, party: self, message: `job ${after.phase}${after.message ? `: ${after.message}` : ''}` });
  for (const [d, a] of Object.entries(after.approveStatus)) {
    if (before?.approveStatus[d] !== a) out.push({ at: now, party: d, message: a === 'JobAccepted' ? 'approved the job' : 'rejected the job' });
  }
  const old = new Map(before?.tasks.map((t) => [t.taskID, t]) ?? []);
  for (const t of after.tasks) {
    const o = old.get(t.taskID);
    for (const p of t.parties) {
      const op = o?.parties.find((x) => x.domainID === p.domainID);
      if ((op?.phase ?? 'Pending') !== p.phase) out.push({ at: now, party: p.domainID, message: `task ${t.alias}: ${p.phase}${p.message ? ` (${p.message})` : ''}` });
    }
  }
  return out;
}

/** The KusciaJob status for this view; `previous` keeps times, conditions and events. */
export function jobStatus(view: JobView, records: Record<string, PartyRecord>, hash: string, previous: JobStatus | undefined, events: JobEvent[], now: string, generation: number): JobStatus {
  const approved = view.waitingFor.every((w) => !w.action.startsWith('approve') && !w.action.startsWith('receive'));
  let conditions = setCondition(previous?.conditions, {
    type: 'Approved',
    status: view.phase === 'ApprovalReject' ? 'False' : approved && view.phase !== 'AwaitingApproval' ? 'True' : 'Unknown',
    reason: view.phase === 'ApprovalReject' ? 'Rejected' : view.phase === 'AwaitingApproval' ? 'AwaitingApproval' : 'Approved',
    message: view.phase === 'AwaitingApproval' || view.phase === 'ApprovalReject' ? view.message ?? '' : 'every party approved',
    lastTransitionTime: now,
  });
  conditions = setCondition(conditions, {
    type: 'Completed',
    status: isTerminal(view.phase) ? 'True' : 'False',
    reason: view.reason ?? view.phase,
    message: view.message ?? (view.waitingFor.length ? view.waitingFor.map((w) => `waiting for ${w.domainID} to ${w.action}`).join('; ') : ''),
    lastTransitionTime: now,
  });
  return {
    phase: view.phase,
    approveStatus: view.approveStatus,
    taskStatus: Object.fromEntries(view.tasks.map((t) => [t.taskID, t.phase])),
    conditions,
    ...(view.reason ? { reason: view.reason } : {}),
    ...(view.message ? { message: view.message } : {}),
    startTime: previous?.startTime ?? now,
    ...(isTerminal(view.phase) ? { completionTime: previous?.completionTime ?? now } : {}),
    observedGeneration: generation,
    specHash: hash,
    epoch: view.epoch,
    partyRecords: records,
    waitingFor: view.waitingFor,
    partyTaskStatus: Object.fromEntries(view.tasks.map((t) => [t.taskID, t.parties.map((p) => ({ ...p }))])),
    events: [...(previous?.events ?? []), ...events].slice(-MAX_EVENTS),
  };
}

/** A party's task state from the runtime's, for this party's record. */
export function taskRecordFrom(runtime: RuntimeState, epoch: number) {
  return {
    epoch,
    phase: runtime.phase,
    at: runtime.at,
    ...(runtime.reservedAt ? { reservedAt: runtime.reservedAt } : {}),
    ...(runtime.startedAt ? { startedAt: runtime.startedAt } : {}),
    ...(runtime.exitCode !== undefined ? { exitCode: runtime.exitCode } : {}),
    ...(runtime.signal ? { signal: runtime.signal } : {}),
    ...(runtime.message ? { message: runtime.message } : {}),
    ...(runtime.logTail?.length ? { logTail: runtime.logTail } : {}),
    ...(runtime.stopped ? { stopped: true } : {}),
  };
}
