// Translation statuses written as Kubernetes-style conditions through the
// store. The pure part decides whether a write is needed (a condition's
// lastTransitionTime moves only when its status flips); the edge writes the
// ones that changed, never more than one pass at a time.
import type { Kind } from '../resources/types.ts';
import type { ResourceStatus } from '../translate/ir.ts';
import type { Condition, ObjectStatus, ResourceStore, StoredResource } from './store.ts';

/** The condition a translation status becomes: type Ready. */
export function readyCondition(s: ResourceStatus, now: string): Condition {
  return {
    type: 'Ready',
    status: s.ready ? 'True' : 'False',
    reason: s.ready ? 'Translated' : 'NotReady',
    message: s.fix ? `${s.reason}; fix: ${s.fix}` : s.reason,
    lastTransitionTime: now,
  };
}

/** The status to write for this object, or undefined when what is stored already says it. */
export function nextStatus(object: StoredResource, s: ResourceStatus, now: string): ObjectStatus | undefined {
  const want = readyCondition(s, now);
  const current = object.status?.conditions ?? [];
  const old = current.find((c) => c.type === want.type);
  if (old && old.status === want.status && old.reason === want.reason && old.message === want.message && object.status?.observedGeneration === object.metadata.generation) return undefined;
  const condition = old && old.status === want.status ? { ...want, lastTransitionTime: old.lastTransitionTime } : want;
  return { ...object.status, observedGeneration: object.metadata.generation, conditions: [...current.filter((c) => c.type !== want.type), condition] };
}

/** Writes the changed conditions; a pass asked for while one runs is folded into one more pass. */
export class StatusWriter {
  private running: Promise<void> | undefined;
  private next: ResourceStatus[] | undefined;
  private readonly store: ResourceStore;
  private readonly lookup: (kind: Kind, name: string) => StoredResource | undefined;
  private readonly onError: (e: unknown) => void;

  constructor(store: ResourceStore, lookup: (kind: Kind, name: string) => StoredResource | undefined, onError: (e: unknown) => void) {
    this.store = store;
    this.lookup = lookup;
    this.onError = onError;
  }

  write(statuses: ResourceStatus[]): void {
    this.next = statuses;
    this.running ??= this.loop().finally(() => { this.running = undefined; });
  }

  /** Resolves when nothing is left to write (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Named version: a write in between wins; then it reads the object again, once. */
  private async writeOne(s: ResourceStatus, now: string): Promise<void> {
    let object = this.lookup(s.kind as Kind, s.name);
    for (let attempt = 0; object && attempt < 2; attempt++) {
      const status = nextStatus(object, s, now);
      if (!status) return;
      try {
        await this.store.updateStatus(object.kind, object.metadata.name, status, object.metadata.resourceVersion);
        return;
      } catch (e) {
        const code = (e as { statusCode?: number }).statusCode;
        if (code === 404) return;
        if (code !== 409) throw e;
        object = await this.store.get(object.kind, object.metadata.name);
      }
    }
  }

  private async loop(): Promise<void> {
    while (this.next) {
      const statuses = this.next;
      this.next = undefined;
      const now = new Date().toISOString();
      for (const s of statuses) {
        try {
          await this.writeOne(s, now);
        } catch (e) {
          this.onError(e);
          break;
        }
      }
    }
  }
}
