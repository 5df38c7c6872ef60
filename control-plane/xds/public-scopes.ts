// The public listener's routes as Scoped RDS: a scope per target host (a
// Service, a relay destination, the reverse tunnels, the Kuscia handshake),
// chosen by Kuscia-Host. A Service's scope names one of SHARDS route
// configurations (by a hash of its name), which holds its virtual host among
// ~N/SHARDS others: a change makes Envoy build that small configuration alone
// (one RouteConfiguration of 10k virtual hosts cost Envoy 1-2 s per change),
// while the number of route configurations stays bounded (10k of them, one
// per Service, made Envoy's initial sync ~2x slower: bench/results/xds.md).
import type { Ir, LocalService } from '../translate/ir.ts';
import { handshakeHost } from '../../interop/kuscia-handshake.ts';
import { LISTENER } from './envoy-types.ts';
import { partnerRbacPerRoute } from './access.ts';
import { type J, ads, relayHost, tunnelHost, PEER_IDENTITY } from './common.ts';
import { fallbackHost, publicServiceHost, relayHosts, tunnelHosts } from './routes.ts';
import { hopRelayHosts } from './hop-relay.ts';

/**
 * The scope key: the first Kuscia-Host value (the public listener's early
 * header mutation sets it from Host when the sender did not), without a port.
 * Several values: the scope of the first, whose routes refuse the request (400).
 */
export const PUBLIC_SCOPED_ROUTES: J = {
  name: LISTENER.public,
  scope_key_builder: { fragments: [{ header_value_extractor: { name: 'kuscia-host', element_separator: ':', index: 0 } }] },
  rds_config_source: ads,
  scoped_rds: { scoped_rds_config_source: ads },
};

export interface PublicRouting {
  routes: J[];
  scopes: J[];
}

/** How many route configurations the Services are spread over: 10k Services make ~40 virtual hosts each. */
export const SHARDS = 256;

/** The shard of a Service: FNV-1a of its name (stable: a Service never moves while it exists). */
export function shardOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h >>> 0) % SHARDS;
}

/**
 * Scopes are exact hosts, and a node relaying Token routes hop by hop serves
 * `*.<destination>.svc` for hosts it cannot list: such a node keeps one public
 * RouteConfiguration (virtual hosts chosen by Kuscia-Host, as before scopes).
 */
export const publicRoutesScoped = (ir: Ir): boolean => ir.hopRelays.length === 0;

/** The one public RouteConfiguration of a hop-by-hop relay (publicRoutesScoped). */
function unscopedRouting(ir: Ir): PublicRouting {
  const hosts = [...ir.services.map((s) => publicServiceHost(ir, s)), ...relayHosts(ir), ...hopRelayHosts(ir), ...tunnelHosts(ir), fallbackHost(ir)];
  return { routes: [{ name: LISTENER.public, vhost_header: 'kuscia-host', typed_per_filter_config: partnerRbacPerRoute(ir), virtual_hosts: hosts }], scopes: [] };
}

/** The scope and route configuration of each target host on the public listener. */
export function publicScopedRouting(ir: Ir): PublicRouting {
  if (!publicRoutesScoped(ir)) return unscopedRouting(ir);
  const rbac = partnerRbac(ir);
  const routes: J[] = [];
  const scopes: J[] = [];
  const cache = nextGeneration();
  const add = (name: string, hosts: string[], vhs: J[], services?: LocalService[]) => {
    const rc = routeConfig(cache, name, vhs, rbac);
    routes.push(rc);
    hosts.forEach((host, i) => scopes.push(services ? serviceScope(services[i]!, rc) : scopeOf(cache, rc, host)));
  };
  const shards = new Map<number, LocalService[]>();
  for (const s of ir.services) {
    const i = shardOf(s.name);
    const members = shards.get(i);
    if (members) members.push(s);
    else shards.set(i, [s]);
  }
  // Token routes make every Service's routes depend on the tokens: no per-Service memo then (publicServiceHost).
  for (const [i, members] of [...shards].sort(([a], [b]) => a - b)) {
    add(`${LISTENER.public}/services-${i}`, members.map((s) => s.host), members.map((s) => publicServiceHost(ir, s)), members);
  }
  for (const vh of relayHosts(ir)) add(`${LISTENER.public}/${vh.name}`, [relayHost(String(vh.name).slice('relay-'.length))], [vh]);
  for (const vh of tunnelHosts(ir)) add(`${LISTENER.public}/${vh.name}`, [tunnelHost(ir.domain)], [vh]);
  if (ir.tokenPartners.length) add(`${LISTENER.public}/kuscia-handshake`, [handshakeHost(ir.domain)], [fallbackHost(ir)]);
  return { routes, scopes };
}

