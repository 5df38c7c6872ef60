// Incremental (delta) xDS: each proxy gets only the resources it lacks, each
// versioned by a content hash; removals travel in removed_resources.
import { messageType } from '../../envoy/protos.ts';
import { TYPE, type ResourceTypeUrl } from '../xds/envoy-types.ts';
import { AdsStream, type TypeState } from './stream.ts';
import type { EncodedResource, Snapshot } from './snapshot.ts';

export const DeltaRequest = messageType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const DeltaResponse = messageType('envoy.service.discovery.v3.DeltaDiscoveryResponse');

export interface DeltaRequestMsg {
  node?: { id?: string };
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

/** Types a proxy subscribes to as a whole when its first request names nothing. */
const LEGACY_WILDCARD_TYPES = new Set<string>([TYPE.cluster, TYPE.listener, TYPE.scopedRouteConfiguration]);

export class DeltaStream extends AdsStream {
  readonly variant = 'delta' as const;

  handle(req: DeltaRequestMsg): void {
    const typeUrl = this.servedType(req);
    if (!typeUrl) return;
    const { state, first } = this.typeState(typeUrl);
    state.inSyncWith = undefined; // a subscription change or an answer: look again
    // Subscription changes count even on a stale request; its ACK/NACK does not.
    for (const [name, version] of Object.entries(req.initial_resource_versions ?? {})) state.known.set(name, { name, version });
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
    this.answer(typeUrl, state, req.response_nonce, req.error_detail);
    this.push();
  }

  protected pushType(typeUrl: ResourceTypeUrl, state: TypeState, snapshot: Snapshot): void {
    if (state.inSyncWith === snapshot) return;
    const desired = this.desired(state, snapshot, typeUrl);
    const updates: EncodedResource[] = [];
    for (const r of desired.values()) if (state.known.get(r.name)?.version !== r.version) updates.push(r);
    const stale = [...state.known.keys()].filter((n) => !desired.has(n));
    const removable = this.mayRemove(typeUrl, snapshot);
    const removed = removable ? stale : [];
    // With removals held back, the proxy is not at this snapshot yet even after it ACKs.
    const version = removable || !stale.length ? snapshot.version : `${snapshot.version}+held`;
    if (!updates.length && !removed.length && state.answered) {
      if (version === snapshot.version && !state.nack) {
        state.ackedVersion = snapshot.version;
        state.inSyncWith = snapshot;
      }
      return;
    }
    state.sentOver = new Map(updates.map((r) => [r.name, state.known.get(r.name)]));
    for (const r of updates) state.known.set(r.name, r);
    for (const n of removed) state.known.delete(n);
    const nonce = this.nextNonce(state, version, snapshot);
    const message = DeltaResponse.fromObject({
      system_version_info: snapshot.version,
      type_url: typeUrl,
      nonce,
      removed_resources: removed,
      resources: updates.map((r) => ({ name: r.name, version: r.version, resource: { type_url: typeUrl, value: r.bytes } })),
    });
    this.write(DeltaResponse.encode(message).finish(), typeUrl, updates.length, removed.length);
  }
}
