// Routes and Services: one table with readiness, conditions, the last link
// check, the Kuscia token state and the partner CA's expiry; filter and sort.
// A row's detail page shows what `ferry describe` shows (the CLI's own
// formatter) and runs `ferry diagnose network <peer>` on the node.
import { useState } from 'preact/hooks';
import { api, list, partners, usePoll, type Item } from './api.ts';
import { COLUMNS, rows, type Row } from './model.ts';
import { formatDescribe, formatDiagnosis } from '../../control-plane/cli/format.ts';

export function Routes() {
  const { data, error } = usePoll(async () => {
    const [status, cdrs, drs, svcs, ps] = await Promise.all([api<{ domain: string }>('/api/v1/status'), list('clusterdomainroute'), list('domainroute'), list('service'), partners()]);
    return rows(status.domain, [...cdrs, ...drs, ...svcs], ps);
  }, 2000);
  const [filter, setFilter] = useState('');
  const [sort, setSort] = useState<{ key: keyof Row; up: boolean }>({ key: 'kind', up: true });
  const shown = (data ?? [])
    .filter((r) => !filter || Object.values(r).join(' ').toLowerCase().includes(filter.toLowerCase()) || (filter.toLowerCase() === 'not ready' && !r.ready))
    .sort((a, b) => (sort.up ? 1 : -1) * String(a[sort.key]).localeCompare(String(b[sort.key]), undefined, { numeric: true }) || a.name.localeCompare(b.name));
  return (
    <section>
      <h1>Routes and Services</h1>
      {error && <p role="alert" class="error">Refresh failed: {error}</p>}
      <p class="toolbar">
        <label for="filter">Filter</label>
        <input id="filter" type="search" value={filter} onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)} placeholder="name, peer, reason…" />
        <span aria-live="polite">{shown.length} of {data?.length ?? 0}</span>
      </p>
      <div class="scroll">
        <table class="routes">
          <thead><tr>{COLUMNS.map(([k, label]) => (
            <th scope="col" key={k} aria-sort={sort.key === k ? (sort.up ? 'ascending' : 'descending') : 'none'}>
              <button type="button" class="sort" onClick={() => setSort({ key: k, up: sort.key === k ? !sort.up : true })}>{label}{sort.key === k ? (sort.up ? ' ▲' : ' ▼') : ''}</button>
            </th>))}</tr></thead>
          <tbody>
            {shown.map((r) => (
              <tr key={`${r.kind}/${r.name}`}>
                <td>{r.kind}</td>
                <td><a href={`#/routes/${encodeURIComponent(r.kind)}/${encodeURIComponent(r.name)}`}>{r.name}</a></td>
                <td>{r.peer}</td>
                <td><span class={`badge ${r.ready ? 'ok' : 'bad'}`}>{r.ready ? 'Ready' : 'Not ready'}</span>{!r.ready && r.reason && <div class="small">{r.reason}</div>}</td>
                <td class="small">{r.conditions}</td>
                <td class="small">{r.linkCheck}</td>
                <td>{r.tokenRevision}</td>
                <td>{r.heartbeatAge}</td>
                <td>{r.caExpiry}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function RouteDetail({ kind, name }: { kind: string; name: string }) {
  const { data, error } = usePoll(async () => {
    const [item, status] = await Promise.all([api<Item>(`/api/v1/resources/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`), api<{ domain: string }>('/api/v1/status')]);
    return { item, self: status.domain };
  }, 2000, [kind, name]);
  const [report, setReport] = useState<{ text: string; ok: boolean } | undefined>();
  const [running, setRunning] = useState(false);
  const spec = data?.item.spec as { source?: string; destination?: string } | undefined;
  const peer = data && kind !== 'Service' ? (spec?.source === data.self ? spec?.destination : spec?.source) : undefined;
  const diagnose = async () => {
    if (!peer || !data) return;
    setRunning(true);
    setReport(undefined);
    try {
      // Smaller than the CLI's defaults: an answer within seconds from a browser.
      const r = await api<{ peer: string; ok: boolean; steps: { step: string; ok: boolean; detail: string; fix?: string }[] }>(`/api/v1/diagnose/network/${encodeURIComponent(peer)}`, { method: 'POST', body: { bytes: 4 * 2 ** 20, maxBody: 8 * 2 ** 20, idleSeconds: 2 } });
      setReport({ text: formatDiagnosis(data.self, r), ok: r.ok });
    } catch (e) {
      setReport({ text: (e as Error).message, ok: false });
    } finally {
      setRunning(false);
    }
  };
  return (
    <section>
      <p><a href="#/routes">← Routes and Services</a></p>
      <h1>{kind} {name}</h1>
      {error && <p role="alert" class="error">{error}</p>}
      {data && <pre class="describe" id="describe" tabIndex={0} aria-label="ferry describe">{formatDescribe(data.item as never)}</pre>}
      {peer && (
        <>
          <h2>Diagnose the link to {peer}</h2>
          <button type="button" id="diagnose" onClick={diagnose} disabled={running}>{running ? 'Diagnosing…' : `Run ferry diagnose network ${peer}`}</button>
          <div aria-live="polite">{report && <pre id="diagnosis" class={report.ok ? 'ok' : 'bad'}>{report.text}</pre>}</div>
        </>
      )}
    </section>
  );
}
