// Delivers a backend's changes to its watchers: each watcher gets its own
// queue, drained asynchronously in revision order, so a handler that writes to
// the store never sees events out of order or re-entrantly. A watcher whose
// queue grows past maxQueued gets RESYNC instead of the changes it missed.
import type { Kind } from '../resources/types.ts';
import type { Watch, WatchEvent } from './store.ts';

interface Watcher { kinds: Set<string>; queue: WatchEvent[]; scheduled: boolean; stopped: boolean; onEvent: (e: WatchEvent) => void }

export class WatchHub {
  private readonly watchers = new Set<Watcher>();
  private readonly maxQueued: number;

  constructor(maxQueued = 100_000) {
    this.maxQueued = maxQueued;
  }

  /** `push` delivers to this watcher alone (a backend with one stream per watcher); `publish` to all. */
  subscribe(kinds: readonly string[], backlog: WatchEvent[], onEvent: (e: WatchEvent) => void, shared = true): Watch & { push(events: WatchEvent[]): void } {
    const w: Watcher = { kinds: new Set(kinds), queue: [], scheduled: false, stopped: false, onEvent };
    if (shared) this.watchers.add(w);
    this.enqueue(w, backlog);
    return {
      stop: () => { w.stopped = true; this.watchers.delete(w); },
      push: (events) => { if (!w.stopped) this.enqueue(w, events); },
    };
  }

  publish(events: readonly WatchEvent[]): void {
    if (events.length) for (const w of this.watchers) this.enqueue(w, events);
  }

  close(): void {
    for (const w of this.watchers) w.stopped = true;
    this.watchers.clear();
  }

  private enqueue(w: Watcher, events: readonly WatchEvent[]): void {
    const mine = events.filter((e) => e.type === 'RESYNC' || w.kinds.size === 0 || w.kinds.has(e.object.kind));
    if (!mine.length) return;
    if (w.queue.length + mine.length > this.maxQueued) {
      const revision = mine.at(-1)!.revision;
      w.queue = [{ type: 'RESYNC', revision, reason: `the watcher fell more than ${this.maxQueued} changes behind` }];
    } else {
      w.queue.push(...mine);
    }
    if (!w.scheduled) {
      w.scheduled = true;
      queueMicrotask(() => this.drain(w));
    }
  }

  private drain(w: Watcher): void {
    w.scheduled = false;
    while (w.queue.length && !w.stopped) {
      const e = w.queue.shift()!;
      try {
        w.onEvent(e);
      } catch {
        // A handler's failure is its own; the others still get every change.
      }
    }
  }
}
