// Route configurations: the public routes (services, tokens, relays, reverse
// tunnels) and the internal routes engines call partners and local services by.
import type { Ir, LocalService } from '../translate/ir.ts';
import { handshakeHost } from '../../interop/kuscia-handshake.ts';
import { LISTENER, spiffeId } from './envoy-types.ts';
import { kusciaGrpcCluster } from './clusters.ts';
import { hopRelayHosts, relayedOriginRoutes } from './hop-relay.ts';
import { rbacPerRoute, partnerRbacPerRoute, tokenRbac, OPEN_RBAC, tokenHeaders, NO_CLIENT_CERT, unauthenticatedCause } from './access.ts';
import { type J, overwrite, memo, directError, alsoForConnect, kusciaHost, peerIs, SEVERAL_IDENTITIES, SEVERAL_KUSCIA_HOSTS, ONE_KUSCIA_HOST, PEER_IDENTITY, PUBLIC_INTERNAL_HEADERS, targetNamedBy, inboundStats, routeMeta, outboundStats, relayHost, tunnelHost, relayClusterName, tunnelInClusterName, HANDSHAKE_CLUSTER, UNSENT_RETRY, bandwidthLimit, outboundHeaders } from './common.ts';

/**
 * Route settings of a Service: its timeouts (gRPC deadlines, grpc-timeout,
 * are honoured across gateways) and, with several endpoints, Kuscia-Session-Id
 * stickiness.
 */
export function serviceRouteAction(s: LocalService): J {
  return {
    ...(s.addresses.length > 1 ? { hash_policy: [{ header: { header_name: 'kuscia-session-id' } }] } : {}),
    timeout: `${s.timeoutSeconds}s`,
    idle_timeout: `${s.idleTimeoutSeconds}s`,
    ...(s.protocol === 'GRPC' ? { max_stream_duration: { grpc_timeout_header_max: '0s' } } : {}),
  };
}

/**
 * What the local service is told: the authenticated caller, one value, whatever
 * the request carried (a repeated Kuscia-Source header must not reach it as a
 * list), and Host restored from Kuscia-Host, as a Kuscia receiver does; the
 * token and the listener's own headers stay at the gateway.
 */
export const asserted = (domain: string): J => ({
  request_headers_to_add: [overwrite('Kuscia-Source', domain), overwrite('Kuscia-Origin-Source', domain)],
  request_headers_to_remove: ['kuscia-token', ...PUBLIC_INTERNAL_HEADERS],
});

const severalKusciaHosts = (at: { domain: string }): J => ({
  name: 'several-kuscia-hosts',
  match: { prefix: '/', headers: [SEVERAL_KUSCIA_HOSTS] },
  ...directError(at, LISTENER.public, 400, 'the request carries several Kuscia-Host values (%REQ(kuscia-host)%): send exactly one'),
  ...OPEN_RBAC,
});

/** Refusals the fallback virtual host starts with: requests no route may read a caller or a target from. */
export function ambiguityGuards(at: { domain: string }): J[] {
  const L = LISTENER.public;
  return [
    ...alsoForConnect(severalKusciaHosts(at)),
    ...alsoForConnect({
      name: 'several-identities',
      match: { prefix: '/', headers: [SEVERAL_IDENTITIES] },
      ...directError(at, L, 403, `the client certificate carries several identities (%REQ(${PEER_IDENTITY})%): a partner's gateway certificate must carry exactly one, spiffe://<domain>/ferry/gateway`),
      ...OPEN_RBAC,
    }),
  ];
}

