// KusciaAPI jobs <-> Ferry's KusciaJob, pure (golden-tested in
// test/golden/kusciaapi). A KusciaAPI job is created the way Kuscia's
// KusciaAPI creates it: scheduleMode BestEffort, custom fields as labels
// kuscia.job.custom-fields/<key>, a party's cpu/memory as its limits, the
// schedule config's timeout, reservation and reallocation as lifecycle,
// resourceReserved and retryInterval seconds.
import { KUSCIA_API_VERSION, type JobResource } from '../resources/types.ts';
import type { StoredResource } from '../store/store.ts';
import type { JobSpec, JobTask } from '../jobs/phase.ts';
import type { JobStatus } from '../jobs/job-status.ts';
import { validation } from './codes.ts';
import { requireField } from './mapping.ts';
import { taskServiceName } from '../runtime/task-ports.ts';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export const CUSTOM_FIELD_LABEL = 'kuscia.job.custom-fields/';

export function jobResource(req: Msg): JobResource {
  const name = requireField(req, 'job_id');
  const initiator = requireField(req, 'initiator');
  const tasks = req.tasks as Msg[];
  if (tasks.length === 0) throw validation('tasks', 'is required: give at least one task');
  const spec: JobSpec = {
    initiator,
    scheduleMode: 'BestEffort',
    ...(req.max_parallelism ? { maxParallelism: req.max_parallelism } : {}),
    tasks: tasks.map((t, i): JobTask => {
      const at = `tasks[${i}]`;
      // taskID may be left out: the job check derives it from the alias, as Kuscia does.
      const task = {
        ...(t.alias ? { alias: t.alias } : {}),
        ...(t.task_id ? { taskID: t.task_id } : {}),
        ...(t.dependencies.length ? { dependencies: t.dependencies } : {}),
        ...(t.tolerable ? { tolerable: true } : {}),
        appImage: t.app_image,
        ...(t.task_input_config ? { taskInputConfig: t.task_input_config } : {}),
        ...(t.priority ? { priority: t.priority } : {}),
        parties: (t.parties as Msg[]).map((p, j) => {
          if (p.bandwidth_limits.length) throw validation(`${at}.parties[${j}].bandwidth_limits`, 'per-task bandwidth limits are not supported yet: remove them (a Service can carry ferry.secretflow/bandwidth-limit)');
          if (p.resources?.bandwidth) throw validation(`${at}.parties[${j}].resources.bandwidth`, 'a bandwidth request is not supported yet: remove it');
          const limits = { ...(p.resources?.cpu ? { cpu: p.resources.cpu } : {}), ...(p.resources?.memory ? { memory: p.resources.memory } : {}) };
          return { domainID: p.domain_id, ...(p.role ? { role: p.role } : {}), ...(Object.keys(limits).length ? { resources: { limits, requests: { ...limits } } } : {}) };
        }),
      } as JobTask;
      const sc = t.schedule_config as Msg | null;
      if (sc) {
        task.scheduleConfig = {
          ...(sc.task_timeout_seconds > 0 ? { lifecycleSeconds: sc.task_timeout_seconds } : {}),
          ...(sc.resource_reserved_seconds > 0 ? { resourceReservedSeconds: sc.resource_reserved_seconds } : {}),
          ...(sc.resource_reallocation_interval_seconds > 0 ? { retryIntervalSeconds: sc.resource_reallocation_interval_seconds } : {}),
        };
      }
      return task;
    }),
  };
  const labels = Object.fromEntries(Object.entries(req.custom_fields as Record<string, string>).map(([k, v]) => [`${CUSTOM_FIELD_LABEL}${k}`, v]));
  return {
    apiVersion: KUSCIA_API_VERSION,
    kind: 'KusciaJob',
    metadata: { name, ...(Object.keys(labels).length ? { labels } : {}) },
    spec: spec as unknown as Record<string, unknown>,
  };
}

const stageName = (stage: string) => `Job${stage}StageSucceeded`;
const TASK_ENDED = new Set(['Succeeded', 'Failed']);

/** What this node's KusciaTask adds to a task's answer: its creation, this party's endpoints. */
export interface LocalTaskFacts {
  createTime: string;
  endpoints: { port_name: string; scope: string; endpoint: string }[];
  /** The other parties' Cluster endpoints, by domain: the Services their runtimes make for this task. */
  partyEndpoints?: Record<string, { port_name: string; scope: string; endpoint: string }[]>;
}

/**
 * Kuscia's JobStatusDetail from the job's stored status (the same at every
 * party) and, for this party, its KusciaTasks (`local`, by task id). A task's
 * start is the first party's process start, its end the last party's record
 * once it ended (each party's records of the current run); progress is known
 * only at the end (1 when Succeeded): engines report none to Ferry.
 */
