// Validation of resources before they reach the store: the JSON schema first
// (shape, types, unknown fields), then the rules that need context (this
// node's domain, certificate contents). Every error names the field and the fix.
import { Ajv, type ErrorObject } from 'ajv';
import { inspectCertificate, splitPemCertificates } from '../../certs/authority.ts';
import { RESOURCE_SCHEMAS } from './schemas.ts';
import { KINDS, PROXY_ANNOTATION, RESERVED_SERVICE_NAMES, ACCESS_DOMAIN_ANNOTATION, BANDWIDTH_ANNOTATION, IDLE_TIMEOUT_ANNOTATION, LOCAL_PORTS_ANNOTATION, PROTOCOL_ANNOTATION, TIMEOUT_ANNOTATION, type Kind, type Resource, type RouteResource } from './types.ts';

export class ValidationError extends Error {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

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
      if (at.endsWith('pathPrefix')) return new ValidationError(at, 'must be empty or start with "/" (no spaces, "?" or "#")');
      if (at.includes('externalIPs')) return new ValidationError(at, 'must be an IPv4 address such as 10.1.2.3');
      return new ValidationError(at, 'must be a lowercase DNS label: a-z, 0-9 and "-", at most 63 characters, starting and ending with a letter or digit');
    default:
      return new ValidationError(at || '(document)', e.message ?? 'is invalid');
  }
}

export interface ValidationContext {
  /** This node's domain id. */
  domain: string;
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
  const validate = validators[kind as Kind];
  if (!validate(doc)) throw describeSchemaError(validate.errors![0]!);
  const resource = structuredClone(doc) as Resource & { status?: unknown };
  delete resource.status;
  checkSemantics(resource, ctx);
  return resource;
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
  const m = /^http:\/\/([a-z0-9.-]+|\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})\/?$/i.exec(value.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1]!.toLowerCase(), port } : undefined;
}

/**
 * THIRD-DOMAIN: outbound through the relay domain (TLS to the destination kept
 * end to end), or, on the relay itself, the origin/destination pair it agrees
 * to carry. REVERSE-TUNNEL: the destination dials out to the source, which
 * reaches it over those connections.
 */