/** A Service's public routes, in order: the partners it admits, then the refusals. */
export const publicServiceRoutes = memo((s: LocalService) => {
  const L = LISTENER.public;
  // A TCP service is reached by CONNECT <svc>.<domain>.svc:<port>: Ferry ends the tunnel here.
  const tcp = s.protocol === 'TCP';
  const any = tcp ? { connect_matcher: {} } : { prefix: '/' };
  const forward = { cluster: s.cluster, ...serviceRouteAction(s), ...(tcp ? { upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } : { host_rewrite_literal: s.host }) };
  const denied = (name: string, match: J, caller = `%REQ(${PEER_IDENTITY})%`): J => ({
    name,
    match,
    ...directError(s, L, 403, `service ${s.host} is not exposed to ${caller}: ${s.domain} must list it in the Service's kuscia.secretflow/access-domain annotation`),
  });
  return {
    any,
    forward,
    denied,
    admitted: s.allowed.map((d) => ({
      name: `${s.name}-from-${d}`,
      stat_prefix: inboundStats(d, s.name),
      ...routeMeta({ peer: d, destination: s.domain, service: s.name, direction: 'inbound' }),
      match: { ...any, headers: [peerIs(d), ONE_KUSCIA_HOST] },
      route: forward,
      ...asserted(d),
    })),
    refusals: [
      { ...severalKusciaHosts(s), name: `${s.name}-several-kuscia-hosts`, match: { ...any, headers: [SEVERAL_KUSCIA_HOSTS] } },
      denied(`${s.name}-denied`, any),
      ...(tcp ? [] : [{
        name: `${s.name}-not-tcp`,
        match: { connect_matcher: {} },
        ...directError(s, L, 404, `service ${s.host} speaks ${s.protocol}; CONNECT reaches only Services declared with protocol TCP`),
      }]),
    ] as J[],
  };
});

/**
 * One virtual host per Service, found by Kuscia-Host (Host when absent; a hash
 * lookup, however many Services exist). Inside it the calling domain must be
 * one the Service admits: proven by its certificate (the identity header the
 * listener wrote, and per-route RBAC) or, for Token partners, by a route that
 * matches one of its current tokens. Without either, a connection that has no
 * client certificate gets 401.
 */
export const mtlsServiceHost = memo((s: LocalService): J => {
  const r = publicServiceRoutes(s);
  return { name: `service-${s.name}`, domains: serviceDomains(s), routes: [...r.admitted, ...r.refusals] };
});

export const serviceDomains = (s: LocalService) => (s.protocol === 'TCP' ? [s.host, `${s.host}:*`] : [s.host]);

export function publicServiceHost(ir: Ir, s: LocalService): J {
  const r = publicServiceRoutes(s);
  // Requests a relay forwards hop by hop come first: the relay's own routes would refuse their origin (hop-relay.ts).
  const relayed = relayedOriginRoutes(ir, s, r.forward, r.any);
  if (relayed.length) {
    const host = ir.tokenPartners.length === 0 ? mtlsServiceHost(s) : publicServiceHost({ ...ir, hopOrigins: [] }, s);
    return { ...host, routes: [...relayed, ...(host.routes as J[])] };
  }
  if (ir.tokenPartners.length === 0) return mtlsServiceHost(s);
  const tokenRoutes = ir.tokenPartners.filter((t) => t.tokens.length > 0).map((t): J => {
    const match = { ...r.any, headers: [...tokenHeaders(t), ONE_KUSCIA_HOST] };
    return s.allowed.includes(t.domain)
      ? { name: `${s.name}-from-${t.domain}-token`, stat_prefix: inboundStats(t.domain, s.name), ...routeMeta({ peer: t.domain, destination: s.domain, service: s.name, direction: 'inbound' }), match, route: r.forward, ...asserted(t.domain), ...tokenRbac(t.domain) }
      : { ...r.denied(`${s.name}-denied-${t.domain}-token`, match, t.domain), ...OPEN_RBAC };
  });
  const unauthenticated = { name: `${s.name}-unauthenticated`, match: { ...r.any, ...NO_CLIENT_CERT }, ...directError(s, LISTENER.public, 401, unauthenticatedCause), ...OPEN_RBAC };
  return { name: `service-${s.name}`, domains: serviceDomains(s), routes: [...tokenRoutes, ...staleConnection(ir), unauthenticated, ...r.admitted, ...r.refusals] };
}

/**
 * A trusted Ferry mTLS partner's request (Kuscia-Token: noop) on a connection
 * without a certificate: the connection opened on the default chain before
 * this node trusted the partner (the trust change drains it). 421 Misdirected
 * Request: the sender retries on a new connection, which reaches the
 * partner's own chain. Kuscia-Source only chooses between two refusals here.
 */
