// Traffic over the last hour: requests, 5xx errors and bytes per partner and
// Service, as rates between the node's own samples (GET /api/v1/traffic: an
// in-process ring of Envoy statistics, no Prometheus).
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api, usePoll } from './api.ts';
import { rates, type Sample } from './model.ts';

const COLORS = ['#0550ae', '#953800', '#116329', '#8250df', '#cf222e', '#1b7c83', '#6e7781'];


function Chart({ title, unit, data, id }: { title: string; unit: string; data: ReturnType<typeof rates>; id: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = data.labels.join('|');
  useEffect(() => {
    if (!el.current) return;
    const width = Math.max(280, Math.min(el.current.clientWidth || 600, 1100));
    plot.current?.destroy();
    plot.current = new uPlot({
      width, height: 220, title: undefined,
      series: [{}, ...data.labels.map((l, i) => ({ label: l, stroke: COLORS[i % COLORS.length], width: 2, value: (_u: uPlot, v: number | null) => v === null ? '—' : `${v.toFixed(2)} ${unit}` }))],
      axes: [{}, { label: unit, size: 60 }],
      scales: { x: { time: true } },
    }, [data.times, ...data.values] as uPlot.AlignedData, el.current);
    return () => { plot.current?.destroy(); plot.current = undefined; };
  }, [shape]);
  useEffect(() => { plot.current?.setData([data.times, ...data.values] as uPlot.AlignedData); }, [data]);
  const max = Math.max(0, ...data.values.flat());
  return (
    <figure class="chart" id={id} data-points={data.times.length} data-max={max.toFixed(3)}>
      <figcaption>{title} ({unit})</figcaption>
      <div ref={el} aria-hidden="true" />
      <table class="totals">
        <caption class="sr-only">{title}: totals over the window shown</caption>
        <thead><tr><th scope="col">Series</th><th scope="col">Total</th><th scope="col">Last rate</th></tr></thead>
        <tbody>{data.labels.length === 0 ? <tr><td colSpan={3}>No traffic yet.</td></tr> : data.labels.map((l, i) => (
          <tr key={l}><th scope="row">{l}</th><td data-series={l}>{Math.round(data.totals[i]!)}</td><td>{(data.values[i]!.at(-1) ?? 0).toFixed(2)} {unit}</td></tr>
        ))}</tbody>
      </table>
    </figure>
  );
}

export function Traffic() {
  const { data, error } = usePoll(() => api<{ intervalMs: number; samples: Sample[] }>('/api/v1/traffic'), 2000);
  if (!data) return <section><h1>Traffic</h1>{error ? <p role="alert" class="error">{error}</p> : <p>Loading…</p>}</section>;
  const s = data.samples;
  return (
    <section>
      <h1>Traffic</h1>
      <p class="help">The last hour, sampled from this node's Envoy every {data.intervalMs / 1000} s ({s.length} samples). Outbound: to a partner; inbound: from a partner to a Service.</p>
      {error && <p role="alert" class="error">Refresh failed: {error}</p>}
      <Chart id="chart-requests" title="Requests" unit="req/s" data={rates(s, (x) => x.requests)} />
      <Chart id="chart-errors" title="Errors (5xx)" unit="err/s" data={rates(s, (x) => x.errors)} />
      <Chart id="chart-bytes" title="Bytes (upstream, sent + received)" unit="B/s" data={rates(s, (x) => x.bytesSent + x.bytesReceived)} />
    </section>
  );
}
