// A snapshot: one consistent set of Envoy resources, each encoded once and
// versioned by a hash of its bytes. Streams share the encoded bytes.
import { createHash } from 'node:crypto';
import { typeForUrl, encodeJsonCached, EncodeCache } from '../../envoy/proto-json.ts';
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

// Encoded bytes are shared by identity when unchanged (EncodeCache), so their hash is too.
const versions = new WeakMap<Uint8Array, string>();
function versionOf(bytes: Uint8Array): string {
  let v = versions.get(bytes);
  if (!v) {
    v = hash(bytes);
    versions.set(bytes, v);
  }
  return v;
}

/**
 * Encodes every resource (throws naming the resource if one does not encode).
 * With a cache shared between builds, only what changed is encoded again.
 */
export function buildSnapshot(envoy: EnvoyResources, previous?: Snapshot, cache = new EncodeCache()): Snapshot {
  cache.nextGeneration();
  const byType: Record<ResourceTypeUrl, Record<string, unknown>[]> = {
    [TYPE.cluster]: envoy.clusters,
    [TYPE.secret]: envoy.secrets,
    [TYPE.listener]: envoy.listeners,
    [TYPE.routeConfiguration]: envoy.routes,
    [TYPE.scopedRouteConfiguration]: envoy.scopedRoutes ?? [],
  };
  const resources = {} as Snapshot['resources'];
  const all: string[] = [];
  for (const typeUrl of PUSH_ORDER) {
    const type = typeForUrl(typeUrl);
    const map = new Map<string, EncodedResource>();
    for (const r of byType[typeUrl]) {
      const name = String(r.name);
      if (map.has(name)) throw new Error(`duplicate ${typeUrl} resource ${name}`);
      const bytes = encodeJsonCached(type, r, cache, `${typeUrl.split('.').pop()}/${name}`);
      const version = versionOf(bytes);
      // Reuse the previous object when unchanged, so unchanged bytes stay shared.
      const old = previous?.resources[typeUrl].get(name);
      map.set(name, old && old.version === version ? old : { name, version, bytes });
      all.push(`${typeUrl}/${name}@${version}`);
    }
    resources[typeUrl] = map;
  }
  return { version: hash(all.join('\n')), resources }; // translator order is deterministic
}

/**
 * Checks that everything a listener, route or cluster refers to exists in the
 * snapshot, so a translation bug never reaches Envoy as a half-configuration.
 * Looks only where Ferry's translator puts references (cheap at 10k routes).
 */
export function checkReferences(envoy: EnvoyResources): string[] {
  const problems: string[] = [];
  const clusters = new Set(envoy.clusters.map((c) => String(c.name)));
  const routes = new Set(envoy.routes.map((r) => String(r.name)));
  const secrets = new Set(envoy.secrets.map((s) => String(s.name)));
  type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const secretRefs = (tls: J | undefined, where: string) => {
    const ctx = tls?.typed_config?.common_tls_context as J | undefined;
    if (!ctx) return;
    const refs: J[] = [...(ctx.tls_certificate_sds_secret_configs ?? []), ctx.validation_context_sds_secret_config, ctx.combined_validation_context?.validation_context_sds_secret_config];
    for (const ref of refs) if (ref && !secrets.has(ref.name)) problems.push(`${where} uses missing secret ${ref.name}`);
  };
  for (const l of envoy.listeners as J[]) {
    for (const chain of [...(l.filter_chains ?? []), ...(l.default_filter_chain ? [l.default_filter_chain] : [])]) {
      secretRefs(chain.transport_socket, `listener ${l.name}`);
      for (const f of chain.filters ?? []) {
        const rds = f.typed_config?.rds?.route_config_name;
        if (rds !== undefined && !routes.has(rds)) problems.push(`listener ${l.name} uses missing route configuration ${rds}`);
      }
    }
  }
  for (const sc of (envoy.scopedRoutes ?? []) as J[]) {
    if (!routes.has(sc.route_configuration_name)) problems.push(`scope ${sc.name} uses missing route configuration ${sc.route_configuration_name}`);
  }
  for (const rc of envoy.routes as J[]) {
    for (const vh of rc.virtual_hosts ?? []) {
      for (const r of vh.routes ?? []) {
        const c = r.route?.cluster;
        if (c !== undefined && !clusters.has(c)) problems.push(`route configuration ${rc.name} uses missing cluster ${c}`);
      }
    }
  }
  for (const c of envoy.clusters as J[]) secretRefs(c.transport_socket, `cluster ${c.name}`);
  return problems;
}
