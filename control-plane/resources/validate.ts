// Validation of resources before they reach the store: the JSON schema first
// (shape, types, unknown fields), then the rules that need context (this
// node's domain, certificate contents). Every error names the field and the fix.
import { Ajv, type ErrorObject } from 'ajv';
import { inspectCertificate, splitPemCertificates } from '../../certs/authority.ts';
import { RESOURCE_SCHEMAS } from './schemas.ts';
import { findUnencodableString, hostProblem, isIPv4, labelValueProblem, metadataKeyProblem, parseBandwidthKiBps, parseDuration, MAX_ANNOTATIONS_BYTES, MAX_BANDWIDTH_KIBPS, MAX_DURATION_SECONDS } from './limits.ts';

export { parseBandwidthKiBps, parseDuration } from './limits.ts';
import { ValidationError } from './validation-error.ts';
import type { StoreKey } from '../store/secrets.ts';
import { normalizeJobSpec } from '../jobs/spec.ts';
import { checkAppImage } from '../runtime/app-image.ts';
import { checkDataSpec } from '../datamesh/spec.ts';
import { KINDS, PROXY_ANNOTATION, RESERVED_SERVICE_NAMES, ACCESS_DOMAIN_ANNOTATION, BANDWIDTH_ANNOTATION, IDLE_TIMEOUT_ANNOTATION, LOCAL_PORTS_ANNOTATION, PROTOCOL_ANNOTATION, TIMEOUT_ANNOTATION, type Kind, type Resource, type RouteResource } from './types.ts';

export { ValidationError } from './validation-error.ts';

const ajv = new Ajv({ allErrors: false, strict: false });
const validators = Object.fromEntries(
  Object.entries(RESOURCE_SCHEMAS).map(([kind, schema]) => [kind, ajv.compile(schema)]),
) as Record<Kind, ReturnType<typeof ajv.compile>>;

