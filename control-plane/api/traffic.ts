// Traffic over the last hour, from the node's own Envoy statistics: a small
// in-process ring of samples (GET /api/v1/traffic; the console draws it), so
// no Prometheus is needed to see requests, errors and bytes per partner and
// Service. Each sample holds the counters as read (cumulative); a reader
// takes differences between samples for rates.
import { adminRequest, type AdminTarget } from '../../envoy/admin.ts';
import { ENVOY_STATS_FILTER, curateEnvoyStats, parseExposition, type EnvoyStatsSource } from '../metrics.ts';

/** One series: outbound per partner; inbound per partner and Service (requests) or per Service (bytes). */
export interface TrafficSeries {
  direction: 'inbound' | 'outbound';
  peer?: string;
  service?: string;
  requests: number;
  /** Answers of class 5xx. */
  errors: number;
  bytesSent: number;
  bytesReceived: number;
}

export interface TrafficSample { at: number; series: TrafficSeries[] }

/** Envoy's Prometheus text (the curated filter's) -> one series per direction, partner and Service. Pure. */
export function trafficSeries(exposition: string, src: EnvoyStatsSource): TrafficSeries[] {
  const families = curateEnvoyStats(parseExposition(exposition), src);
  const byKey = new Map<string, TrafficSeries>();
  const series = (l: Record<string, string>) => {
    const direction = l.direction === 'outbound' ? 'outbound' : 'inbound';
    const key = `${direction}\0${l.peer_domain ?? ''}\0${l.service ?? ''}`;
    let s = byKey.get(key);
    if (!s) byKey.set(key, s = { direction, ...(l.peer_domain ? { peer: l.peer_domain } : {}), ...(l.service ? { service: l.service } : {}), requests: 0, errors: 0, bytesSent: 0, bytesReceived: 0 });
    return s;
  };
  for (const sample of families.get('ferry_envoy_requests_total')?.samples.values() ?? []) {
    // Outbound routes are labelled by route too: summed per partner here.
    const { route: _route, code_class, ...labels } = sample.labels;
    const s = series(labels);
    s.requests += sample.value;
    if (code_class === '5xx') s.errors += sample.value;
  }
  for (const [family, field] of [['ferry_envoy_upstream_bytes_sent_total', 'bytesSent'], ['ferry_envoy_upstream_bytes_received_total', 'bytesReceived']] as const) {
    for (const sample of families.get(family)?.samples.values() ?? []) series(sample.labels)[field] += sample.value;
  }
  return [...byKey.values()].sort((a, b) => `${a.direction}${a.peer ?? ''}${a.service ?? ''}`.localeCompare(`${b.direction}${b.peer ?? ''}${b.service ?? ''}`));
}

/** Samples every `intervalMs`, keeping the last hour. A sample Envoy did not answer is skipped (a gap in the charts). */
export class TrafficRing {
  readonly intervalMs: number;
  private readonly capacity: number;
  private readonly samples: TrafficSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly source: () => { target: AdminTarget | undefined; src: EnvoyStatsSource };

  constructor(source: () => { target: AdminTarget | undefined; src: EnvoyStatsSource }, intervalMs = 5000, windowMs = 3600_000) {
    this.source = source;
    // FERRY_TRAFFIC_SAMPLE_MS is for tests: a value that is not a number of ms (100 or more) keeps the default.
    this.intervalMs = Number.isFinite(intervalMs) && intervalMs >= 100 ? intervalMs : 5000;
    this.capacity = Math.max(2, Math.ceil(windowMs / this.intervalMs));
  }

  start(): void {
    const tick = async () => {
      await this.sample().catch(() => undefined);
      if (this.timer) this.timer = setTimeout(() => void tick(), this.intervalMs).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Reads Envoy's statistics once and keeps the sample. */
  async sample(now = Date.now()): Promise<void> {
    const { target, src } = this.source();
    if (!target) return;
    const res = await adminRequest(target, `/stats/prometheus?filter=${encodeURIComponent(ENVOY_STATS_FILTER)}`, { timeoutMs: Math.min(2000, this.intervalMs) });
    if (res.status !== 200) return;
    this.push({ at: now, series: trafficSeries(res.body, src) });
  }

  push(sample: TrafficSample): void {
    this.samples.push(sample);
    if (this.samples.length > this.capacity) this.samples.splice(0, this.samples.length - this.capacity);
  }

  /** The samples taken after `since` (ms since the epoch), oldest first. */
  since(since = 0): TrafficSample[] {
    return this.samples.filter((s) => s.at > since);
  }
}
