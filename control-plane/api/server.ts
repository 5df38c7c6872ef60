// The REST API (Fastify): resources, status, health. Everything under /api
// needs the bearer token from <home>/api-token; health and the OpenAPI
// document do not.
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Logger } from 'pino';
import type { ResourceStore, StoredResource } from '../store/store.ts';
import type { StoreCache } from '../store/cache.ts';
import { applyDocuments, ApplyError } from '../resources/apply.ts';
import { resolveKind } from '../resources/kinds.ts';
import { decodeUtf8 } from '../../interop/documents.ts';
import { RESOURCE_SCHEMAS } from '../resources/schemas.ts';
import { parseDuration } from '../resources/validate.ts';
import type { NodeConfig } from '../config.ts';
import type { NodeStatus } from './status.ts';
import type { ControlPlaneMetrics } from '../metrics.ts';
import type { CertRenewer } from '../cert-renewer.ts';
import { jobsApi } from './jobs.ts';
import { consoleUi } from './console.ts';
import { observeApi, type LinkCheck } from './observe.ts';
import { TrafficRing } from './traffic.ts';
import { redactSource } from '../datamesh/secrets.ts';
import type { StoreKey } from '../store/secrets.ts';

export interface ApiDeps {
  config: NodeConfig;
  store: ResourceStore;
  /** The node's view of the store: a write returns once the node has seen it. */
  cache?: StoreCache;
  apiToken: string;
  status: () => Promise<NodeStatus>;
  metrics: ControlPlaneMetrics;
  certs: Pick<CertRenewer, 'status' | 'renew' | 'startCaRotation' | 'finishCaRotation'>;
  log: Logger;
  /** Where the runtime writes task logs (<home>/logs/tasks), for /api/v1/jobs/:name/logs. */
  taskLogs?: string;
  /** Seals DomainDataSource credentials on apply (datamesh/secrets.ts). */
  sourceKey?: StoreKey;
  /** More routes on this listener with their own auth (KusciaAPI: route config kusciaApi). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
  /** The link prober's last check of a partner, for /api/v1/partners. */
  linkCheck?: (peer: string) => LinkCheck | undefined;
  /** Between traffic samples for /api/v1/traffic and the console (default 5 s). */
  trafficIntervalMs?: number;
}

const errorSchema = { type: 'object', properties: { error: { type: 'string' } } } as const;
const error = (description: string) => ({ description, ...errorSchema });
/** The answers every /api route may give besides its own (documented in the OpenAPI document). */
const API_ERRORS = {
  400: error('Invalid request: the message names the field and the fix'),
  401: error('Missing or wrong bearer token'),
  404: error('No such resource (or path)'),
  405: error('Method not allowed on this path (the Allow header lists the allowed ones)'),
  414: error('URI too long'),
  415: error('Unsupported media type: send application/json'),
} as const;
const CONFLICT = { 409: error('Conflict with the current state: the message says which') } as const;
/** Paths that answer without a token (health, readiness, scrape, OpenAPI; the API binds to loopback). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/openapi.json']);

/** The CA rotation's overlap window: long enough for every partner to apply the bundle. */
export const DEFAULT_CA_OVERLAP = '72h';

export function parseOverlap(value: string | undefined): number {
  const seconds = parseDuration(value ?? DEFAULT_CA_OVERLAP);
  if (seconds === undefined || seconds < 1) throw new Error(`overlap: "${value}" is not a duration such as "72h" or "30m"`);
  return seconds;
}

