// State-of-the-world xDS: each response carries the whole set of a type
// (listeners, clusters) or the whole requested set (routes, secrets); a
// resource left out of a listener/cluster response is removed.
import { createHash } from 'node:crypto';
import { messageType } from '../../envoy/protos.ts';
import type { ResourceTypeUrl } from '../xds/envoy-types.ts';
import { AdsStream, type TypeState } from './stream.ts';
import type { EncodedResource, Snapshot } from './snapshot.ts';

export const SotwRequest = messageType('envoy.service.discovery.v3.DiscoveryRequest');
const SotwResponse = messageType('envoy.service.discovery.v3.DiscoveryResponse');

export interface SotwRequestMsg {
  node?: { id?: string };
  version_info?: string;
  type_url?: string;
  resource_names?: string[];
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

export class SotwStream extends AdsStream {
  readonly variant = 'sotw' as const;
  /** Per type: version string of the set last sent (a hash of its members). */
  private readonly sentSetVersion = new Map<ResourceTypeUrl, string>();

  handle(req: SotwRequestMsg): void {
    const typeUrl = this.servedType(req);
    if (!typeUrl) return;
    const { state } = this.typeState(typeUrl);
    this.host.log.debug({ node: this.node, typeUrl, nonce: req.response_nonce, names: req.resource_names, pending: state.pending, error: req.error_detail?.message }, 'SotW request');
    // A stale request (an old nonce) is ignored entirely: a newer response is on its way.
    if (!this.answer(typeUrl, state, req.response_nonce, req.error_detail)) return;
    const names = req.resource_names ?? [];
    state.wildcard = names.length === 0 || names.includes('*');
    state.subscribed = new Set(names.filter((n) => n !== '*'));
    this.push();
  }

  protected pushType(typeUrl: ResourceTypeUrl, state: TypeState, snapshot: Snapshot): void {
    const set = this.desired(state, snapshot, typeUrl);
    if (!this.mayRemove(typeUrl, snapshot)) {
      // Keep sending what the proxy has until nothing uses it (make-before-break).
      for (const [name, r] of state.known) if (!set.has(name) && r.bytes) set.set(name, r as EncodedResource);
    }
    const members = [...set.values()].map((r) => `${r.name}@${r.version}`).sort();
    const setVersion = createHash('sha256').update(members.join('\n')).digest('hex').slice(0, 16);
    const complete = members.length === [...this.desired(state, snapshot, typeUrl).keys()].length;
    if (state.answered && this.sentSetVersion.get(typeUrl) === setVersion) {
      if (complete && !state.nack) state.ackedVersion = snapshot.version;
      return;
    }
    state.known = new Map(set);
    this.sentSetVersion.set(typeUrl, setVersion);
    const nonce = this.nextNonce(state, complete ? snapshot.version : `${snapshot.version}+held`, snapshot);
    const message = SotwResponse.fromObject({
      version_info: setVersion,
      type_url: typeUrl,
      nonce,
      resources: [...set.values()].map((r) => ({ type_url: typeUrl, value: r.bytes })),
    });
    this.write(SotwResponse.encode(message).finish(), typeUrl, set.size, 0);
  }
}