const SERVICE_PROTOCOLS = ['HTTP', 'GRPC', 'TCP'];
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** `/spec/endpoint/ports/0/port` -> `spec.endpoint.ports[0].port` */
function fieldPath(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function describeSchemaError(e: ErrorObject): ValidationError {
  const at = fieldPath(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return new ValidationError(at ? `${at}.${params.missingProperty}` : String(params.missingProperty), 'is required');
    case 'additionalProperty':
    case 'additionalProperties':
      return new ValidationError(
        at ? `${at}.${params.additionalProperty}` : String(params.additionalProperty),
        'unknown field: remove it or check its spelling (names are case-sensitive)',
      );
    case 'enum':
      return new ValidationError(at, `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
    case 'const':
      return new ValidationError(at, `must be ${JSON.stringify(params.allowedValue)}`);
    case 'pattern':
      if (at.endsWith('pathPrefix')) return new ValidationError(at, 'must be empty or a URL path starting with "/" (letters, digits and -._~!$&\'()*+,;=:@%/ only: no spaces, "?" or "#")');
      return new ValidationError(at, 'must be a lowercase DNS label: a-z, 0-9 and "-", at most 63 characters, starting and ending with a letter or digit');
    case 'maximum':
    case 'minimum':
      return new ValidationError(at, `${e.message}${at.endsWith('rollingUpdatePeriod') ? ' (seconds; 0 = never roll)' : ''}: give a value in range`);
    case 'maxLength':
    case 'maxItems':
      return new ValidationError(at, `${e.message}: shorten it`);
    case 'type':
      // A data source's credentials are never echoed, even when mistyped.
      if (at.startsWith('spec.info')) return new ValidationError(at, `${e.message}`);
      return new ValidationError(at || '(document)', `${e.message} (got ${JSON.stringify(e.data)?.slice(0, 40)})`);
    default:
      return new ValidationError(at || '(document)', e.message ?? 'is invalid');
  }
}

export interface ValidationContext {
  /** This node's domain id. */
  domain: string;
  /** Seals DomainDataSource credentials on apply (datamesh/secrets.ts); without it, spec.info is refused. */
  sourceKey?: StoreKey;
}

/** Returns the typed resource or throws a ValidationError naming the field. */
export function validateResource(doc: unknown, ctx: ValidationContext): Resource {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ValidationError('(document)', 'expected a mapping with apiVersion, kind, metadata and spec');
  }
  const kind = (doc as { kind?: unknown }).kind;
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) {
    throw new ValidationError('kind', `must be one of ${KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  // Proto strings are UTF-8: a lone surrogate would reach Envoy as bytes it refuses.
  const unencodable = findUnencodableString(doc);
  if (unencodable) throw new ValidationError(unencodable, 'contains a NUL or a broken Unicode character (a lone UTF-16 surrogate): write valid text');
  const validate = validators[kind as Kind];
  if (!validate(doc)) throw describeSchemaError(validate.errors![0]!);
  const resource = structuredClone(doc) as Resource & { status?: unknown };
  delete resource.status;
  normalize(resource);
  checkMetadata(resource);
  checkSemantics(resource, ctx);
  return resource;
}

/** Kuscia's spellings of "nothing" and its defaults, made explicit so translation reads one form. */
function normalize(r: Resource): void {
  if (r.kind === 'Domain') {
    if (r.spec.role === null) delete r.spec.role; // `role:` with no value (Kuscia's add_domain.sh)
    return;
  }
  if (r.kind !== 'ClusterDomainRoute' && r.kind !== 'DomainRoute') return;
  for (const p of r.spec.endpoint?.ports ?? []) if (p.pathPrefix === null) delete p.pathPrefix; // `pathPrefix:` with no value
  if (r.spec.transit && !r.spec.transit.transitMethod) r.spec.transit.transitMethod = 'THIRD-DOMAIN'; // Kuscia's default
  if (r.spec.interConnProtocol === '') delete r.spec.interConnProtocol;
}

/** Kubernetes' metadata limits: what Ferry stores must also fit a Kuscia (Kubernetes) node. */
function checkMetadata(r: Resource): void {
  for (const [key, value] of Object.entries(r.metadata.labels ?? {})) {
    const problem = metadataKeyProblem(key) ?? labelValueProblem(value);
    if (problem) throw new ValidationError(`metadata.labels.${key.slice(0, 80)}`, `${problem} (Kubernetes' label rules)`);
  }
  let bytes = 0;
  for (const [key, value] of Object.entries(r.metadata.annotations ?? {})) {
    const problem = metadataKeyProblem(key);
    if (problem) throw new ValidationError(`metadata.annotations.${key.slice(0, 80)}`, `${problem} (Kubernetes' annotation rules)`);
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  if (bytes > MAX_ANNOTATIONS_BYTES) {
    throw new ValidationError('metadata.annotations', `are ${bytes} bytes in all; at most ${MAX_ANNOTATIONS_BYTES} (256 KiB, Kubernetes' limit): keep large data out of annotations`);
  }
}

function checkSemantics(r: Resource, ctx: ValidationContext): void {
  switch (r.kind) {
    case 'Domain':
      if (r.metadata.name === ctx.domain && r.spec.role === 'partner') {
        throw new ValidationError('spec.role', `${ctx.domain} is this node's own domain; it cannot be a partner`);
      }
      if (r.spec.cert !== undefined) decodePartnerCa(r.spec.cert);
      return;
    case 'ClusterDomainRoute':
    case 'DomainRoute':
      return checkRoute(r, ctx);
    case 'Service':
      return checkService(r);
    case 'KusciaJob':
      r.spec = normalizeJobSpec(r.metadata.name, r.spec, ctx.domain) as unknown as Record<string, unknown>;
      return;
    case 'AppImage':
      checkAppImage(r.spec);
      return;
    case 'DomainDataSource':
    case 'DomainData':
    case 'DomainDataGrant':
      checkDataSpec(r.kind, r.spec, ctx.domain);
      return;
    case 'KusciaTask':
      throw new ValidationError('kind', 'KusciaTask objects are made by the jobs controller for each task of a KusciaJob: create a KusciaJob (ferry job create -f)');
  }
}

/**
 * Decodes Domain.spec.cert (base64 of a PEM, or a PEM) to the CA certificate
 * PEM. A partner rotating its CA gives a bundle of its current and next CA
 * (what `ferry cert export` prints during the overlap window): both are trusted.
 */
export function decodePartnerCa(cert: string): string {
  const text = cert.trimStart().startsWith('-----BEGIN') ? cert : Buffer.from(cert, 'base64').toString('utf8');
  const blocks = splitPemCertificates(text);
  if (blocks.length === 0 || blocks.length > 4) {
    throw new ValidationError('spec.cert', `expected one CA certificate (or up to four during a CA rotation), found ${blocks.length}; give base64 of the PEM that \`ferry cert export\` prints on the partner's node`);
  }
  for (const block of blocks) {
    let facts;
    try {
      facts = inspectCertificate(block);
    } catch (e) {
      throw new ValidationError('spec.cert', `${(e as Error).message}; give base64 of the PEM that \`ferry cert export\` prints on the partner's node`);
    }
    if (!facts.isCa) {
      throw new ValidationError('spec.cert', `the certificate (${facts.subject}) is not a CA; give the partner's CA certificate (\`ferry cert export\` on the partner's node)`);
    }
    if (facts.notAfter.getTime() < Date.now()) {
      throw new ValidationError('spec.cert', `the certificate (${facts.subject}) expired on ${facts.notAfter.toISOString()}; ask the partner for its current CA`);
    }
  }
  return blocks.join('');
}

/** "http://host:port" -> { host, port }; undefined when it is not that. */
export function parseProxy(value: string): { host: string; port: number } | undefined {
  const m = /^http:\/\/([^:/]+):(\d{1,5})\/?$/i.exec(value.trim());
  if (!m || hostProblem(m[1]!) !== undefined) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!.toLowerCase(), port } : undefined;
}

/**
 * THIRD-DOMAIN: outbound through the relay domain (TLS to the destination kept
 * end to end), or, on the relay itself, the origin/destination pair it agrees
 * to carry. REVERSE-TUNNEL: the destination dials out to the source, which
 * reaches it over those connections.
 */
function checkTransit(spec: RouteResource['spec']): void {
  const t = spec.transit!;
  const via = t.domain?.domainID;
  if (t.transitMethod === 'THIRD-DOMAIN') {
    if (!via) throw new ValidationError('spec.transit.domain.domainID', 'names the relay domain and is required with THIRD-DOMAIN');
    if (via === spec.source || via === spec.destination) throw new ValidationError('spec.transit.domain.domainID', `the relay must be a third domain, not ${via}`);
    // Token through a relay is Kuscia's hop-by-hop relay (the relay reads the traffic): accepted, with a condition (conditions.ts).
    return;
  }
  if (via) throw new ValidationError('spec.transit.domain', 'REVERSE-TUNNEL through a hub is not supported yet: remove spec.transit.domain (the destination dials the source directly)');
  // A kept spec.endpoint (Kuscia writes one) is ignored with a condition: the destination dials in.
}

function checkRoute(r: RouteResource, ctx: ValidationContext): void {
  const { spec } = r;
  if (spec.source === spec.destination) {
    throw new ValidationError('spec.destination', 'must differ from spec.source');
  }
  const relayRule = spec.transit?.transitMethod === 'THIRD-DOMAIN' && spec.transit.domain?.domainID === ctx.domain;
  if (spec.source !== ctx.domain && spec.destination !== ctx.domain && !relayRule) {
    throw new ValidationError('spec.source', `neither source (${spec.source}) nor destination (${spec.destination}) is this node's domain (${ctx.domain}); to relay for them, set spec.transit {transitMethod: THIRD-DOMAIN, domain: {domainID: ${ctx.domain}}}`);
  }
  if (spec.authenticationType === 'None') {
    throw new ValidationError('spec.authenticationType', 'None is refused: Ferry authenticates every partner; use MTLS, or Token when a gateway in between terminates TLS');
  }
  if (spec.authenticationType === 'Token') {
    const method = spec.tokenConfig?.tokenGenMethod;
    if (method === undefined) {
      throw new ValidationError('spec.tokenConfig.tokenGenMethod', 'is required with authenticationType Token: use RSA-GEN (tokens from an RSA handshake with the partner\'s CA key)');
    }
    // UID-RSA-GEN (Kuscia's) is accepted and not served, with a condition saying so (conditions.ts).
  }
  const outbound = spec.source === ctx.domain;
  if (spec.transit) checkTransit(spec);
  if (spec.endpoint && spec.transit?.transitMethod !== 'REVERSE-TUNNEL') {
    const problem = hostProblem(spec.endpoint.host);
    if (problem) throw new ValidationError('spec.endpoint.host', problem);
  }
  const proxy = r.metadata.annotations?.[PROXY_ANNOTATION];
  if (proxy !== undefined) {
    if (!outbound) throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, 'a forward proxy belongs on an outbound route (source is this domain)');
    if (spec.transit?.transitMethod === 'REVERSE-TUNNEL') throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, 'a reverse-tunnel route dials nothing: put the proxy on the partner\'s route instead');
    if (!parseProxy(proxy)) throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, `"${proxy}" is not a forward proxy address: write "http://<host>:<port>", e.g. "http://proxy.example.org:3128"`);
  }
  // tlsCA is used on an outbound Token route over TLS (the CA of a TLS-terminating gateway); elsewhere Kuscia writes it
  // for its own TLS and Ferry keeps it with an "ignored" condition (conditions.ts).
  if (spec.mTLSConfig?.tlsCA && outbound && spec.authenticationType === 'Token' && spec.endpoint?.ports.every((p) => p.isTLS !== false)) {
    try {
      decodePartnerCa(spec.mTLSConfig.tlsCA);
    } catch (e) {
      throw new ValidationError('spec.mTLSConfig.tlsCA', (e as ValidationError).message.replace(/^spec\.cert: /, '').replace(/`ferry cert export`[^;]*/, 'the CA of the TLS-terminating gateway at the endpoint'));
    }
  }
  const bandwidth = r.metadata.annotations?.[BANDWIDTH_ANNOTATION];
  if (bandwidth !== undefined && parseBandwidthKiBps(bandwidth) === undefined) {
    throw new ValidationError(`metadata.annotations.${BANDWIDTH_ANNOTATION}`, `"${bandwidth.slice(0, 60)}" is not a bandwidth from 1 KiB/s to 1 TiB/s (${MAX_BANDWIDTH_KIBPS} KiB/s): write a number and a unit, e.g. "512KiB/s", "8MiB/s", "100Mbit/s" or "1Gbit/s"`);
  }
  const localPorts = r.metadata.annotations?.[LOCAL_PORTS_ANNOTATION];
  if (localPorts !== undefined) {
    if (spec.source !== ctx.domain) {
      throw new ValidationError(`metadata.annotations.${LOCAL_PORTS_ANNOTATION}`, 'local ports belong on an outbound route (source is this domain)');
    }
    const problem = parseLocalPorts(localPorts).find((m) => typeof m === 'string');
    if (problem !== undefined) throw new ValidationError(`metadata.annotations.${LOCAL_PORTS_ANNOTATION}`, `${problem}; write "<port>:<service>[/tcp]", comma-separated, e.g. "19000:echo, 19001:link/tcp"`);
  }
  spec.endpoint?.ports.forEach((p, i) => {
    // A plain link is Kuscia's default for Token routes (a warning condition says it is not encrypted);
    // mTLS is TLS, so it cannot be off there.
    if (p.isTLS === false && spec.authenticationType === 'MTLS' && spec.transit?.transitMethod !== 'REVERSE-TUNNEL') {
      throw new ValidationError(`spec.endpoint.ports[${i}].isTLS`, 'false cannot be used with authenticationType MTLS (mTLS is TLS): set isTLS: true (or omit it), or use authenticationType Token for a plain (unencrypted) link');
    }
  });
  for (const [header, value] of Object.entries(spec.requestHeadersToAdd ?? {})) {
    if (header.length > 256 || value.length > 8192) {
      throw new ValidationError(`spec.requestHeadersToAdd.${header.slice(0, 60)}`, 'is too long: header names have at most 256 characters, values at most 8192');
    }
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) {
      throw new ValidationError(`spec.requestHeadersToAdd.${header}`, 'the value must not contain control characters such as line breaks');
    }
    if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(header) || /^(kuscia-|:|host$)/i.test(header)) {
      throw new ValidationError(`spec.requestHeadersToAdd.${header}`, 'must be a valid HTTP header name and not Host, a pseudo-header or a Kuscia-* header (Ferry sets those)');
    }
  }
}