export function staleConnection(ir: Ir): J[] {
  // Partners with an inbound Token route come without a certificate by design: a bad token is a 401 for them.
  const tokenSources = new Set(ir.tokenPartners.map((t) => t.domain));
  const ferryPartners = ir.partners.filter((p) => p.gateway === 'ferry' && !tokenSources.has(p.domain)).map((p) => p.domain);
  if (!ferryPartners.length || !ir.tokenPartners.length) return [];
  return alsoForConnect({
    name: 'connection-before-trust',
    match: {
      prefix: '/',
      ...NO_CLIENT_CERT,
      headers: [{ name: 'kuscia-token', string_match: { exact: 'noop' } }, { name: 'kuscia-source', string_match: { safe_regex: { regex: `^(?:${ferryPartners.join('|')})$` } } }],
    },
    ...directError(ir, LISTENER.public, 421, `this connection carries no client certificate (it opened before ${ir.domain} trusted %REQ(kuscia-source)%): send the request again on a new connection`),
    ...OPEN_RBAC,
  });
}

/**
 * What a public request that names no Service, relay or tunnel of this node
 * meets: the ambiguity guards, with Token routes the token gate (the Kuscia
 * handshake among it), then "unknown service". Served as the handshake host's
 * scope, and as local replies to requests of no scope (public-scopes.ts).
 */
export function fallbackHost(ir: Ir): J {
  const unknown = alsoForConnect({
    name: 'unknown-service',
    match: { prefix: '/' },
    ...directError(ir, LISTENER.public, 404, `no service %REQ(kuscia-host)% in ${ir.domain} (${targetNamedBy}): apply a Service of that name in ${ir.domain}`),
  });
  return { name: 'unknown', domains: ['*'], routes: [...ambiguityGuards(ir), ...(ir.tokenPartners.length ? [...tokenGate(ir), ...unknown] : unknown)] };
}

/**
 * As a relay: CONNECT ferry-relay.<destination>.svc from a partner, for an
 * origin/destination pair this node agreed to carry, goes on as TCP to the
 * destination's endpoint (or as CONNECT to the next relay). Any other pair: 403.
 * The hop may be the origin itself or a relay before this one (any partner,
 * authenticated by its certificate); the origin is what the pair names.
 */
export function relayHosts(ir: Ir): J[] {
  const L = LISTENER.public;
  const byDestination = new Map<string, Ir['relays']>();
  for (const r of ir.relays) byDestination.set(r.destination, [...(byDestination.get(r.destination) ?? []), r]);
  const hopRbac = { typed_per_filter_config: rbacPerRoute(Object.fromEntries(ir.partners.map((p) => [`hop-${p.domain}`, {
    permissions: [{ and_rules: { rules: [{ header: peerIs(p.domain) }, { or_rules: { rules: [{ not_rule: { header: { name: 'kuscia-source', present_match: true } } }, { header: { name: 'kuscia-source', string_match: { exact: p.domain } } }] } }] } }],
    principals: [{ authenticated: { principal_name: { exact: spiffeId(p.domain) } } }],
  }]))) };
  return [...byDestination].map(([destination, rules]) => ({
    name: `relay-${destination}`,
    domains: [relayHost(destination), `${relayHost(destination)}:*`],
    routes: [
      ...rules.map((r) => ({
        name: `relay-${r.origin}-to-${destination}`,
        stat_prefix: `relay.${r.origin}.${destination}`,
        match: { connect_matcher: {}, headers: [{ name: 'kuscia-origin-source', string_match: { exact: r.origin } }] },
        route: r.next.kind === 'endpoint'
          ? { cluster: relayClusterName(destination), timeout: '0s', idle_timeout: '3600s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] }
          : { cluster: r.next.cluster, timeout: '0s', idle_timeout: '3600s', upgrade_configs: [{ upgrade_type: 'CONNECT' }] },
        ...(r.next.kind === 'relay' ? { request_headers_to_add: [overwrite('Kuscia-Source', ir.domain), overwrite('Kuscia-Host', relayHost(destination))] } : {}),
        ...hopRbac,
      })),
      ...alsoForConnect({
        name: `relay-refused-${destination}`,
        match: { prefix: '/' },
        ...directError(ir, L, 403, `${ir.domain} does not relay %REQ(kuscia-origin-source)% -> ${destination}: ${ir.domain} must apply a route from that origin to ${destination} with transit THIRD-DOMAIN via ${ir.domain}`),
        ...hopRbac,
      }),
    ],
  }));
}

/** Reverse tunnels dialled into this node: CONNECT ferry-tunnel.<self>.svc from a partner whose route here is REVERSE-TUNNEL. */
export function tunnelHosts(ir: Ir): J[] {
  if (!ir.reverseTunnels.length) return [];
  const L = LISTENER.public;
  return [{
    name: 'reverse-tunnels',
    domains: [tunnelHost(ir.domain), `${tunnelHost(ir.domain)}:*`],
    routes: [
      ...ir.reverseTunnels.map(({ peer }) => ({
        name: `tunnel-from-${peer}`,
        match: { connect_matcher: {}, headers: [peerIs(peer)] },
        route: { cluster: tunnelInClusterName(peer), timeout: '0s', idle_timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] },
      })),
      ...alsoForConnect({ name: 'tunnel-refused', match: { prefix: '/' }, ...directError(ir, L, 403, `${ir.domain} takes reverse tunnels only from partners its REVERSE-TUNNEL routes name`) }),
    ],
  }];
}