export function jobStatusDetail(job: StoredResource, local: ReadonlyMap<string, LocalTaskFacts> = new Map(), self = ''): Msg {
  const spec = job.spec as unknown as JobSpec;
  const s = (job.status ?? {}) as JobStatus;
  const phase = s.phase ?? 'Pending';
  const epoch = s.epoch ?? 0;
  return {
    state: phase,
    err_msg: phase === 'Failed' || phase === 'ApprovalReject' ? s.message ?? '' : '',
    create_time: job.metadata.creationTimestamp,
    start_time: s.startTime ?? '',
    end_time: s.completionTime ?? '',
    tasks: spec.tasks.map((t) => {
      const parties = s.partyTaskStatus?.[t.taskID] ?? [];
      const failed = parties.filter((p) => p.phase === 'Failed' && p.message).map((p) => `${p.domainID}: ${p.message}`);
      const state = s.taskStatus?.[t.taskID] ?? 'Pending';
      const records = Object.values(s.partyRecords ?? {}).map((r) => r.tasks?.[t.taskID]).filter((r) => r && r.epoch === epoch);
      const starts = records.map((r) => r!.startedAt).filter((x): x is string => !!x).sort();
      const ends = records.map((r) => r!.at).sort();
      const facts = local.get(t.taskID);
      return {
        task_id: t.taskID,
        state,
        err_msg: failed.join('; '),
        create_time: facts?.createTime ?? '',
        start_time: starts[0] ?? '',
        end_time: TASK_ENDED.has(state) ? ends.at(-1) ?? '' : '',
        parties: parties.map((p) => ({ domain_id: p.domainID, state: p.phase, err_msg: p.message ?? '', endpoints: p.domainID === self ? facts?.endpoints ?? [] : partyStarted(p.phase) ? facts?.partyEndpoints?.[p.domainID] ?? [] : [] })),
        alias: t.alias,
        progress: state === 'Succeeded' ? 1 : 0,
      };
    }),
    stage_status_list: Object.values(s.partyRecords ?? {}).map((r) => ({ domain_id: r.domainID, state: stageName(r.commands?.at(-1)?.stage ?? 'Create') })),
    approve_status_list: Object.entries(s.approveStatus ?? {}).map(([domain, state]) => ({ domain_id: domain, state })),
  };
}

/** A party whose task exists there (its runtime has made its Services). */
const partyStarted = (phase: string | undefined) => !!phase && phase !== 'Pending';

/**
 * This party's facts from its KusciaTask (status.allocatedPorts) and the
 * AppImage's port scopes (pure): a Cluster port as Kuscia writes it, the
 * Service the other parties call (`<task>-<port>.<domain>.svc`, the one the
 * runtime makes); a Domain port where its process listens here; Local ports
 * are not endpoints (Kuscia makes no Service for them).
 */
export function localTaskFacts(task: StoredResource, self: string, app: StoredResource | undefined): LocalTaskFacts {
  const status = (task.status ?? {}) as { allocatedPorts?: { domainID: string; namedPort: Record<string, number> }[] };
  const ports = status.allocatedPorts?.find((a) => a.domainID === self)?.namedPort ?? {};
  const parties = (task.spec as { parties?: { domainID: string; role?: string }[] }).parties ?? [];
  const templates = ((app?.spec as { deployTemplates?: { role?: string; spec?: { containers?: { ports?: { name: string; scope?: string }[] }[] } }[] } | undefined)?.deployTemplates) ?? [];
  /** A role's ports and their scopes, from the AppImage's template for that role (every party runs the same AppImage). */
  const scopesOf = (role: string) => {
    const template = templates.find((x) => (x.role ?? '') === role) ?? templates.find((x) => !x.role);
    return new Map((template?.spec?.containers ?? []).flatMap((c) => c.ports ?? []).map((p) => [p.name, p.scope ?? 'Local']));
  };
  const scopes = scopesOf(parties.find((p) => p.domainID === self)?.role ?? '');
  // Another party's Cluster ports are Services named as here, in its domain; its Domain ports' numbers are its own, unknown here.
  const partyEndpoints = Object.fromEntries(parties.filter((p) => p.domainID !== self).map((p) => [p.domainID, [...scopesOf(p.role ?? '')]
    .filter(([, scope]) => scope === 'Cluster')
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name]) => ({ port_name: name, scope: 'Cluster', endpoint: `${taskServiceName(task.metadata.name, name)}.${p.domainID}.svc` }))]));
  return {
    partyEndpoints,
    createTime: task.metadata.creationTimestamp ?? '',
    endpoints: Object.entries(ports)
      .filter(([name]) => (scopes.get(name) ?? 'Local') !== 'Local')
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, port]) => ({ port_name: name, scope: scopes.get(name)!, endpoint: scopes.get(name) === 'Cluster' ? `${taskServiceName(task.metadata.name, name)}.${self}.svc` : `127.0.0.1:${port}` })),
  };
}

export function jobData(job: StoredResource, local: ReadonlyMap<string, LocalTaskFacts> = new Map(), self = ''): Msg {
  const spec = job.spec as unknown as JobSpec;
  const custom = Object.fromEntries(Object.entries(job.metadata.labels ?? {}).filter(([k]) => k.startsWith(CUSTOM_FIELD_LABEL)).map(([k, v]) => [k.slice(CUSTOM_FIELD_LABEL.length), v]));
  return {
    job_id: job.metadata.name,
    initiator: spec.initiator,
    max_parallelism: spec.maxParallelism ?? 0,
    tasks: spec.tasks.map((t) => ({
      app_image: t.appImage,
      parties: t.parties.map((p) => ({
        domain_id: p.domainID,
        role: p.role ?? '',
        resources: p.resources?.limits ? { cpu: String(p.resources.limits.cpu ?? ''), memory: String(p.resources.limits.memory ?? ''), bandwidth: '' } : null,
        bandwidth_limits: [],
      })),
      alias: t.alias,
      task_id: t.taskID,
      dependencies: t.dependencies ?? [],
      task_input_config: t.taskInputConfig ?? '',
      priority: t.priority ?? 0,
      schedule_config: t.scheduleConfig
        ? { task_timeout_seconds: t.scheduleConfig.lifecycleSeconds ?? 0, resource_reserved_seconds: t.scheduleConfig.resourceReservedSeconds ?? 0, resource_reallocation_interval_seconds: t.scheduleConfig.retryIntervalSeconds ?? 0 }
        : null,
    })),
    status: jobStatusDetail(job, local, self),
    custom_fields: custom,
  };
}
