// Control-plane metrics (prom-client), served on the API port at /metrics,
// followed by a curated, labelled copy of Envoy's traffic statistics (read
// from Envoy's admin /stats/prometheus at each scrape). docs/metrics.md lists
// every name and label.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ResourceStatus } from './translate/ir.ts';
import { SHORT_TYPE_NAME } from './xds/envoy-types.ts';
import type { ResourceStore } from './store/store.ts';
import { adminRequest, type AdminTarget } from '../envoy/admin.ts';
import { WRITE_TARGETS } from './write-failures.ts';

export interface TokenState {
  peer: string;
  direction: 'inbound' | 'outbound';
  revision: number;
  lastHeartbeatAt?: number;
}

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly xdsPushes = new Counter({ name: 'ferry_xds_pushes_total', help: 'xDS responses sent, by variant and resource type', labelNames: ['variant', 'type'] as const, registers: [this.registry] });
  readonly xdsNacks = new Counter({ name: 'ferry_xds_nacks_total', help: 'Configurations rejected by a proxy (NACK), by resource type', labelNames: ['type'] as const, registers: [this.registry] });
  readonly xdsConvergence = new Histogram({
    name: 'ferry_xds_convergence_seconds',
    help: 'Time from a configuration change until every connected proxy acknowledged it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly xdsRefused = new Counter({ name: 'ferry_xds_refused_streams_total', help: 'xDS streams refused because they did not present this node\'s xDS secret (not one of its own Envoys)', registers: [this.registry] });
  readonly xdsProxies = new Gauge({ name: 'ferry_xds_connected_proxies', help: 'Proxies with an open ADS stream, by variant', labelNames: ['variant'] as const, registers: [this.registry] });
  readonly translationErrors = new Counter({ name: 'ferry_translation_errors_total', help: 'Translations that failed (the previous configuration stayed in force)', registers: [this.registry] });
  readonly translations = new Counter({ name: 'ferry_translations_total', help: 'Translations of the stored resources into Envoy configuration', registers: [this.registry] });
  readonly translationSeconds = new Histogram({
    name: 'ferry_translation_seconds',
    help: 'Time to translate the stored resources into an encoded snapshot',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly envoyRestarts = new Counter({ name: 'ferry_envoy_restarts_total', help: 'Times the supervisor restarted Envoy after it exited', registers: [this.registry] });
  readonly writeFailures = new Counter({ name: 'ferry_write_failures_total', help: 'Failed writes of the node\'s own files, by what (gateway-certificate, ca-rotation, log, ...) and errno code (ENOSPC, EACCES, ...); the node kept serving', labelNames: ['what', 'code'] as const, registers: [this.registry] });
  readonly uncaughtErrors = new Counter({ name: 'ferry_uncaught_errors_total', help: 'Errors that reached the process-level guard (a bug: each is logged with its stack); the node kept running', labelNames: ['kind'] as const, registers: [this.registry] });

  /** Set by the node: what it cannot write now (open write-failure conditions). */
  writeConditions: () => string[] = () => [];
  readonly writeFailing = new Gauge({
    name: 'ferry_write_failing',
    help: 'Whether the node cannot write this file now (1: the last attempt failed; ferry status shows the cause) or can (0)',
    labelNames: ['what'] as const,
    registers: [this.registry],
    collect: () => {
      this.writeFailing.reset();
      const open = new Set(this.writeConditions());
      for (const what of new Set([...WRITE_TARGETS, ...open])) this.writeFailing.set({ what }, open.has(what) ? 1 : 0);
    },
  });

  /** Set by the node: where Envoy's admin answers (its Unix socket); else the scrape's `admin` address. */
  envoyAdmin: AdminTarget | undefined;

  /** Set by the node: the certificates whose expiry /metrics reports. */
  certificates: () => { cert: string; notAfter: Date }[] = () => [];
  readonly certExpiry = new Gauge({
    name: 'ferry_cert_expiry_seconds',
    help: 'Seconds until a certificate expires, by certificate (gateway, ca, partner-<domain>)',
    labelNames: ['cert'] as const,
    registers: [this.registry],
    collect: () => {
      this.certExpiry.reset();
      for (const c of this.certificates()) this.certExpiry.set({ cert: c.cert }, Math.round((c.notAfter.getTime() - Date.now()) / 1000));
    },
  });

  /** Set by the node: readiness of every route, with the partner it leads to or comes from. */
  routes: () => RouteReadiness[] = () => [];
  readonly routeReady = new Gauge({
    name: 'ferry_route_ready',
    help: 'Whether a ClusterDomainRoute/DomainRoute is ready (1) or not (0), as ferry describe shows it',
    labelNames: ['kind', 'route', 'peer_domain'] as const,
    registers: [this.registry],
    collect: () => {
      this.routeReady.reset();
      for (const r of this.routes()) this.routeReady.set({ kind: r.kind, route: r.route, peer_domain: r.peer }, r.ready ? 1 : 0);
    },
  });

  /** Set by the node: the Kuscia token state per partner and direction (control-plane/tokens). */
  tokens: () => TokenState[] = () => [];
  readonly tokenRevision = new Gauge({
    name: 'ferry_token_revision',
    help: 'Revision of the current Kuscia token, by partner and direction (outbound: obtained by this node; inbound: issued to the partner); 0 = none',
    labelNames: ['peer_domain', 'direction'] as const,
    registers: [this.registry],
    collect: () => {
      this.tokenRevision.reset();
      for (const t of this.tokens()) this.tokenRevision.set({ peer_domain: t.peer, direction: t.direction }, t.revision);
    },
  });
  readonly tokenHeartbeatAge = new Gauge({
    name: 'ferry_token_heartbeat_age_seconds',
    help: 'Seconds since the last successful token heartbeat with a partner (outbound: answered by the partner; inbound: received from it)',
    labelNames: ['peer_domain', 'direction'] as const,
    registers: [this.registry],
    collect: () => {
      this.tokenHeartbeatAge.reset();
      for (const t of this.tokens()) if (t.lastHeartbeatAt) this.tokenHeartbeatAge.set({ peer_domain: t.peer, direction: t.direction }, Math.round((Date.now() - t.lastHeartbeatAt) / 1000));
    },
  });

  readonly storeOperations = new Counter({
    name: 'ferry_store_operations_total',
    help: 'Writes to the resource store, by operation (apply, delete, status), resource kind and result (created, configured, unchanged, deleted, not_found, written, conflict, error_full, error_unavailable, error)',
    labelNames: ['op', 'kind', 'result'] as const,
    registers: [this.registry],
  });
  /** Set by observeStore: resources in the store by kind. */
  private storeCounts: () => Map<string, number> = () => new Map();
  readonly storeResources = new Gauge({
    name: 'ferry_store_resources',
    help: 'Resources in the store, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
    collect: () => {
      this.storeResources.reset();
      for (const [kind, n] of this.storeCounts()) this.storeResources.set({ kind }, n);
    },
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    // Zero from the start, so that increase() sees the first NACK.
    for (const type of Object.values(SHORT_TYPE_NAME)) this.xdsNacks.inc({ type }, 0);
    if (opts.processMetrics !== false) {
      collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
      // Gauges named *_total (promtool rejects them); ferry_nodejs_active_{handles,requests,resources} by type carry the same.
      for (const n of ['handles', 'requests', 'resources']) this.registry.removeSingleMetric(`ferry_nodejs_active_${n}_total`);
    }
  }

  /**
   * Counts the store's writes (wraps apply/delete/updateStatus of this
   * instance; result "error" carries the failure's HTTP class: conflict,
   * full, unavailable) and reports its size from the node's cache.
   */
  observeStore(store: ObservableStore, cache: { list(): { kind: string }[] }): void {
    const apply = store.apply.bind(store);
    const del = store.delete.bind(store);
    const status = store.updateStatus.bind(store);
    const failed = (op: string, kind: string, e: unknown) => {
      const code = (e as { statusCode?: number }).statusCode;
      this.storeOperations.inc({ op, kind, result: code === 409 ? 'conflict' : code === 507 ? 'error_full' : code === 503 ? 'error_unavailable' : 'error' });
      return e;
    };
    store.apply = async (resources) => {
      try {
        const results = await apply(resources);
        for (const r of results) this.storeOperations.inc({ op: 'apply', kind: r.kind, result: r.action });
        return results;
      } catch (e) {
        throw failed('apply', '', e);
      }
    };
    store.delete = async (kind, name, resourceVersion) => {
      try {
        const deleted = await del(kind, name, resourceVersion);
        this.storeOperations.inc({ op: 'delete', kind, result: deleted ? 'deleted' : 'not_found' });
        return deleted;
      } catch (e) {
        throw failed('delete', kind, e);
      }
    };
    store.updateStatus = async (kind, name, s, resourceVersion) => {
      try {
        const r = await status(kind, name, s, resourceVersion);
        this.storeOperations.inc({ op: 'status', kind, result: 'written' });
        return r;
      } catch (e) {
        throw failed('status', kind, e);
      }
    };
    this.storeCounts = () => {
      const counts = new Map<string, number>();
      for (const r of cache.list()) counts.set(r.kind, (counts.get(r.kind) ?? 0) + 1);
      return counts;
    };
  }

  /**
   * The whole scrape: control-plane metrics, then Envoy's traffic metrics
   * (curated: see curateEnvoyStats). When Envoy does not answer within
   * `timeoutMs`, the control-plane metrics are still served and
   * ferry_envoy_up is 0.
   */
  async exposition(envoy: EnvoyStatsSource, timeoutMs = 2000): Promise<string> {
    let envoyText: string | undefined;
    try {
      const target = this.envoyAdmin ?? envoy.admin;
      if (target) {
        const res = await adminRequest(target, `/stats/prometheus?filter=${encodeURIComponent(ENVOY_STATS_FILTER)}`, { timeoutMs });
        if (res.status === 200) envoyText = res.body;
      }
    } catch { /* Envoy down or slow: reported by ferry_envoy_up */ }
    const own = await this.registry.metrics();
    const up = `# HELP ferry_envoy_up Whether this scrape read Envoy's statistics (1) or Envoy did not answer (0: the ferry_envoy_* traffic metrics are missing from this scrape)\n# TYPE ferry_envoy_up gauge\nferry_envoy_up ${envoyText === undefined ? 0 : 1}\n`;
    return own + up + (envoyText === undefined ? '' : renderFamilies(curateEnvoyStats(parseExposition(envoyText), envoy)));
  }
}

export interface RouteReadiness { kind: string; route: string; peer: string; ready: boolean }

/** Route readiness from the translation's statuses; the peer is the other end of the route. */
export function routeReadiness(domain: string, routes: { kind: string; metadata: { name: string }; spec: unknown }[], statuses: ResourceStatus[]): RouteReadiness[] {
  const isRoute = (kind: string) => kind === 'ClusterDomainRoute' || kind === 'DomainRoute';
  const peerOf = new Map<string, string>();
  for (const r of routes) {
    if (!isRoute(r.kind)) continue;
    const { source, destination } = r.spec as { source?: string; destination?: string };
    peerOf.set(`${r.kind}/${r.metadata.name}`, (source === domain ? destination : source) ?? '');
  }
  return statuses.filter((s) => isRoute(s.kind)).map((s) => ({ kind: s.kind, route: s.name, peer: peerOf.get(`${s.kind}/${s.name}`) ?? '', ready: s.ready }));
}

/** What observeStore needs of control-plane/store/store.ts's ResourceStore. */
export type ObservableStore = Pick<ResourceStore, 'apply' | 'delete' | 'updateStatus'>;

export interface EnvoyStatsSource {
  domain: string;
  admin?: { address: string; port: number } | undefined;
  /** The public listener: its TLS handshake failures are the inbound ones. */
  publicListener: { address: string; port: number };
}

// ---- Envoy's statistics, curated ------------------------------------------------

/** The Envoy stats the curation reads (Envoy's admin filter regex, on full stat names). */
export const ENVOY_STATS_FILTER = String.raw`^(vhost\.[^.]+\.route\.(inbound|outbound)\.|cluster\.[^.]+\.(upstream_cx_|upstream_rq_active|ssl\.)|listener\..+\.ssl\.|http\.(public|public_from_[^.]+|internal)\.downstream_)`;

export interface Sample { name: string; labels: Record<string, string>; value: number }

/** Parses Prometheus text exposition (as Envoy writes it) into samples; comments are skipped. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_all, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

type MetricType = 'counter' | 'gauge' | 'histogram';
interface Family { type: MetricType; help: string; samples: Map<string, { name: string; labels: Record<string, string>; value: number }> }

/** The ferry_envoy_* families: name -> type and help. docs/metrics.md documents the same list. */
export const ENVOY_FAMILIES: Record<string, { type: MetricType; help: string }> = {
  ferry_envoy_requests_total: { type: 'counter', help: 'Requests through a partner route, by direction, peer_domain, service (inbound) or route (outbound), and response class (code_class: 1xx..5xx)' },
  ferry_envoy_request_timeouts_total: { type: 'counter', help: 'Requests through a partner route that timed out waiting for the upstream' },
  ferry_envoy_request_duration_seconds: { type: 'histogram', help: 'Time until the upstream answered completely, per partner route (inbound: the local service; outbound: the partner)' },
  ferry_envoy_upstream_bytes_sent_total: { type: 'counter', help: 'Bytes sent on upstream connections (outbound: to a partner gateway, by peer_domain; inbound: to a local service, by service); HTTP framing and headers included, TLS excluded' },
  ferry_envoy_upstream_bytes_received_total: { type: 'counter', help: 'Bytes received on upstream connections (outbound: from a partner gateway; inbound: from a local service); HTTP framing and headers included, TLS excluded' },
  ferry_envoy_upstream_connections_active: { type: 'gauge', help: 'Open upstream connections (outbound: to a partner gateway; inbound: to a local service)' },
  ferry_envoy_upstream_requests_active: { type: 'gauge', help: 'Requests (HTTP/2 streams, tunnels) in flight on upstream connections' },
  ferry_envoy_upstream_connect_failures_total: { type: 'counter', help: 'Upstream connections that failed or were refused, by reason (connect_fail, connect_timeout, overflow, none_healthy, protocol_error, remote_reset)' },
  ferry_envoy_tls_handshakes_total: { type: 'counter', help: 'Completed TLS handshakes (inbound: on the public listener; outbound: to a partner gateway)' },
  ferry_envoy_tls_handshake_failures_total: { type: 'counter', help: 'Failed TLS handshakes, by reason (connection_error, fail_verify_error, fail_verify_san, fail_verify_no_cert, fail_verify_cert_hash); inbound failures carry no peer_domain: the caller is not identified' },
  ferry_envoy_downstream_connections_active: { type: 'gauge', help: 'Open connections on a listener (public: partners, inbound; internal: local engines, outbound)' },
  ferry_envoy_downstream_requests_active: { type: 'gauge', help: 'Requests (streams, tunnels) in flight on a listener' },
  ferry_envoy_downstream_requests_total: { type: 'counter', help: 'Requests a listener answered, by response class, whatever the route (unknown services and refusals included)' },
  ferry_envoy_downstream_bytes_received_total: { type: 'counter', help: 'Bytes received on a listener\'s connections (HTTP framing and headers included, TLS excluded)' },
  ferry_envoy_downstream_bytes_sent_total: { type: 'counter', help: 'Bytes sent on a listener\'s connections (HTTP framing and headers included, TLS excluded)' },
};

const CLUSTER_COUNTERS: Record<string, [string, Record<string, string>?]> = {
  upstream_cx_tx_bytes_total: ['ferry_envoy_upstream_bytes_sent_total'],
  upstream_cx_rx_bytes_total: ['ferry_envoy_upstream_bytes_received_total'],
  upstream_cx_active: ['ferry_envoy_upstream_connections_active'],
  upstream_rq_active: ['ferry_envoy_upstream_requests_active'],
  upstream_cx_connect_fail: ['ferry_envoy_upstream_connect_failures_total', { reason: 'connect_fail' }],
  upstream_cx_connect_timeout: ['ferry_envoy_upstream_connect_failures_total', { reason: 'connect_timeout' }],
  upstream_cx_overflow: ['ferry_envoy_upstream_connect_failures_total', { reason: 'overflow' }],
  upstream_cx_none_healthy: ['ferry_envoy_upstream_connect_failures_total', { reason: 'none_healthy' }],
  upstream_cx_protocol_error: ['ferry_envoy_upstream_connect_failures_total', { reason: 'protocol_error' }],
  upstream_cx_destroy_remote_with_active_rq: ['ferry_envoy_upstream_connect_failures_total', { reason: 'remote_reset' }],
  ssl_handshake: ['ferry_envoy_tls_handshakes_total'],
};
const TLS_FAILURES = ['connection_error', 'fail_verify_error', 'fail_verify_san', 'fail_verify_no_cert', 'fail_verify_cert_hash'];
for (const r of TLS_FAILURES) CLUSTER_COUNTERS[`ssl_${r}`] = ['ferry_envoy_tls_handshake_failures_total', { reason: r }];

const HCM: Record<string, string> = {
  downstream_cx_active: 'ferry_envoy_downstream_connections_active',
  downstream_rq_active: 'ferry_envoy_downstream_requests_active',
  downstream_cx_rx_bytes_total: 'ferry_envoy_downstream_bytes_received_total',
  downstream_cx_tx_bytes_total: 'ferry_envoy_downstream_bytes_sent_total',
  downstream_rq_xx: 'ferry_envoy_downstream_requests_total',
};

/**
 * Envoy's labelled statistics (envoy/bootstrap.ts tags route stats with
 * direction, peer_domain, service and route) -> the ferry_envoy_* families,
 * with Ferry's labels only: bounded by the configuration (partners, routes,
 * services, two listeners), never by traffic. Series that map to the same
 * labels are summed (an outbound route seen from several virtual hosts, a
 * partner reached on several ports). Latencies become seconds.
 */
export function curateEnvoyStats(samples: Sample[], src: EnvoyStatsSource): Map<string, Family> {
  const families = new Map<string, Family>();
  const add = (family: string, labels: Record<string, string>, value: number, suffix = '') => {
    if (!Number.isFinite(value) && !(suffix === '_bucket')) return;
    let f = families.get(family);
    if (!f) families.set(family, f = { type: ENVOY_FAMILIES[family]!.type, help: ENVOY_FAMILIES[family]!.help, samples: new Map() });
    const key = suffix + JSON.stringify(Object.entries(labels).sort());
    const s = f.samples.get(key);
    if (s) s.value += value;
    else f.samples.set(key, { name: family + suffix, labels, value });
  };
  const peerCluster = new RegExp(`^${escapeRegExp(src.domain)}-to-(.+)-[^-]+$`);
  const publicAddress = `${src.publicListener.address}_${src.publicListener.port}`;
  for (const s of samples) {
    const l = s.labels;
    if (s.name.startsWith('envoy_vhost_route_') && l.direction && l.peer_domain) {
      const labels: Record<string, string> = { direction: l.direction, peer_domain: l.peer_domain };
      if (l.service) labels.service = l.service;
      if (l.route) labels.route = l.route;
      const stat = s.name.slice('envoy_vhost_route_'.length);
      if (stat === 'upstream_rq_xx' && l.envoy_response_code_class) add('ferry_envoy_requests_total', { ...labels, code_class: `${l.envoy_response_code_class}xx` }, s.value);
      else if (stat === 'upstream_rq_timeout') add('ferry_envoy_request_timeouts_total', labels, s.value);
      else if (stat === 'upstream_rq_time_bucket' && l.le) add('ferry_envoy_request_duration_seconds', { ...labels, le: l.le === '+Inf' ? '+Inf' : String(Number(l.le) / 1000) }, s.value, '_bucket');
      else if (stat === 'upstream_rq_time_sum') add('ferry_envoy_request_duration_seconds', labels, s.value / 1000, '_sum');
      else if (stat === 'upstream_rq_time_count') add('ferry_envoy_request_duration_seconds', labels, s.value, '_count');
    } else if (s.name.startsWith('envoy_cluster_') && l.envoy_cluster_name) {
      const peer = peerCluster.exec(l.envoy_cluster_name)?.[1];
      const service = /^service-(.+)$/.exec(l.envoy_cluster_name)?.[1];
      // Services on one backend share its cluster (translate/resources-to-ir.ts): counted by backend.
      const backend = /^backend-(.+)$/.exec(l.envoy_cluster_name)?.[1];
      if (!peer && !service && !backend) continue;
      const target = CLUSTER_COUNTERS[s.name.slice('envoy_cluster_'.length)];
      if (!target) continue;
      add(target[0], { direction: peer ? 'outbound' : 'inbound', ...(peer ? { peer_domain: peer } : service ? { service } : { backend: backend! }), ...target[1] }, s.value);
    } else if (s.name.startsWith('envoy_listener_ssl_') && l.envoy_listener_address === publicAddress) {
      const stat = s.name.slice('envoy_listener_'.length);
      const target = CLUSTER_COUNTERS[stat];
      if (target?.[0].startsWith('ferry_envoy_tls_')) add(target[0], { direction: 'inbound', ...target[1] }, s.value);
    } else if (s.name.startsWith('envoy_http_') && /^(public|public_from_.+|internal)$/.test(l.envoy_http_conn_manager_prefix ?? '')) {
      const family = HCM[s.name.slice('envoy_http_'.length)];
      if (!family) continue;
      // Each Ferry partner has a filter chain of its own on the public listener (stat prefix public_from_<peer>).
      const prefix = l.envoy_http_conn_manager_prefix!;
      const partner = prefix.startsWith('public_from_') ? prefix.slice('public_from_'.length) : undefined;
      const labels: Record<string, string> = { listener: partner ? 'public' : prefix, direction: prefix === 'internal' ? 'outbound' : 'inbound', ...(partner ? { peer_domain: partner } : {}) };
      if (family === 'ferry_envoy_downstream_requests_total') {
        if (!l.envoy_response_code_class) continue;
        labels.code_class = `${l.envoy_response_code_class}xx`;
      }
      add(family, labels, s.value);
    }
  }
  return families;
}

/** Prometheus text exposition of curated families (HELP and TYPE once per family). */
export function renderFamilies(families: Map<string, Family>): string {
  let out = '';
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    out += `# HELP ${name} ${f.help}\n# TYPE ${name} ${f.type}\n`;
    for (const s of f.samples.values()) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`).join(',');
      out += `${s.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}\n`;
    }
  }
  return out;
}

const formatValue = (v: number) => (Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