/**
 * With Token routes: the Kuscia handshake (no token needed: it is how one is
 * obtained), then "unknown service" for requests with a valid token, and 401
 * for everything else that came without a client certificate.
 */
export function tokenGate(ir: Ir): J[] {
  const handshake: J = {
    name: 'kuscia-handshake',
    // Any path prefix a sender or an intermediary put in front: [pathPrefix]/handshake.
    match: { safe_regex: { regex: '^(/.*)?/handshake$' }, headers: [kusciaHost(handshakeHost(ir.domain))] },
    route: { cluster: HANDSHAKE_CLUSTER, timeout: '30s' },
    ...OPEN_RBAC,
  };
  const withToken = ir.tokenPartners.filter((t) => t.tokens.length > 0).map((t): J => ({
    name: `unknown-service-${t.domain}-token`,
    match: { prefix: '/', headers: tokenHeaders(t) },
    ...directError(ir, LISTENER.public, 404, `no service %REQ(kuscia-host)% in ${ir.domain} (${targetNamedBy}): ask ${ir.domain} which services it exposes to ${t.domain}`),
    ...OPEN_RBAC,
  }));
  const unauthenticated = { name: 'unauthenticated', match: { prefix: '/', ...NO_CLIENT_CERT }, ...directError(ir, LISTENER.public, 401, unauthenticatedCause), ...OPEN_RBAC };
  return [handshake, ...withToken.flatMap(alsoForConnect), ...staleConnection(ir), ...alsoForConnect(unauthenticated)];
}

/** An engine of this domain calling a local service by its .svc name (CONNECT for a TCP one). */
export const localServiceHost = memo((s: LocalService): J => {
  const tcp = s.protocol === 'TCP';
  return {
    name: `local-${s.name}`,
    domains: tcp ? [s.host, `${s.host}:*`] : [s.host],
    routes: [{
      name: `local-${s.name}`,
      match: tcp ? { connect_matcher: {} } : { prefix: '/' },
      route: { cluster: s.cluster, ...serviceRouteAction(s), ...(tcp ? { upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } : {}) },
      // The Kuscia-* headers: set once for the whole configuration (internalRoutes), not per Service.
    }],
  };
});

