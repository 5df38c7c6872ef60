// Topology: this domain, its partners, relays and reverse tunnels; an edge per
// route, green when ready, red (and dashed) when not. Click or Enter on an
// edge (or its row in the list) shows the failing step and the fix; hovering
// shows them as the edge's tooltip.
import { useState } from 'preact/hooks';
import { list, partners, usePoll } from './api.ts';
import { graph, type GraphEdge } from './model.ts';

export function Topology({ self }: { self: string | undefined }) {
  const { data, error } = usePoll(async () => {
    const [domains, cdrs, drs, ps] = await Promise.all([list('domain'), list('clusterdomainroute'), list('domainroute'), partners()]);
    return { domains, routes: [...cdrs, ...drs], partners: ps };
  }, 1500);
  const [selected, setSelected] = useState<string | undefined>();
  if (!self || !data) return <section aria-busy="true"><h1>Topology</h1>{error ? <p role="alert" class="error">{error}</p> : <p>Loading…</p>}</section>;
  const g = graph(self, data.domains, data.routes, data.partners);
  const at = (id: string) => g.nodes.find((n) => n.id === id)!;
  const edge = g.edges.find((e) => e.id === selected);
  const pick = (e: GraphEdge) => setSelected(e.id);
  const key = (e: GraphEdge) => (ev: KeyboardEvent) => { if (ev.key === 'Enter' || ev.key === ' ') { ev.preventDefault(); pick(e); } };
  return (
    <section class="topology">
      <h1>Topology</h1>
      {error && <p role="alert" class="error">Refresh failed: {error}</p>}
      <div class="topo-grid">
        <svg viewBox={`0 0 ${g.width} ${g.height}`} role="group" aria-label={`Domain ${self} and its partners`} class="graph">
          {g.edges.map((e, i) => {
            const pts = e.path.map(at).filter(Boolean);
            const offset = (i % 2 ? 1 : -1) * 6 * Math.ceil(i / 2);
            const d = pts.map((p, j) => `${j ? 'L' : 'M'}${p.x + offset},${p.y + offset}`).join(' ');
            const label = `route ${e.route.name} ${e.outbound ? 'to' : 'from'} ${e.peer}: ${e.ready ? 'ready' : 'not ready'}`;
            return (
              <g key={e.id} class={`edge ${e.ready ? 'ready' : 'failing'} ${e.reverseTunnel ? 'tunnel' : ''} ${selected === e.id ? 'selected' : ''}`}
                role="button" tabindex={0} aria-label={label} data-route={e.route.name} data-ready={String(e.ready)}
                onClick={() => pick(e)} onKeyDown={key(e)}>
                <title>{`${label}${e.step ? `; failing step: ${e.step}` : ''}${e.fix ? `; fix: ${e.fix}` : ''}`}</title>
                <path d={d} class="hit" />
                <path d={d} class="line" />
                <text x={(pts[0]!.x + pts[pts.length - 1]!.x) / 2 + offset} y={(pts[0]!.y + pts[pts.length - 1]!.y) / 2 + offset - 6} class="edge-label">{e.ready ? '✓' : '✗'} {e.route.name}{e.reverseTunnel ? ' (reverse tunnel)' : ''}</text>
              </g>
            );
          })}
          {g.nodes.map((n) => (
            <g key={n.id} class={`node ${n.role}`}>
              <circle cx={n.x} cy={n.y} r={n.role === 'self' ? 34 : 26} />
              <text x={n.x} y={n.y + 4} text-anchor="middle">{n.id}</text>
              <text x={n.x} y={n.role === 'self' ? n.y + 50 : n.y < g.height / 2 ? n.y - 34 : n.y + 42} text-anchor="middle" class="role">{n.role === 'self' ? 'this domain' : n.role}</text>
            </g>
          ))}
        </svg>
        <aside class="edge-detail" aria-live="polite" id="edge-detail">
          {edge ? (
            <>
              <h2>{edge.route.kind} {edge.route.name}</h2>
              <p><span class={`badge ${edge.ready ? 'ok' : 'bad'}`}>{edge.ready ? 'Ready' : 'Not ready'}</span> {edge.outbound ? `${self} → ${edge.peer}` : `${edge.peer} → ${self}`}{edge.path.length === 3 ? ` via relay ${edge.path[1]}` : ''}{edge.reverseTunnel ? ' over a reverse tunnel' : ''}</p>
              {edge.step && <p class="step"><strong>Failing step:</strong> {edge.step}</p>}
              <p class="reason"><strong>Reason:</strong> {edge.reason || '—'}</p>
              {edge.fix && <p class="fix"><strong>Fix:</strong> {edge.fix}</p>}
              <p><a href={`#/routes/${encodeURIComponent(edge.route.kind)}/${encodeURIComponent(edge.route.name)}`}>Details and diagnose</a></p>
            </>
          ) : <p>Select a route (click, or Tab then Enter) to see its state, the failing step and the fix.</p>}
        </aside>
      </div>
      <h2>Routes</h2>
      <table class="edges">
        <thead><tr><th scope="col">Route</th><th scope="col">Peer</th><th scope="col">Via</th><th scope="col">State</th><th scope="col">Failing step</th></tr></thead>
        <tbody>
          {g.edges.length === 0 && <tr><td colSpan={5}>No routes yet: apply a ClusterDomainRoute (docs/resources.md).</td></tr>}
          {g.edges.map((e) => (
            <tr key={e.id}>
              <td><button type="button" class="link" onClick={() => pick(e)}>{e.route.name}</button></td>
              <td>{e.outbound ? '→' : '←'} {e.peer}</td>
              <td>{e.path.length === 3 ? `relay ${e.path[1]}` : e.reverseTunnel ? 'reverse tunnel' : 'direct'}</td>
              <td><span class={`badge ${e.ready ? 'ok' : 'bad'}`}>{e.ready ? 'Ready' : 'Not ready'}</span></td>
              <td>{e.step ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
