// JSON schemas of the resource kinds. Used by the REST API (Fastify) and by every
// other entry point (CLI offline apply, YAML import) through validate.ts.
// Unknown fields are rejected so that a typo is reported, not silently ignored;
// every field Kuscia's CRDs define is accepted (docs/resources.md says which
// ones Ferry uses and which it keeps with an "ignored" condition).
import { MAX_ROLLING_UPDATE_PERIOD } from './limits.ts';
import { DOMAIN_DATA_GRANT_SPEC, DOMAIN_DATA_SOURCE_SPEC, DOMAIN_DATA_SPEC } from '../datamesh/spec.ts';

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
    creationTimestamp: { type: 'string' }, generateName: { type: 'string' }, selfLink: { type: 'string' },
    deletionTimestamp: { type: 'string' }, deletionGracePeriodSeconds: { type: 'integer' },
    managedFields: { type: 'array' }, finalizers: { type: 'array', items: { type: 'string' } }, ownerReferences: { type: 'array' },
  },
  additionalProperties: false,
} as const;

const domainSpec = {
  type: 'object',
  properties: {
    role: { type: ['string', 'null'], enum: ['', 'partner', null] },
    cert: { type: 'string' },
    master: { type: 'string' },
    // Kuscia's, not used by Ferry (kept, with an "ignored" condition).
    authCenter: {
      type: 'object',
      properties: { authenticationType: { type: 'string', enum: ['Token', 'MTLS', 'None'] }, tokenGenMethod: { type: 'string', enum: ['RSA-GEN', 'RAND-GEN', 'UID-RSA-GEN'] } },
      additionalProperties: false,
    },
    resourceQuota: { type: 'object', properties: { podMaxCount: { type: 'integer', minimum: 0, maximum: 2147483647 } }, additionalProperties: false },
    interConnProtocols: { type: 'array', maxItems: 8, items: { type: 'string', enum: ['kuscia', 'bfia'] } },
  },
  additionalProperties: false,
} as const;

const routeSpec = {
  type: 'object',
  required: ['source', 'destination', 'authenticationType'],
  properties: {
    source: name,
    destination: name,
    interConnProtocol: { type: 'string', enum: ['kuscia', 'bfia', ''] },
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
              // RFC 3986 path characters only; `pathPrefix:` with no value (null) is Kuscia's "none".
              pathPrefix: { type: ['string', 'null'], maxLength: 1024, pattern: "^(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?$" },
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
        rollingUpdatePeriod: { type: 'integer', minimum: 0, maximum: MAX_ROLLING_UPDATE_PERIOD },
        // Kuscia's controller writes these into every Token route; Ferry takes keys from Domain certificates.
        destinationPublicKey: { type: 'string' },
        sourcePublicKey: { type: 'string' },
      },
      additionalProperties: false,
    },
    transit: {
      type: 'object',
      properties: { // transitMethod defaults to THIRD-DOMAIN, as in Kuscia
        transitMethod: { type: 'string', enum: ['THIRD-DOMAIN', 'REVERSE-TUNNEL'] },
        domain: { type: 'object', properties: { domainID: name }, additionalProperties: false },
      },
      additionalProperties: false,
    },
    requestHeadersToAdd: stringMap,
    mTLSConfig: {
      type: 'object',
      properties: { tlsCA: { type: 'string' }, sourceClientCert: { type: 'string' }, sourceClientPrivateKey: { type: 'string' } },
      additionalProperties: false,
    },
    bodyEncryption: { type: 'object', properties: { algorithm: { type: 'string', enum: ['AES', 'SM4'] } }, additionalProperties: false },
    sourceWhiteIPList: { type: 'array', maxItems: 256, items: { type: 'string' } },
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
    externalIPs: { type: 'array', items: { type: 'string' }, maxItems: 64 },
    ports: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['port'],
        properties: {
          name: { type: 'string', maxLength: 63 },
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

// Job kinds: the envelope here; the spec is checked whole by its part (jobs/spec.ts, runtime/app-image.ts).
const jobSpec = { type: 'object' } as const;

export const RESOURCE_SCHEMAS = {
  Domain: resourceSchema('kuscia.secretflow/v1alpha1', 'Domain', domainSpec),
  ClusterDomainRoute: resourceSchema('kuscia.secretflow/v1alpha1', 'ClusterDomainRoute', routeSpec),
  DomainRoute: resourceSchema('kuscia.secretflow/v1alpha1', 'DomainRoute', routeSpec),
  Service: resourceSchema('v1', 'Service', serviceSpec),
  KusciaJob: resourceSchema('kuscia.secretflow/v1alpha1', 'KusciaJob', jobSpec),
  KusciaTask: resourceSchema('kuscia.secretflow/v1alpha1', 'KusciaTask', jobSpec),
  AppImage: resourceSchema('kuscia.secretflow/v1alpha1', 'AppImage', jobSpec),
  DomainDataSource: resourceSchema('kuscia.secretflow/v1alpha1', 'DomainDataSource', DOMAIN_DATA_SOURCE_SPEC),
  DomainData: resourceSchema('kuscia.secretflow/v1alpha1', 'DomainData', DOMAIN_DATA_SPEC),
  DomainDataGrant: resourceSchema('kuscia.secretflow/v1alpha1', 'DomainDataGrant', DOMAIN_DATA_GRANT_SPEC),
} as const;
