// Who may do what on the public listener: the RBAC policies (per partner, per
// token, open) and the token matchers the public routes use.
import type { Ir, TokenPartner } from '../translate/ir.ts';
import { TYPE, spiffeId } from './envoy-types.ts';
import { type J, peerIs, PEER_IDENTITY } from './common.ts';

/**
 * RBAC on the public listener: a request is allowed only when the client
 * certificate's only identity is spiffe://P/ferry/gateway for a trusted partner
 * P (the identity header the listener wrote from it), and the request claims
 * no other source or origin than P. The claim can only refuse: routes never
 * match on Kuscia-Source.
 *
 * The listener's filter refuses everything; the partner policies ride on the
 * public RouteConfiguration (per-route RBAC), so a removed partner's next
 * request on an open connection is refused as soon as the routes change (its
 * own filter chain, and with it its connections, is drained within 1 s).
 */
export const DENY_ALL_RBAC = { name: 'envoy.filters.http.rbac', typed_config: { '@type': TYPE.rbac, rules: { action: 'ALLOW', policies: {} } } };

/**
 * The public listener's filter-level policy since its routes are scoped
 * (public-scopes.ts): it decides only requests that match no route, i.e. of
 * no scope, which reach no upstream (they get the local replies of the
 * fallback: 404, 401, 400...). Every public RouteConfiguration carries the
 * partner policies at its top (deny unless a partner proves itself), and
 * routes that answer anyone say so (OPEN_RBAC): closed where it matters.
 */
export const NO_ROUTE_RBAC = { name: DENY_ALL_RBAC.name, typed_config: { '@type': TYPE.rbac, rules: { action: 'DENY', policies: {} } } };

/** What the request says about its source and origin, if anything, is `domain` (one value each). */
export const claimsSource = (domain: string): J => ({
  and_rules: {
    rules: [
      {
        or_rules: {
          rules: [
            { not_rule: { header: { name: 'kuscia-source', present_match: true } } },
            { header: { name: 'kuscia-source', string_match: { exact: domain } } },
          ],
        },
      },
      {
        or_rules: {
          rules: [
            { not_rule: { header: { name: 'kuscia-origin-source', present_match: true } } },
            { header: { name: 'kuscia-origin-source', string_match: { exact: domain } } },
          ],
        },
      },
    ],
  },
});

export const rbacPerRoute = (policies: Record<string, J>): J => ({ [DENY_ALL_RBAC.name]: { '@type': TYPE.rbacPerRoute, rbac: { rules: { action: 'ALLOW', policies } } } });

export function partnerRbacPerRoute(ir: Ir): J {
  const policies: Record<string, J> = {};
  for (const p of ir.partners) {
    policies[`partner-${p.domain}`] = {
      permissions: [{ and_rules: { rules: [{ header: peerIs(p.domain) }, claimsSource(p.domain)] } }],
      // A Kuscia partner's certificate has no SPIFFE URI: its identity header comes from the issuer (kuscia-identity.ts).
      principals: [p.gateway === 'kuscia' ? { authenticated: {} } : { authenticated: { principal_name: { exact: spiffeId(p.domain) } } }],
    };
  }
  return rbacPerRoute(policies);
}

/**
 * Token routes: the route matched a valid Kuscia-Token, so the token is the
 * principal; a source or origin claimed must still be the token's domain.
 */
export const tokenRbac = (domain: string) => ({ typed_per_filter_config: rbacPerRoute({ [`token-${domain}`]: { permissions: [claimsSource(domain)], principals: [{ any: true }] } }) });

/** Answers anyone may get (401, the handshake): the route itself decides. */
export const OPEN_RBAC = { typed_per_filter_config: rbacPerRoute({ open: { permissions: [{ any: true }], principals: [{ any: true }] } }) };

/** Escapes base64 (A-Z a-z 0-9 + / =) for RE2. */
export const tokenAlternatives = (tokens: string[]) => `^(?:${tokens.map((t) => t.replace(/[+/=]/g, (c) => `\\${c}`)).join('|')})$`;

/**
 * Matches a request carrying one of `t.domain`'s accepted tokens (a token is
 * 32 random bytes agreed with that partner alone: it names the partner), on a
 * connection without a client certificate identity.
 */
export const tokenHeaders = (t: TokenPartner): J[] => [
  { name: 'kuscia-token', string_match: { safe_regex: { regex: tokenAlternatives(t.tokens) } } },
  { name: PEER_IDENTITY, present_match: true, invert_match: true },
];

/** Connections without a client certificate (only possible when Token routes exist). */
export const NO_CLIENT_CERT = { tls_context: { presented: false } };

export const unauthenticatedCause = 'no client certificate, and Kuscia-Token is missing, expired or not a token this node agreed with a partner: the source node must complete the token handshake (check its route status)';
