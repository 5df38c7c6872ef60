// The topology as nodes and edges, from the stored resources. Pure: the
// view draws what this returns.
import type { Item, Partner } from './api.ts';

export interface GraphNode { id: string; role: 'self' | 'partner' | 'relay'; x: number; y: number }
export interface GraphEdge {
  id: string;
  route: { kind: string; name: string };
  peer: string;
  /** Domains the traffic passes: self, a relay when there is one, the peer. */
  path: string[];
  outbound: boolean;
  reverseTunnel: boolean;
  ready: boolean;
  reason: string;
  step?: string;
  fix?: string;
}

const W = 800, H = 480;

export function graph(self: string, domains: Item[], routes: Item[], partners: Partner[]): { nodes: GraphNode[]; edges: GraphEdge[]; width: number; height: number } {
  const edges: GraphEdge[] = [];
  for (const r of routes) {
    const spec = r.spec as { source?: string; destination?: string; transit?: { transitMethod?: string; domain?: { domainID?: string } } };
    if (spec.source !== self && spec.destination !== self) continue;
    const outbound = spec.source === self;
    const peer = (outbound ? spec.destination : spec.source) ?? '';
    const relay = spec.transit?.transitMethod === 'THIRD-DOMAIN' ? spec.transit.domain?.domainID : undefined;
    const check = partners.find((p) => p.domain === peer)?.linkCheck;
    const ready = r.status?.ready === true;
    const step = !ready ? (check && !check.ok ? check.step : /failed at ([^:]+):/.exec(r.status?.reason ?? '')?.[1]) : undefined;
    edges.push({
      id: `${r.kind}/${r.metadata.name}`, route: { kind: r.kind, name: r.metadata.name }, peer,
      path: relay ? [self, relay, peer] : [self, peer], outbound,
      reverseTunnel: spec.transit?.transitMethod === 'REVERSE-TUNNEL', ready,
      reason: r.status?.reason ?? '', ...(step ? { step } : {}), ...(r.status?.fix ? { fix: r.status.fix } : check?.fix && !ready ? { fix: check.fix } : {}),
    });
  }
  const relays = [...new Set(edges.filter((e) => e.path.length === 3).map((e) => e.path[1]!))];
  const peers = [...new Set([...domains.map((d) => d.metadata.name), ...edges.map((e) => e.peer)])].filter((d) => d !== self && !relays.includes(d)).sort();
  const nodes: GraphNode[] = [{ id: self, role: 'self', x: W / 2, y: H / 2 }];
  // Partners on a circle around this domain; a relay halfway to the first partner it carries.
  const radius = Math.min(W, H) / 2 - 60;
  peers.forEach((p, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / Math.max(peers.length, 1);
    nodes.push({ id: p, role: 'partner', x: W / 2 + Math.cos(a) * radius * 1.4, y: H / 2 + Math.sin(a) * radius });
  });
  relays.forEach((relay, i) => {
    const to = nodes.find((n) => n.id === edges.find((e) => e.path[1] === relay)!.peer);
    const x = to ? (W / 2 + to.x) / 2 : W / 2 + 120 * (i + 1);
    const y = to ? (H / 2 + to.y) / 2 - 40 : H / 2 - 120;
    nodes.push({ id: relay, role: 'relay', x, y });
  });
  return { nodes, edges, width: W, height: H };
}
