// The console's pure core: the shapes of the REST answers it reads, and what
// the views compute from them (the topology graph, the routes table's rows,
// traffic rates). No DOM, no fetch: unit-tested (test/unit/console-model.test.ts).

export interface Condition { type: string; status?: string; reason?: string; message: string; field?: string; lastTransitionTime?: string }
export interface Item {
  kind: string;
  metadata: { name: string; generation?: number; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: { ready?: boolean; reason?: string; fix?: string; observedGeneration?: number; conditions?: Condition[] };
}
export interface LinkCheck { ok: boolean; reason: string; fix?: string; step?: string; detail?: string }
export interface Partner { domain: string; tokens: { direction: string; revision: number; heartbeatAgeSeconds?: number }[]; linkCheck?: LinkCheck; caNotAfter?: string }
export interface NodeStatus { domain: string; envoy: { ready: boolean }; xds: { converged: boolean } }


// ---- topology -----------------------------------------------------------------

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

// ---- routes and services -------------------------------------------------------

export interface Row {
  kind: string; name: string; peer: string; ready: boolean; reason: string; conditions: string;
  linkCheck: string; tokenRevision: string; heartbeatAge: string; caExpiry: string;
}

export const COLUMNS: [keyof Row, string][] = [
  ['kind', 'Kind'], ['name', 'Name'], ['peer', 'Peer'], ['ready', 'Status'], ['conditions', 'Conditions'],
  ['linkCheck', 'Last link check'], ['tokenRevision', 'Token revision'], ['heartbeatAge', 'Heartbeat age'], ['caExpiry', 'Partner CA expires'],
];

export function rows(self: string, items: Item[], ps: Partner[]): Row[] {
  return items.map((i) => {
    const spec = i.spec as { source?: string; destination?: string };
    const peer = i.kind === 'Service' ? '' : (spec.source === self ? spec.destination : spec.source) ?? '';
    const p = ps.find((x) => x.domain === peer);
    const dir = spec.source === self ? 'outbound' : 'inbound';
    const token = p?.tokens.find((t) => t.direction === dir) ?? p?.tokens[0];
    const conds = i.status?.conditions ?? [];
    return {
      kind: i.kind, name: i.metadata.name, peer, ready: i.status?.ready === true, reason: i.status?.reason ?? '',
      conditions: conds.length ? conds.map((c) => `${c.type}${c.status ? `=${c.status}` : ''}${c.message ? `: ${c.message}` : ''}`).join('; ') : '',
      linkCheck: p?.linkCheck ? (p.linkCheck.ok ? 'ok' : `failed at ${p.linkCheck.step ?? '?'}`) + ` — ${p.linkCheck.reason}` : '',
      tokenRevision: token ? String(token.revision) : '',
      heartbeatAge: token?.heartbeatAgeSeconds !== undefined ? `${token.heartbeatAgeSeconds} s` : '',
      caExpiry: p?.caNotAfter ? p.caNotAfter.slice(0, 10) : '',
    };
  });
}

// ---- traffic --------------------------------------------------------------------

export interface Series { direction: 'inbound' | 'outbound'; peer?: string; service?: string; requests: number; errors: number; bytesSent: number; bytesReceived: number }
export interface Sample { at: number; series: Series[] }

export const seriesLabel = (s: Series) => s.direction === 'outbound' ? `→ ${s.peer}` : s.peer ? `${s.peer} → ${s.service ?? '?'}` : `→ service ${s.service}`;

/** Rates between consecutive samples, per series label (a counter that went back, a restart, counts as 0). Pure. */
export function rates(samples: Sample[], value: (s: Series) => number): { times: number[]; labels: string[]; values: number[][]; totals: number[] } {
  const labels = [...new Set(samples.flatMap((s) => s.series.filter((x) => value(x) > 0 || samples.length < 2).map(seriesLabel)))].sort();
  const times: number[] = [];
  const values = labels.map(() => [] as number[]);
  const totals = labels.map(() => 0);
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    const dt = (b.at - a.at) / 1000;
    if (dt <= 0) continue;
    times.push(b.at / 1000);
    labels.forEach((l, j) => {
      const va = a.series.filter((s) => seriesLabel(s) === l).reduce((n, s) => n + value(s), 0);
      const vb = b.series.filter((s) => seriesLabel(s) === l).reduce((n, s) => n + value(s), 0);
      const d = Math.max(0, vb - va);
      totals[j]! += d;
      values[j]!.push(d / dt);
    });
  }
  return { times, labels, values, totals };
}

