// A bounded background load for tests: keep-alive HTTP requests at a few in
// parallel until stopped (or until the count or time bound), counting answers.
import { Agent, request } from 'node:http';

export interface LoadResult {
  sent: number;
  byStatus: Record<string, number>;
  /** Requests that did not get a 200 (status or transport error), with what happened. */
  failures: string[];
}

export function startLoad(opts: { port: number; host: string; path?: string; concurrency?: number; maxRequests?: number; maxMs?: number }) {
  const agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency ?? 4 });
  const result: LoadResult = { sent: 0, byStatus: {}, failures: [] };
  const deadline = Date.now() + (opts.maxMs ?? 60_000);
  const maxRequests = opts.maxRequests ?? 100_000;
  let stopped = false;
  const one = () => new Promise<void>((resolve) => {
    result.sent++;
    const req = request({ host: '127.0.0.1', port: opts.port, path: opts.path ?? '/load', agent, headers: { host: opts.host }, timeout: 10_000 }, (res) => {
      const key = String(res.statusCode);
      result.byStatus[key] = (result.byStatus[key] ?? 0) + 1;
      if (res.statusCode !== 200) result.failures.push(`${res.statusCode} ${res.headers['kuscia-error-message'] ?? ''}`);
      res.resume().on('end', resolve).on('error', resolve);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => {
      result.byStatus.error = (result.byStatus.error ?? 0) + 1;
      result.failures.push(e.message);
      resolve();
    });
    req.end();
  });
  const worker = async () => {
    while (!stopped && Date.now() < deadline && result.sent < maxRequests) await one();
  };
  const workers = Array.from({ length: opts.concurrency ?? 4 }, worker);
  return {
    result,
    async stop(): Promise<LoadResult> {
      stopped = true;
      await Promise.all(workers);
      agent.destroy();
      return result;
    },
  };
}
