// Route YAML for the reachability scenarios (docs/topologies.md).
import type { TestNode } from './harness.ts';

/** from -> to through the relay domain (THIRD-DOMAIN), on the origin; the same document on a relay states the pair it carries. */
export function relayedRoute(from: TestNode, to: TestNode, relay: TestNode): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
  authenticationType: MTLS
  transit: { transitMethod: THIRD-DOMAIN, domain: { domainID: ${relay.domain} } }
`;
}

/** On the relay: the origin/destination pair it agrees to carry. */
export const relayRule = relayedRoute;

/** from -> to over tunnels `to` dials in (REVERSE-TUNNEL); applied on both sides. */
export function reverseRoute(from: TestNode, to: TestNode): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
  authenticationType: MTLS
  transit: { transitMethod: REVERSE-TUNNEL }
`;
}

/**
 * A Kuscia Token route. Without `endpoint` it is the destination's declaration
 * (the partner dials); with one, the source's outbound route. `extra` adds
 * spec lines (e.g. mTLSConfig), indented by two spaces.
 */
export function tokenRoute(from: { domain: string }, to: { domain: string }, opts: { period?: number; endpoint?: { host: string; port: number; pathPrefix?: string }; extra?: string } = {}): string {
  const e = opts.endpoint;
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
  authenticationType: Token
  tokenConfig: { tokenGenMethod: RSA-GEN, rollingUpdatePeriod: ${opts.period ?? 600} }
${e ? `  endpoint: { host: ${e.host}, ports: [{ name: https, port: ${e.port}, protocol: HTTP${e.pathPrefix ? `, pathPrefix: ${e.pathPrefix}` : ''} }] }\n` : ''}${opts.extra ? `  ${opts.extra}\n` : ''}`;
}
