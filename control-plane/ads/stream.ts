// What every ADS stream (delta or state-of-the-world) keeps per resource type,
// and the rules both variants share: nonces, ACK/NACK, and when a removed
// cluster or secret may really go (make-before-break).
import { createHash } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { PUSH_ORDER, SHORT_TYPE_NAME, TYPE, type ResourceTypeUrl } from '../xds/envoy-types.ts';
import type { EncodedResource, Snapshot } from './snapshot.ts';

export type Variant = 'delta' | 'sotw';

export interface Nack {
  snapshotVersion: string;
  message: string;
  at: string;
}

/** What a proxy holds of one resource: as last sent, or only its version (delta reconnects). */
type Held = EncodedResource | { name: string; version: string; bytes?: undefined };

export interface TypeState {
  wildcard: boolean;
  subscribed: Set<string>;
  /** name -> the resource the proxy has (as last sent; for delta reconnects, version only). */
  known: Map<string, Held>;
  /** Latest nonce sent for this type, and the snapshot version it carried. */
  lastNonce?: string;
  nonceVersion?: string;
  /** The latest response is not answered (ACK/NACK) yet. */
  pending: boolean;
  /** Snapshot version at which this type is fully acknowledged. */
  ackedVersion?: string;
  nack?: Nack;
  /** Whether the proxy got any response for this type: the first one is sent even when empty. */
  answered: boolean;
  /**
   * delta: what `known` held, before the unanswered response, for each name it
   * updated. A NACK puts these back: Envoy may have refused any of them, so
   * they are sent again with the next change (and refused again if still bad)
   * instead of counting as held, which would report a refused cluster as running.
   */
  sentOver?: Map<string, Held | undefined>;
  /** The snapshot of the unanswered response, and after a NACK what this type held in it (not re-sent until that changes). */
  sentSnapshot?: Snapshot;
  nackedContent?: string;
  /**
   * The snapshot this type was last found fully in sync with (nothing to send,
   * nothing held back). Until the snapshot or the subscription changes, a push
   * skips the type without walking its resources: with 10k route
   * configurations each request would otherwise cost a walk over all of them.
   */
  inSyncWith?: Snapshot;
}

export interface ProxyStatus {
  node: string;
  variant: Variant;
  connectedAt: string;
  types: Record<string, { ackedVersion?: string; pending: boolean; nack?: Nack }>;
}

/** What a stream needs from its server. */
export interface StreamHost {
  readonly snapshot: Snapshot | undefined;
  onAnswer(stream: AdsStream, typeUrl: ResourceTypeUrl, nack: Nack | undefined): void;
  onPush(stream: AdsStream, typeUrl: ResourceTypeUrl, updates: number, removed: number): void;
  log: { warn: (o: object, m: string) => void; debug: (o: object, m: string) => void };
}

export const isServedType = (t: string | undefined): t is ResourceTypeUrl => PUSH_ORDER.includes(t as ResourceTypeUrl);
const REMOVED_LAST = new Set<string>([TYPE.cluster, TYPE.secret]);

export abstract class AdsStream {
  abstract readonly variant: Variant;
  node = 'unknown';
  readonly connectedAt = new Date().toISOString();
  readonly types = new Map<ResourceTypeUrl, TypeState>();
  protected readonly host: StreamHost;
  protected readonly call: grpc.ServerDuplexStream<unknown, Uint8Array>;
  private nonceCounter = 0;
  /** Back-pressure: the transport buffer is full; resume on 'drain'. */
  private blocked = false;

  constructor(call: grpc.ServerDuplexStream<unknown, Uint8Array>, host: StreamHost) {
    this.call = call;
    this.host = host;
  }

  protected typeState(typeUrl: ResourceTypeUrl): { state: TypeState; first: boolean } {
    let state = this.types.get(typeUrl);
    if (state) return { state, first: false };
    state = { wildcard: false, subscribed: new Set(), known: new Map(), answered: false, pending: false };
    this.types.set(typeUrl, state);
    return { state, first: true };
  }

  /**
   * Handles the nonce of a request. Returns false for a stale request (its
   * nonce is not the latest sent for its type): such a request is ignored.
   * A request carrying the latest nonce again, after its ACK, is a change of
   * subscription, not a second answer.
   */
  protected answer(typeUrl: ResourceTypeUrl, state: TypeState, nonce: string | undefined, error: { code?: number; message?: string } | undefined): boolean {
    if (!nonce) return true;
    if (nonce !== state.lastNonce) return false;
    if (!state.pending) return true;
    let nack: Nack | undefined;
    if (error && (error.code ?? 0) !== 0) {
      nack = { snapshotVersion: state.nonceVersion ?? '', message: error.message ?? '', at: new Date().toISOString() };
      state.nack = nack;
      state.nackedContent = state.sentSnapshot && this.contentKey(state, state.sentSnapshot, typeUrl);
      for (const [name, before] of state.sentOver ?? []) {
        if (before) state.known.set(name, before);
        else state.known.delete(name);
      }
    } else {
      state.ackedVersion = state.nonceVersion;
      state.nack = undefined;
    }
    state.pending = false;
    state.sentOver = undefined;
    state.sentSnapshot = undefined;
    this.host.onAnswer(this, typeUrl, nack);
    return true;
  }

