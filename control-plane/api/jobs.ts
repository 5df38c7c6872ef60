// REST for jobs, /api/v1/jobs (a Fastify plugin of the node API): create,
// list, get, delete, the commands (approve, reject, stop, cancel, suspend,
// restart) and task logs. Everything goes through the store; the jobs
// controller and the runtime pick the changes up from there.
import { createReadStream, existsSync, statSync, watch } from 'node:fs';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import type { ResourceStore, StoredResource } from '../store/store.ts';
import { applyDocuments, ApplyError } from '../resources/apply.ts';
import { runJobCommand, JobCommandError, type JobCommand } from '../jobs/commands.ts';
import { JOB_ANNOTATION } from '../jobs/controller.ts';
import { isTerminal, type JobStatus } from '../jobs/job-status.ts';
import type { JobSpec } from '../jobs/phase.ts';

export interface JobsApiDeps {
  store: ResourceStore;
  domain: string;
  /** Where the runtime writes task logs (<home>/logs/tasks). */
  taskLogs: string;
  /** Resolves once the node has seen the store's latest write. */
  seen: () => Promise<void>;
}

const COMMANDS = ['approve', 'reject', 'stop', 'cancel', 'suspend', 'restart'] as const;
const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;

/** One line per job, for `ferry job get`. */
export function jobSummary(j: StoredResource) {
  const spec = j.spec as unknown as JobSpec;
  const s = (j.status ?? {}) as JobStatus;
  return {
    name: j.metadata.name,
    initiator: spec.initiator,
    phase: s.phase ?? 'Pending',
    tasks: spec.tasks.length,
    parties: [...new Set(spec.tasks.flatMap((t) => t.parties.map((p) => p.domainID)))],
    ...(s.message ? { message: s.message } : {}),
    ...(s.waitingFor?.length ? { waitingFor: s.waitingFor } : {}),
    ...(s.startTime ? { startTime: s.startTime } : {}),
    ...(s.completionTime ? { completionTime: s.completionTime } : {}),
  };
}

/** Deletes a job that is not running (and its local tasks); REST and KusciaAPI share it. */
export async function deleteJob(store: ResourceStore, job: StoredResource): Promise<void> {
  const phase = (job.status as JobStatus | undefined)?.phase;
  if (phase === 'Running' || phase === 'Suspended') throw new JobCommandError(409, `job ${job.metadata.name} is ${phase}: stop or cancel it first (ferry job cancel ${job.metadata.name})`);
  for (const t of (await store.list('KusciaTask')).items) {
    if (t.metadata.annotations?.[JOB_ANNOTATION] === job.metadata.name) await store.delete('KusciaTask', t.metadata.name);
  }
  await store.delete('KusciaJob', job.metadata.name);
}

