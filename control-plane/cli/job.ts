// `ferry job ...`: jobs through the node's REST API (/api/v1/jobs).
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { parseDocuments } from '../../interop/documents.ts';
import { ApiClient } from './client.ts';
import { table } from './format.ts';
import type { JobStatus } from '../jobs/job-status.ts';
import type { JobSpec } from '../jobs/phase.ts';

export const JOB_USAGE = `  ferry job create -f FILE|- --home DIR             create a job this domain initiates (a KusciaJob)
  ferry job get [name] --home DIR [-o json|yaml]
  ferry job describe <name> --home DIR              phase and why, who it waits for, each party's task states, events
  ferry job approve|reject <name> [--reason TEXT] --home DIR
  ferry job stop|cancel|suspend|restart <name> [--reason TEXT] --home DIR
  ferry job delete <name> --home DIR
  ferry job logs <name> [--task T] [--party D] [--follow] --home DIR`;

type Summary = { name: string; initiator: string; phase: string; tasks: number; parties: string[]; message?: string; waitingFor?: { domainID: string; action: string }[] };
type Job = { metadata: { name: string }; spec: JobSpec; status?: JobStatus };

export async function jobCommand(args: string[], opts: { home: string; file?: string; output?: string; reason?: string; task?: string; party?: string; follow?: boolean }, usage: (m: string) => Error): Promise<void> {
  const [sub, name] = args;
  const client = new ApiClient(opts.home);
  const need = () => {
    if (!name) throw usage(`job ${sub}: missing <name>`);
    return encodeURIComponent(name);
  };
  switch (sub) {
    case 'create': {
      if (!opts.file) throw usage('job create: give -f FILE (or - for standard input)');
      const text = opts.file === '-' ? readFileSync(0, 'utf8') : readFileSync(opts.file, 'utf8');
      const docs = parseDocuments(text, opts.file).filter((d) => (d as { kind?: string }).kind === 'KusciaJob');
      if (docs.length === 0) throw new Error(`${opts.file}: no KusciaJob document in it`);
      for (const doc of docs) {
        const job = await client.call<Job>('POST', '/api/v1/jobs', doc);
        console.log(`kusciajob/${job.metadata.name} created`);
      }
      return;
    }
    case 'get': {
      if (name) {
        const job = await client.call<Job>('GET', `/api/v1/jobs/${need()}`);
        if (opts.output === 'json') console.log(JSON.stringify(job, null, 2));
        else if (opts.output === 'yaml') console.log(YAML.stringify(job).trimEnd());
        else console.log(formatJobs([summaryOf(job)]));
        return;
      }
      const { items } = await client.call<{ items: Summary[] }>('GET', '/api/v1/jobs');
      if (opts.output === 'json') console.log(JSON.stringify(items, null, 2));
      else if (opts.output === 'yaml') console.log(YAML.stringify(items).trimEnd());
      else console.log(items.length ? formatJobs(items) : 'no jobs');
      return;
    }
    case 'describe':
      console.log(formatJobDescribe(await client.call<Job>('GET', `/api/v1/jobs/${need()}`)));
      return;
    case 'approve': case 'reject': case 'stop': case 'cancel': case 'suspend': case 'restart': {
      const job = await client.call<Job>('POST', `/api/v1/jobs/${need()}/${sub}`, opts.reason ? { reason: opts.reason } : {});
      console.log(`kusciajob/${job.metadata.name}: ${sub} recorded (phase ${job.status?.phase ?? 'Pending'})`);
      return;
    }
    case 'delete':
      await client.call('DELETE', `/api/v1/jobs/${need()}`);
      console.log(`kusciajob/${name} deleted`);
      return;
    case 'logs': {
      const q = new URLSearchParams({ ...(opts.task ? { task: opts.task } : {}), ...(opts.party ? { party: opts.party } : {}), ...(opts.follow ? { follow: 'true' } : {}) });
      const res = await client.stream(`/api/v1/jobs/${need()}/logs?${q}`);
      for await (const chunk of res) process.stdout.write(chunk);
      return;
    }
    default:
      throw usage(`job: "${sub ?? ''}" is not a job command: use create, get, describe, approve, reject, stop, cancel, suspend, restart, delete or logs`);
  }
}

function summaryOf(j: Job): Summary {
  return { name: j.metadata.name, initiator: j.spec.initiator, phase: j.status?.phase ?? 'Pending', tasks: j.spec.tasks.length, parties: [...new Set(j.spec.tasks.flatMap((t) => t.parties.map((p) => p.domainID)))], ...(j.status?.message ? { message: j.status.message } : {}) };
}

function formatJobs(items: Summary[]): string {
  return table([['NAME', 'INITIATOR', 'PHASE', 'TASKS', 'PARTIES', 'MESSAGE'], ...items.map((j) => [j.name, j.initiator, j.phase, String(j.tasks), j.parties.join(','), j.message ?? ''])]);
}

export function formatJobDescribe(j: Job): string {
  const s = j.status ?? {};
  const lines = [
    `Name:       ${j.metadata.name}`,
    `Initiator:  ${j.spec.initiator}`,
    `Mode:       ${j.spec.scheduleMode ?? 'Strict'}, maxParallelism ${j.spec.maxParallelism ?? 1}`,
    `Phase:      ${s.phase ?? 'Pending'}${s.message ? ` — ${s.message}` : ''}`,
  ];
  if (s.waitingFor?.length) lines.push(`Waiting:    ${s.waitingFor.map((w) => `${w.domainID} to ${w.action}`).join('; ')}`);
  lines.push('Approvals:  ' + Object.entries(s.approveStatus ?? {}).map(([d, a]) => `${d} ${a === 'JobAccepted' ? 'approved' : 'rejected'}`).join(', '));
  lines.push('Tasks:');
  for (const t of j.spec.tasks) {
    lines.push(`  ${t.alias} (${t.taskID}) ${s.taskStatus?.[t.taskID] ?? 'Pending'}${t.tolerable ? ' [tolerable]' : ''}${t.dependencies?.length ? ` after ${t.dependencies.join(', ')}` : ''}`);
    for (const p of s.partyTaskStatus?.[t.taskID] ?? []) {
      lines.push(`    ${p.domainID}${p.role ? `/${p.role}` : ''}: ${p.phase}${p.message ? ` — ${p.message}` : ''}`);
      for (const l of p.logTail ?? []) lines.push(`      | ${l}`);
    }
  }
  const deliveries = (s as { deliveries?: Record<string, { acked: number; lastError?: string }> }).deliveries;
  if (deliveries && Object.keys(deliveries).length) {
    lines.push('Records sent:');
    for (const [peer, d] of Object.entries(deliveries)) lines.push(`  to ${peer}: acknowledged seq ${d.acked}${d.lastError ? `; last error: ${d.lastError}` : ''}`);
  }
  if (s.events?.length) {
    lines.push('Events:');
    for (const e of s.events.slice(-20)) lines.push(`  ${e.at}  ${e.party}  ${e.message}`);
  }
  return lines.join('\n');
}