  /** The resources of a type this proxy should hold now. */
  protected desired(state: TypeState, snapshot: Snapshot, typeUrl: ResourceTypeUrl): Map<string, EncodedResource> {
    const out = new Map<string, EncodedResource>();
    for (const r of snapshot.resources[typeUrl].values()) {
      if (state.wildcard || state.subscribed.has(r.name)) out.set(r.name, r);
    }
    return out;
  }

  /**
   * Clusters and secrets leave a proxy only after every listener and route
   * that used them is gone: i.e. once those types are acknowledged at the
   * current snapshot. Until then the proxy keeps them.
   */
  protected mayRemove(typeUrl: ResourceTypeUrl, snapshot: Snapshot): boolean {
    if (!REMOVED_LAST.has(typeUrl)) return true;
    for (const t of [TYPE.listener, TYPE.scopedRouteConfiguration, TYPE.routeConfiguration] as const) {
      const s = this.types.get(t);
      if (s && (s.pending || s.ackedVersion !== snapshot.version)) return false;
    }
    return true;
  }

  /** Sends, in make-before-break order, each type's difference from what the proxy has. */
  push(): void {
    const snapshot = this.host.snapshot;
    if (!snapshot || this.blocked) return;
    for (const typeUrl of PUSH_ORDER) {
      const state = this.types.get(typeUrl);
      if (!state || state.pending) continue; // not subscribed, or waiting for an answer (re-checked then)
      // Rejected: not re-sent until this type's resources change (Envoy would refuse the same again).
      if (state.nack && (state.nack.snapshotVersion === snapshot.version || state.nackedContent === this.contentKey(state, snapshot, typeUrl))) continue;
      this.pushType(typeUrl, state, snapshot);
      if (this.blocked) return;
    }
  }

  protected abstract pushType(typeUrl: ResourceTypeUrl, state: TypeState, snapshot: Snapshot): void;

  /** This type's resources (names and versions) a proxy should hold at a snapshot, as one hash. */
  private contentKey(state: TypeState, snapshot: Snapshot, typeUrl: ResourceTypeUrl): string {
    const h = createHash('sha256');
    for (const r of this.desired(state, snapshot, typeUrl).values()) h.update(`${r.name}@${r.version}\n`);
    return h.digest('hex');
  }

  protected nextNonce(state: TypeState, version: string, snapshot?: Snapshot): string {
    state.sentSnapshot = snapshot;
    const nonce = `${++this.nonceCounter}`;
    state.lastNonce = nonce;
    state.pending = true;
    state.nonceVersion = version;
    state.answered = true;
    return nonce;
  }

  protected write(bytes: Uint8Array, typeUrl: ResourceTypeUrl, updates: number, removed: number): void {
    this.host.onPush(this, typeUrl, updates, removed);
    if (!this.call.write(bytes)) {
      this.blocked = true;
      this.call.once('drain', () => {
        this.blocked = false;
        this.push();
      });
    }
  }

  status(): ProxyStatus {
    const types: ProxyStatus['types'] = {};
    for (const [typeUrl, s] of this.types) {
      types[SHORT_TYPE_NAME[typeUrl]] = { ackedVersion: s.ackedVersion, pending: s.pending, ...(s.nack ? { nack: s.nack } : {}) };
    }
    return { node: this.node, variant: this.variant, connectedAt: this.connectedAt, types };
  }

  /** Subscribed to something, every subscribed type acknowledged at `version`, nothing in flight. */
  isCurrent(version: string): boolean {
    return this.types.size > 0 && [...this.types.values()].every((s) => !s.pending && s.ackedVersion === version);
  }

  /**
   * What every request starts with: the node identity (from the first
   * request) and the type, or undefined for a type Ferry does not serve.
   */
  protected servedType(req: { node?: { id?: string }; type_url?: string }): ResourceTypeUrl | undefined {
    if (this.node === 'unknown' && req.node?.id) this.node = req.node.id;
    if (isServedType(req.type_url)) return req.type_url;
    this.host.log.warn({ node: this.node, typeUrl: req.type_url }, 'xDS request for a type Ferry does not serve');
    return undefined;
  }
}
