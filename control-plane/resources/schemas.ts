// JSON schemas of the resource kinds. Used by the REST API (Fastify) and by every
// other entry point (CLI offline apply, YAML import) through validate.ts.
// Unknown fields are rejected so that a typo is reported, not silently ignored.

const name = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' } as const;
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;

const metadata = {
  type: 'object',
  required: ['name'],
  properties: {
    name,
    namespace: { type: 'string' },
    annotations: stringMap,
    labels: stringMap,
    // Accepted and ignored so that `kubectl get -o yaml` output applies as is.
    uid: { type: 'string' }, resourceVersion: { type: 'string' }, generation: { type: 'integer' },
    creationTimestamp: { type: 'string' },
  },
  additionalProperties: false,
} as const;

const domainSpec = {
  type: 'object',
  properties: {
    role: { type: 'string', enum: ['', 'partner'] },
    cert: { type: 'string' },
    master: { type: 'string' },
    authCenter: { type: 'object' },
  },
  additionalProperties: false,
} as const;

const routeSpec = {
  type: 'object',
  required: ['source', 'destination', 'authenticationType'],
  properties: {
    source: name,
    destination: name,
    interConnProtocol: { type: 'string', enum: ['kuscia'] },
    authenticationType: { type: 'string', enum: ['MTLS', 'Token', 'None'] },
    endpoint: {
      type: 'object',
      required: ['host', 'ports'],
      properties: {
        host: { type: 'string', minLength: 1 },
        ports: {
          type: 'array',
          minItems: 1,
          items: {
            type: 'object',
            required: ['name', 'port', 'protocol'],
            properties: {
              name,
              port: { type: 'integer', minimum: 1, maximum: 65535 },
              protocol: { type: 'string', enum: ['HTTP', 'GRPC'] },
              isTLS: { type: 'boolean' },
              pathPrefix: { type: 'string', pattern: '^(/[^\\s?#]*)?$' },
            },
            additionalProperties: false,
          },
        },
      },
      additionalProperties: false,
    },
    tokenConfig: {
      type: 'object',
      properties: {
        tokenGenMethod: { type: 'string', enum: ['RSA-GEN', 'UID-RSA-GEN'] },
        rollingUpdatePeriod: { type: 'integer', minimum: 0 },
      },
      additionalProperties: false,
    },
    transit: {
      type: 'object',
      required: ['transitMethod'],
      properties: {
        transitMethod: { type: 'string', enum: ['THIRD-DOMAIN', 'REVERSE-TUNNEL'] },
        domain: { type: 'object', properties: { domainID: name }, additionalProperties: false },
      },
      additionalProperties: false,
    },
    requestHeadersToAdd: stringMap,
    mTLSConfig: {
      type: 'object',
      properties: { tlsCA: { type: 'string', minLength: 1 } },
      additionalProperties: false,
    },
    bodyEncryption: { type: 'object' },
  },
  additionalProperties: false,
} as const;

const serviceSpec = {
  type: 'object',
  required: ['type', 'externalName', 'ports'],
  properties: {
    type: { type: 'string', enum: ['ExternalName'] },
    externalName: { type: 'string', minLength: 1 },
    // More endpoints of the same service (IPs, same port): requests spread over
    // them, and requests with one Kuscia-Session-Id stick to one of them.
    externalIPs: { type: 'array', items: { type: 'string', pattern: '^\\d{1,3}(\\.\\d{1,3}){3}$' }, maxItems: 64 },
    ports: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['port'],
        properties: {
          name: { type: 'string' },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          protocol: { type: 'string', enum: ['TCP'] },
          targetPort: { type: ['integer', 'string'] },
        },
        additionalProperties: false,
      },
    },
  },
  additionalProperties: false,
} as const;

function resourceSchema(apiVersion: string, kind: string, spec: object) {
  return {
    type: 'object',
    required: ['apiVersion', 'kind', 'metadata', 'spec'],
    properties: {
      apiVersion: { type: 'string', const: apiVersion },
      kind: { type: 'string', const: kind },
      metadata,
      spec,
      status: { type: 'object' }, // output only: ignored on apply
    },
    additionalProperties: false,
  } as const;
}

export const RESOURCE_SCHEMAS = {
  Domain: resourceSchema('kuscia.secretflow/v1alpha1', 'Domain', domainSpec),
  ClusterDomainRoute: resourceSchema('kuscia.secretflow/v1alpha1', 'ClusterDomainRoute', routeSpec),
  DomainRoute: resourceSchema('kuscia.secretflow/v1alpha1', 'DomainRoute', routeSpec),
  Service: resourceSchema('v1', 'Service', serviceSpec),
} as const;
