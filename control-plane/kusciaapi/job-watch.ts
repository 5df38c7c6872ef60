// KusciaAPI's WatchJob: every job as ADDED, then each change of its Kuscia
// status as MODIFIED (a store write that changes nothing of it is not sent),
// DELETED when it goes, a HEARTBEAT after 10 s without an event, until
// timeout_seconds (0: until the client goes). Both transports stream it.
import type { ResourceStore, StoredResource, Watch } from '../store/store.ts';
import { validation } from './codes.ts';
import { jobStatusDetail } from './job-mapping.ts';
import { localTasks } from './job-service.ts';

export type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'HEARTBEAT'; object?: { job_id: string; status: Record<string, unknown> } };

export const HEARTBEAT_MS = Number(process.env.FERRY_KUSCIAAPI_HEARTBEAT_MS ?? 10_000);

/** Starts a watch; throws a KusciaError (validation) before anything is sent. Returns its stop. */
export function watchJobs(store: ResourceStore, self: string, req: { timeout_seconds?: number }, emit: (e: WatchEvent) => void, end: () => void): () => void {
  const timeout = Number(req.timeout_seconds ?? 0);
  if (!Number.isInteger(timeout) || timeout < 0 || timeout > 2 ** 31 - 1) throw validation('timeout_seconds', 'must be from 0 (until the client goes) to 2147483647');
  const sent = new Map<string, string>();
  let stopped = false;
  let watch: Watch | undefined;
  let heartbeat: NodeJS.Timeout | undefined;
  const beat = () => {
    clearTimeout(heartbeat);
    heartbeat = setTimeout(() => { if (!stopped) { emit({ type: 'HEARTBEAT' }); beat(); } }, HEARTBEAT_MS);
  };
  // Events go out in store order: each waits for the one before (its task details are read from the store).
  let queue = Promise.resolve();
  const send = (type: WatchEvent['type'], job: StoredResource) => {
    queue = queue.then(async () => {
      const status = jobStatusDetail(job, type === 'DELETED' ? new Map() : await localTasks(store, job, self), self);
      if (stopped) return;
      const text = JSON.stringify(status);
      if (type === 'MODIFIED' && sent.get(job.metadata.name) === text) return;
      if (type === 'DELETED') sent.delete(job.metadata.name);
      else sent.set(job.metadata.name, text);
      emit({ type, object: { job_id: job.metadata.name, status } });
      beat();
    }).catch(() => { stop(); end(); }); // the store failed: the watch ends, as when its list fails
    return queue;
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(heartbeat);
    clearTimeout(deadline);
    watch?.stop();
  };
  const deadline = timeout > 0 ? setTimeout(() => { stop(); end(); }, timeout * 1000) : undefined;
  const start = async (added: boolean) => {
    const { items, revision } = await store.list('KusciaJob');
    if (stopped) return;
    const names = new Set(items.map((j) => j.metadata.name));
    for (const name of [...sent.keys()]) if (!names.has(name)) emit({ type: 'DELETED', object: { job_id: name, status: JSON.parse(sent.get(name)!) as Record<string, unknown> } });
    for (const name of [...sent.keys()]) if (!names.has(name)) sent.delete(name);
    for (const j of items) void send(added || !sent.has(j.metadata.name) ? 'ADDED' : 'MODIFIED', j);
    await queue;
    watch?.stop();
    watch = store.watch(['KusciaJob'], revision, (e) => {
      if (stopped) return;
      if (e.type === 'RESYNC') void start(false).catch(() => { stop(); end(); });
      else void send(e.type === 'ADDED' ? 'ADDED' : e.type === 'DELETED' ? 'DELETED' : 'MODIFIED', e.object);
    });
  };
  beat();
  void start(true).catch(() => { stop(); end(); });
  return stop;
}
