// The jobs controller: one per domain (on the leader replica). It watches
// KusciaJob and KusciaTask objects in the store, keeps this party's own record
// of each job, computes every job's view (phase.ts) and writes it as status,
// turns local actions into KusciaTask desired states for the runtime, and
// pushes its record to the other parties (retried with back-off, pulled
// periodically to resync after a partition). Partners' proposals and records
// arrive through the inbox (interop-server.ts). Everything goes through the
// store: the runtime and the API never call into this module.
import type { Logger } from 'pino';
import type { ResourceStore, StoredResource } from '../store/store.ts';
import { computeJob, currentEpoch, jobParties, localActions, type JobSpec, type JobView, type PartyRecord, type PartyTaskPhase, type PartyTaskRecord } from './phase.ts';
import { normalizeJobSpec, specHash } from './spec.ts';
import { acceptProposal, acceptRecord } from './records.ts';
import { eventsBetween, isTerminal, jobStatus, setCondition, taskRecordFrom, type JobStatus, type RuntimeState } from './job-status.ts';
import type { InboxAnswer, JobsInbox, Proposal } from './interop-server.ts';
import type { InteropClient } from './interop-client.ts';
import { RecordDelivery } from './deliveries.ts';

export const JOB_ANNOTATION = 'ferry.secretflow/job';
export const EPOCH_ANNOTATION = 'ferry.secretflow/epoch';
export const DESIRED_ANNOTATION = 'ferry.secretflow/desired-state';
export const STOP_REASON_ANNOTATION = 'ferry.secretflow/stop-reason';
export const PROPOSED_BY_ANNOTATION = 'ferry.secretflow/proposed-by';
export const JOB_ID_LABEL = 'kuscia.secretflow/job-id';

export type DesiredState = 'Reserved' | 'Running' | 'Stopped';

/** A stored object as the jobs controller reads it. */
export type StoredObject = StoredResource;

/** What the jobs controller (and the runtime, and job commands) need of the store. */
export type JobsStore = Pick<ResourceStore, 'get' | 'list' | 'apply' | 'updateStatus' | 'watch'>;

export interface ApprovalPolicy {
  /** Why this job is approved without a person, or undefined: it waits for `ferry job approve`. */
  autoApprove(initiator: string, appImages: string[]): string | undefined;
}

/** The DataMesh's answer on a job (control-plane/datamesh/access.ts admitJob). */
export type Admission = { ok: true } | { ok: false; message: string; missing: { taskID: string; domainDataID: string; grantDomain: string; reason: string }[] };

export interface JobsControllerDeps {
  store: JobsStore;
  /**
   * Before this party takes part: do the grants allow every read of this
   * domain's data by its tasks? Asked once per job; a refusal rejects the job
   * here (nothing runs), its DataGranted condition naming what is missing.
   */
  admit?: (job: string, spec: JobSpec) => Promise<Admission>;
  self: string;
  client: Pick<InteropClient, 'propose' | 'push' | 'pull'>;
  policy: ApprovalPolicy;
  log: Logger;
  now?: () => number;
  /** How often time-based decisions (gang start, lifecycles) and due pushes are checked. */
  tickMs?: number;
  /** How often records are pulled from the other parties of unfinished jobs. */
  resyncMs?: number;
  /** How long an unfinished job waits for an unreachable party before this party stops it (default 10 min). */
  partyTimeoutMs?: number;
}

const KJ = 'KusciaJob';
const KT = 'KusciaTask';

