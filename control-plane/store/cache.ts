// The node's view of the store, kept by list + watch (an informer): the
// translator, token manager and metrics read it synchronously on every change,
// and learn of changes from it. Its revision is the store revision it has seen.
import { EventEmitter } from 'node:events';
import type { Kind } from '../resources/types.ts';
import { byKindAndName, type ResourceStore, type StoredResource, type Watch, type WatchEvent } from './store.ts';

export interface CacheChange {
  /** Some spec changed (or an object came or went): configuration may differ. False: only status was written. */
  spec: boolean;
  /** The kinds whose specs changed; undefined after a relist (any kind may have). */
  specKinds?: readonly string[];
  revision: number;
}

/** Whether a change may matter to a part that reads only these kinds (the gateway does not read jobs). */
export function specChangedFor(c: CacheChange, kinds: readonly string[]): boolean {
  return c.spec && (c.specKinds === undefined || c.specKinds.some((k) => kinds.includes(k)));
}

/**
 * Emits 'change' (CacheChange) after each applied event batch, 'resync' when
 * it listed again, and 'stale' (the error) while listing again fails: it
 * keeps what it has and retries, never throws out of an event.
 */
export class StoreCache extends EventEmitter {
  readonly store: ResourceStore;
  private readonly byKey = new Map<string, StoredResource>();
  private sorted: StoredResource[] | undefined;
  private watch: Watch | undefined;
  private rev = 0;
  private listedAt = 0;
  private pending: CacheChange | undefined;
  private stopped = false;

  constructor(store: ResourceStore) {
    super();
    this.store = store;
  }

  /** Lists everything, then follows the changes after that list. */
  async start(): Promise<void> {
    await this.relist();
  }

  get revision(): number {
    return this.rev;
  }

  list(kind?: string): StoredResource[] {
    this.sorted ??= [...this.byKey.values()].sort(byKindAndName);
    return kind ? this.sorted.filter((r) => r.kind === kind) : this.sorted;
  }

  get(kind: string, name: string): StoredResource | undefined {
    return this.byKey.get(`${kind}/${name}`);
  }

  /** Resolves once the cache has seen the given revision (a write's own, say). */
  async waitFor(revision: number, timeoutMs = 10_000): Promise<boolean> {
    if (this.rev >= revision) return true;
    return new Promise((resolve) => {
      const check = () => { if (this.rev >= revision) done(true); };
      const done = (ok: boolean) => { clearTimeout(timer); this.off('change', check); this.off('resync', check); resolve(ok); };
      const timer = setTimeout(() => done(false), timeoutMs);
      this.on('change', check);
      this.on('resync', check);
    });
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
  }

  private relistUntilDone(delayMs = 250): void {
    this.relist().catch((err: unknown) => {
      if (this.stopped) return;
      this.emit('stale', err);
      setTimeout(() => this.relistUntilDone(Math.min(delayMs * 2, 5000)), delayMs).unref();
    });
  }

  private async relist(): Promise<void> {
    this.watch?.stop();
    const { items, revision } = await this.store.list();
    if (this.stopped) return;
    this.byKey.clear();
    for (const r of items) this.byKey.set(`${r.kind}/${r.metadata.name}`, r);
    this.sorted = undefined;
    this.rev = revision;
    this.listedAt = revision;
    this.watch = this.store.watch([], revision, (e) => this.onEvent(e));
    this.emit('resync', { spec: true, revision } satisfies CacheChange);
  }

  private onEvent(e: WatchEvent): void {
    if (this.stopped) return;
    if (e.type === 'RESYNC') {
      this.relistUntilDone();
      return;
    }
    if (e.revision <= this.listedAt) return; // already in the list this cache was built from
    const key = `${e.object.kind}/${e.object.metadata.name}`;
    const before = this.byKey.get(key);
    const spec = e.type !== 'MODIFIED' || before?.metadata.generation !== e.object.metadata.generation;
    if (e.type === 'DELETED') this.byKey.delete(key);
    else this.byKey.set(key, e.object);
    this.sorted = undefined;
    this.rev = Math.max(this.rev, e.revision);
    // One 'change' per revision (a transaction), after all its events are in.
    const kinds = this.pending?.specKinds ?? [];
    this.pending = {
      spec: spec || (this.pending?.spec ?? false),
      specKinds: spec && !kinds.includes(e.object.kind) ? [...kinds, e.object.kind] : kinds,
      revision: this.rev,
    };
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    const change = this.pending;
    if (!change) return;
    this.pending = undefined;
    this.emit('change', change);
  }
}
