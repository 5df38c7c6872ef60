// The grant protocol's sending end: every DomainDataGrant this domain authors
// is signed (grant-sign.ts, with the domain's key) and pushed to its grantee's
// ferry-datamesh service through this node's own internal listener (so it
// takes the route's path and authentication, like the job protocol); a
// deleted grant is revoked there. Pushes that fail are retried; the grant's
// status says whether the grantee has it.
import { createHash } from 'node:crypto';
import { Agent, request } from 'node:http';
import type { Logger } from 'pino';
import { DATAMESH_SERVICE } from '../resources/types.ts';
import type { ResourceStore, StoredResource, Watch } from '../store/store.ts';
import { ConflictError } from '../store/store.ts';
import { signGrant } from './grant-sign.ts';
import { SYNCED_FROM_ANNOTATION } from './grant-server.ts';
import type { DomainDataGrantSpec } from './spec.ts';

export interface GrantSyncOptions {
  store: ResourceStore;
  self: string;
  gateway: { host: string; port: number };
  /** The domain's private key (PEM), read at each signing (a CA rotation changes it). */
  domainKey: () => string;
  log: Logger;
  retryMs?: number;
}

type Job = { op: 'put'; spec: DomainDataGrantSpec; hash: string } | { op: 'delete'; grantDomain: string };

export class GrantSync {
  private readonly o: GrantSyncOptions;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 4 });
  private readonly pending = new Map<string, Job>();
  private readonly pushed = new Map<string, string>();
  private watch: Watch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;

  constructor(o: GrantSyncOptions) {
    this.o = o;
  }

  async start(): Promise<void> {
    const { items, revision } = await this.o.store.list('DomainDataGrant');
    for (const g of items) this.observe('MODIFIED', g);
    this.watch = this.o.store.watch(['DomainDataGrant'], revision, (e) => {
      if (e.type === 'RESYNC') { void this.resync(); return; }
      this.observe(e.type, e.object);
    });
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    clearTimeout(this.timer);
    this.agent.destroy();
  }

  private async resync(): Promise<void> {
    for (const g of (await this.o.store.list('DomainDataGrant')).items) this.observe('MODIFIED', g);
    this.kick();
  }

  private observe(type: 'ADDED' | 'MODIFIED' | 'DELETED', g: StoredResource): void {
    const spec = g.spec as unknown as DomainDataGrantSpec;
    if (spec.author !== this.o.self || g.metadata.annotations?.[SYNCED_FROM_ANNOTATION]) return;
    const name = g.metadata.name;
    if (type === 'DELETED') {
      this.pushed.delete(name);
      this.pending.set(name, { op: 'delete', grantDomain: spec.grantDomain });
    } else {
      const hash = createHash('sha256').update(JSON.stringify(spec)).digest('hex');
      if (this.pushed.get(name) === hash) return; // a status write, or nothing new
      this.pending.set(name, { op: 'put', spec, hash });
    }
    this.kick();
  }

  private kick(delay = 0): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.pump(), delay);
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      for (const [name, job] of [...this.pending]) {
        const peer = job.op === 'put' ? job.spec.grantDomain : job.grantDomain;
        const body = job.op === 'put' ? { spec: { ...job.spec, signature: signGrant({ ...job.spec, signature: '' }, this.o.domainKey()) } } : undefined;
        const answer = await this.call(peer, job.op === 'put' ? 'PUT' : 'DELETE', `/v1/grants/${name}`, body);
        if (this.pending.get(name) !== job) continue; // changed meanwhile: the new job goes next round
        if (answer.ok) {
          this.pending.delete(name);
          if (job.op === 'put') this.pushed.set(name, job.hash);
          this.o.log.info({ grant: name, peer, op: job.op }, 'DataMesh: grant synced to its grantee');
        } else {
          this.o.log.warn({ grant: name, peer, status: answer.status, reason: answer.reason }, 'DataMesh: grant not synced yet; retrying');
        }
        if (job.op === 'put') await this.writeSynced(name, peer, answer);
      }
    } finally {
      this.running = false;
      if (this.pending.size) this.kick(this.o.retryMs ?? 5000);
    }
  }

  /** The author's grant says whether its grantee has it (status.synced), use records kept. */
  private async writeSynced(name: string, peer: string, a: { ok: boolean; status: number; reason: string }): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const g = await this.o.store.get('DomainDataGrant', name);
      if (!g) return;
      const status = { ...(g.status ?? {}), phase: (g.status?.phase as string | undefined) ?? 'Ready', message: (g.status?.message as string | undefined) ?? '', synced: { domain: peer, ok: a.ok, reason: a.ok ? `${peer} holds the signed grant` : `${peer} answered ${a.status || 'nothing'}: ${a.reason}` } };
      try {
        await this.o.store.updateStatus('DomainDataGrant', name, status, g.metadata.resourceVersion);
        return;
      } catch (e) {
        if (!(e instanceof ConflictError)) return;
      }
    }
  }

  private call(peer: string, method: string, path: string, body?: unknown): Promise<{ ok: boolean; status: number; reason: string }> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      const req = request({
        host: this.o.gateway.host, port: this.o.gateway.port, method, path, agent: this.agent, timeout: 10_000,
        headers: { host: `${DATAMESH_SERVICE}.${peer}.svc`, ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}) },
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => { if (text.length < 65536) text += c; });
        res.on('error', (e) => resolve({ ok: false, status: 0, reason: e.message }));
        res.on('end', () => {
          const ok = res.statusCode === 200;
          let reason = text;
          try { reason = (JSON.parse(text) as { error?: string }).error ?? text; } catch { /* Envoy's own error body */ }
          resolve({ ok, status: res.statusCode ?? 0, reason: ok ? '' : (res.headers['kuscia-error-message'] as string | undefined) ?? reason.slice(0, 500) });
        });
      });
      req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
      req.on('error', (e) => resolve({ ok: false, status: 0, reason: e.message }));
      req.end(payload);
    });
  }
}
