// Token routes relayed hop by hop, as Kuscia relays them (Ferry's own relays,
// for MTLS routes, carry TLS end to end: routes.ts relayHosts). The origin
// sends to the relay over its link there (a Peer with path 'hop': its routes
// are the ordinary internal ones); here: the relay's public virtual host for
// the destination, and the destination's routes for requests a relay
// forwards. Each hop authenticates the one before it (certificate or token);
// the destination believes the relay about the origin only for the pairs its
// own routes name. The relay reads the traffic (the route statuses say so).
import type { HopOrigin, Ir, LocalService, Peer } from '../translate/ir.ts';
import { LISTENER, spiffeId } from './envoy-types.ts';
import { kusciaGrpcCluster } from './clusters.ts';
import { rbacPerRoute, tokenRbac, OPEN_RBAC, tokenHeaders } from './access.ts';
import { type J, overwrite, directError, peerIs, ONE_KUSCIA_HOST, PUBLIC_INTERNAL_HEADERS, inboundStats, routeMeta, outboundHeaders, UNSENT_RETRY } from './common.ts';

const GRPC: J = { name: 'content-type', string_match: { prefix: 'application/grpc' } };
const originIs = (domain: string): J => ({ name: 'kuscia-origin-source', string_match: { exact: domain } });
const sourceIsOrAbsent = (domain: string): J => ({
  or_rules: { rules: [{ not_rule: { header: { name: 'kuscia-source', present_match: true } } }, { header: { name: 'kuscia-source', string_match: { exact: domain } } }] },
});

/** How a request proves it comes from partner `domain` on the public listener: its certificate, or one of its tokens. */
function callerMatches(ir: Ir, domain: string): { name: string; headers: J[]; token: boolean }[] {
  const t = ir.tokenPartners.find((x) => x.domain === domain && x.tokens.length > 0);
  return [{ name: 'cert', headers: [peerIs(domain)], token: false }, ...(t ? [{ name: 'token', headers: tokenHeaders(t), token: true }] : [])];
}

/** As the relay: *.<destination>.svc from each origin this node agreed to carry, forwarded with this node's credential. */
export function hopRelayHosts(ir: Ir): J[] {
  const byDestination = new Map<string, string[]>();
  for (const r of ir.hopRelays) byDestination.set(r.destination, [...(byDestination.get(r.destination) ?? []), r.origin]);
  return [...byDestination].map(([destination, origins]) => {
    const out = ir.peers.find((p) => p.domain === destination) as Peer;
    const refused = {
      name: `hop-refused-${destination}`,
      match: { prefix: '/' },
      ...directError(ir, LISTENER.public, 403, `${ir.domain} relays requests for ${destination} only from ${origins.join(', ')}, authenticated (certificate or token), naming no other origin`),
      ...OPEN_RBAC,
    };
    const pending = out.token && 'pending' in out.token ? out.token.pending : undefined;
    const routes = origins.flatMap((origin) => callerMatches(ir, origin).flatMap((c) => {
      const forward = (grpc: boolean): J => ({
        name: `hop-${origin}-to-${destination}-${c.name}${grpc ? '-grpc' : ''}`,
        stat_prefix: `relay.${origin}.${destination}`,
        ...routeMeta({ peer: origin, destination, direction: 'outbound' }),
        // The origin's claim, if any, must be the origin itself: only the destination's routes let a relay speak for another.
        match: { prefix: '/', headers: [...c.headers, ONE_KUSCIA_HOST, ...(grpc ? [GRPC] : [])] },
        ...(pending
          ? directError(ir, LISTENER.public, 503, `${ir.domain}'s route to ${destination} has no token yet: ${pending}`)
          : {
            route: { cluster: grpc ? kusciaGrpcCluster(out) : out.cluster, timeout: '0s', idle_timeout: '0s', retry_policy: UNSENT_RETRY, ...(out.pathPrefix ? { prefix_rewrite: `${out.pathPrefix}/` } : {}) },
            // This node's own headers toward the destination (its token, Kuscia-Source), the origin kept; Kuscia-Host as sent.
            request_headers_to_add: outboundHeaders(ir, out, '%REQ(kuscia-host)%').map((h) => ((h.header as { key: string }).key === 'Kuscia-Origin-Source' ? overwrite('Kuscia-Origin-Source', origin) : h)),
            request_headers_to_remove: PUBLIC_INTERNAL_HEADERS,
          }),
        ...(c.token ? tokenRbac(origin) : {}),
      });
      return out.gateway === 'kuscia' && !pending ? [forward(true), forward(false)] : [forward(false)];
    }));
    return { name: `hop-relay-${destination}`, domains: [`*.${destination}.svc`, `*.${destination}.svc:*`], routes: [...routes, refused] };
  });
}

/** As the destination: a Service's routes for requests a relay forwards from an origin the Service admits. */
export function relayedOriginRoutes(ir: Ir, s: LocalService, forward: J, any: J): J[] {
  return ir.hopOrigins.filter((h) => s.allowed.includes(h.origin)).flatMap((h) => callerMatches(ir, h.relay).map((c) => ({
    name: `${s.name}-from-${h.origin}-via-${h.relay}-${c.name}`,
    stat_prefix: inboundStats(h.origin, s.name),
    ...routeMeta({ peer: h.origin, destination: s.domain, service: s.name, direction: 'inbound' }),
    match: { ...any, headers: [...c.headers, originIs(h.origin), ONE_KUSCIA_HOST] },
    route: forward,
    request_headers_to_add: [overwrite('Kuscia-Source', h.relay), overwrite('Kuscia-Origin-Source', h.origin)],
    request_headers_to_remove: ['kuscia-token', ...PUBLIC_INTERNAL_HEADERS],
    typed_per_filter_config: rbacPerRoute({ [`relayed-${h.origin}-via-${h.relay}`]: relayedPolicy(ir, h, c.token) }),
  })));
}

function relayedPolicy(ir: Ir, h: HopOrigin, token: boolean): J {
  const claims = [sourceIsOrAbsent(h.relay), { header: originIs(h.origin) }];
  if (token) return { permissions: [{ and_rules: { rules: claims } }], principals: [{ any: true }] };
  const kuscia = ir.partners.find((p) => p.domain === h.relay)?.gateway === 'kuscia';
  return {
    permissions: [{ and_rules: { rules: [{ header: peerIs(h.relay) }, ...claims] } }],
    principals: [kuscia ? { authenticated: {} } : { authenticated: { principal_name: { exact: spiffeId(h.relay) } } }],
  };
}