// The partner policies ride on every public RouteConfiguration (per-route RBAC at its top):
// the same object while the partners are the same, so unchanged configurations are not encoded again.
let lastRbac: { key: string; value: J } | undefined;
function partnerRbac(ir: Ir): J {
  const key = JSON.stringify(ir.partners.map((p) => p.domain));
  if (lastRbac?.key !== key) lastRbac = { key, value: partnerRbacPerRoute(ir) };
  return lastRbac.value;
}

/**
 * Route configurations and scopes of the last translation, reused when
 * unchanged (the same objects: the encoder skips them), kept one generation.
 */
interface Generation { configs: Map<string, { vhs: J[]; rbac: J; rc: J }>; scopes: Map<string, J> }
let previous: Generation = { configs: new Map(), scopes: new Map() };
function nextGeneration(): { prev: Generation; next: Generation } {
  const next: Generation = { configs: new Map(), scopes: new Map() };
  const prev = previous;
  previous = next;
  return { prev, next };
}

/** The virtual hosts, found by Kuscia-Host within the configuration the scope chose (Host when absent: see above). */
function routeConfig(cache: { prev: Generation; next: Generation }, name: string, vhs: J[], rbac: J): J {
  const known = cache.prev.configs.get(name);
  const same = known && known.rbac === rbac && known.vhs.length === vhs.length && known.vhs.every((v, i) => v === vhs[i]);
  const entry = same ? known : { vhs, rbac, rc: { name, vhost_header: 'kuscia-host', typed_per_filter_config: rbac, virtual_hosts: vhs } };
  cache.next.configs.set(name, entry);
  return entry.rc;
}

/** A Service's scope: one object per stored Service (its shard never changes). */
const serviceScopes = new WeakMap<LocalService, J>();
function serviceScope(s: LocalService, rc: J): J {
  let scope = serviceScopes.get(s);
  if (!scope || scope.route_configuration_name !== rc.name) serviceScopes.set(s, scope = { name: `${LISTENER.public}@${s.host}`, route_configuration_name: rc.name, key: { fragments: [{ string_key: s.host }] } });
  return scope;
}

function scopeOf(cache: { prev: Generation; next: Generation }, rc: J, host: string): J {
  const key = `${rc.name}|${host}`;
  const scope = cache.prev.scopes.get(key) ?? { name: `${LISTENER.public}@${host}`, route_configuration_name: rc.name, key: { fragments: [{ string_key: host }] } };
  cache.next.scopes.set(key, scope);
  return scope;
}

/**
 * A request of no scope matches no route (Envoy: NR, 404). Its answer is the
 * fallback virtual host's, as local replies: each of its refusals becomes a
 * local-reply mapper with the same condition (request headers; "no client
 * certificate" is the identity header's absence), status and message.
 */
export function unroutedReplies(ir: Ir, unauthorizedBody: J): J[] {
  const seen = new Set<string>();
  const mappers: J[] = [];
  for (const route of fallbackHost(ir).routes as J[]) {
    const name = String(route.name).replace(/\/connect$/, ''); // the CONNECT twin answers the same
    if (!route.direct_response || seen.has(name)) continue; // the handshake forwards: only in its own scope
    seen.add(name);
    const match = route.match as J;
    const conditions: J[] = [{ response_flag_filter: { flags: ['NR'] } }];
    for (const h of (match.headers ?? []) as J[]) conditions.push({ header_filter: { header: h } });
    if (match.tls_context) conditions.push({ header_filter: { header: { name: PEER_IDENTITY, present_match: true, invert_match: true } } });
    const status = (route.direct_response as J).status as number;
    mappers.push({
      filter: conditions.length > 1 ? { and_filter: { filters: conditions } } : conditions[0],
      status_code: status,
      headers_to_add: route.response_headers_to_add,
      ...(status === 401 ? { body_format_override: unauthorizedBody } : {}),
    });
  }
  return mappers;
}
