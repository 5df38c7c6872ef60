// The runtime controller (RunP): makes each local KusciaTask what the jobs
// controller wants it to be — Reserved (ports allocated, AppImage found and
// rendered), Running (the engine started as a process) or Stopped — and
// writes how it stands in status.runtime and Kuscia's status.allocatedPorts.
// It talks to the jobs controller only through the store.
import { join } from 'node:path';
import type { Logger } from 'pino';
import { freePorts } from '../util/ports.ts';
import { DESIRED_ANNOTATION, EPOCH_ANNOTATION, JOB_ANNOTATION, STOP_REASON_ANNOTATION, type JobsStore, type StoredObject } from '../jobs/controller.ts';
import type { RuntimeState } from '../jobs/job-status.ts';
import { renderTask, type AppImageSpec, type TaskParty } from './render.ts';
import { processAlive, readExit, startProcess, stopGroup, tailLines, type Exit } from './processes.ts';

const KT = 'KusciaTask';
const LOG_TAIL_LINES = 20;

export interface RuntimeDeps {
  store: JobsStore;
  self: string;
  /** Where task directories go (<home>/data/tasks) and their logs (<home>/logs/tasks). */
  tasksDir: string;
  logsDir: string;
  log: Logger;
  stopGraceMs?: number;
}

interface TaskSpec {
  initiator: string;
  taskInputConfig?: string;
  parties: (TaskParty & { appImageRef: string })[];
}

type Runtime = RuntimeState & { epoch: number; pid?: number; ports?: Record<string, number> };

export class RuntimeController {
  private readonly deps: RuntimeDeps;
  private watch: { stop(): void } | undefined;
  private readonly busy = new Map<string, Promise<void>>();
  private readonly again = new Set<string>();
  private readonly stopping = new Map<string, string>();

  constructor(deps: RuntimeDeps) {
    this.deps = deps;
  }

  get logsDir(): string {
    return this.deps.logsDir;
  }

  logFile(taskID: string): string {
    return join(this.deps.logsDir, `${taskID}.log`);
  }

  async start(): Promise<void> {
    if (this.watch) return;
    const { items, revision } = await this.deps.store.list(KT);
    for (const t of items) this.kick(t.metadata.name);
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
    if (!kt?.metadata.annotations?.[JOB_ANNOTATION]) return;
    const a = kt.metadata.annotations;
    const epoch = Number(a[EPOCH_ANNOTATION] ?? 0);
    const desired = a[DESIRED_ANNOTATION];
    const stored = (kt.status as { runtime?: Runtime } | undefined)?.runtime;
    const state = stored && stored.epoch === epoch ? stored : undefined;
    const now = () => new Date().toISOString();

    if (state && (state.phase === 'Succeeded' || state.phase === 'Failed')) return;
    if (desired === 'Stopped') {
      if (!state) return;
      const reason = a[STOP_REASON_ANNOTATION] ?? 'stopped';
      if (state.phase === 'Running' && state.pid) {
        this.stopping.set(`${taskID}/${epoch}`, reason);
        await stopGroup(state.pid, this.deps.stopGraceMs ?? 5000);
      }
      await this.write(kt, { ...state, phase: 'Failed', at: now(), stopped: true, message: reason, logTail: tailLines(this.logFile(taskID), LOG_TAIL_LINES) });
      this.stopping.delete(`${taskID}/${epoch}`);
      return;
    }
    if (!state) {
      if (desired !== 'Reserved' && desired !== 'Running') return;
      return this.reserve(kt, epoch);
    }
    if (state.phase === 'Running' && state.pid && !processAlive(state.pid)) {
      // The node restarted while the task ran and it ended meanwhile: its exit file says how.
      return this.finished(taskID, epoch, readExit(join(this.taskDir(taskID), '.exit-status')) ?? { exitCode: 255 });
    }
    if (desired === 'Running' && state.phase === 'Reserved') return this.run(kt, state);
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
    const { party, app } = await this.appFor(kt);
    if (!app) return this.write(kt, { epoch, phase: 'Failed', at: now, message: `AppImage ${party.appImageRef} not found at ${this.deps.self}: apply it here (ferry apply -f)` });
    const ports: Record<string, number> = {};
    try {
      const spec = kt.spec as TaskSpec;
      const names = [...new Set(app.deployTemplates.flatMap((t) => t.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name))))];
      const numbers = names.length ? await freePorts(names.length) : [];
      names.forEach((n, i) => { ports[n] = numbers[i]!; });
      renderTask({ self: this.deps.self, taskID: kt.metadata.name, role: party.role ?? '', taskInputConfig: spec.taskInputConfig ?? '', app, parties: spec.parties, ports, peerEndpoints: {}, taskDir: this.taskDir(kt.metadata.name) });
    } catch (e) {
      return this.write(kt, { epoch, phase: 'Failed', at: now, message: `AppImage ${party.appImageRef}: ${(e as Error).message}` });
    }
    return this.write(kt, { epoch, phase: 'Reserved', at: now, reservedAt: now, ports });
  }

  private async run(kt: StoredObject, state: Runtime): Promise<void> {
    const taskID = kt.metadata.name;
    const { party, app } = await this.appFor(kt);
    const spec = kt.spec as TaskSpec;
    const now = new Date().toISOString();
    try {
      const r = renderTask({ self: this.deps.self, taskID, role: party.role ?? '', taskInputConfig: spec.taskInputConfig ?? '', app: app!, parties: spec.parties, ports: state.ports ?? {}, peerEndpoints: {}, taskDir: this.taskDir(taskID) });
      const p = startProcess({ command: r.command, cwd: r.cwd, env: r.env, files: r.files, logFile: this.logFile(taskID), onExit: (e) => void this.finished(taskID, state.epoch, e).catch((err: unknown) => this.deps.log.error({ err, task: taskID }, 'runtime: could not record how a task ended; it is read again from its exit file at the next start')) });
      return this.write(kt, { ...state, phase: 'Running', at: now, startedAt: now, pid: p.pid });
    } catch (e) {
      return this.write(kt, { ...state, phase: 'Failed', at: now, message: `could not start: ${(e as Error).message}` });
    }
  }

  private async finished(taskID: string, epoch: number, exit: Exit): Promise<void> {
    const kt = await this.deps.store.get(KT, taskID);
    const state = (kt?.status as { runtime?: Runtime } | undefined)?.runtime;
    if (!kt || !state || state.epoch !== epoch || state.phase !== 'Running') return;
    const stopReason = this.stopping.get(`${taskID}/${epoch}`);
    const logTail = tailLines(this.logFile(taskID), LOG_TAIL_LINES);
    const at = new Date().toISOString();
    if (stopReason !== undefined) return this.write(kt, { ...state, phase: 'Failed', at, stopped: true, message: stopReason, logTail, ...exit });
    if (exit.exitCode === 0) return this.write(kt, { ...state, phase: 'Succeeded', at, exitCode: 0 });
    return this.write(kt, { ...state, phase: 'Failed', at, logTail, ...exit, message: exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.exitCode}` });
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
