// Control-plane metrics (prom-client), served on the API port at /metrics.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'ferry_' });
  }
}
