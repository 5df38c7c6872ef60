// The state of a cross-domain job as a pure function of its spec and every
// party's own records. There is no coordinator: each party writes only its
// own record (approval, commands, its side of each task) and pushes it to the
// others; every party runs this same function over the same records and so
// computes the same phase. Local decisions (what *this* party should reserve,
// start, stop or fail now) come from `localActions`, which is where time enters.
// Kuscia's phase names and scheduling rules (docs/jobs.md); where Kuscia leaves a
// job Running forever (a task whose dependency failed), Ferry fails that task
// with the reason.

export type JobPhase = 'AwaitingApproval' | 'Running' | 'Succeeded' | 'Failed' | 'ApprovalReject' | 'Cancelled' | 'Suspended';
export type TaskPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';
/** One party's side of one task. Reserved = its resources (ports, process slot) are held: the gang start waits for every party. */
export type PartyTaskPhase = 'Pending' | 'Reserved' | 'Running' | 'Succeeded' | 'Failed';
export type CommandStage = 'Stop' | 'Cancel' | 'Suspend' | 'Restart';

export interface JobParty {
  domainID: string;
  role?: string;
  resources?: { limits?: { cpu?: string | number; memory?: string | number }; requests?: { cpu?: string | number; memory?: string | number } };
}

export interface JobTask {
  alias: string;
  taskID: string;
  /** Aliases of the tasks this one needs succeeded first (Kuscia matches dependencies by alias). */
  dependencies?: string[];
  tolerable?: boolean;
  appImage: string;
  taskInputConfig?: string;
  priority?: number;
  scheduleConfig?: { resourceReservedSeconds?: number; lifecycleSeconds?: number; retryIntervalSeconds?: number };
  parties: JobParty[];
}

export interface JobSpec {
  flowID?: string;
  initiator: string;
  scheduleMode?: 'Strict' | 'BestEffort';
  maxParallelism?: number;
  tasks: JobTask[];
}

/** A stop, cancel, suspend or restart issued by one party. Restart's epoch is the run it starts; the others name the run they end. */
export interface JobCommand {
  stage: CommandStage;
  epoch: number;
  reason?: string;
  at: string;
}

export interface PartyTaskRecord {
  /** The run (0, then one more per restart) this state belongs to. */
  epoch: number;
  phase: PartyTaskPhase;
  at: string;
  reservedAt?: string;
  startedAt?: string;
  exitCode?: number;
  signal?: string;
  message?: string;
  logTail?: string[];
  /** This party ended its side because the job or another party said so, not by a fault of its own. */
  stopped?: boolean;
}

/** Everything one party says about one job; only that party writes it. */
export interface PartyRecord {
  domainID: string;
  /** Per-writer sequence number: a receiver keeps the highest it has seen. */
  seq: number;
  specHash: string;
  approval?: { decision: 'Accepted' | 'Rejected'; reason?: string; at: string };
  commands?: JobCommand[];
  tasks?: Record<string, PartyTaskRecord>;
}

export interface PartyTaskView {
  domainID: string;
  role?: string;
  phase: PartyTaskPhase;
  message?: string;
  /** The last lines of a failed party's log, as that party reported them. */
  logTail?: string[];
}

export interface TaskView {
  taskID: string;
  alias: string;
  phase: TaskPhase;
  tolerable: boolean;
  /** PartyFailed: a party's run failed; DependencyFailed: never run because a dependency failed. */
  reason?: 'PartyFailed' | 'DependencyFailed';
  /** Why it failed, naming the party. */
  message?: string;
  parties: PartyTaskView[];
}

export interface Waiting {
  domainID: string;
  action: string;
}

export interface JobView {
  phase: JobPhase;
  epoch: number;
  reason?: string;
  message?: string;
  approveStatus: Record<string, 'JobAccepted' | 'JobRejected'>;
  waitingFor: Waiting[];
  tasks: TaskView[];
  /** Tasks that may be reserved now (ready, by priority, within maxParallelism). */
  schedulable: string[];
}

export const DEFAULT_RESERVE_SECONDS = 30;
export const DEFAULT_MAX_PARALLELISM = 1;

/** The parties of the job, in order of first appearance (initiator first). */
export function jobParties(spec: JobSpec): string[] {
  const seen = new Set<string>([spec.initiator]);
  for (const t of spec.tasks) for (const p of t.parties) seen.add(p.domainID);
  return [...seen];
}

export function currentEpoch(records: readonly PartyRecord[]): number {
  let epoch = 0;
  for (const r of records) for (const c of r.commands ?? []) if (c.stage === 'Restart') epoch = Math.max(epoch, c.epoch);
  return epoch;
}

