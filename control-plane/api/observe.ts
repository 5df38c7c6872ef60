// What the node knows about its partners beyond the stored resources, for the
// CLI and the console alike: per partner the Kuscia token state, the last link
// check and the partner CA's expiry (GET /api/v1/partners); the traffic ring
// (GET /api/v1/traffic); and `ferry diagnose network` run by the node (POST
// /api/v1/diagnose/network/:peer). All behind the bearer token (server.ts).
import type { FastifyPluginAsync } from 'fastify';
import type { ResourceStore } from '../store/store.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { TrafficRing } from './traffic.ts';
import { DIAGNOSE_DEFAULTS, diagnoseNetwork, type Gateway } from '../diagnose/client.ts';

export interface LinkCheck { ok: boolean; reason: string; fix?: string; step?: string; detail?: string }

export interface ObserveDeps {
  domain: string;
  store: ResourceStore;
  metrics: Pick<ControlPlaneMetrics, 'tokens' | 'certificates'>;
  traffic: TrafficRing;
  /** This node's internal listener: diagnose goes through its own gateway, like the CLI. */
  gateway: Gateway;
  /** The link prober's last check of a partner (control-plane/diagnose/prober.ts). */
  linkCheck?: (peer: string) => LinkCheck | undefined;
}

export interface PartnerView {
  domain: string;
  tokens: { direction: 'inbound' | 'outbound'; revision: number; heartbeatAgeSeconds?: number }[];
  linkCheck?: LinkCheck;
  /** The partner CA's notAfter (ISO), when its Domain carries a CA. */
  caNotAfter?: string;
}

/** Partners from the Domains, the token states and the certificates. Pure. */
export function partnerViews(self: string, domains: string[], tokens: ReturnType<ControlPlaneMetrics['tokens']>, certs: { cert: string; notAfter: Date }[], linkCheck: (peer: string) => LinkCheck | undefined, now: number): PartnerView[] {
  const names = [...new Set([...domains, ...tokens.map((t) => t.peer)])].filter((d) => d !== self).sort();
  return names.map((domain) => {
    const check = linkCheck(domain);
    const ca = certs.find((c) => c.cert === `partner-${domain}`);
    return {
      domain,
      tokens: tokens.filter((t) => t.peer === domain).map((t) => ({ direction: t.direction, revision: t.revision, ...(t.lastHeartbeatAt ? { heartbeatAgeSeconds: Math.max(0, Math.round((now - t.lastHeartbeatAt) / 1000)) } : {}) })),
      ...(check ? { linkCheck: check } : {}),
      ...(ca ? { caNotAfter: ca.notAfter.toISOString() } : {}),
    };
  });
}

const PEER = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const MIB = 2 ** 20;

export const observeApi: FastifyPluginAsync<ObserveDeps> = async (app, deps) => {
  app.get('/api/v1/partners', { schema: { description: 'Every partner: its Kuscia token state (revision, heartbeat age, by direction), the last link check and its CA\'s expiry.' } }, async () => ({
    items: partnerViews(deps.domain, (await deps.store.list('Domain')).items.map((d) => d.metadata.name), deps.metrics.tokens(), deps.metrics.certificates(), deps.linkCheck ?? (() => undefined), Date.now()),
  }));

  app.get('/api/v1/traffic', {
    schema: {
      description: 'Traffic samples of the last hour (requests, 5xx errors, upstream bytes per direction, partner and Service; cumulative counters: take differences for rates), taken from Envoy\'s statistics every intervalMs.',
      querystring: { type: 'object', properties: { since: { type: 'integer', minimum: 0 } }, additionalProperties: false },
    },
  }, async (req) => ({ intervalMs: deps.traffic.intervalMs, samples: deps.traffic.since((req.query as { since?: number }).since ?? 0) }));

  app.post('/api/v1/diagnose/network/:peer', {
    schema: {
      description: 'Runs `ferry diagnose network <peer>` on the node: each step (reachability, round trip, bandwidth, largest body, streaming, idle stream) with what failed and the fix.',
      params: { type: 'object', properties: { peer: { type: 'string' } } },
      body: { type: 'object', nullable: true, properties: { bytes: { type: 'integer', minimum: 1, maximum: 256 * MIB }, maxBody: { type: 'integer', minimum: MIB, maximum: 1024 * MIB }, idleSeconds: { type: 'integer', minimum: 0, maximum: 3600 } }, additionalProperties: false },
    },
  }, async (req, reply) => {
    const { peer } = req.params as { peer: string };
    if (!PEER.test(peer)) return reply.code(400).send({ error: `peer: "${peer}" is not a domain name (lower-case letters, digits, - and .)` });
    const body = (req.body ?? {}) as { bytes?: number; maxBody?: number; idleSeconds?: number };
    return diagnoseNetwork(deps.gateway, peer, {
      ...DIAGNOSE_DEFAULTS,
      ...(body.bytes ? { downloadBytes: body.bytes } : {}),
      ...(body.maxBody ? { maxBodyBytes: body.maxBody } : {}),
      ...(body.idleSeconds !== undefined ? { idleSeconds: body.idleSeconds } : {}),
    });
  });
};
