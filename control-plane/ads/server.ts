// Incremental (delta) ADS over gRPC. The cache (a Snapshot) is set by the node;
// this server keeps per-stream state and sends each proxy only what it lacks.
//
// Protocol rules kept here: per-stream nonces; a request whose nonce is not the
// latest sent for its type is stale and only its subscription changes count;
// a NACK is recorded with Envoy's error detail and the rejected versions are
// not re-sent until the configuration changes; removals use removed_resources;
// updates go out in make-before-break order (clusters, secrets, listeners,
// routes) and removals of clusters and secrets go out last.
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { messageType } from '../../envoy/protos.ts';
import { PUSH_ORDER, SHORT_TYPE_NAME, TYPE, type ResourceTypeUrl } from '../xds/envoy-types.ts';
import type { Snapshot } from './snapshot.ts';

const DeltaRequest = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaResponse = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

interface DeltaRequestMsg {
  node?: { id?: string; cluster?: string };
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export interface Nack {
  snapshotVersion: string;
  message: string;
  at: string;
}

interface TypeState {
  wildcard: boolean;
  subscribed: Set<string>;
  /** name -> version the proxy has (or was last sent). */
  known: Map<string, string>;
  /** Latest nonce sent for this type, and the snapshot version it carried. */
  nonce?: string;
  nonceVersion?: string;
  /** Snapshot version this type is fully acknowledged at. */
  ackedVersion?: string;
  nack?: Nack;
  /** Whether the proxy got any response for this type: the first one is sent even when empty. */
  answered: boolean;
}

export interface ProxyStatus {
  node: string;
  connectedAt: string;
  types: Record<string, { ackedVersion?: string; pending: boolean; nack?: Nack }>;
}

const LEGACY_WILDCARD_TYPES = new Set<string>([TYPE.cluster, TYPE.listener]);

class DeltaStream {
  readonly types = new Map<ResourceTypeUrl, TypeState>();
  node = 'unknown';
  readonly connectedAt = new Date().toISOString();
  private nonceCounter = 0;

  private readonly call: grpc.ServerDuplexStream<DeltaRequestMsg, Uint8Array>;
  private readonly server: AdsServer;

  constructor(call: grpc.ServerDuplexStream<DeltaRequestMsg, Uint8Array>, server: AdsServer) {
    this.call = call;
    this.server = server;
  }

  handle(req: DeltaRequestMsg): void {
    if (this.node === 'unknown' && req.node?.id) this.node = req.node.id; // identity from the first request
    const typeUrl = req.type_url as ResourceTypeUrl;
    if (!PUSH_ORDER.includes(typeUrl)) {
      this.server.log.warn({ node: this.node, typeUrl }, 'xDS request for a type Ferry does not serve');
      return;
    }
    let state = this.types.get(typeUrl);
    const first = !state;
    if (!state) {
      state = { wildcard: false, subscribed: new Set(), known: new Map(), answered: false };
      this.types.set(typeUrl, state);
    }
    for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) state.known.set(name, version);
    const subscribe = req.resource_names_subscribe ?? [];
    if (first && subscribe.length === 0 && LEGACY_WILDCARD_TYPES.has(typeUrl)) state.wildcard = true;
    for (const name of subscribe) {
      if (name === '*') state.wildcard = true;
      else state.subscribed.add(name);
    }
    for (const name of req.resource_names_unsubscribe ?? []) {
      if (name === '*') state.wildcard = false;
      state.subscribed.delete(name);
      state.known.delete(name);
    }

    if (req.response_nonce) {
      if (req.response_nonce !== state.nonce) return; // stale: an answer to a response we superseded
      if (req.error_detail && (req.error_detail.code ?? 0) !== 0) {
        state.nack = { snapshotVersion: state.nonceVersion ?? '', message: req.error_detail.message ?? '', at: new Date().toISOString() };
        this.server.recordNack(this.node, typeUrl, state.nack);
      } else {
        state.ackedVersion = state.nonceVersion;
        state.nack = undefined;
      }
      state.nonce = undefined;
      this.server.emit('progress');
    }
    // Diffing is cheap; a type waiting for an answer is skipped and re-checked on its ACK.
    this.push();
  }

  /** Sends each listed type what the proxy lacks; types with nothing to send are marked current. */
  push(typeUrls: readonly ResourceTypeUrl[] = PUSH_ORDER): void {
    const snapshot = this.server.snapshot;
    if (!snapshot) return;
    const removals: ResourceTypeUrl[] = [];
    for (const typeUrl of typeUrls) {
      const state = this.types.get(typeUrl);
      if (!state || state.nonce) continue; // not subscribed, or waiting for an answer (re-checked on ACK)
      const desired = snapshot.resources[typeUrl];
      const updates = [];
      for (const r of desired.values()) {
        if (!state.wildcard && !state.subscribed.has(r.name)) continue;
        if (state.known.get(r.name) !== r.version) updates.push(r);
      }
      const removed = [...state.known.keys()].filter((name) => !desired.has(name));
      const deferRemoval = typeUrl === TYPE.cluster || typeUrl === TYPE.secret;
      if (removed.length && deferRemoval && updates.length) removals.push(typeUrl);
      const removeNow = deferRemoval && updates.length ? [] : removed;
      if (!updates.length && !removeNow.length && state.answered) {
        if (!removed.length) state.ackedVersion = state.nack ? state.ackedVersion : snapshot.version;
        if (removed.length) removals.push(typeUrl);
        continue;
      }
      this.send(typeUrl, state, snapshot.version, updates, removeNow);
    }
    // Removal of clusters/secrets goes after the listeners and routes that stopped using them.
    for (const typeUrl of removals) {
      const state = this.types.get(typeUrl)!;
      const desired = snapshot.resources[typeUrl];
      const removed = [...state.known.keys()].filter((name) => !desired.has(name));
      if (removed.length && !state.nonce) this.send(typeUrl, state, snapshot.version, [], removed);
    }
  }