/** A party's state of a task in this run (records of earlier runs do not count here). */
function partyTaskState(record: PartyRecord | undefined, taskID: string, epoch: number): PartyTaskRecord | undefined {
  const t = record?.tasks?.[taskID];
  return t && t.epoch === epoch ? t : undefined;
}

/**
 * Each party's state of a task. A task that succeeded at every party, in
 * whichever run, stands (a restart resumes from the failed tasks); otherwise
 * only this run's states count, so every party runs it again together.
 */
function taskStates(byDomain: ReadonlyMap<string, PartyRecord>, parties: readonly string[], taskID: string, epoch: number): (PartyTaskRecord | undefined)[] {
  const latest = parties.map((d) => byDomain.get(d)?.tasks?.[taskID]);
  if (latest.every((t) => t?.phase === 'Succeeded')) return latest;
  return parties.map((d) => partyTaskState(byDomain.get(d), taskID, epoch));
}

function describeFailure(domainID: string, t: PartyTaskRecord): string {
  const how = t.signal ? `killed by ${t.signal}` : t.exitCode !== undefined ? `exit code ${t.exitCode}` : 'failed';
  return `${domainID}: ${how}${t.message ? `: ${t.message}` : ''}`;
}

function taskParties(task: JobTask): { domainID: string; role: string }[] {
  const byDomain = new Map<string, string[]>();
  for (const p of task.parties) byDomain.set(p.domainID, [...(byDomain.get(p.domainID) ?? []), p.role ?? '']);
  return [...byDomain].map(([domainID, roles]) => ({ domainID, role: roles.filter(Boolean).join(',') }));
}

/** The job's phase and every task's, from the spec and the records received (one per party at most). */
export function computeJob(spec: JobSpec, records: readonly PartyRecord[]): JobView {
  const byDomain = new Map(records.map((r) => [r.domainID, r]));
  const parties = jobParties(spec);
  const epoch = currentEpoch(records);
  const commands = records.flatMap((r) => (r.commands ?? []).map((c) => ({ ...c, by: r.domainID })));
  const tasks = taskViews(spec, byDomain, epoch);
  const base = { epoch, approveStatus: approveStatus(spec, byDomain), tasks };

  const cancel = commands.find((c) => c.stage === 'Cancel');
  if (cancel) return { ...base, phase: 'Cancelled', reason: 'Cancelled', message: `cancelled by ${cancel.by}${cancel.reason ? `: ${cancel.reason}` : ''}`, waitingFor: [], schedulable: [] };

  const rejected = parties.find((d) => byDomain.get(d)?.approval?.decision === 'Rejected');
  if (rejected) {
    const reason = byDomain.get(rejected)!.approval!.reason;
    return { ...base, phase: 'ApprovalReject', reason: 'ApprovalReject', message: `${rejected} rejected the job${reason ? `: ${reason}` : ''}`, waitingFor: [], schedulable: [] };
  }

  const waitingFor: Waiting[] = [];
  for (const d of parties) {
    const r = byDomain.get(d);
    if (!r) waitingFor.push({ domainID: d, action: d === spec.initiator ? 'create the job' : 'receive the job' });
    else if (d !== spec.initiator && r.approval?.decision !== 'Accepted') waitingFor.push({ domainID: d, action: 'approve the job' });
  }
  if (waitingFor.length) {
    return { ...base, phase: 'AwaitingApproval', reason: 'AwaitingApproval', message: waitingFor.map((w) => `waiting for ${w.domainID} to ${w.action}`).join('; '), waitingFor, schedulable: [] };
  }

  const stop = commands.find((c) => c.stage === 'Stop' && c.epoch === epoch);
  if (stop) return { ...base, phase: 'Failed', reason: 'Stopped', message: `stopped by ${stop.by}${stop.reason ? `: ${stop.reason}` : ''}`, waitingFor: [], schedulable: [] };
  const suspend = commands.find((c) => c.stage === 'Suspend' && c.epoch === epoch);
  if (suspend) return { ...base, phase: 'Suspended', reason: 'Suspended', message: `suspended by ${suspend.by}${suspend.reason ? `: ${suspend.reason}` : ''}`, waitingFor: [], schedulable: [] };

  const critical = tasks.filter((t) => !t.tolerable);
  const failedCritical = critical.filter((t) => t.phase === 'Failed');
  const finished = (t: TaskView) => t.phase === 'Succeeded' || t.phase === 'Failed';
  // The runs that failed explain the job; tasks skipped because of them add nothing.
  const failure = () => {
    const ran = failedCritical.filter((t) => t.reason === 'PartyFailed');
    return (ran.length ? ran : failedCritical).map((t) => `task ${t.alias} failed: ${t.message ?? 'failed'}`).join('; ');
  };

  if (tasks.every(finished) && failedCritical.length === 0) return { ...base, phase: 'Succeeded', reason: 'Succeeded', waitingFor: [], schedulable: [] };
  if (failedCritical.length && spec.scheduleMode !== 'BestEffort') {
    return { ...base, phase: 'Failed', reason: 'TaskFailed', message: failure(), waitingFor: [], schedulable: [] };
  }
  const schedulable = schedule(spec, tasks);
  if (failedCritical.length && schedulable.length === 0 && !tasks.some((t) => t.phase === 'Running')) {
    return { ...base, phase: 'Failed', reason: 'TaskFailed', message: failure(), waitingFor: [], schedulable: [] };
  }
  return { ...base, phase: 'Running', waitingFor: reservationWaits(tasks), schedulable };
}

