// Each DomainDataSource's condition: whether its server answers and its
// credentials work (the driver's check), written as a Kubernetes-style Ready
// condition and Kuscia's status phase. Checked when the source changes and
// every `everyMs`. Messages carry the server's refusal, never the credentials.
import type { Logger } from 'pino';
import type { ResourceStore, StoredResource, Watch } from '../store/store.ts';
import type { StoreKey } from '../store/secrets.ts';
import { openSourceInfo } from './secrets.ts';
import type { DataSourceDriver } from './sources.ts';
import type { DomainDataSourceSpec } from './spec.ts';

/** Reason of a failed check, from the driver's message (pure). */
export function checkReason(message: string): 'CredentialsRefused' | 'Unreachable' | 'CheckFailed' {
  if (/access denied|authentication failed|password|permission denied for database|not authorized|auth/i.test(message)) return 'CredentialsRefused';
  if (/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|timeout|timed out|connect|ENOENT|no such file/i.test(message)) return 'Unreachable';
  return 'CheckFailed';
}

export class SourceStatus {
  private watch: Watch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly o: { store: ResourceStore; key: StoreKey; drivers: Map<string, DataSourceDriver>; log: Logger; everyMs?: number };

  constructor(o: SourceStatus['o']) {
    this.o = o;
  }

  async start(): Promise<void> {
    const { items, revision } = await this.o.store.list('DomainDataSource');
    this.watch = this.o.store.watch(['DomainDataSource'], revision, (e) => {
      if (e.type === 'ADDED' || (e.type === 'MODIFIED' && e.object.status?.observedGeneration !== e.object.metadata.generation)) void this.check(e.object);
    });
    for (const s of items) void this.check(s);
    this.timer = setInterval(() => void this.all(), this.o.everyMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    this.watch?.stop();
    clearInterval(this.timer);
  }

  private async all(): Promise<void> {
    for (const s of (await this.o.store.list('DomainDataSource')).items) await this.check(s);
  }

  async check(s: StoredResource): Promise<void> {
    const spec = s.spec as unknown as DomainDataSourceSpec;
    const name = s.metadata.name;
    const driver = this.o.drivers.get(spec.type);
    let ok = false;
    let reason: string;
    let message: string;
    if (!driver) {
      reason = 'NoDriver';
      message = `no driver serves type ${spec.type} here (built in: ${[...this.o.drivers.keys()].join(', ')}; plugins: ferry.yaml datamesh.plugins)`;
    } else if (!driver.check) {
      ok = true;
      reason = 'NotChecked';
      message = `the ${spec.type} driver has no check`;
    } else {
      try {
        const info = openSourceInfo(name, spec, this.o.key);
        await driver.check({ source: { name, type: spec.type, ...(spec.uri ? { uri: spec.uri } : {}), info } });
        ok = true;
        reason = 'Reachable';
        message = spec.type === 'localfs' ? 'the directory is there' : 'the server answers and the credentials work';
      } catch (e) {
        message = (e as Error).message;
        reason = checkReason(message);
      }
    }
    const current = await this.o.store.get('DomainDataSource', name);
    if (!current) return;
    const prev = current.status?.conditions?.find((c) => c.type === 'Ready');
    const status = ok ? 'True' : 'False';
    if (prev && prev.status === status && prev.reason === reason && prev.message === message && current.status?.observedGeneration === current.metadata.generation) return;
    const condition = { type: 'Ready', status, reason, message, lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : new Date().toISOString() } as const;
    try {
      await this.o.store.updateStatus('DomainDataSource', name, { ...(current.status ?? {}), phase: ok ? 'Available' : 'Unavailable', observedGeneration: current.metadata.generation, conditions: [condition] }, current.metadata.resourceVersion);
    } catch {
      // changed meanwhile: its watch event checks it again
    }
    if (!ok) this.o.log.warn({ source: name, reason, message }, 'DataMesh: data source not usable');
  }
}