  private send(typeUrl: ResourceTypeUrl, state: TypeState, version: string, updates: { name: string; version: string; bytes: Uint8Array }[], removed: string[]): void {
    const nonce = `${++this.nonceCounter}`;
    for (const r of updates) state.known.set(r.name, r.version);
    for (const name of removed) state.known.delete(name);
    state.nonce = nonce;
    state.nonceVersion = version;
    state.answered = true;
    const message = DeltaResponse.fromObject({
      system_version_info: version,
      type_url: typeUrl,
      nonce,
      removed_resources: removed,
      resources: updates.map((r) => ({ name: r.name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } })),
    });
    this.server.log.debug({ node: this.node, type: SHORT_TYPE_NAME[typeUrl], nonce, updates: updates.length, removed: removed.length }, 'xDS push');
    this.call.write(DeltaResponse.encode(message).finish());
  }

  status(): ProxyStatus {
    const types: ProxyStatus['types'] = {};
    for (const [typeUrl, s] of this.types) {
      types[SHORT_TYPE_NAME[typeUrl]] = { ackedVersion: s.ackedVersion, pending: Boolean(s.nonce), ...(s.nack ? { nack: s.nack } : {}) };
    }
    return { node: this.node, connectedAt: this.connectedAt, types };
  }

  isCurrent(version: string): boolean {
    return [...this.types.values()].every((s) => !s.nonce && s.ackedVersion === version);
  }
}

export class AdsServer extends EventEmitter {
  snapshot: Snapshot | undefined;
  private readonly streams = new Set<DeltaStream>();
  private readonly grpcServer = new grpc.Server({ 'grpc.max_send_message_length': 64 * 1024 * 1024 });
  readonly nacks: { node: string; type: string; nack: Nack }[] = [];

  readonly log: Logger;

  constructor(log: Logger) {
    super();
    this.log = log;
    const decode = (b: Buffer) => DeltaRequest.toObject(DeltaRequest.decode(b), { defaults: false, longs: String }) as DeltaRequestMsg;
    this.grpcServer.addService(
      {
        DeltaAggregatedResources: {
          path: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
          requestStream: true,
          responseStream: true,
          requestSerialize: (m: DeltaRequestMsg) => Buffer.from(DeltaRequest.encode(DeltaRequest.fromObject(m)).finish()),
          requestDeserialize: decode,
          responseSerialize: (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
          responseDeserialize: (b: Buffer) => b,
        },
      },
      { DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaRequestMsg, Uint8Array>) => this.onStream(call) },
    );
  }

  private onStream(call: grpc.ServerDuplexStream<DeltaRequestMsg, Uint8Array>): void {
    const stream = new DeltaStream(call, this);
    this.streams.add(stream);
    const close = () => {
      if (this.streams.delete(stream)) {
        this.log.info({ node: stream.node }, 'xDS stream closed');
        this.emit('progress');
      }
    };
    call.on('data', (req: DeltaRequestMsg) => {
      const isNew = stream.node === 'unknown';
      try {
        stream.handle(req);
      } catch (e) {
        this.log.error({ err: e, node: stream.node }, 'xDS request handling failed');
      }
      if (isNew && stream.node !== 'unknown') this.log.info({ node: stream.node }, 'xDS stream opened');
    });
    call.on('end', () => {
      close();
      call.end();
    });
    call.on('error', close);
    call.on('cancelled', close);
  }

  /** Installs a new snapshot and pushes the differences to every proxy. */
  setSnapshot(snapshot: Snapshot): void {
    if (this.snapshot?.version === snapshot.version) return;
    this.snapshot = snapshot;
    for (const s of this.streams) s.push();
    this.emit('progress');
  }

  recordNack(node: string, typeUrl: ResourceTypeUrl, nack: Nack): void {
    this.log.error({ node, type: SHORT_TYPE_NAME[typeUrl], error: nack.message }, 'Envoy rejected the configuration (NACK); it keeps serving its last good configuration');
    this.nacks.push({ node, type: SHORT_TYPE_NAME[typeUrl], nack });
    if (this.nacks.length > 50) this.nacks.shift();
  }

  proxies(): ProxyStatus[] {
    return [...this.streams].map((s) => s.status());
  }

  /** True when at least one proxy is connected and every proxy acknowledged the current snapshot. */
  converged(): boolean {
    const version = this.snapshot?.version;
    return Boolean(version) && this.streams.size > 0 && [...this.streams].every((s) => s.isCurrent(version!));
  }

  listen(address: string, port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.grpcServer.bindAsync(`${address}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.grpcServer.tryShutdown(() => resolve());
      setTimeout(() => { this.grpcServer.forceShutdown(); resolve(); }, 1000).unref();
    });
  }
}
