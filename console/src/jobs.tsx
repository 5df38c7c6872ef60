// Jobs: the KusciaJobs this domain takes part in (GET /api/v1/jobs), a job's
// tasks per party, approve / reject (POST /api/v1/jobs/:name/approve|reject)
// and task logs (GET /api/v1/jobs/:name/logs).
import { useState } from 'preact/hooks';
import { api, usePoll } from './api.ts';

interface JobSummary { name: string; initiator: string; phase: string; tasks: number; parties: string[]; message?: string; waitingFor?: { domainID: string; action: string }[] }
type PartyTask = { domainID: string; role?: string; phase: string; message?: string; logTail?: string[] };
interface Job {
  metadata: { name: string };
  spec: { initiator: string; tasks: { taskID: string; alias: string }[] };
  status?: { phase?: string; message?: string; approveStatus?: Record<string, string>; waitingFor?: { domainID: string; action: string }[]; taskStatus?: Record<string, string>; partyTaskStatus?: Record<string, PartyTask[]> };
}

export function Jobs() {
  const { data, error } = usePoll(async () => (await api<{ items: JobSummary[] }>('/api/v1/jobs')).items, 2000);
  return (
    <section>
      <h1>Jobs</h1>
      {error && <p role="alert" class="error">{error}</p>}
      <div class="scroll">
        <table>
          <thead><tr><th scope="col">Job</th><th scope="col">Initiator</th><th scope="col">Phase</th><th scope="col">Tasks</th><th scope="col">Parties</th><th scope="col">Waiting for</th></tr></thead>
          <tbody>
            {data?.length === 0 && <tr><td colSpan={6}>No jobs. `ferry job create -f job.yaml` starts one.</td></tr>}
            {data?.map((j) => (
              <tr key={j.name}>
                <td><a href={`#/jobs/${encodeURIComponent(j.name)}`}>{j.name}</a></td>
                <td>{j.initiator}</td>
                <td><span class={`badge phase-${j.phase.toLowerCase()}`}>{j.phase}</span>{j.message && <div class="small">{j.message}</div>}</td>
                <td>{j.tasks}</td>
                <td>{j.parties.join(', ')}</td>
                <td class="small">{(j.waitingFor ?? []).map((w) => `${w.domainID}: ${w.action}`).join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function JobDetail({ name, self }: { name: string; self: string | undefined }) {
  const { data, error, reload } = usePoll(() => api<Job>(`/api/v1/jobs/${encodeURIComponent(name)}`), 2000, [name]);
  const [note, setNote] = useState('');
  const [logs, setLogs] = useState<{ task: string; text: string } | undefined>();
  const command = async (c: 'approve' | 'reject') => {
    try {
      await api(`/api/v1/jobs/${encodeURIComponent(name)}/${c}`, { method: 'POST', body: {} });
      setNote(`${c === 'approve' ? 'Approved' : 'Rejected'} at ${self ?? 'this domain'}.`);
      reload();
    } catch (e) {
      setNote(`${c} failed: ${(e as Error).message}`);
    }
  };
  const showLogs = async (task: string) => {
    try {
      setLogs({ task, text: await api<string>(`/api/v1/jobs/${encodeURIComponent(name)}/logs?task=${encodeURIComponent(task)}`, { text: true }) });
    } catch (e) {
      setLogs({ task, text: (e as Error).message });
    }
  };
  const decision = self ? data?.status?.approveStatus?.[self] : undefined;
  return (
    <section>
      <p><a href="#/jobs">← Jobs</a></p>
      <h1>Job {name}</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {data && (
        <>
          <p>Initiator {data.spec.initiator}; phase <span class="badge" id="job-phase">{data.status?.phase ?? 'Pending'}</span>{data.status?.message ? ` — ${data.status.message}` : ''}</p>
          <p>Approval here: <strong id="job-approval">{decision ?? 'not decided'}</strong>{(data.status?.waitingFor ?? []).length > 0 && <> · waiting for {data.status!.waitingFor!.map((w) => `${w.domainID} (${w.action})`).join(', ')}</>}</p>
          <p class="toolbar">
            <button type="button" id="approve" onClick={() => void command('approve')}>Approve</button>
            <button type="button" id="reject" class="danger" onClick={() => void command('reject')}>Reject</button>
            <span role="status">{note}</span>
          </p>
          <h2>Tasks per party</h2>
          <div class="scroll">
            <table>
              <thead><tr><th scope="col">Task</th><th scope="col">Phase</th><th scope="col">Parties</th><th scope="col">Logs</th></tr></thead>
              <tbody>
                {data.spec.tasks.map((t) => (
                  <tr key={t.taskID} data-task={t.alias}>
                    <td>{t.alias}<div class="small">{t.taskID}</div></td>
                    <td class="task-phase">{data.status?.taskStatus?.[t.taskID] ?? 'Pending'}</td>
                    <td>{(data.status?.partyTaskStatus?.[t.taskID] ?? []).map((p) => <div key={p.domainID}>{p.domainID}{p.role ? ` (${p.role})` : ''}: {p.phase}{p.message ? ` — ${p.message}` : ''}</div>)}</td>
                    <td><button type="button" onClick={() => void showLogs(t.alias)}>Logs of {t.alias}</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {logs && <><h2>Logs of {logs.task}</h2><pre class="logs" tabIndex={0}>{logs.text}</pre></>}
        </>
      )}
    </section>
  );
}
