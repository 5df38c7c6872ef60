// The runtime controller (RunP): makes each local KusciaTask what the jobs
// controller wants it to be — Reserved (ports allocated, AppImage found and
// rendered), Running (the engine started as a process) or Stopped — and
// writes how it stands in status.runtime and Kuscia's status.allocatedPorts.
// It talks to the jobs controller only through the store.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { freePorts } from '../util/ports.ts';
import type { ResourceStore } from '../store/store.ts';
import { RESERVED_SERVICE_NAMES } from '../resources/types.ts';
import { DESIRED_ANNOTATION, EPOCH_ANNOTATION, JOB_ANNOTATION, STOP_REASON_ANNOTATION, type JobsStore, type StoredObject } from '../jobs/controller.ts';
import type { RuntimeState } from '../jobs/job-status.ts';
import { renderTask, type AppImageSpec, type TaskParty } from './render.ts';
import { processAlive, readExit, startProcess, stopGroup, tailLines, type Exit } from './processes.ts';
import { peerEndpoints, peerPortNames, taskPortMappings, taskServices, TASK_SERVICE_ANNOTATION, type TaskPortMapping } from './task-ports.ts';
import { taskLimits, wantedLimits, type Quantities, type TaskLimits } from './limits.ts';
import type { Cgroup } from './cgroup.ts';
import type { TaskUser } from './task-user.ts';
import { containerFor } from './task-ports.ts';
import { taskData } from '../jobs/task-data.ts';
import type { DataMesh } from '../datamesh/start.ts';

const KT = 'KusciaTask';
const LOG_TAIL_LINES = 20;

export interface RuntimeDeps {
  store: JobsStore & Pick<ResourceStore, 'delete'>;
  self: string;
  /** Where task directories go (<home>/data/tasks) and their logs (<home>/logs/tasks). */
  tasksDir: string;
  logsDir: string;
  log: Logger;
  stopGraceMs?: number;
  /** Where engines reach the internal listener's local ports (TASK_CLUSTER_DEFINE endpoints). */
  internalHost: string;
  /** Called when the set of task ports to partners changes: the gateway re-translates. */
  onPortsChanged?: () => void;
  /**
   * Resolves once this node's Envoy serves what the store and the task ports
   * say now: a task is Reserved only then, so when every party is Reserved
   * (the gang start) each one's Service and local ports already answer.
   */
  gatewayReady?: () => Promise<void>;
  /** Whether tasks get cgroup limits from their resources (default: when the node can create cgroups). */
  limits?: TaskLimits;
  /** The user tasks run as (control-plane/runtime/task-user.ts); absent: the node's own. */
  taskUser?: TaskUser;
  /**
   * The node's DataMesh: each run gets a credential scoped to the DomainData its
   * task input config names (jobs/task-data.ts), revoked when the run ends.
   */
  dataMesh?: Pick<DataMesh, 'issueTaskCredential' | 'revokeTask'>;
}

interface TaskSpec {
  initiator: string;
  taskInputConfig?: string;
  parties: (TaskParty & { appImageRef: string; resources?: { limits?: Quantities } })[];
}

type Runtime = RuntimeState & {
  epoch: number;
  pid?: number;
  ports?: Record<string, number>;
  /** Per other party and its Cluster-scope port name: the local port here that reaches it. */
  peerPorts?: Record<string, Record<string, number>>;
  /** The Services that expose this party's Cluster-scope ports to the other parties. */
  services?: string[];
  /** The limits the task runs under, or why none apply. */
  limits?: string;
  /** The user the engine runs as. */
  user?: string;
  /** The DomainData the run's DataMesh credential reads and may create. */
  dataMesh?: { reads: string[]; writes: string[] };
};

export class RuntimeController {
  private readonly deps: RuntimeDeps;
  private watch: { stop(): void } | undefined;
  private readonly busy = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly stopping = new Map<string, string>();
  /** Task ports to partners, per task, while the task is Reserved or Running. */
  private readonly ports = new Map<string, TaskPortMapping[]>();
  /** The cgroup of each running task (by task/epoch), to tell a memory-limit kill and to remove it after. */
  private readonly cgroups = new Map<string, Cgroup>();
  private readonly finishing = new Set<string>();
  /** Wrapper pids this controller started: their own exit handler reports how they ended. */
  private readonly started = new Set<number>();

