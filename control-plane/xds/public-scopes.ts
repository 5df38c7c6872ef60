// The public listener's routes as Scoped RDS: one small RouteConfiguration per
// target host (a Service, a relay destination, the reverse tunnels, the Kuscia
// handshake), chosen by Kuscia-Host. A change to one Service is one scope and
// one RouteConfiguration of one virtual host: Envoy builds that alone, however
// many Services exist (one public RouteConfiguration of 10k virtual hosts cost
// Envoy ~1-2 s per change: docs/architecture.md, bench/results/xds.md).
import type { Ir, LocalService } from '../translate/ir.ts';
import { handshakeHost } from '../../interop/kuscia-handshake.ts';
import { LISTENER } from './envoy-types.ts';
import { partnerRbacPerRoute } from './access.ts';
import { type J, ads, memo, relayHost, tunnelHost, PEER_IDENTITY } from './common.ts';
import { fallbackHost, publicServiceHost, relayHosts, tunnelHosts } from './routes.ts';

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

/** The scope and route configuration of each target host on the public listener. */
export function publicScopedRouting(ir: Ir): PublicRouting {
  const rbac = partnerRbac(ir);
  const routes: J[] = [];
  const scopes: J[] = [];
  const add = (name: string, hosts: string[], vh: J) => {
    const rc = scopeConfig(vh, rbac, name);
    routes.push(rc);
    for (const host of hosts) scopes.push(scopeFor(rc, host));
  };
  // Token routes make every Service's routes depend on the tokens: no per-Service memo then (publicServiceHost).
  for (const s of ir.services) add(`${LISTENER.public}/service-${s.name}`, [s.host], publicServiceHost(ir, s));
  for (const vh of relayHosts(ir)) add(`${LISTENER.public}/${vh.name}`, [relayHost(String(vh.name).slice('relay-'.length))], vh);
  for (const vh of tunnelHosts(ir)) add(`${LISTENER.public}/${vh.name}`, [tunnelHost(ir.domain)], vh);
  if (ir.tokenPartners.length) add(`${LISTENER.public}/kuscia-handshake`, [handshakeHost(ir.domain)], fallbackHost(ir));
  return { routes, scopes };
}

/** The name of a Service's public RouteConfiguration (for NACK provenance). */
export const serviceRouteConfigName = (s: LocalService) => `${LISTENER.public}/service-${s.name}`;

// The partner policies ride on every public RouteConfiguration (per-route RBAC at its top):
// the same object while the partners are the same, so unchanged scopes are not encoded again.
let lastRbac: { key: string; value: J } | undefined;
function partnerRbac(ir: Ir): J {
  const key = JSON.stringify(ir.partners.map((p) => p.domain));
  if (lastRbac?.key !== key) lastRbac = { key, value: partnerRbacPerRoute(ir) };
  return lastRbac.value;
}

/** One virtual host answering whatever reached its scope (the scope matched the host already). */
const configs = new WeakMap<J, { rbac: J; name: string; rc: J }>();
function scopeConfig(vh: J, rbac: J, name: string): J {
  const known = configs.get(vh);
  if (known && known.rbac === rbac && known.name === name) return known.rc;
  const rc = { name, typed_per_filter_config: rbac, virtual_hosts: [{ ...vh, domains: ['*'] }] };
  configs.set(vh, { rbac, name, rc });
  return rc;
}

const scopeFor = (rc: J, host: string): J => scopeOf(rc)(host);
const scopeOf = memo((rc: J) => {
  const byHost = new Map<string, J>();
  return (host: string) => {
    let scope = byHost.get(host);
    if (!scope) byHost.set(host, scope = { name: `${rc.name}@${host}`, route_configuration_name: rc.name, key: { fragments: [{ string_key: host }] } });
    return scope;
  };
});

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
