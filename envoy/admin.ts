// Envoy's admin API as the node reaches it: over the Unix socket in
// <home>/run/ (mode 0600: only the node's user can reach it), or over TCP for
// a configuration that points the supervisor at a TCP admin address.
import { request } from 'node:http';

export type AdminTarget = { socket: string } | { address: string; port: number };

export interface AdminAnswer {
  status: number;
  body: string;
}

/** One admin request; rejects when Envoy does not answer within timeoutMs. */
export function adminRequest(target: AdminTarget, path: string, opts: { method?: 'GET' | 'POST'; timeoutMs?: number } = {}): Promise<AdminAnswer> {
  const where = 'socket' in target
    ? { socketPath: target.socket }
    : { host: ['0.0.0.0', '::'].includes(target.address) ? '127.0.0.1' : target.address, port: target.port };
  return new Promise((resolve, reject) => {
    const req = request({ ...where, path, method: opts.method ?? 'GET', timeout: opts.timeoutMs ?? 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`Envoy admin did not answer ${path} within ${opts.timeoutMs ?? 2000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
