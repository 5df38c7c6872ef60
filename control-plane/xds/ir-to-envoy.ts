// Pure translation: IR -> Envoy v3 resources in Envoy's JSON shape (what
// `envoy --config-yaml` would accept). Encoding to protobuf happens in ads/.
// The pieces: clusters.ts, listeners.ts and routes.ts, on access.ts and common.ts.
import type { Ir } from '../translate/ir.ts';
import { peerCluster, proxyCluster, relayEndpointClusters, internalLoopbackCluster, handshakeCluster, serviceCluster, secrets } from './clusters.ts';
import { type J, type GatewayKeyMaterial, pipeCluster, tunnelInClusterName } from './common.ts';
import { publicListener, localPortListener, internalListener, handshakeEgressListener, tunnelListener, reverseDialListener } from './listeners.ts';
import { internalRoutes } from './routes.ts';
import { publicScopedRouting } from './public-scopes.ts';

export type { GatewayKeyMaterial };

export interface EnvoyResources {
  clusters: J[];
  listeners: J[];
  routes: J[];
  secrets: J[];
  /** Scoped RDS: which route configuration serves a request, by its target host (routes.ts). */
  scopedRoutes?: J[];
}


export function translateToEnvoy(ir: Ir, gateway: GatewayKeyMaterial): EnvoyResources {
  const publicRouting = publicScopedRouting(ir);
  return {
    clusters: [
      // A hop-by-hop peer rides on its relay's cluster (hop-relay.ts): none of its own.
      ...ir.peers.filter((p) => p.path.kind !== 'hop').map((p) => peerCluster(ir, p)),
      ...ir.peers.filter((p) => p.gateway === 'kuscia' && p.path.kind !== 'hop').map((p) => peerCluster(ir, p, true)),
      ...uniqueByName(ir.services.map(serviceCluster)),
      ...(ir.tokenPartners.length ? [handshakeCluster(ir)] : []),
      ...(ir.peers.some((p) => p.auth === 'Token' && p.localPorts.length) ? [internalLoopbackCluster(ir)] : []),
      ...ir.peers.filter((p) => p.path.kind === 'proxy').map(proxyCluster),
      ...relayEndpointClusters(ir),
      ...ir.reverseTunnels.map((t) => pipeCluster(tunnelInClusterName(t.peer), t.inSocket)),
    ],
    listeners: [
      publicListener(ir),
      internalListener(ir),
      ...ir.peers.flatMap((p) => p.localPorts.map((m) => localPortListener(ir, p, m))),
      ...(ir.peers.some((p) => p.auth === 'Token') ? [handshakeEgressListener(ir)] : []),
      ...ir.peers.filter((p) => p.path.kind === 'proxy' || p.path.kind === 'relay').map((p) => tunnelListener(ir, p)),
      ...ir.reverseDialers.map((d) => reverseDialListener(ir, d)),
    ],
    routes: [...publicRouting.routes, internalRoutes(ir)],
    scopedRoutes: publicRouting.scopes,
    secrets: secrets(ir, gateway),
  };
}

/** Services on one backend share its cluster: each yields the same cluster, sent once. */
function uniqueByName(clusters: J[]): J[] {
  const byName = new Map<string, J>();
  for (const c of clusters) if (!byName.has(String(c.name))) byName.set(String(c.name), c);
  return [...byName.values()];
}