  constructor(deps: RuntimeDeps) {
    this.deps = deps;
  }

  get logsDir(): string {
    return this.deps.logsDir;
  }

  logFile(taskID: string): string {
    return join(this.deps.logsDir, `${taskID}.log`);
  }

  /** Local ports of running tasks mapped to partners' task Services, for the gateway's translation. */
  taskPorts(): TaskPortMapping[] {
    return [...this.ports.values()].flat();
  }

  private setPorts(taskID: string, mappings: TaskPortMapping[] | undefined): void {
    const before = JSON.stringify(this.ports.get(taskID) ?? []);
    if (mappings?.length) this.ports.set(taskID, mappings);
    else this.ports.delete(taskID);
    if (before !== JSON.stringify(mappings ?? [])) this.deps.onPortsChanged?.();
  }

  async start(): Promise<void> {
    if (this.watch) return;
    const { items, revision } = await this.deps.store.list(KT);
    for (const t of items) {
      const rt = (t.status as { runtime?: Runtime } | undefined)?.runtime;
      if (rt && (rt.phase === 'Reserved' || rt.phase === 'Running') && rt.peerPorts) this.setPorts(t.metadata.name, taskPortMappings(t.metadata.name, rt.peerPorts));
    }
    for (const t of items) this.kick(t.metadata.name);
    // Services of tasks that no longer exist (deleted while the node was down).
    const known = new Set(items.map((t) => t.metadata.name));
    for (const s of (await this.deps.store.list('Service')).items) {
      const task = s.metadata.annotations?.[TASK_SERVICE_ANNOTATION];
      if (task && !known.has(task)) await this.deps.store.delete('Service', s.metadata.name).catch(() => undefined);
    }
    this.watch = this.deps.store.watch([KT], revision, (e) => {
      if (e.type !== 'RESYNC') this.kick(e.object.metadata.name);
    });
  }

  async stop(): Promise<void> {
    this.watch?.stop();
    this.watch = undefined;
    await Promise.all(this.busy.values());
  }

  /** One pass per task at a time; a change during a pass asks for one more. */
  private kick(taskID: string): void {
    if (this.busy.has(taskID)) return void this.again.add(taskID);
    const run = this.reconcile(taskID)
      .catch((err: unknown) => this.deps.log.error({ err, task: taskID }, 'runtime: reconcile failed'))
      .finally(() => {
        this.busy.delete(taskID);
        if (this.again.delete(taskID)) this.kick(taskID);
      });
    this.busy.set(taskID, run);
  }

  private async reconcile(taskID: string): Promise<void> {
    const kt = await this.deps.store.get(KT, taskID);
    if (!kt) return this.release(taskID, undefined);
    if (!kt.metadata.annotations?.[JOB_ANNOTATION]) return;
    const a = kt.metadata.annotations;
    const epoch = Number(a[EPOCH_ANNOTATION] ?? 0);
    const desired = a[DESIRED_ANNOTATION];
    const stored = (kt.status as { runtime?: Runtime } | undefined)?.runtime;
    const state = stored && stored.epoch === epoch ? stored : undefined;
    const now = () => new Date().toISOString();

    if (stored && stored !== state) await this.release(taskID, stored); // a restart: the old run's Services and ports go
    if (state && (state.phase === 'Succeeded' || state.phase === 'Failed')) return this.release(taskID, state);
    if (desired === 'Stopped') {
      if (!state) return;
      const reason = a[STOP_REASON_ANNOTATION] ?? 'stopped';
      if (state.phase === 'Running' && state.pid) {
        this.stopping.set(`${taskID}/${epoch}`, reason);
        await stopGroup(state.pid, this.deps.stopGraceMs ?? 5000);
      }
      await this.write(kt, { ...state, phase: 'Failed', at: now(), stopped: true, message: reason, logTail: tailLines(this.logFile(taskID), LOG_TAIL_LINES) });
      this.stopping.delete(`${taskID}/${epoch}`);
      return this.release(taskID, state);
    }
    if (!state) {
      if (desired !== 'Reserved' && desired !== 'Running') return;
      return this.reserve(kt, epoch);
    }
    // Ours (started by this controller): its exit handler reports the end (a reconcile can see it dead first).
    if (state.phase === 'Running' && state.pid && !this.started.has(state.pid) && !processAlive(state.pid)) {
      // The node restarted while the task ran and it ended meanwhile: its exit file says how.
      return this.finished(taskID, epoch, readExit(join(this.taskDir(taskID), '.exit-status')) ?? { exitCode: 255 });
    }
    if (desired === 'Running' && state.phase === 'Reserved') return this.run(kt, state);
  }

