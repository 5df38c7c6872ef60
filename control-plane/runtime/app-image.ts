// AppImage specs (Kuscia's fields) as RunP runs them: the "image" names an
// engine installed on this node, each deploy template has one container whose
// command is that engine's executable. Fields Kuscia has and RunP cannot honour
// are refused by name, never dropped.
import { Ajv, type ErrorObject } from 'ajv';
import { ValidationError } from '../resources/validation-error.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const quantity = { type: ['string', 'number'] } as const;

const APP_IMAGE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['deployTemplates'],
  properties: {
    image: {
      type: 'object',
      additionalProperties: false,
      properties: { id: { type: 'string' }, name: { type: 'string' }, tag: { type: 'string' }, sign: { type: 'string' } },
    },
    configTemplates: { type: 'object', additionalProperties: { type: 'string', maxLength: 1_048_576 } },
    deployTemplates: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['spec'],
        properties: {
          name: { type: 'string' },
          role: { type: 'string' },
          replicas: { type: 'integer', minimum: 1, maximum: 1 },
          networkPolicy: { type: 'object' },
          spec: {
            type: 'object',
            additionalProperties: false,
            required: ['containers'],
            properties: {
              restartPolicy: { enum: ['Never', 'OnFailure', 'Always'] },
              affinity: { type: 'object' },
              containers: {
                type: 'array',
                minItems: 1,
                maxItems: 1,
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name', 'command'],
                  properties: {
                    name: { type: 'string', minLength: 1 },
                    command: { type: 'array', minItems: 1, items: { type: 'string' } },
                    args: { type: 'array', items: { type: 'string' } },
                    workingDir: { type: 'string' },
                    env: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, value: { type: 'string' } } } },
                    envFrom: { type: 'array' },
                    configVolumeMounts: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['mountPath', 'subPath'], properties: { mountPath: { type: 'string', minLength: 1 }, subPath: { type: 'string', minLength: 1 } } } },
                    ports: {
                      type: 'array',
                      items: {
                        type: 'object',
                        additionalProperties: false,
                        required: ['name'],
                        properties: { name: { type: 'string', pattern: DNS_LABEL }, port: { type: 'integer', minimum: 0, maximum: 65535 }, protocol: { enum: ['HTTP', 'GRPC'] }, scope: { enum: ['Cluster', 'Domain', 'Local'] } },
                      },
                    },
                    resources: {
                      type: 'object',
                      additionalProperties: false,
                      properties: {
                        limits: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
                        requests: { type: 'object', additionalProperties: false, properties: { cpu: quantity, memory: quantity } },
                      },
                    },
                    livenessProbe: { type: 'object' }, readinessProbe: { type: 'object' }, startupProbe: { type: 'object' },
                    imagePullPolicy: { type: 'string' }, securityContext: { type: 'object' },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: false, strict: false }).compile(APP_IMAGE_SCHEMA);

function describe(e: ErrorObject): ValidationError {
  const at = e.instancePath.split('/').slice(1).reduce((acc, p) => (/^\d+$/.test(p) ? `${acc}[${p}]` : `${acc}.${p}`), 'spec');
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') return new ValidationError(`${at}.${params.missingProperty}`, params.missingProperty === 'command' ? 'is required under RunP: the engine\'s executable on this node' : 'is required');
  if (e.keyword === 'additionalProperties') return new ValidationError(`${at}.${params.additionalProperty}`, 'unknown field: remove it or check its spelling (names are case-sensitive)');
  if (e.keyword === 'maxItems' && at.endsWith('containers')) return new ValidationError(at, 'RunP runs one process per party: give one container');
  if (e.keyword === 'maximum' && at.endsWith('replicas')) return new ValidationError(at, 'RunP runs one replica per party: give 1');
  if (e.keyword === 'enum') return new ValidationError(at, `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
  return new ValidationError(at, e.message ?? 'is invalid');
}

export function checkAppImage(spec: unknown): void {
  if (!validate(spec)) throw describe(validate.errors![0]!);
  const s = spec as { configTemplates?: Record<string, string>; deployTemplates: { spec: { containers: { envFrom?: unknown[]; configVolumeMounts?: { subPath: string }[] }[] } }[] };
  s.deployTemplates.forEach((t, i) => t.spec.containers.forEach((c, j) => {
    if (c.envFrom?.length) throw new ValidationError(`spec.deployTemplates[${i}].spec.containers[${j}].envFrom`, 'is not supported under RunP (there are no ConfigMaps): give env values');
    c.configVolumeMounts?.forEach((m, k) => {
      if (!s.configTemplates?.[m.subPath]) throw new ValidationError(`spec.deployTemplates[${i}].spec.containers[${j}].configVolumeMounts[${k}].subPath`, `no configTemplates entry "${m.subPath}"`);
    });
  }));
}
