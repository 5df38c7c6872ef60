// Route YAML for the tests and benchmarks beyond the plain mTLS route of
// harness.ts: relays, reverse tunnels and Kuscia tokens (docs/topologies.md).
import type { TestNode } from './harness.ts';

/** A ClusterDomainRoute <from>-<to>; `spec` lines go under source and destination, indented by two spaces. */
function route(from: { domain: string }, to: { domain: string }, spec: string[]): string {
  return `apiVersion: kuscia.secretflow/v1alpha1
kind: ClusterDomainRoute
metadata: { name: ${from.domain}-${to.domain} }
spec:
  source: ${from.domain}
  destination: ${to.domain}
${spec.map((l) => `  ${l}\n`).join('')}`;
}

/** from -> to through the relay domain (THIRD-DOMAIN), on the origin; the same document on a relay states the pair it carries. */
export function relayedRoute(from: TestNode, to: TestNode, relay: TestNode): string {
  return route(from, to, ['authenticationType: MTLS', `transit: { transitMethod: THIRD-DOMAIN, domain: { domainID: ${relay.domain} } }`]);
}

/** On the relay: the origin/destination pair it agrees to carry. */
export const relayRule = relayedRoute;

/** from -> to over tunnels `to` dials in (REVERSE-TUNNEL); applied on both sides. */
export function reverseRoute(from: TestNode, to: TestNode): string {
  return route(from, to, ['authenticationType: MTLS', 'transit: { transitMethod: REVERSE-TUNNEL }']);
}

/**
 * A Kuscia Token route. Without `endpoint` it is the destination's declaration
 * (the partner dials); with one, the source's outbound route. `extra` adds a
 * spec line (e.g. mTLSConfig).
 */
export function tokenRoute(from: { domain: string }, to: { domain: string }, opts: { period?: number; endpoint?: { host: string; port: number; pathPrefix?: string }; extra?: string } = {}): string {
  const e = opts.endpoint;
  return route(from, to, [
    'authenticationType: Token',
    `tokenConfig: { tokenGenMethod: RSA-GEN, rollingUpdatePeriod: ${opts.period ?? 600} }`,
    ...(e ? [`endpoint: { host: ${e.host}, ports: [{ name: https, port: ${e.port}, protocol: HTTP${e.pathPrefix ? `, pathPrefix: ${e.pathPrefix}` : ''} }] }`] : []),
    ...(opts.extra ? [opts.extra] : []),
  ]);
}