  /** A run has ended (or its task is gone): its Services and ports to partners go, at once. */
  private async release(taskID: string, state: Runtime | undefined): Promise<void> {
    this.setPorts(taskID, undefined);
    this.deps.dataMesh?.revokeTask(taskID); // the run's DataMesh credential dies with it
    const names = state?.services ?? (await this.deps.store.list('Service')).items.filter((s) => s.metadata.annotations?.[TASK_SERVICE_ANNOTATION] === taskID).map((s) => s.metadata.name);
    for (const name of names) {
      const svc = await this.deps.store.get('Service', name);
      if (svc?.metadata.annotations?.[TASK_SERVICE_ANNOTATION] === taskID) await this.deps.store.delete('Service', name);
    }
  }

  private taskDir(taskID: string): string {
    return join(this.deps.tasksDir, taskID);
  }

  private async appFor(kt: StoredObject): Promise<{ party: TaskSpec['parties'][number]; app?: AppImageSpec }> {
    const spec = kt.spec as TaskSpec;
    const party = spec.parties.find((p) => p.domainID === this.deps.self)!;
    const image = await this.deps.store.get('AppImage', party.appImageRef);
    return { party, ...(image ? { app: image.spec as AppImageSpec } : {}) };
  }

  private async reserve(kt: StoredObject, epoch: number): Promise<void> {
    const now = new Date().toISOString();
    const taskID = kt.metadata.name;
    const { party, app } = await this.appFor(kt);
    if (!app) return this.write(kt, { epoch, phase: 'Failed', at: now, message: `AppImage ${party.appImageRef} not found at ${this.deps.self}: apply it here (ferry apply -f)` });
    const spec = kt.spec as TaskSpec;
    const ports: Record<string, number> = {};
    const peerPorts: Record<string, Record<string, number>> = {};
    let services: ReturnType<typeof taskServices>;
    try {
      const names = [...new Set(app.deployTemplates.flatMap((t) => t.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name))))];
      const remote = peerPortNames(app, this.deps.self, spec.parties);
      const numbers = names.length + remote.length ? await freePorts(names.length + remote.length) : [];
      names.forEach((n, i) => { ports[n] = numbers[i]!; });
      remote.forEach((r, i) => { (peerPorts[r.domainID] ??= {})[r.port] = numbers[names.length + i]!; });
      wantedLimits(party, containerFor(app, party.role ?? ''));
      renderTask({ self: this.deps.self, taskID, role: party.role ?? '', taskInputConfig: spec.taskInputConfig ?? '', app, parties: spec.parties, ports, peerEndpoints: peerEndpoints(this.deps.internalHost, peerPorts), taskDir: this.taskDir(taskID) });
      services = taskServices({ taskID, self: this.deps.self, role: party.role ?? '', app, parties: spec.parties, ports });
    } catch (e) {
      return this.write(kt, { epoch, phase: 'Failed', at: now, message: `AppImage ${party.appImageRef}: ${(e as Error).message}` });
    }
    // A task's name comes from the job's initiator, a partner perhaps: its Services never replace one
    // this domain made (an admin's, another task's) nor take a built-in name.
    for (const svc of services) {
      const name = svc.metadata.name;
      const existing = await this.deps.store.get('Service', name);
      const owner = existing?.metadata.annotations?.[TASK_SERVICE_ANNOTATION];
      const clash = RESERVED_SERVICE_NAMES.includes(name) ? 'a built-in service'
        : !existing ? undefined
        : owner === undefined ? 'a Service of this domain'
        : owner !== taskID ? `the Service of task ${owner}` : undefined;
      if (clash) return this.write(kt, { epoch, phase: 'Failed', at: now, message: `port ${svc.spec.ports[0]!.name ?? ''}: its Service name ${name} is ${clash}; nothing was changed: give the task another taskID` });
    }
    // Other parties reach this party's Cluster ports as these Services, from now until the run ends.
    if (services.length) await this.deps.store.apply(services);
    this.setPorts(taskID, taskPortMappings(taskID, peerPorts));
    // An engine that starts before the link's Services and ports are served gets 404s and 503s, which
    // brpc does not retry: a lost message hangs the PSI for its whole receive timeout.
    await this.deps.gatewayReady?.().catch((err: unknown) => this.deps.log.warn({ err, task: taskID }, 'runtime: the gateway did not confirm the task ports in time; reserving anyway'));
    return this.write(kt, { epoch, phase: 'Reserved', at: now, reservedAt: now, ports, peerPorts, services: services.map((x) => x.metadata.name) });
  }

  private async run(kt: StoredObject, state: Runtime): Promise<void> {
    const taskID = kt.metadata.name;
    const { party, app } = await this.appFor(kt);
    const spec = kt.spec as TaskSpec;
    const now = new Date().toISOString();
    let limits: ReturnType<typeof taskLimits> | undefined;
    try {
      const r = renderTask({ self: this.deps.self, taskID, role: party.role ?? '', taskInputConfig: spec.taskInputConfig ?? '', app: app!, parties: spec.parties, ports: state.ports ?? {}, peerEndpoints: peerEndpoints(this.deps.internalHost, state.peerPorts ?? {}), taskDir: this.taskDir(taskID) });
      limits = taskLimits(`ferry-${this.deps.self}-${taskID}-${state.epoch}`, wantedLimits(party, containerFor(app!, party.role ?? '')), this.deps.limits?.mode ?? 'auto');
      if (limits.cgroup) this.cgroups.set(`${taskID}/${state.epoch}`, limits.cgroup);
      const user = this.deps.taskUser;
      const data = await this.credential(kt, party.appImageRef);
      const p = startProcess({ command: r.command, cwd: r.cwd, env: { ...r.env, ...data?.env }, files: r.files, logFile: this.logFile(taskID), ...(limits.cgroup ? { cgroupProcs: limits.cgroup.procs } : {}), ...(user ? { uid: user.uid, gid: user.gid } : {}), onExit: (e) => void this.finished(taskID, state.epoch, e).finally(() => this.started.delete(p.pid)).catch((err: unknown) => this.deps.log.error({ err, task: taskID }, 'runtime: could not record how a task ended; it is read again from its exit file at the next start')) });
      this.started.add(p.pid);
      const runsAs = user ? user.describe : `the node's own user (uid ${process.getuid?.() ?? '?'}): the task can read what the node reads; run the node as root to give tasks a user of their own`;
      return this.write(kt, { ...state, phase: 'Running', at: now, startedAt: now, pid: p.pid, limits: limits.applied, user: runsAs, ...(data ? { dataMesh: data.scope } : {}) });
    } catch (e) {
      this.deps.dataMesh?.revokeTask(taskID);
      this.dropCgroup(`${taskID}/${state.epoch}`);
      await this.write(kt, { ...state, phase: 'Failed', at: now, message: `could not start: ${(e as Error).message}` });
      return this.release(taskID, state);
    }
  }

  /**
   * The run's DataMesh credential: it reads this domain's DomainData named in
   * sf_input_ids and creates this party's sf_output_ids entry, nothing else;
   * its environment (DATAMESH_ADDRESS, grpc_proxy with the token) joins the task's.
   */
  private async credential(kt: StoredObject, appImage: string): Promise<{ env: Record<string, string>; scope: { reads: string[]; writes: string[] } } | undefined> {
    const dm = this.deps.dataMesh;
    if (!dm) return undefined;
    const spec = kt.spec as TaskSpec;
    const local = new Set((await this.deps.store.list('DomainData')).items.map((d) => d.metadata.name));
    const parties = spec.parties.map((p) => p.domainID);
    const data = taskData(this.deps.self, spec.taskInputConfig, parties, (id) => local.has(id));
    dm.revokeTask(kt.metadata.name); // a previous run's, should one be left
    const jobID = kt.metadata.annotations?.[JOB_ANNOTATION] ?? '';
    // A grant's limit.flowID is matched against the job's flow (Kuscia's spec.flowID).
    const flowID = ((await this.deps.store.get('KusciaJob', jobID))?.spec as { flowID?: string } | undefined)?.flowID;
    const issued = dm.issueTaskCredential({
      taskID: kt.metadata.name, jobID, initiator: spec.initiator,
      parties: [...new Set(parties)], domainDataIDs: [...data.reads, ...data.writes], component: appImage, ...(flowID ? { flowID } : {}),
    });
    return { env: issued.env, scope: { reads: data.reads, writes: data.writes } };
  }

  /** Removes a run's cgroup; returns whether the kernel killed a member for the memory limit. */
  private dropCgroup(key: string): boolean {
    const cg = this.cgroups.get(key);
    if (!cg) return false;
    this.cgroups.delete(key);
    const oom = cg.oomKills() > 0;
    cg.remove();
    return oom;
  }

  private async finished(taskID: string, epoch: number, exit: Exit): Promise<void> {
    // The process's exit event and a reconcile that finds it gone may both get here: the first tells.
    const key = `${taskID}/${epoch}`;
    if (this.finishing.has(key)) return;
    this.finishing.add(key);
    try {
      await this.recordEnd(taskID, epoch, exit);
    } finally {
      this.finishing.delete(key);
    }
  }

  private async recordEnd(taskID: string, epoch: number, exit: Exit): Promise<void> {
    const kt = await this.deps.store.get(KT, taskID);
    const state = (kt?.status as { runtime?: Runtime } | undefined)?.runtime;
    if (!kt || !state || state.epoch !== epoch || state.phase !== 'Running') return;
    const stopReason = this.stopping.get(`${taskID}/${epoch}`);
    const oom = this.dropCgroup(`${taskID}/${epoch}`);
    const logTail = tailLines(this.logFile(taskID), LOG_TAIL_LINES);
    const at = new Date().toISOString();
    if (stopReason !== undefined) await this.write(kt, { ...state, phase: 'Failed', at, stopped: true, message: stopReason, logTail, ...exit });
    else if (exit.exitCode === 0) await this.write(kt, { ...state, phase: 'Succeeded', at, exitCode: 0 });
    // The exit code or signal says how it ended (the job's message puts it first); the message adds only why.
    else await this.write(kt, { ...state, phase: 'Failed', at, logTail, ...exit, ...(oom ? { message: `killed by the memory limit (${state.limits ?? 'memory limit'})` } : {}) });
    return this.release(taskID, state);
  }

  /** Writes status.runtime (and Kuscia's allocatedPorts), keeping the fields the jobs controller owns. */
  private async write(kt: StoredObject, runtime: Runtime): Promise<void> {
    let current = kt;
    for (let attempt = 0; attempt < 5; attempt++) {
      const status = { ...(current.status ?? {}), runtime, ...(runtime.ports ? { allocatedPorts: [{ domainID: this.deps.self, namedPort: runtime.ports }] } : {}) };
      try {
        await this.deps.store.updateStatus(KT, current.metadata.name, status, current.metadata.resourceVersion);
        return;
      } catch (e) {
        if ((e as { statusCode?: number }).statusCode !== 409) throw e;
        const fresh = await this.deps.store.get(KT, current.metadata.name);
        if (!fresh) return;
        current = fresh;
      }
    }
    throw new Error(`KusciaTask ${kt.metadata.name}: status changed too often to write`);
  }
}