export class JobsController implements JobsInbox {
  private readonly deps: JobsControllerDeps;
  private readonly now: () => number;
  private readonly queue = new Set<string>();
  private draining: Promise<void> | undefined;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly delivery: RecordDelivery;
  private readonly views = new Map<string, JobView>();
  private watch: { stop(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastResync = 0;
  /** Until start() (and after stop()): the inbox still stores partners' records, nothing is reconciled. */
  private stopped = true;

  constructor(deps: JobsControllerDeps) {
    this.deps = deps;
    this.now = deps.now ?? Date.now;
    this.delivery = new RecordDelivery({
      self: deps.self, client: deps.client, log: deps.log, now: this.now,
      ownRecord: async (job) => {
        const stored = await deps.store.get(KJ, job);
        const status = stored?.status as JobStatus | undefined;
        return stored && status?.specHash ? { spec: stored.spec as JobSpec, hash: status.specHash, record: status.partyRecords?.[deps.self] } : undefined;
      },
      received: (peer, job, record) => void this.pushRecord(peer, job, record).catch((err: unknown) => deps.log.warn({ err, job, peer }, 'jobs: could not store a party\'s record; the next resync brings it again')),
      changed: (job) => this.enqueue(job),
    });
  }

  /** Starts the controller (on the leader); stop() ends it and start() may run it again. */
  async start(): Promise<void> {
    if (this.watch) return;
    this.stopped = false;
    this.tasksByJob.clear();
    // KusciaTasks are indexed by job from the watch, so a reconcile reads its own tasks, not every task.
    const tasks = await this.deps.store.list(KT);
    for (const t of tasks.items) this.index(t, false);
    const { items } = await this.deps.store.list(KJ);
    for (const j of items) this.enqueue(j.metadata.name);
    this.watch = this.deps.store.watch([KJ, KT], tasks.revision, (e) => {
      if (e.type === 'RESYNC') return void this.relist();
      const o = e.object;
      if (o.kind === KJ) this.enqueue(o.metadata.name);
      else {
        this.index(o, e.type === 'DELETED');
        if (o.metadata.annotations?.[JOB_ANNOTATION]) this.enqueue(o.metadata.annotations[JOB_ANNOTATION]);
      }
    });
    this.timer = setInterval(() => this.tick(), this.deps.tickMs ?? 1000);
  }

  private readonly tasksByJob = new Map<string, Map<string, StoredObject>>();

  private index(t: StoredObject, deleted: boolean): void {
    const job = t.metadata.annotations?.[JOB_ANNOTATION];
    if (!job) return;
    let m = this.tasksByJob.get(job);
    if (!m) this.tasksByJob.set(job, (m = new Map()));
    if (deleted) m.delete(t.metadata.name);
    else m.set(t.metadata.name, t);
  }

  private async relist(): Promise<void> {
    try {
      const tasks = await this.deps.store.list(KT);
      this.tasksByJob.clear();
      for (const t of tasks.items) this.index(t, false);
      for (const j of (await this.deps.store.list(KJ)).items) this.enqueue(j.metadata.name);
    } catch (err) {
      this.deps.log.warn({ err }, 'jobs: could not list after a watch resync; the next tick retries');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    this.watch = undefined;
    if (this.timer) clearInterval(this.timer);
    await this.draining;
    this.views.clear();
  }

  private enqueue(job: string): void {
    if (this.stopped) return;
    this.queue.add(job);
    this.draining ??= this.drain().finally(() => { this.draining = undefined; });
  }

  private async drain(): Promise<void> {
    while (this.queue.size && !this.stopped) {
      const [job] = this.queue;
      this.queue.delete(job!);
      try {
        await this.serial(job!, () => this.reconcile(job!));
      } catch (err) {
        this.deps.log.error({ err, job }, 'jobs: reconcile failed; retrying on the next tick');
      }
    }
  }

  /** One write path per job at a time: reconciles, partners' records and commands never interleave. */
  private serial<T>(job: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(job) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    this.chains.set(job, next.catch(() => undefined));
    return next;
  }

  private tick(): void {
    const now = this.now();
    const resync = now - this.lastResync >= (this.deps.resyncMs ?? 15_000);
    if (resync) this.lastResync = now;
    for (const [job, view] of this.views) {
      // Time matters only to a task in flight (gang start, lifecycle) and to a record not yet delivered.
      if ((view.phase === 'Running' && view.tasks.some((t) => t.phase === 'Running')) || this.delivery.pending(job)) this.enqueue(job);
      if (resync && !isTerminal(view.phase)) void this.delivery.pullAll(job).catch((err: unknown) => this.deps.log.warn({ err, job }, 'jobs: resync failed; retrying at the next one'));
    }
  }

  private async reconcile(name: string): Promise<void> {
    const job = await this.deps.store.get(KJ, name);
    if (!job) {
      this.views.delete(name);
      this.delivery.forget(name);
      this.tasksByJob.delete(name);
      return;
    }
    const self = this.deps.self;
    const spec = job.spec as JobSpec;
    let status = (job.status ?? {}) as JobStatus;
    if (!status.specHash) {
      if (job.metadata.annotations?.[PROPOSED_BY_ANNOTATION]) return; // its status is being written by propose()
      // Created here by `ferry job create` / the API: this domain initiates it.
      const hash = specHash(name, spec);
      status = { specHash: hash, partyRecords: { [self]: { domainID: self, seq: 1, specHash: hash } }, events: [] };
    }
    const records = { ...(status.partyRecords ?? {}) };
    let own: PartyRecord = records[self] ?? { domainID: self, seq: 0, specHash: status.specHash! };
    const before = JSON.stringify(own);

    // Data grants first: a job this domain's grants do not allow is refused before anyone approves it.
    let admitted: ReturnType<typeof admissionCondition> | undefined;
    // Only a job not yet under way: one that runs already (from before admission existed) is not refused by its own reads.
    if (this.deps.admit && !own.approval && (!status.phase || status.phase === 'AwaitingApproval') && !status.conditions?.some((c) => c.type === DATA_GRANTED)) {
      const d = await this.deps.admit(name, spec);
      admitted = admissionCondition(d, new Date(this.now()).toISOString());
      if (!d.ok) own = { ...own, approval: { decision: 'Rejected', reason: d.message, at: new Date(this.now()).toISOString() } };
    }
    if (self !== spec.initiator && !own.approval) {
      const why = this.deps.policy.autoApprove(spec.initiator, [...new Set(spec.tasks.filter((t) => t.parties.some((p) => p.domainID === self)).map((t) => t.appImage))]);
      if (why) own = { ...own, approval: { decision: 'Accepted', reason: why, at: new Date(this.now()).toISOString() } };
    }

    // This party's side of each task, as the runtime reports it.
    const epoch = currentEpoch(Object.values({ ...records, [self]: own }));
    const tasks = this.localTasks(name);
    const ownTasks: Record<string, PartyTaskRecord> = { ...(own.tasks ?? {}) };
    for (const [taskID, kt] of tasks) {
      const runtime = (kt.status as { runtime?: RuntimeState } | undefined)?.runtime;
      if (!runtime || (runtime.epoch ?? 0) !== epoch) continue; // a state from an earlier run says nothing of this one
      const mine = ownTasks[taskID];
      if (mine && mine.epoch === epoch && (mine.phase === 'Failed' || mine.phase === 'Succeeded')) continue; // final in this run
      ownTasks[taskID] = taskRecordFrom(runtime, epoch);
    }
    own = { ...own, tasks: ownTasks };

    let view = computeJob(spec, Object.values({ ...records, [self]: own }));
    // A party unreachable for too long: this party stops the job, saying why (the others learn it when they can).
    const gone = this.delivery.unreachable(name).find((u) => u.forMs > (this.deps.partyTimeoutMs ?? 600_000));
    if (gone && !isTerminal(view.phase) && view.phase !== 'Suspended' && !own.commands?.some((c) => c.stage === 'Stop' && c.epoch === view.epoch)) {
      const reason = `${gone.peer} unreachable for ${Math.round(gone.forMs / 1000)} s: ${gone.error}`;
      own = { ...own, commands: [...(own.commands ?? []), { stage: 'Stop', epoch: view.epoch, reason, at: new Date(this.now()).toISOString() }] };
      view = computeJob(spec, Object.values({ ...records, [self]: own }));
    }
    for (const action of localActions(spec, view, self, own, this.now())) {
      const task = spec.tasks.find((t) => t.taskID === action.taskID)!;
      if (action.kind === 'reserve') await this.desire(name, spec, task.taskID, epoch, 'Reserved');
      else if (action.kind === 'start') await this.desire(name, spec, task.taskID, epoch, 'Running');
      else if (action.kind === 'stop') await this.desire(name, spec, task.taskID, epoch, 'Stopped', action.message);
      else {
        own.tasks![task.taskID] = { epoch, phase: 'Failed', at: new Date(this.now()).toISOString(), message: action.message };
        await this.desire(name, spec, task.taskID, epoch, 'Stopped', action.message);
      }
    }
    if (JSON.stringify(own) !== before) own = { ...own, seq: own.seq + 1 };
    records[self] = own;
    view = computeJob(spec, Object.values(records));

    // Events: what changed since the view last written (the same after a restart: nothing repeats).
    const nowIso = new Date(this.now()).toISOString();
    const previousView = lastWrittenView(status);
    const next = { ...jobStatus(view, records, status.specHash!, status, eventsBetween(previousView, view, nowIso, self), nowIso, job.metadata.generation), deliveries: this.delivery.states(name) };
    const unreachable = this.delivery.unreachable(name);
    next.conditions = setCondition(next.conditions, {
      type: 'PartiesReachable',
      status: unreachable.length ? 'False' : 'True',
      reason: unreachable.length ? 'Unreachable' : 'Reachable',
      message: unreachable.map((u) => `${u.peer} unreachable since ${new Date(this.now() - u.forMs).toISOString()}: ${u.error}`).join('; '),
      lastTransitionTime: nowIso,
    });
    if (admitted) next.conditions = setCondition(next.conditions, admitted);
    this.views.set(name, view);
    if (!sameStatus(job.status as JobStatus | undefined, next)) {
      try {
        await this.deps.store.updateStatus(KJ, name, next, job.metadata.resourceVersion);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e;
        this.enqueue(name); // a partner's record or a command landed meanwhile: compute again from it
        return;
      }
    }
    await this.writeTaskStatuses(name, view, tasks);
    if (own.seq > 0) this.delivery.send(name, spec, own.seq);
  }

  private localTasks(job: string): Map<string, StoredObject> {
    return new Map(this.tasksByJob.get(job) ?? []);
  }

  /** Tells the runtime what a local task should be, through the KusciaTask's annotations. */
  private async desire(job: string, spec: JobSpec, taskID: string, epoch: number, state: DesiredState, reason?: string): Promise<void> {
    const existing = await this.deps.store.get(KT, taskID);
    const a = existing?.metadata.annotations ?? {};
    if (existing && a[DESIRED_ANNOTATION] === state && Number(a[EPOCH_ANNOTATION] ?? 0) === epoch) return;
    if (existing && a[JOB_ANNOTATION] !== job) throw new Error(`KusciaTask ${taskID} belongs to job ${a[JOB_ANNOTATION]}: task ids must be unique across jobs`);
    if (!existing && state === 'Stopped') return;
    const task = spec.tasks.find((t) => t.taskID === taskID)!;
    await this.deps.store.apply([{
      apiVersion: 'kuscia.secretflow/v1alpha1',
      kind: KT,
      metadata: {
        name: taskID,
        labels: { [JOB_ID_LABEL]: job, 'kuscia.secretflow/task-alias': task.alias },
        annotations: { [JOB_ANNOTATION]: job, [EPOCH_ANNOTATION]: String(epoch), [DESIRED_ANNOTATION]: state, ...(reason ? { [STOP_REASON_ANNOTATION]: reason.slice(0, 1000) } : {}) },
      },
      spec: {
        initiator: spec.initiator,
        taskInputConfig: task.taskInputConfig ?? '',
        ...(task.scheduleConfig ? { scheduleConfig: task.scheduleConfig } : {}),
        parties: task.parties.map((p) => ({ domainID: p.domainID, appImageRef: task.appImage, ...(p.role ? { role: p.role } : {}), ...(p.resources ? { resources: p.resources } : {}) })),
      },
    }]);
  }

  /** Kuscia's KusciaTask status fields (phase, partyTaskStatus) from the job's view; the runtime owns status.runtime. */
  private async writeTaskStatuses(job: string, view: JobView, tasks: Map<string, StoredObject>): Promise<void> {
    for (const t of view.tasks) {
      const kt = tasks.get(t.taskID);
      if (!kt) continue;
      const current = (kt.status ?? {}) as Record<string, unknown>;
      const want = { phase: t.phase, partyTaskStatus: t.parties.map((p) => ({ domainID: p.domainID, ...(p.role ? { role: p.role } : {}), phase: p.phase, ...(p.message ? { message: p.message } : {}) })), ...(t.message ? { message: t.message } : {}) };
      if (current.phase === want.phase && JSON.stringify(current.partyTaskStatus) === JSON.stringify(want.partyTaskStatus)) continue;
      try {
        await this.deps.store.updateStatus(KT, t.taskID, { ...current, ...want }, kt.metadata.resourceVersion);
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e;
        this.enqueue(job); // the runtime wrote meanwhile: the next pass writes ours
      }
    }
  }

  // ---- the inbox: partners' proposals and records ----

  async propose(caller: string, job: string, p: Proposal): Promise<InboxAnswer> {
    let spec: JobSpec;
    try {
      spec = normalizeJobSpec(job, p.spec);
    } catch (e) {
      return { ok: false, status: 400, reason: (e as Error).message };
    }
    const verdict = acceptProposal(caller, this.deps.self, job, spec, p.specHash);
    if (!verdict.ok) return verdict;
    return this.serial(job, async () => {
      const existing = await this.deps.store.get(KJ, job);
      if (existing) {
        if ((existing.status as JobStatus | undefined)?.specHash !== verdict.hash) return { ok: false, status: 409, reason: `another job named ${job} exists at ${this.deps.self}` };
      } else {
        await this.deps.store.apply([{ apiVersion: 'kuscia.secretflow/v1alpha1', kind: KJ, metadata: { name: job, annotations: { [PROPOSED_BY_ANNOTATION]: caller } }, spec: spec as unknown as Record<string, unknown> }]);
        const created = (await this.deps.store.get(KJ, job))!;
        const own: PartyRecord = { domainID: this.deps.self, seq: 1, specHash: verdict.hash };
        await this.deps.store.updateStatus(KJ, job, { specHash: verdict.hash, partyRecords: { [this.deps.self]: own }, events: [] } satisfies JobStatus, created.metadata.resourceVersion);
      }
      return this.mergeRecord(caller, job, p.record);
    });
  }

  async pushRecord(caller: string, job: string, record: PartyRecord): Promise<InboxAnswer> {
    return this.serial(job, () => this.mergeRecord(caller, job, record));
  }

  async ownRecord(caller: string, job: string): Promise<InboxAnswer> {
    const stored = await this.deps.store.get(KJ, job);
    const status = stored?.status as JobStatus | undefined;
    if (!stored || !status?.specHash || !jobParties(stored.spec as JobSpec).includes(caller)) return { ok: false, status: 404, reason: 'no such job' };
    return { ok: true, record: status.partyRecords?.[this.deps.self] };
  }

  private async mergeRecord(caller: string, job: string, record: PartyRecord): Promise<InboxAnswer> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const stored = await this.deps.store.get(KJ, job);
      const status = stored?.status as JobStatus | undefined;
      const known = stored && status?.specHash ? { spec: stored.spec as JobSpec, hash: status.specHash, records: new Map(Object.entries(status.partyRecords ?? {})) } : undefined;
      const verdict = acceptRecord(caller, known, record);
      if (!verdict.ok) return verdict;
      const own = status!.partyRecords?.[this.deps.self];
      if (!verdict.changed) return { ok: true, ...(own ? { record: own } : {}) };
      try {
        await this.deps.store.updateStatus(KJ, job, { ...status, partyRecords: { ...status!.partyRecords, [caller]: record } }, stored!.metadata.resourceVersion);
        this.enqueue(job);
        return { ok: true, ...(own ? { record: own } : {}) };
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) return { ok: false, status: 503, reason: `${this.deps.self} could not store the record: ${(e as Error).message}` };
      }
    }
    return { ok: false, status: 503, reason: 'the job changed too often meanwhile: retry' };
  }
}

