// KusciaAPI's job calls on Ferry's jobs: a KusciaJob through the store, the
// commands as this party's record (jobs/commands.ts), as `ferry job` and REST
// /api/v1/jobs do. The jobs controller takes it from there (docs/jobs.md).
import type { ResourceStore, StoredResource } from '../store/store.ts';
import type { JobSpec } from '../jobs/phase.ts';
import { JOB_ID_LABEL } from '../jobs/controller.ts';
import { runJobCommand, JobCommandError, type JobCommand } from '../jobs/commands.ts';
import { deleteJob } from '../api/jobs.ts';
import { Code, KusciaError, validation } from './codes.ts';
import { checkedResource, requireField } from './mapping.ts';
import { jobData, jobResource, jobStatusDetail, localTaskFacts, type LocalTaskFacts } from './job-mapping.ts';
import type { Call, ServiceDeps } from './call.ts';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** This party's KusciaTasks of a job (those of this job only), as the answer's task details. */
export async function localTasks(store: ResourceStore, job: StoredResource, self: string): Promise<Map<string, LocalTaskFacts>> {
  const out = new Map<string, LocalTaskFacts>();
  for (const t of (job.spec as unknown as JobSpec).tasks) {
    const kt = await store.get('KusciaTask', t.taskID);
    if (!kt || kt.metadata.labels?.[JOB_ID_LABEL] !== job.metadata.name) continue;
    out.set(t.taskID, localTaskFacts(kt, self, await store.get('AppImage', t.appImage)));
  }
  return out;
}

export function jobCalls(deps: ServiceDeps): Call[] {
  const { store } = deps;
  const getJob = async (id: string, code: number, field = 'job_id'): Promise<StoredResource> => {
    const job = await store.get('KusciaJob', id);
    if (!job) throw new KusciaError(code, `${field}: job ${id} does not exist at ${deps.domain}`);
    return job;
  };
  const command = (kind: JobCommand['kind'], code: number, phaseCode = code) => async (req: Msg) => {
    const id = requireField(req, 'job_id');
    try {
      await runJobCommand(store, deps.domain, id, { kind, ...(req.reason ? { reason: req.reason } : {}) } as JobCommand);
    } catch (e) {
      if (e instanceof JobCommandError) throw new KusciaError(e.statusCode === 409 && / is [A-Za-z]+: /.test(e.message) ? phaseCode : code, `job_id: ${e.message}`);
      throw e;
    }
    await deps.seen();
    return { job_id: id };
  };
  const call = (method: string, path: string, failCode: number, handle: Call['handle']): Call => ({
    service: 'JobService', method, path, request: `${method}Request`, response: `${method}Response`, failCode, handle,
  });

  return [
    call('CreateJob', '/api/v1/job/create', Code.CreateJob, async (req) => {
      const r = checkedResource(jobResource(req), deps.domain, 'job_id');
      if (await store.get('KusciaJob', r.metadata.name)) throw new KusciaError(Code.CreateJob, `job_id: job ${r.metadata.name} already exists at ${deps.domain}: pick another id, or delete it first`);
      await store.apply([r]);
      await deps.seen();
      return { job_id: r.metadata.name };
    }),
    call('QueryJob', '/api/v1/job/query', Code.QueryJob, async (req) => {
      const job = await getJob(requireField(req, 'job_id'), Code.QueryJob);
      return jobData(job, await localTasks(store, job, deps.domain), deps.domain);
    }),
    call('BatchQueryJobStatus', '/api/v1/job/status/batchQuery', Code.QueryJobStatus, async (req) => {
      const ids = req.job_ids as string[];
      if (ids.length === 0) throw validation('job_ids', 'is required: list at least one job id');
      const jobs = [];
      for (const [i, id] of ids.entries()) {
        if (!id) throw validation(`job_ids[${i}]`, 'is empty');
        const job = await getJob(id, Code.QueryJobStatus, `job_ids[${i}]`);
        jobs.push({ job_id: id, status: jobStatusDetail(job, await localTasks(store, job, deps.domain), deps.domain) });
      }
      return { jobs };
    }),
    call('DeleteJob', '/api/v1/job/delete', Code.DeleteJob, async (req) => {
      const job = await getJob(requireField(req, 'job_id'), Code.DeleteJob);
      try {
        await deleteJob(store, job);
      } catch (e) {
        if (e instanceof JobCommandError) throw new KusciaError(Code.DeleteJob, `job_id: ${e.message}`);
        throw e;
      }
      await deps.seen();
      return { job_id: job.metadata.name };
    }),
    call('StopJob', '/api/v1/job/stop', Code.StopJob, command('stop', Code.StopJob)),
    call('SuspendJob', '/api/v1/job/suspend', Code.SuspendJob, command('suspend', Code.SuspendJob, Code.SuspendNotRunningJob)),
    call('RestartJob', '/api/v1/job/restart', Code.RestartJob, command('restart', Code.RestartJob, Code.RestartNotSuspendedOrFailedJob)),
    call('CancelJob', '/api/v1/job/cancel', Code.CancelJob, command('cancel', Code.CancelJob)),
    call('ApproveJob', '/api/v1/job/approve', Code.ApproveJob, async (req) => {
      if (req.result !== 'APPROVE_RESULT_ACCEPT' && req.result !== 'APPROVE_RESULT_REJECT') {
        throw validation('result', 'must be APPROVE_RESULT_ACCEPT or APPROVE_RESULT_REJECT');
      }
      return command(req.result === 'APPROVE_RESULT_ACCEPT' ? 'approve' : 'reject', Code.ApproveJob)(req);
    }),
  ];
}