export const jobsApi: FastifyPluginAsync<JobsApiDeps> = async (app, deps) => {
  const get = async (name: string) => {
    const job = await deps.store.get('KusciaJob', name);
    if (!job) throw Object.assign(new Error(`job ${name} not found at ${deps.domain}: \`ferry job get\` lists the jobs`), { statusCode: 404 });
    return job;
  };

  app.get('/api/v1/jobs', { schema: { description: 'Every job this domain takes part in, one summary each.' } }, async () => ({
    items: (await deps.store.list('KusciaJob')).items.map(jobSummary),
  }));

  app.get('/api/v1/jobs/:name', { schema: { description: 'A job with its status: phase, every party\'s record and task states, what it waits for, events.', response: { 404: errorSchema } } }, async (req) => get((req.params as { name: string }).name));

  app.post('/api/v1/jobs', {
    schema: { description: 'Create a job this domain initiates (a KusciaJob document). 409 if one with that name exists.', response: { 201: { type: 'object', additionalProperties: true }, 400: errorSchema, 409: errorSchema } },
  }, async (req, reply) => {
    const doc = req.body as { kind?: string; metadata?: { name?: string } } | null;
    if (!doc || typeof doc !== 'object' || doc.kind !== 'KusciaJob') return reply.code(400).send({ error: 'body: give a KusciaJob document (apiVersion kuscia.secretflow/v1alpha1, kind KusciaJob, metadata.name, spec)' });
    const name = String(doc.metadata?.name ?? '');
    if (name && (await deps.store.get('KusciaJob', name))) return reply.code(409).send({ error: `job ${name} exists at ${deps.domain}: pick another name, or delete it first` });
    try {
      await applyDocuments(deps.store, [doc], { domain: deps.domain });
    } catch (e) {
      if (e instanceof ApplyError) return reply.code(400).send({ error: e.message.replace(/^document 1 \([^)]*\): /, '') });
      throw e;
    }
    await deps.seen();
    reply.code(201);
    return deps.store.get('KusciaJob', name);
  });

  app.delete('/api/v1/jobs/:name', { schema: { description: 'Delete a finished (or never started) job and its local tasks. A running job is stopped or cancelled first.', response: { 404: errorSchema, 409: errorSchema } } }, async (req, reply) => {
    const job = await get((req.params as { name: string }).name);
    try {
      await deleteJob(deps.store, job);
    } catch (e) {
      if (e instanceof JobCommandError) return reply.code(409).send({ error: e.message });
      throw e;
    }
    await deps.seen();
    return { deleted: { kind: 'KusciaJob', name: job.metadata.name } };
  });

  for (const command of COMMANDS) {
    app.post(`/api/v1/jobs/:name/${command}`, {
      schema: {
        description: `${command[0]!.toUpperCase()}${command.slice(1)} the job at this domain (recorded in this party's record and sent to every party).`,
        body: { type: 'object', nullable: true, properties: { reason: { type: 'string', maxLength: 1000 } }, additionalProperties: false },
        response: { 400: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    }, async (req, reply) => {
      const { name } = req.params as { name: string };
      const reason = (req.body as { reason?: string } | null)?.reason;
      try {
        await runJobCommand(deps.store, deps.domain, name, { kind: command, ...(reason ? { reason } : {}) } as JobCommand);
      } catch (e) {
        if (e instanceof JobCommandError) return reply.code(e.statusCode).send({ error: e.message });
        throw e;
      }
      await deps.seen();
      return get(name);
    });
  }

  // Logs: this domain's own task logs (whole, or followed until the task ends);
  // another party's are the lines it reported when its side failed.
  app.get('/api/v1/jobs/:name/logs', {
    schema: {
      description: 'Task logs: this domain\'s own (text; ?follow=true streams until the task ends), or the tail another party reported (?party=).',
      querystring: { type: 'object', properties: { task: { type: 'string' }, party: { type: 'string' }, follow: { type: 'boolean' } }, additionalProperties: false },
    },
  }, async (req, reply) => {
    const job = await get((req.params as { name: string }).name);
    const q = req.query as { task?: string; party?: string; follow?: boolean };
    const spec = job.spec as unknown as JobSpec;
    const tasks = q.task ? spec.tasks.filter((t) => t.taskID === q.task || t.alias === q.task) : spec.tasks;
    if (q.task && tasks.length === 0) return reply.code(404).send({ error: `job ${job.metadata.name} has no task ${q.task} (tasks: ${spec.tasks.map((t) => t.alias).join(', ')})` });
    const party = q.party ?? deps.domain;
    if (party !== deps.domain) {
      const record = (job.status as JobStatus | undefined)?.partyRecords?.[party];
      if (!record) return reply.code(404).send({ error: `no record from ${party} for job ${job.metadata.name}` });
      const lines = tasks.flatMap((t) => (record.tasks?.[t.taskID]?.logTail ?? []).map((l) => `[${t.alias}@${party}] ${l}`));
      return reply.type('text/plain; charset=utf-8').send(lines.length ? `${lines.join('\n')}\n` : `(${party} reported no log lines: a party sends the last lines of its log when its side fails)\n`);
    }
    const files = tasks.map((t) => ({ alias: t.alias, taskID: t.taskID, file: join(deps.taskLogs, `${t.taskID}.log`) })).filter((f) => existsSync(f.file));
    if (files.length === 0) return reply.code(404).send({ error: `no log yet at ${deps.domain} for ${q.task ? `task ${q.task}` : 'this job'}: a task logs once it started here` });
    if (!q.follow || files.length !== 1) {
      reply.type('text/plain; charset=utf-8');
      const out = new PassThrough();
      void (async () => {
        for (const f of files) {
          if (files.length > 1) out.write(`==> ${f.alias} (${f.taskID}) <==\n`);
          for await (const chunk of createReadStream(f.file)) out.write(chunk);
        }
        out.end();
      })().catch((e: unknown) => out.destroy(e as Error)); // a log rotated away mid-read ends the answer, not the process
      return reply.send(out);
    }
    // Follow one task's log until its side ends (the runtime's state says so).
    const f = files[0]!;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-accel-buffering': 'no' });
    let offset = 0;
    const pump = async () => {
      const size = statSync(f.file).size;
      if (size > offset) {
        for await (const chunk of createReadStream(f.file, { start: offset, end: size - 1 })) reply.raw.write(chunk);
        offset = size;
      }
    };
    const ended = async () => {
      const kt = await deps.store.get('KusciaTask', f.taskID);
      const phase = (kt?.status as { runtime?: { phase?: string } } | undefined)?.runtime?.phase;
      const jobPhase = ((await deps.store.get('KusciaJob', job.metadata.name))?.status as JobStatus | undefined)?.phase;
      return phase === 'Succeeded' || phase === 'Failed' || isTerminal(jobPhase);
    };
    const watcher = watch(f.file);
    let closed = false;
    reply.raw.once('close', () => { closed = true; watcher.close(); });
    await pump();
    while (!closed && !(await ended())) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000); // a state change shows up within a second even without a write
        watcher.once('change', () => { clearTimeout(t); resolve(); });
      });
      await pump();
    }
    await pump();
    watcher.close();
    reply.raw.end();
  });
};