function approveStatus(spec: JobSpec, byDomain: Map<string, PartyRecord>): Record<string, 'JobAccepted' | 'JobRejected'> {
  const out: Record<string, 'JobAccepted' | 'JobRejected'> = {};
  for (const d of jobParties(spec)) {
    const r = byDomain.get(d);
    // The initiator accepts its own job unless its data grants refused it (controller.ts, admission).
    if (d === spec.initiator && r) out[d] = r.approval?.decision === 'Rejected' ? 'JobRejected' : 'JobAccepted';
    else if (r?.approval) out[d] = r.approval.decision === 'Accepted' ? 'JobAccepted' : 'JobRejected';
  }
  return out;
}

function taskViews(spec: JobSpec, byDomain: Map<string, PartyRecord>, epoch: number): TaskView[] {
  const views = new Map<string, TaskView>();
  // Dependencies come before their dependents in a valid spec's topological order; compute in that order.
  for (const task of topologicalOrder(spec.tasks)) {
    const who = taskParties(task);
    const states = taskStates(byDomain, who.map((p) => p.domainID), task.taskID, epoch);
    const parties = who.map(({ domainID, role }, i) => {
      const s = states[i];
      const view: PartyTaskView = { domainID, ...(role ? { role } : {}), phase: s?.phase ?? 'Pending' };
      if (s?.phase === 'Failed') {
        view.message = describeFailure(domainID, s);
        if (s.logTail?.length) view.logTail = s.logTail;
      } else if (s?.message) view.message = s.message;
      return view;
    });
    const view: TaskView = { taskID: task.taskID, alias: task.alias, tolerable: task.tolerable === true, phase: 'Pending', parties };
    // A failure of a party's own run explains the task; sides stopped in consequence add nothing.
    const failedAll = parties.filter((p) => p.phase === 'Failed');
    const own = failedAll.filter((p) => !states[who.findIndex((w) => w.domainID === p.domainID)]?.stopped);
    const failed = own.length ? own : failedAll;
    const blockedBy = (task.dependencies ?? []).map((alias) => views.get(alias)).find((d) => d?.phase === 'Failed');
    if (failed.length) {
      view.phase = 'Failed';
      view.reason = 'PartyFailed';
      view.message = failed.map((p) => p.message).join('; ');
    } else if (parties.every((p) => p.phase === 'Succeeded')) {
      view.phase = 'Succeeded';
    } else if (parties.some((p) => p.phase === 'Reserved' || p.phase === 'Running' || p.phase === 'Succeeded')) {
      view.phase = 'Running';
    } else if (blockedBy) {
      view.phase = 'Failed';
      view.reason = 'DependencyFailed';
      view.message = `not run: dependency ${blockedBy.alias} failed`;
    }
    views.set(task.alias, view);
  }
  return spec.tasks.map((t) => views.get(t.alias)!);
}

/** Tasks in dependency order (stable: spec order among independent ones). Specs are validated acyclic. */
export function topologicalOrder(tasks: readonly JobTask[]): JobTask[] {
  const byAlias = new Map(tasks.map((t) => [t.alias, t]));
  const out: JobTask[] = [];
  const done = new Set<string>();
  const visit = (t: JobTask, path: Set<string>) => {
    if (done.has(t.alias)) return;
    if (path.has(t.alias)) throw new Error(`task ${t.alias}: dependency cycle through ${[...path, t.alias].join(' -> ')}`);
    path.add(t.alias);
    for (const d of t.dependencies ?? []) {
      const dep = byAlias.get(d);
      if (dep) visit(dep, path);
    }
    path.delete(t.alias);
    done.add(t.alias);
    out.push(t);
  };
  for (const t of tasks) visit(t, new Set());
  return out;
}