/** The condition that records this party's admission of the job (and so that it was asked). */
export const DATA_GRANTED = 'DataGranted';

function admissionCondition(d: Admission, now: string) {
  return d.ok
    ? { type: DATA_GRANTED, status: 'True' as const, reason: 'Granted', message: 'every read of this domain\'s data by the job\'s tasks is granted', lastTransitionTime: now }
    : { type: DATA_GRANTED, status: 'False' as const, reason: 'MissingGrant', message: d.message, lastTransitionTime: now };
}

function sameStatus(a: JobStatus | undefined, b: JobStatus): boolean {
  if (!a) return false;
  const strip = (s: JobStatus) => ({ ...s, conditions: s.conditions?.map((c) => ({ ...c, lastTransitionTime: '' })) });
  return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
}

/** The view as the stored status last said it, for events (undefined before the first write). */
function lastWrittenView(status: JobStatus): JobView | undefined {
  if (!status.phase) return undefined;
  return {
    phase: status.phase as JobView['phase'],
    epoch: status.epoch ?? 0,
    approveStatus: (status.approveStatus ?? {}) as JobView['approveStatus'],
    waitingFor: status.waitingFor ?? [],
    schedulable: [],
    tasks: Object.entries(status.partyTaskStatus ?? {}).map(([taskID, parties]) => ({
      taskID, alias: taskID, tolerable: false, phase: 'Pending' as const,
      parties: parties.map((p) => ({ domainID: p.domainID, phase: p.phase as PartyTaskPhase, ...(p.message ? { message: p.message } : {}) })),
    })),
  };
}