/** Internal routes: <svc>.<peer>.svc to the peer's cluster, <svc>.<self>.svc to the local service. */
export function internalRoutes(ir: Ir): J {
  const L = LISTENER.internal;
  const hosts: J[] = [];
  for (const p of ir.peers) {
    if (p.token && 'pending' in p.token) {
      hosts.push({
        name: `peer-${p.domain}`,
        domains: [`*.${p.domain}.svc`, `*.${p.domain}.svc:*`],
        routes: alsoForConnect({ name: p.route, match: { prefix: '/' }, ...directError(ir, L, 503, `route ${p.route} is not ready: no token yet: ${p.token.pending}`) }),
      });
      continue;
    }
    const kusciaHeaders = outboundHeaders(ir, p, '%REQ(:authority)%');
    hosts.push({
      name: `peer-${p.domain}`,
      domains: [`*.${p.domain}.svc`, `*.${p.domain}.svc:*`],
      routes: [
        {
          // CONNECT <svc>.<peer>.svc:<port> travels to the peer as CONNECT over HTTP/2.
          name: `${p.route}/connect`,
          stat_prefix: outboundStats(p),
        ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          match: { connect_matcher: {} },
          route: { cluster: p.cluster, timeout: '0s', idle_timeout: '0s', upgrade_configs: [{ upgrade_type: 'CONNECT' }] },
          request_headers_to_add: kusciaHeaders,
          ...bandwidthLimit(p),
        },
        // Toward Kuscia, gRPC calls take the HTTP/2 cluster (the others HTTP/1.1: clusters.ts).
        ...(p.gateway === 'kuscia' ? [{
          name: `${p.route}/grpc`,
          stat_prefix: outboundStats(p),
          ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          match: { prefix: '/', headers: [{ name: 'content-type', string_match: { prefix: 'application/grpc' } }] },
          route: { cluster: kusciaGrpcCluster(p), timeout: '0s', idle_timeout: '0s', retry_policy: UNSENT_RETRY, ...(p.pathPrefix ? { prefix_rewrite: `${p.pathPrefix}/` } : {}) },
          request_headers_to_add: kusciaHeaders,
          ...bandwidthLimit(p),
        }] : []),
        {
          name: p.route,
          stat_prefix: outboundStats(p),
        ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          ...routeMeta({ peer: p.domain, destination: p.domain, direction: 'outbound' }),
          match: { prefix: '/' },
          // Timeouts are the destination Service's to set (its gateway enforces them): none on this hop.
          route: { cluster: p.cluster, timeout: '0s', idle_timeout: '0s', retry_policy: UNSENT_RETRY, ...(p.pathPrefix ? { prefix_rewrite: `${p.pathPrefix}/` } : {}) },
          request_headers_to_add: kusciaHeaders,
          ...bandwidthLimit(p),
        },
      ],
    });
  }
  for (const b of ir.blockedPeers) {
    hosts.push({
      name: `peer-${b.domain}`,
      domains: [`*.${b.domain}.svc`, `*.${b.domain}.svc:*`],
      routes: alsoForConnect({ name: b.route, match: { prefix: '/' }, ...directError(ir, L, 503, `route ${b.route} is not ready: ${b.reason}`) }),
    });
  }
  hosts.push(...ir.services.map(localServiceHost));
  hosts.push({
    name: `local-${ir.domain}`,
    domains: [`*.${ir.domain}.svc`, `*.${ir.domain}.svc:*`],
    routes: alsoForConnect({ name: 'unknown-local-service', match: { prefix: '/' }, ...directError(ir, L, 404, `no service %REQ(:authority)% in ${ir.domain}: apply a Service of that name`) }),
  });
  hosts.push({
    name: 'unknown-destination',
    domains: ['*'],
    routes: alsoForConnect({
      name: 'no-route',
      match: { prefix: '/' },
      ...directError(ir, L, 404, `no route to %REQ(:authority)%: call <service>.<domain>.svc for a domain with a route from ${ir.domain}`),
    }),
  });
  return {
    name: L,
    // What a local service is told (the caller is this domain; no token, no Kuscia-Host), for every
    // route: peer routes set their own Kuscia-* headers after these (most specific last), so this
    // costs Envoy one header parser per configuration instead of one per local Service.
    most_specific_header_mutations_wins: true,
    request_headers_to_add: [overwrite('Kuscia-Source', ir.domain), overwrite('Kuscia-Origin-Source', ir.domain)],
    request_headers_to_remove: ['kuscia-token', 'kuscia-host'],
    virtual_hosts: hosts,
  };
}