/** Ready tasks (every dependency succeeded, not started), highest priority first, within maxParallelism. */
function schedule(spec: JobSpec, tasks: readonly TaskView[]): string[] {
  const byId = new Map(tasks.map((t) => [t.taskID, t]));
  const byAlias = new Map(tasks.map((t) => [t.alias, t]));
  const index = new Map(spec.tasks.map((t, i) => [t.taskID, i]));
  const ready = spec.tasks.filter((t) => byId.get(t.taskID)!.phase === 'Pending' && (t.dependencies ?? []).every((alias) => byAlias.get(alias)?.phase === 'Succeeded'));
  ready.sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || index.get(a.taskID)! - index.get(b.taskID)!);
  const inFlight = tasks.filter((t) => t.phase === 'Running').length;
  const capacity = Math.max(0, (spec.maxParallelism ?? DEFAULT_MAX_PARALLELISM) - inFlight);
  return ready.slice(0, capacity).map((t) => t.taskID);
}

/** Who a started task still waits for: a gang start needs every party reserved. */
function reservationWaits(tasks: readonly TaskView[]): Waiting[] {
  const out: Waiting[] = [];
  for (const t of tasks) {
    if (t.phase !== 'Running') continue;
    for (const p of t.parties) if (p.phase === 'Pending') out.push({ domainID: p.domainID, action: `reserve task ${t.alias}` });
  }
  return out;
}

export type LocalAction =
  | { kind: 'reserve'; taskID: string }
  | { kind: 'start'; taskID: string }
  | { kind: 'stop'; taskID: string; message: string }
  | { kind: 'fail'; taskID: string; message: string };

/**
 * What party `self` should do now, given the job's view and its own task states:
 * reserve what is schedulable, start what every party reserved (gang start),
 * give up a reservation the others did not match in time, stop what the job no
 * longer wants, and fail a run that outlived its lifecycle.
 */
export function localActions(spec: JobSpec, view: JobView, self: string, ownRecord: PartyRecord | undefined, now: number): LocalAction[] {
  const actions: LocalAction[] = [];
  const mine = (taskID: string) => partyTaskState(ownRecord, taskID, view.epoch);
  const viewById = new Map(view.tasks.map((t) => [t.taskID, t]));
  const ended = view.phase !== 'Running';
  for (const task of spec.tasks) {
    if (!task.parties.some((p) => p.domainID === self)) continue;
    const own = mine(task.taskID);
    const tv = viewById.get(task.taskID)!;
    if (own?.phase === 'Reserved' || own?.phase === 'Running') {
      if (ended) {
        actions.push({ kind: 'stop', taskID: task.taskID, message: `job ${view.phase}${view.message ? `: ${view.message}` : ''}` });
        continue;
      }
      if (tv.phase === 'Failed') {
        actions.push({ kind: 'stop', taskID: task.taskID, message: `stopped: ${tv.message ?? 'another party failed'}` });
        continue;
      }
    }
    if (ended) continue;
    // Reserve what is schedulable, and join a gang the other parties already started forming.
    if (!own && tv.phase !== 'Succeeded' && (view.schedulable.includes(task.taskID) || tv.phase === 'Running')) actions.push({ kind: 'reserve', taskID: task.taskID });
    if (own?.phase === 'Reserved') {
      const missing = tv.parties.filter((p) => p.phase === 'Pending');
      if (missing.length === 0) actions.push({ kind: 'start', taskID: task.taskID });
      else {
        const limit = task.scheduleConfig?.resourceReservedSeconds || DEFAULT_RESERVE_SECONDS;
        const since = Date.parse(own.reservedAt ?? own.at);
        if (now - since > limit * 1000) {
          const who = missing.map((p) => `${p.domainID}${p.message ? ` (${p.message})` : ''}`).join(', ');
          actions.push({ kind: 'fail', taskID: task.taskID, message: `gang start: ${who} did not reserve within ${limit} s` });
        }
      }
    }
    if (own?.phase === 'Running' && task.scheduleConfig?.lifecycleSeconds) {
      const limit = task.scheduleConfig.lifecycleSeconds;
      if (now - Date.parse(own.startedAt ?? own.at) > limit * 1000) actions.push({ kind: 'stop', taskID: task.taskID, message: `timed out after ${limit} s` });
    }
  }
  return actions;
}
