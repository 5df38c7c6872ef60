// The store interface every part of the node talks through, shaped like the
// Kubernetes API: a store-wide revision as metadata.resourceVersion, a
// generation that moves with the spec only, status written apart from the
// spec, optimistic concurrency, and an ordered watch from a revision.
// Backends: sqlite.ts (embedded, the default); see docs/operations.md.
import type { Kind, Metadata, Resource } from '../resources/types.ts';

export type ApplyAction = 'created' | 'configured' | 'unchanged';
export interface ApplyResult { kind: string; name: string; action: ApplyAction }

/** A Kubernetes-style condition (type, status, reason, message, lastTransitionTime). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  /** One CamelCase word a program can match on. */
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** Free-form, written by the object's controller; these two fields are the convention every controller follows. */
export interface ObjectStatus {
  /** The generation the conditions were computed for. */
  observedGeneration?: number;
  conditions?: Condition[];
  /** Each kind's own status fields (a KusciaJob's phase, party records...). */
  [field: string]: unknown;
}

/** The fields the store owns in metadata; whatever a writer puts there is replaced. */
export interface StoredMetadata extends Metadata {
  /** Store-wide revision of this object's last write (spec or status), as a string like Kubernetes. */
  resourceVersion: string;
  /** Moves by one on every spec (or labels, annotations) change, never on a status write. */
  generation: number;
  creationTimestamp: string;
}

export type StoredResource = Resource & { metadata: StoredMetadata; status?: ObjectStatus };

export type WatchEvent =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; revision: number; object: StoredResource }
  /** The watcher missed changes (its revision was compacted away, or it fell too far behind): list again. */
  | { type: 'RESYNC'; revision: number; reason: string };

export interface Watch {
  stop(): void;
}

export interface StoreInfo {
  backend: 'sqlite' | 'etcd';
  /** Where it lives: a file, or etcd endpoints with the key prefix. */
  location: string;
}

/**
 * Kinds are plain strings here: the store keeps any kind (the API and
 * validation decide which ones a user may write; controllers add their own).
 */
export interface ResourceStore {
  readonly info: StoreInfo;
  /** The store-wide revision of the last write. */
  revision(): Promise<number>;
  /** Every object (of one kind), sorted by kind then name, with the revision the list was read at. */
  list(kind?: string): Promise<{ items: StoredResource[]; revision: number }>;
  get(kind: string, name: string): Promise<StoredResource | undefined>;
  /**
   * Creates or updates specs, all or nothing. A resource naming
   * metadata.resourceVersion is written only if that is still its version
   * (ConflictError otherwise); without one, the last writer wins.
   */
  apply(resources: readonly Resource[]): Promise<ApplyResult[]>;
  /** Writes status only: spec and generation stay. With resourceVersion: only if still current. */
  updateStatus(kind: string, name: string, status: ObjectStatus, resourceVersion?: string): Promise<StoredResource>;
  /** With resourceVersion: only if still current. False when nothing was there. */
  delete(kind: string, name: string, resourceVersion?: string): Promise<boolean>;
  /**
   * Every change to the given kinds (all when empty) after fromRevision, in
   * revision order; a delete carries the object's last state. RESYNC when the
   * changes since fromRevision are no longer kept.
   */
  watch(kinds: readonly string[], fromRevision: number, onEvent: (e: WatchEvent) => void): Watch;
  close(): Promise<void>;
}

/** A write named a resourceVersion that is no longer current (HTTP 409). */
export class ConflictError extends Error {
  readonly statusCode = 409;
  constructor(kind: string, name: string, given: string, current: string | undefined) {
    super(current === undefined
      ? `${kind} ${name} was deleted since resourceVersion ${given}: get it again and re-apply`
      : `${kind} ${name} changed since resourceVersion ${given} (now ${current}): get it again, apply your change to it, and retry`);
  }
}

/** The named object does not exist (HTTP 404). */
export class NotFoundError extends Error {
  readonly statusCode = 404;
}

/**
 * The store could not write (disk full, read-only, I/O error, etcd unreachable):
 * nothing was changed, and the node keeps serving what it has. HTTP 507 when
 * the disk is full, 503 otherwise.
 */
export class StoreWriteError extends Error {
  readonly statusCode: number;
  constructor(message: string, statusCode: 503 | 507, cause?: unknown) {
    super(message, { cause });
    this.statusCode = statusCode;
  }
}

/** The store's file or cluster cannot be used as it is (corrupt, missing after a run): the node does not start. */
export class StoreUnusableError extends Error {}

/** The metadata fields the store sets; stripped from what a writer sends. */
export const SERVER_METADATA = ['resourceVersion', 'generation', 'creationTimestamp', 'uid'] as const;

/** The spec document as stored and compared: no server-owned metadata, no status, no undefined properties. */
export function specDocument(r: Resource): Resource {
  const doc = JSON.parse(JSON.stringify(r)) as Resource & { status?: unknown };
  delete doc.status;
  for (const f of SERVER_METADATA) delete (doc.metadata as unknown as Record<string, unknown>)[f];
  return doc;
}

/** Sorted like list(): kind, then name. */
export function byKindAndName(a: { kind: string; metadata: { name: string } }, b: { kind: string; metadata: { name: string } }): number {
  return a.kind.localeCompare(b.kind) || a.metadata.name.localeCompare(b.metadata.name);
}