function checkTransit(spec: RouteResource['spec'], ctx: ValidationContext, outbound: boolean): void {
  const t = spec.transit!;
  const via = t.domain?.domainID;
  if (t.transitMethod === 'THIRD-DOMAIN') {
    if (!via) throw new ValidationError('spec.transit.domain.domainID', 'names the relay domain and is required with THIRD-DOMAIN');
    if (via === spec.source || via === spec.destination) throw new ValidationError('spec.transit.domain.domainID', `the relay must be a third domain, not ${via}`);
    if (spec.authenticationType !== 'MTLS') throw new ValidationError('spec.authenticationType', 'a relayed route authenticates end to end by mTLS (the relay sees only ciphertext): use MTLS');
    return;
  }
  if (via) throw new ValidationError('spec.transit.domain', 'REVERSE-TUNNEL through a hub is not supported yet: remove spec.transit.domain (the destination dials the source directly)');
  if (outbound && spec.endpoint) throw new ValidationError('spec.endpoint', `a REVERSE-TUNNEL route dials nothing: ${spec.destination} dials in; remove spec.endpoint`);
  if (spec.authenticationType !== 'MTLS') throw new ValidationError('spec.authenticationType', 'a reverse-tunnel route authenticates by mTLS: use MTLS');
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
    if (method !== 'RSA-GEN') {
      throw new ValidationError('spec.tokenConfig.tokenGenMethod', `${method === undefined ? 'is required with authenticationType Token' : `${method} is not supported`}: use RSA-GEN (tokens from an RSA handshake with the partner's CA key)`);
    }
  } else if (spec.tokenConfig) {
    throw new ValidationError('spec.tokenConfig', `applies to authenticationType Token only; remove it or set authenticationType: Token`);
  }
  const outbound = spec.source === ctx.domain;
  if (spec.transit) checkTransit(spec, ctx, outbound);
  if (outbound && !spec.endpoint && !spec.transit) {
    throw new ValidationError('spec.endpoint', `is required on an outbound route: the host and public port of ${spec.destination}'s Ferry node`);
  }
  const proxy = r.metadata.annotations?.[PROXY_ANNOTATION];
  if (proxy !== undefined) {
    if (!outbound) throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, 'a forward proxy belongs on an outbound route (source is this domain)');
    if (spec.transit?.transitMethod === 'REVERSE-TUNNEL') throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, 'a reverse-tunnel route dials nothing: put the proxy on the partner\'s route instead');
    if (!parseProxy(proxy)) throw new ValidationError(`metadata.annotations.${PROXY_ANNOTATION}`, `"${proxy}" is not a forward proxy address: write "http://<host>:<port>", e.g. "http://proxy.example.org:3128"`);
  }
  if (spec.mTLSConfig?.tlsCA !== undefined) {
    if (!outbound) throw new ValidationError('spec.mTLSConfig.tlsCA', 'belongs on an outbound route: it is the CA of the gateway at the endpoint');
    try {
      decodePartnerCa(spec.mTLSConfig.tlsCA);
    } catch (e) {
      throw new ValidationError('spec.mTLSConfig.tlsCA', (e as ValidationError).message.replace(/^spec\.cert: /, '').replace(/`ferry cert export`[^;]*/, 'the CA of the TLS-terminating gateway at the endpoint'));
    }
    if (spec.authenticationType !== 'Token') throw new ValidationError('spec.mTLSConfig.tlsCA', 'a gateway that terminates TLS cannot pass on a client certificate: use authenticationType Token with it');
  }
  const bandwidth = r.metadata.annotations?.[BANDWIDTH_ANNOTATION];
  if (bandwidth !== undefined && parseBandwidthKiBps(bandwidth) === undefined) {
    throw new ValidationError(`metadata.annotations.${BANDWIDTH_ANNOTATION}`, `"${bandwidth}" is not a bandwidth: write a number and a unit, e.g. "512KiB/s", "8MiB/s", "100Mbit/s" or "1Gbit/s" (at least 1 KiB/s)`);
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
    if (p.isTLS === false) {
      throw new ValidationError(`spec.endpoint.ports[${i}].isTLS`, 'must be true (or omitted) with authenticationType MTLS');
    }
  });
  for (const [header, value] of Object.entries(spec.requestHeadersToAdd ?? {})) {
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
  r.spec.externalIPs?.forEach((ip, i) => {
    if (ip.split('.').some((octet) => Number(octet) > 255)) throw new ValidationError(`spec.externalIPs[${i}]`, `${ip} is not an IPv4 address (each part is 0-255)`);
  });
  if (r.spec.externalIPs?.length && !/^\d{1,3}(\.\d{1,3}){3}$/.test(r.spec.externalName)) {
    throw new ValidationError('spec.externalName', 'must be an IPv4 address when spec.externalIPs lists more endpoints (a cluster is either resolved by DNS or static)');
  }
  for (const key of [IDLE_TIMEOUT_ANNOTATION, TIMEOUT_ANNOTATION]) {
    const value = annotations[key];
    if (value !== undefined && parseDuration(value) === undefined) {
      throw new ValidationError(`metadata.annotations.${key}`, `"${value}" is not a duration: write a number and a unit, e.g. "90s", "30m", "2h" ("0s" turns it off)`);
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

/** "512KiB/s", "8MiB/s", "100Mbit/s", "1Gbit/s" -> KiB/s (Envoy's unit); undefined when not a bandwidth. */
export function parseBandwidthKiBps(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|kbit|Mbit|Gbit)\/s$/.exec(text.trim());
  if (!m) return undefined;
  const bytesPerUnit = { KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, kbit: 125, Mbit: 125_000, Gbit: 125_000_000 }[m[2] as 'KiB'];
  const kib = Math.floor((Number(m[1]) * bytesPerUnit) / 1024);
  return kib >= 1 ? kib : undefined;
}

/** "500ms", "90s", "30m", "2h" -> seconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return { ms: n / 1000, s: n, m: n * 60, h: n * 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

export function parseAccessDomains(annotation: string | undefined): string[] {
  return (annotation ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}