function checkService(r: Resource & { kind: 'Service' }): void {
  if (RESERVED_SERVICE_NAMES.includes(r.metadata.name)) {
    throw new ValidationError('metadata.name', `"${r.metadata.name}" is reserved for Ferry's own use on every domain (${RESERVED_SERVICE_NAMES.join(', ')}); pick another name`);
  }
  const annotations = r.metadata.annotations ?? {};
  const protocol = annotations[PROTOCOL_ANNOTATION];
  if (protocol !== undefined && !SERVICE_PROTOCOLS.includes(protocol)) {
    throw new ValidationError(`metadata.annotations.${PROTOCOL_ANNOTATION}`, `must be one of ${SERVICE_PROTOCOLS.join(', ')} in this Ferry version (got ${JSON.stringify(protocol)})`);
  }
  const access = annotations[ACCESS_DOMAIN_ANNOTATION];
  if (access !== undefined) {
    for (const d of parseAccessDomains(access)) {
      if (!DNS_LABEL.test(d)) {
        throw new ValidationError(`metadata.annotations.${ACCESS_DOMAIN_ANNOTATION}`, `"${d}" is not a domain id; give a comma-separated list such as "alice,bob"`);
      }
    }
  }
  const nameProblem = hostProblem(r.spec.externalName);
  if (nameProblem) throw new ValidationError('spec.externalName', nameProblem);
  r.spec.externalIPs?.forEach((ip, i) => {
    const problem = hostProblem(ip, false);
    if (problem) throw new ValidationError(`spec.externalIPs[${i}]`, problem);
  });
  if (r.spec.externalIPs?.length && !isIPv4(r.spec.externalName)) {
    throw new ValidationError('spec.externalName', 'must be an IPv4 address when spec.externalIPs lists more endpoints (a cluster is either resolved by DNS or static)');
  }
  for (const key of [IDLE_TIMEOUT_ANNOTATION, TIMEOUT_ANNOTATION]) {
    const value = annotations[key];
    if (value !== undefined && parseDuration(value) === undefined) {
      throw new ValidationError(`metadata.annotations.${key}`, `"${value.slice(0, 60)}" is not a duration of at most a year (${MAX_DURATION_SECONDS / 3600}h): write a number and a unit, e.g. "500ms", "90s", "30m", "2h" ("0s" turns it off)`);
    }
  }
  if (r.spec.ports.length > 1) {
    throw new ValidationError('spec.ports', 'this Ferry version exposes one port per Service; declare one Service per port');
  }
}

export interface LocalPortMapping {
  port: number;
  service: string;
  tcp: boolean;
}

/** "19000:echo, 19001:link/tcp" -> mappings, or a string naming the first bad entry. */
export function parseLocalPorts(text: string): (LocalPortMapping | string)[] {
  const seen = new Set<number>();
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    const m = /^(\d{1,5}):([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\/(tcp|http))?$/.exec(entry);
    if (!m) return `"${entry}" is not a mapping`;
    const port = Number(m[1]);
    if (port < 1024 || port > 65535) return `port ${port} is outside 1024-65535`;
    if (seen.has(port)) return `port ${port} is mapped twice`;
    seen.add(port);
    return { port, service: m[2]!, tcp: m[5] === 'tcp' };
  });
}

export function parseAccessDomains(annotation: string | undefined): string[] {
  return (annotation ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
