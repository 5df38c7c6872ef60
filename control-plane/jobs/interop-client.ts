// The job protocol's sending end: calls a partner's ferry-interop service
// through this node's own internal listener, so the call takes the route's
// path (direct, proxy, relay, reverse tunnel) and its authentication like any
// engine's. Answers are bounded in size and time.
import { Agent, request } from 'node:http';
import { INTEROP_SERVICE } from '../resources/types.ts';
import type { Proposal } from './interop-server.ts';
import type { PartyRecord } from './phase.ts';

export interface Gateway {
  host: string;
  port: number;
}

export type PeerAnswer = { ok: true; record: PartyRecord | null } | { ok: false; status: number; reason: string };

const TIMEOUT_MS = 10_000;
const MAX_ANSWER = 4 * 1024 * 1024;

export class InteropClient {
  private readonly gateway: Gateway;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 16 });

  constructor(gateway: Gateway) {
    this.gateway = gateway;
  }

  propose(peer: string, job: string, p: Proposal): Promise<PeerAnswer> {
    return this.call(peer, 'POST', `/v1/jobs/${job}`, p);
  }

  push(peer: string, job: string, record: PartyRecord): Promise<PeerAnswer> {
    return this.call(peer, 'PUT', `/v1/jobs/${job}/records/${record.domainID}`, record);
  }

  pull(peer: string, job: string): Promise<PeerAnswer> {
    return this.call(peer, 'GET', `/v1/jobs/${job}/records/self`);
  }

  close(): void {
    this.agent.destroy();
  }

  private call(peer: string, method: string, path: string, body?: unknown): Promise<PeerAnswer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      const req = request(
        {
          host: this.gateway.host, port: this.gateway.port, method, path, agent: this.agent, timeout: TIMEOUT_MS,
          headers: { host: `${INTEROP_SERVICE}.${peer}.svc`, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > MAX_ANSWER) res.destroy(new Error(`answer larger than ${MAX_ANSWER} bytes`));
            else chunks.push(c);
          });
          res.on('error', (e) => resolve({ ok: false, status: 0, reason: e.message }));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let json: { record?: PartyRecord | null; error?: string } | undefined;
            try {
              json = JSON.parse(text) as typeof json;
            } catch {
              json = undefined;
            }
            if (res.statusCode === 200 && json) return resolve({ ok: true, record: json.record ?? null });
            // Envoy's own refusals (401/403/404/503) carry the cause in Kuscia-Error-Message.
            const gatewayReason = res.headers['kuscia-error-message'];
            resolve({ ok: false, status: res.statusCode ?? 0, reason: json?.error ?? (typeof gatewayReason === 'string' ? gatewayReason : text.slice(0, 300) || `HTTP ${res.statusCode}`) });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer from ${peer} within ${TIMEOUT_MS / 1000} s`)));
      req.on('error', (e) => resolve({ ok: false, status: 0, reason: e.message }));
      req.end(payload);
    });
  }
}