export async function buildApi(deps: ApiDeps) {
  // Requests are not logged one by one (info); API errors are (warn and above).
  const app = Fastify({ loggerInstance: deps.log.child({ component: 'api' }, { level: 'warn' }), bodyLimit: 32 * 1024 * 1024 });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Ferry node API', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  // Every route's OpenAPI entry lists the errors it can answer; health and readiness need no token.
  const routes: { method: string; pattern: RegExp }[] = [];
  app.addHook('onRoute', (opts) => {
    for (const m of [opts.method].flat()) if (m !== 'HEAD') routes.push({ method: m, pattern: new RegExp(`^${opts.url.replace(/:[^/]+/g, '[^/]+')}$`) });
    if ((opts.config as { kusciaApi?: boolean } | undefined)?.kusciaApi) {
      // KusciaAPI's calls (Kuscia's /api/v1/... paths) answer in Kuscia's envelope, not with these errors; its protos document them.
      opts.schema = { ...opts.schema, hide: true };
    } else if (opts.url.startsWith('/api/')) {
      const conflict = opts.method === 'DELETE' || opts.url.endsWith('/apply') || opts.url.endsWith('/rotate') ? CONFLICT : {};
      opts.schema = { ...opts.schema, response: { ...API_ERRORS, ...conflict, ...(opts.schema?.response as object | undefined) } };
    } else if (OPEN_PATHS.has(opts.url)) {
      opts.schema = { ...opts.schema, security: [] };
    }
  });
  // JSON bodies are decoded as strict UTF-8 (Fastify's own parser then guards against prototype poisoning).
  const jsonParser = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']); // JSON only: anything else is 415
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = decodeUtf8(body as Buffer, 'request body');
    } catch (e) {
      return done(e as Error, undefined);
    }
    jsonParser(req, text, done);
  });
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = err instanceof ApplyError ? 400 : (err.statusCode ?? 500);
    if (status >= 500) deps.log.error({ err }, 'API error');
    reply.code(status).send({ error: err.validation ? `request ${err.message}` : err.message });
  });

  /** A write is answered once this node's cache (hence its translator) has seen it. */
  const seen = async () => { if (deps.cache) await deps.cache.waitFor(await deps.store.revision()); };

  const token = Buffer.from(deps.apiToken);
  // Decided on the route the router matched, not on the raw URL: the router
  // also matches percent-encoded and absolute-form paths (/%61pi/..., http://x/api/...).
  app.addHook('onRequest', async (req, reply) => {
    if (OPEN_PATHS.has(req.routeOptions.url ?? '')) return; // health, readiness, scrape, OpenAPI (loopback only)
    // Another method on an open path: no token needed to learn it is not allowed (405 below).
    if (req.routeOptions.url === undefined && OPEN_PATHS.has(req.url.split('?')[0]!)) return;
    if ((req.routeOptions.config as { kusciaApi?: boolean } | undefined)?.kusciaApi) return; // KusciaAPI checks its own Token header
    if ((req.routeOptions.config as { console?: boolean } | undefined)?.console) return; // the console's files: no data (console.ts)
    const given = Buffer.from(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (given.length !== token.length || !timingSafeEqual(given, token)) {
      return reply.code(401).send({ error: `missing or wrong bearer token: send "Authorization: Bearer <token>" with the token in <home>/api-token` });
    }
  });

  app.get('/healthz', { schema: { description: 'Liveness: the control plane answers. No token needed.', response: { 200: { type: 'object', properties: { status: { type: 'string' } } } } } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { schema: { description: 'Readiness: Envoy runs exactly the configuration it was sent (503 with the reasons otherwise). No token needed.' } }, async (_req, reply) => {
    const s = await deps.status();
    const storeDown = s.store && !s.store.reachable;
    const ready = s.envoy.ready && s.xds.converged && !s.translationError && !storeDown;
    const reasons = [
      ...(storeDown ? [`the store ${s.store!.location} does not answer (${s.store!.error}): Envoy serves the last configuration; writes are refused until it answers`] : []),
      ...(s.envoy.ready ? [] : ['Envoy is not ready (admin /ready)']),
      ...(s.xds.converged ? [] : [refusal(s) ?? 'Envoy has not acknowledged the current configuration']),
      ...(s.translationError ? [`translation failed: ${s.translationError}`] : []),
    ];
    reply.code(ready ? 200 : 503).send({ ready, snapshotVersion: s.xds.snapshotVersion, reasons });
  });

  // The scrape target (no token: it binds to loopback like the rest of the API):
  // control-plane metrics and Envoy's traffic metrics in one exposition (docs/metrics.md).
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    reply.header('content-type', deps.metrics.registry.contentType);
    const l = deps.config.listeners;
    return deps.metrics.exposition({ domain: deps.config.domain, admin: l.envoyAdmin, publicListener: l.public });
  });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // A path that exists with other methods: 405 and Allow, not 404.
  app.setNotFoundHandler(async (req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).map((r) => r.method))];
    if (allowed.length) {
      if (allowed.includes('GET')) allowed.push('HEAD');
      return reply.code(405).header('allow', allowed.join(', ')).send({ error: `${req.method} is not allowed on ${path}: use ${allowed.join(', ')}` });
    }
    return reply.code(404).send({ error: `no such path: ${path} (GET /openapi.json lists the API)` });
  });

  app.post('/api/v1/apply', {
    schema: {
      description: 'Apply resources (all or nothing).',
      body: { type: 'object', required: ['resources'], properties: { resources: { type: 'array', items: {} } } },
      response: { 200: { type: 'object', properties: { results: { type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' }, action: { type: 'string' } } } } } }, 400: errorSchema },
    },
  }, async (req) => {
    const { resources } = req.body as { resources: unknown[] };
    const results = await applyDocuments(deps.store, resources, { domain: deps.config.domain, ...(deps.sourceKey ? { sourceKey: deps.sourceKey } : {}) });
    await seen();
    return { results };
  });

  app.put('/api/v1/resources/:kind/:name', {
    schema: {
      description: 'Replace one resource, only if metadata.resourceVersion is still its version (409 otherwise).',
      params: { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' } } },
      response: { 400: errorSchema, 409: errorSchema },
    },
  }, async (req, reply) => {
    const { kind: k, name } = req.params as { kind: string; name: string };
    const kind = parseKind(k);
    const doc = req.body as { kind?: string; metadata?: { name?: string } } | null;
    if (doc?.kind !== kind || doc.metadata?.name !== name) return reply.code(400).send({ error: `the body must be the ${kind} ${name} itself (kind and metadata.name as in the path)` });
    const [result] = await applyDocuments(deps.store, [doc], { domain: deps.config.domain, ...(deps.sourceKey ? { sourceKey: deps.sourceKey } : {}) }, 'replace');
    await seen();
    const object = await deps.store.get(kind, name);
    return { result, object: object && redactSource(object) };
  });

  const kindParam = { type: 'object', properties: { kind: { type: 'string' } } } as const;
  const kindNameParam = { type: 'object', properties: { kind: { type: 'string' }, name: { type: 'string' } } } as const;

  app.get('/api/v1/resources/:kind', { schema: { params: kindParam } }, async (req) => {
    const kind = parseKind((req.params as { kind: string }).kind);
    return { items: (await deps.store.list(kind)).items.map(withStatus(await deps.status())) };
  });

  app.get('/api/v1/resources/:kind/:name', { schema: { params: kindNameParam } }, async (req, reply) => {
    const { kind: k, name } = req.params as { kind: string; name: string };
    const kind = parseKind(k);
    const r = await deps.store.get(kind, name);
    if (!r) return reply.code(404).send({ error: `${kind} ${name} not found: \`ferry get ${kind.toLowerCase()}\` lists what exists` });
    return withStatus(await deps.status())(r);
  });

  app.delete('/api/v1/resources/:kind/:name', { schema: { params: kindNameParam } }, async (req, reply) => {
    const { kind: k, name } = req.params as { kind: string; name: string };
    const kind = parseKind(k);
    const { resourceVersion } = req.query as { resourceVersion?: string };
    if (!(await deps.store.delete(kind, name, resourceVersion))) return reply.code(404).send({ error: `${kind} ${name} not found` });
    await seen();
    return { deleted: { kind, name } };
  });

  app.get('/api/v1/status', async () => deps.status());

  app.get('/api/v1/certs', { schema: { description: "This domain's CA and gateway certificate: issuer, serial, validity, when the gateway certificate is renewed." } }, async () => deps.certs.status());

  app.post('/api/v1/certs/rotate', {
    schema: {
      description: 'Without a body: issue a new gateway certificate now (Envoy gets it over SDS; open connections go on). '
        + 'With {"ca": true, "overlap": "72h"}: start a CA rotation (partners trust the bundle `ferry cert export` prints until the new CA takes over). '
        + 'With {"ca": true, "finish": true}: the new CA takes over now.',
      body: {
        type: 'object',
        nullable: true,
        properties: { ca: { type: 'boolean' }, overlap: { type: 'string' }, finish: { type: 'boolean' } },
        additionalProperties: false,
      },
    },
  }, async (req, reply) => {
    const body = (req.body ?? {}) as { ca?: boolean; overlap?: string; finish?: boolean };
    if (!body.ca) {
      if (body.finish || body.overlap) return reply.code(400).send({ error: 'overlap and finish apply to a CA rotation: add "ca": true' });
      deps.certs.renew('asked through the API');
      return deps.certs.status();
    }
    let overlap = 0;
    try {
      if (!body.finish) overlap = parseOverlap(body.overlap);
    } catch (e) {
      return reply.code(400).send({ error: (e as Error).message });
    }
    try {
      if (body.finish) deps.certs.finishCaRotation('asked through the API');
      else deps.certs.startCaRotation(overlap);
    } catch (e) {
      return reply.code(409).send({ error: (e as Error).message });
    }
    return deps.certs.status();
  });

  await app.register(jobsApi, { store: deps.store, domain: deps.config.domain, taskLogs: deps.taskLogs ?? '', seen });

  // The console (docs/console.md) and what it shows beyond the resources, for the CLI too.
  const l = deps.config.listeners;
  const traffic = new TrafficRing(() => ({
    target: deps.metrics.envoyAdmin ?? l.envoyAdmin,
    src: { domain: deps.config.domain, admin: l.envoyAdmin, publicListener: l.public },
  }), deps.trafficIntervalMs);
  app.addHook('onReady', async () => traffic.start());
  app.addHook('onClose', async () => traffic.stop());
  const internalHost = ['0.0.0.0', '::'].includes(l.internal.address) ? '127.0.0.1' : l.internal.address;
  await app.register(observeApi, {
    domain: deps.config.domain, store: deps.store, metrics: deps.metrics, traffic,
    gateway: { host: internalHost, port: l.internal.port, domain: deps.config.domain },
    ...(deps.linkCheck ? { linkCheck: deps.linkCheck } : {}),
  });
  await app.register(consoleUi);

  for (const plugin of deps.plugins ?? []) await plugin(app as unknown as FastifyInstance);

  // The resource schemas, for clients that validate before sending.
  app.get('/api/v1/schemas', { schema: { hide: true } }, async () => RESOURCE_SCHEMAS);

  return app;
}

function parseKind(text: string) {
  try {
    return resolveKind(text);
  } catch (e) {
    throw Object.assign(new Error((e as Error).message), { statusCode: 400 });
  }
}

/** Envoy's message when some proxy refused the current configuration. */
function refusal(s: NodeStatus): string | undefined {
  for (const p of s.xds.proxies) {
    for (const [type, t] of Object.entries(p.types)) {
      if (t.nack && t.nack.snapshotVersion.replace(/\+held$/, '') === s.xds.snapshotVersion) return `Envoy refused the current configuration (${type}): ${t.nack.message}`;
    }
  }
  return undefined;
}

/**
 * The stored status (conditions, observedGeneration) with the live view of
 * the last translation and Envoy's acknowledgement added (ready, reason, fix).
 */
function withStatus(s: NodeStatus) {
  return (r: StoredResource) => {
    const st = s.resources.find((x) => x.kind === r.kind && x.name === r.metadata.name);
    // A rejection still in force: some proxy holds a NACK for a type (it is not re-sent until the config changes).
    const nack = s.xds.proxies.flatMap((p) => Object.entries(p.types).filter(([, t]) => t.nack).map(([type, t]) => ({ type, nack: t.nack! })))[0];
    const applied = s.xds.converged
      ? 'Envoy acknowledged the current configuration'
      : nack
        ? `Envoy rejected the current configuration (${nack.type}): ${nack.nack.message}; it keeps serving the previous one`
        : 'waiting for Envoy to acknowledge the current configuration';
    return {
      ...redactSource(r), // a data source's credentials never leave the node
      status: {
        ...r.status,
        ...(st
          ? { ready: st.ready && s.xds.converged, reason: st.ready && !s.xds.converged ? applied : st.reason, ...(st.fix ? { fix: st.fix } : {}), configApplied: s.xds.converged, ...(st.isolated ? { isolated: true } : {}) }
          : { ready: false, reason: 'not translated yet' }),
        // The stored Kubernetes-style conditions, then the Kuscia-field ones of the last translation ({type, field, message}).
        ...(r.status?.conditions?.length || st?.conditions?.length ? { conditions: [...(r.status?.conditions ?? []), ...(st?.conditions ?? [])] } : {}),
      },
    };
  };
}
