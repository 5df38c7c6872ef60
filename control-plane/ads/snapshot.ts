// A snapshot: one consistent set of Envoy resources, each encoded once and
// versioned by a hash of its bytes. Streams share the encoded bytes.
import { createHash } from 'node:crypto';
import { typeForUrl, encodeJson } from '../../envoy/proto-json.ts';
import type { EnvoyResources } from '../xds/ir-to-envoy.ts';
import { PUSH_ORDER, TYPE, type ResourceTypeUrl } from '../xds/envoy-types.ts';

export interface EncodedResource {
  name: string;
  version: string;
  bytes: Uint8Array;
}

export interface Snapshot {
  /** Hash over every resource version: changes iff some resource changed. */
  version: string;
  resources: Record<ResourceTypeUrl, Map<string, EncodedResource>>;
}

const hash = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex').slice(0, 16);

/** Encodes every resource (throws naming the resource if one does not encode). */
export function buildSnapshot(envoy: EnvoyResources, previous?: Snapshot): Snapshot {
  const byType: Record<ResourceTypeUrl, Record<string, unknown>[]> = {
    [TYPE.cluster]: envoy.clusters,
    [TYPE.secret]: envoy.secrets,
    [TYPE.listener]: envoy.listeners,
    [TYPE.routeConfiguration]: envoy.routes,
  };
  const resources = {} as Snapshot['resources'];
  const versions: string[] = [];
  for (const typeUrl of PUSH_ORDER) {
    const type = typeForUrl(typeUrl);
    const map = new Map<string, EncodedResource>();
    for (const r of byType[typeUrl]) {
      const name = String(r.name);
      if (map.has(name)) throw new Error(`duplicate ${typeUrl} resource ${name}`);
      const bytes = encodeJson(type, r, `${typeUrl.split('.').pop()}/${name}`);
      const version = hash(bytes);
      // Reuse the previous object when unchanged, so unchanged bytes stay shared.
      const old = previous?.resources[typeUrl].get(name);
      map.set(name, old && old.version === version ? old : { name, version, bytes });
      versions.push(`${typeUrl}/${name}@${version}`);
    }
    resources[typeUrl] = map;
  }
  return { version: hash(versions.sort().join('\n')), resources };
}

/**
 * Checks that everything a listener, route or cluster refers to exists in the
 * snapshot, so a translation bug never reaches Envoy as a half-configuration.
 */
export function checkReferences(envoy: EnvoyResources): string[] {
  const problems: string[] = [];
  const clusters = new Set(envoy.clusters.map((c) => String(c.name)));
  const routes = new Set(envoy.routes.map((r) => String(r.name)));
  const secrets = new Set(envoy.secrets.map((s) => String(s.name)));
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, where));
    if (!node || typeof node !== 'object') return;
    const o = node as Record<string, unknown>;
    if (typeof o.cluster === 'string' && !clusters.has(o.cluster)) problems.push(`${where} uses missing cluster ${o.cluster}`);
    if (typeof o.route_config_name === 'string' && !routes.has(o.route_config_name)) problems.push(`${where} uses missing route configuration ${o.route_config_name}`);
    if (o.sds_config && typeof o.name === 'string' && !secrets.has(o.name)) problems.push(`${where} uses missing secret ${o.name}`);
    for (const v of Object.values(o)) walk(v, where);
  };
  for (const l of envoy.listeners) walk(l, `listener ${l.name}`);
  for (const r of envoy.routes) walk(r, `route configuration ${r.name}`);
  for (const c of envoy.clusters) walk(c.transport_socket, `cluster ${c.name}`);
  return problems;
}
