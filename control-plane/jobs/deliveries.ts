// Delivering this party's record of each job to the other parties: pushed
// whenever its seq grows, retried with exponential back-off (0.2 s to 10 s),
// pulled from every party now and then to resync after a partition. It runs
// beside the controller's reconciles (a slow partner holds up no other job),
// one flush per job at a time, and remembers per party what was acknowledged,
// the last error and since when the party has been unreachable.
import type { Logger } from 'pino';
import { jobParties, type JobSpec, type PartyRecord } from './phase.ts';
import type { InteropClient } from './interop-client.ts';

interface PeerState {
  acked: number;
  /** When to try next; -1: nothing to send. */
  nextAt: number;
  backoffMs: number;
  lastError?: string;
  /** When pushes or pulls to this party started failing (cleared by any success). */
  failingSince?: number;
}

export interface DeliveryDeps {
  self: string;
  client: Pick<InteropClient, 'propose' | 'push' | 'pull'>;
  log: Logger;
  now: () => number;
  /** The job's spec, hash and this party's current record, as stored. */
  ownRecord: (job: string) => Promise<{ spec: JobSpec; hash: string; record: PartyRecord | undefined } | undefined>;
  /** A party's record arrived with an answer (to be merged like a push from it). */
  received: (peer: string, job: string, record: PartyRecord) => void;
  /** Something describe shows changed (an error appeared or cleared). */
  changed: (job: string) => void;
}

const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 10_000;

export class RecordDelivery {
  private readonly deps: DeliveryDeps;
  private readonly peers = new Map<string, Map<string, PeerState>>();
  private readonly flushing = new Set<string>();

  constructor(deps: DeliveryDeps) {
    this.deps = deps;
  }

  /** This party's record of `job` is at `seq`: send it to every party that has not acknowledged it. */
  send(job: string, spec: JobSpec, seq: number): void {
    const state = this.stateOf(job);
    for (const p of jobParties(spec).filter((d) => d !== this.deps.self)) {
      const s = state.get(p) ?? { acked: 0, nextAt: 0, backoffMs: FIRST_BACKOFF_MS };
      if (s.acked < seq && s.nextAt < 0) s.nextAt = 0;
      state.set(p, s);
    }
    this.flush(job);
  }

  /** Whether some party still waits for this party's record. */
  pending(job: string): boolean {
    return [...(this.peers.get(job)?.values() ?? [])].some((s) => s.nextAt >= 0);
  }

  forget(job: string): void {
    this.peers.delete(job);
  }

  /** Per party: the seq it acknowledged and the last error (for describe). */
  states(job: string): Record<string, { acked: number; lastError?: string }> {
    return Object.fromEntries([...(this.peers.get(job) ?? [])].map(([peer, s]) => [peer, { acked: s.acked, ...(s.lastError ? { lastError: s.lastError } : {}) }]));
  }

  /** The parties this job's records could not reach lately, for how long and why. */
  unreachable(job: string): { peer: string; forMs: number; error: string }[] {
    const now = this.deps.now();
    return [...(this.peers.get(job) ?? [])].filter(([, s]) => s.failingSince !== undefined).map(([peer, s]) => ({ peer, forMs: now - s.failingSince!, error: s.lastError ?? 'no answer' }));
  }

  /** Asks every other party for its record (a resync after a partition). */
  async pullAll(job: string): Promise<void> {
    const known = await this.deps.ownRecord(job);
    if (!known) return;
    for (const peer of jobParties(known.spec).filter((d) => d !== this.deps.self)) {
      const answer = await this.deps.client.pull(peer, job);
      // 404: the party has not received the job yet (a push brings it): not a reachability problem.
      this.note(job, peer, answer.ok || answer.status === 404 ? undefined : `${answer.status || 'no answer'}: ${answer.reason}`);
      if (answer.ok && answer.record) this.deps.received(peer, job, answer.record);
    }
  }

  private stateOf(job: string): Map<string, PeerState> {
    let state = this.peers.get(job);
    if (!state) this.peers.set(job, (state = new Map()));
    return state;
  }

  private note(job: string, peer: string, error: string | undefined): void {
    const state = this.stateOf(job);
    const s = state.get(peer) ?? { acked: 0, nextAt: -1, backoffMs: FIRST_BACKOFF_MS };
    state.set(peer, s);
    const wasFailing = s.failingSince !== undefined;
    if (error) {
      s.failingSince ??= this.deps.now();
      if (s.lastError !== error) this.deps.changed(job);
      s.lastError = error;
    } else {
      delete s.failingSince;
      delete s.lastError;
      if (wasFailing) this.deps.changed(job);
    }
  }

  private flush(job: string): void {
    if (this.flushing.has(job)) return;
    this.flushing.add(job);
    this.flushOnce(job)
      .catch((err: unknown) => this.deps.log.warn({ err, job }, 'jobs: delivering records failed; retrying'))
      .finally(() => this.flushing.delete(job));
  }

  /** One round: the initiator proposes (the job comes with its record); the others push their record. */
  private async flushOnce(job: string): Promise<void> {
    const state = this.peers.get(job);
    const known = await this.deps.ownRecord(job);
    const own = known?.record;
    if (!state || !known || !own) return;
    const now = this.deps.now();
    await Promise.all([...state].map(async ([peer, s]) => {
      if (s.acked >= own.seq || s.nextAt < 0 || s.nextAt > now) return;
      const answer = known.spec.initiator === this.deps.self
        ? await this.deps.client.propose(peer, job, { spec: known.spec, specHash: known.hash, record: own })
        : await this.deps.client.push(peer, job, own);
      if (answer.ok) {
        this.note(job, peer, undefined);
        s.acked = own.seq;
        s.nextAt = -1;
        s.backoffMs = FIRST_BACKOFF_MS;
        if (answer.record) this.deps.received(peer, job, answer.record);
      } else {
        this.note(job, peer, `${answer.status || 'no answer'}: ${answer.reason}`);
        s.nextAt = now + s.backoffMs;
        s.backoffMs = Math.min(s.backoffMs * 2, MAX_BACKOFF_MS);
        this.deps.log.debug({ job, peer, error: s.lastError }, 'jobs: record not delivered; retrying');
      }
    }));
  }
}
