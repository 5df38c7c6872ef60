// A KusciaJob's spec, checked and made complete once, by the initiator, before
// it is hashed and sent to the parties: defaults filled in (Kuscia's: Strict,
// maxParallelism 1), task ids derived, the DAG checked. Every party stores the
// spec's hash and refuses records for another spec (docs/jobs.md).
// Pure: no store, no clock.
import { createHash } from 'node:crypto';
import { Ajv, type ErrorObject } from 'ajv';
import { ValidationError } from '../resources/validation-error.ts';
import { topologicalOrder, type JobSpec, type JobTask } from './phase.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const count = { type: 'integer', minimum: 0, maximum: 31_536_000 } as const;

/** Kuscia's KusciaJob spec fields. Fields Ferry does not support yet are refused by name (see UNSUPPORTED), never dropped. */
const JOB_SPEC_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['initiator', 'tasks'],
  properties: {
    flowID: { type: 'string', maxLength: 253 },
    initiator: { type: 'string', pattern: DNS_LABEL },
    scheduleMode: { enum: ['Strict', 'BestEffort'] },
    maxParallelism: { type: 'integer', minimum: 1, maximum: 128 },
    tasks: {
      type: 'array',
      minItems: 1,
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['appImage', 'parties'],
        properties: {
          alias: { type: 'string', minLength: 1, maxLength: 253 },
          taskID: { type: 'string', pattern: DNS_LABEL },
          dependencies: { type: 'array', maxItems: 128, items: { type: 'string', minLength: 1 } },
          tolerable: { type: 'boolean' },
          appImage: { type: 'string', pattern: DNS_LABEL },
          taskInputConfig: { type: 'string', maxLength: 1_048_576 },
          priority: { type: 'integer', minimum: -1_000_000, maximum: 1_000_000 },
          scheduleConfig: {
            type: 'object',
            additionalProperties: false,
            properties: { minReservedMembers: { type: 'integer', minimum: 1 }, resourceReservedSeconds: count, lifecycleSeconds: count, retryIntervalSeconds: count },
          },
          parties: {
            type: 'array',
            minItems: 1,
            maxItems: 64,
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['domainID'],
              properties: {
                domainID: { type: 'string', pattern: DNS_LABEL },
                role: { type: 'string', maxLength: 63 },
                resources: {
                  type: 'object',
                  additionalProperties: false,
                  properties: { limits: { $ref: '#/$defs/quantities' }, requests: { $ref: '#/$defs/quantities' } },
                },
                bandwidthLimits: { type: 'array' },
              },
            },
          },
        },
      },
    },
  },
  $defs: {
    quantities: {
      type: 'object',
      additionalProperties: false,
      properties: { cpu: { type: ['string', 'number'] }, memory: { type: ['string', 'number'] } },
    },
  },
} as const;

/** Accepted by Kuscia, refused by Ferry until supported, with what to do instead. */
const UNSUPPORTED: { test: (spec: JobSpec & Record<string, unknown>) => string | undefined; fix: string }[] = [
  {
    test: (s) => {
      const i = s.tasks.findIndex((t) => t.parties.some((p) => (p as { bandwidthLimits?: unknown[] }).bandwidthLimits?.length));
      return i < 0 ? undefined : `spec.tasks[${i}].parties[].bandwidthLimits`;
    },
    fix: 'per-task bandwidth limits are not supported yet: remove it (a Service can carry ferry.secretflow/bandwidth)',
  },
  {
    test: (s) => {
      const i = s.tasks.findIndex((t) => t.scheduleConfig && (t.scheduleConfig as { minReservedMembers?: number }).minReservedMembers !== undefined);
      return i < 0 ? undefined : `spec.tasks[${i}].scheduleConfig.minReservedMembers`;
    },
    fix: 'partial gang starts are not supported: every party of a task reserves before it starts; remove it',
  },
];

const ajv = new Ajv({ allErrors: false, strict: false });
const validateShape = ajv.compile(JOB_SPEC_SCHEMA);

function pointerToField(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : `${acc}.${part}`), 'spec');
}

function schemaError(e: ErrorObject): ValidationError {
  const at = pointerToField(e.instancePath);
  const params = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return new ValidationError(`${at}.${params.missingProperty}`, 'is required');
    case 'additionalProperties':
      return new ValidationError(`${at}.${params.additionalProperty}`, 'unknown field: remove it or check its spelling (names are case-sensitive)');
    case 'enum':
      return new ValidationError(at, `must be one of ${(params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`);
    case 'pattern':
      return new ValidationError(at, 'must be a lowercase DNS label: a-z, 0-9 and "-", at most 63 characters, starting and ending with a letter or digit');
    default:
      return new ValidationError(at, e.message ?? 'is invalid');
  }
}

/** A task id Kuscia would accept, derived from the job name and alias so that every party derives the same one. */
function deriveTaskId(jobName: string, alias: string): string {
  const plain = `${jobName}-${alias}`;
  if (new RegExp(DNS_LABEL).test(plain)) return plain;
  const suffix = createHash('sha256').update(alias).digest('hex').slice(0, 8);
  return `${jobName.slice(0, 63 - 9)}-${suffix}`;
}

/**
 * Checks a KusciaJob spec and returns it complete (defaults and task ids filled in).
 * `self` is the domain creating it: it must be the initiator and a party.
 */
export function normalizeJobSpec(jobName: string, raw: unknown, self?: string): JobSpec {
  if (!new RegExp(DNS_LABEL).test(jobName)) throw new ValidationError('metadata.name', 'must be a lowercase DNS label of at most 63 characters (it names the job at every party)');
  if (!validateShape(raw)) throw schemaError(validateShape.errors![0]!);
  const spec = structuredClone(raw) as unknown as JobSpec & Record<string, unknown>;
  for (const u of UNSUPPORTED) {
    const field = u.test(spec);
    if (field) throw new ValidationError(field, u.fix);
  }
  spec.scheduleMode ??= 'Strict';
  spec.maxParallelism ??= 1;
  const aliases = new Map<string, number>();
  const ids = new Map<string, number>();
  spec.tasks.forEach((t, i) => {
    t.alias ??= t.taskID ?? '';
    if (!t.alias) throw new ValidationError(`spec.tasks[${i}].alias`, 'is required (or give taskID): dependencies name tasks by alias');
    if (aliases.has(t.alias)) throw new ValidationError(`spec.tasks[${i}].alias`, `"${t.alias}" is also the alias of tasks[${aliases.get(t.alias)}]: aliases must be unique`);
    aliases.set(t.alias, i);
    t.taskID ??= deriveTaskId(jobName, t.alias);
    if (ids.has(t.taskID)) throw new ValidationError(`spec.tasks[${i}].taskID`, `"${t.taskID}" is also the taskID of tasks[${ids.get(t.taskID)}]: task ids must be unique`);
    ids.set(t.taskID, i);
    const seen = new Set<string>();
    t.parties.forEach((p, j) => {
      if (seen.has(`${p.domainID}/${p.role ?? ''}`)) throw new ValidationError(`spec.tasks[${i}].parties[${j}]`, `${p.domainID} appears twice with the same role: list each party once`);
      seen.add(`${p.domainID}/${p.role ?? ''}`);
    });
  });
  spec.tasks.forEach((t: JobTask, i) => {
    (t.dependencies ?? []).forEach((d, j) => {
      if (d === t.alias) throw new ValidationError(`spec.tasks[${i}].dependencies[${j}]`, `task ${t.alias} cannot depend on itself`);
      if (!aliases.has(d)) throw new ValidationError(`spec.tasks[${i}].dependencies[${j}]`, `no task has alias "${d}" (dependencies name tasks by alias: ${[...aliases.keys()].join(', ')})`);
    });
  });
  try {
    topologicalOrder(spec.tasks);
  } catch (e) {
    throw new ValidationError('spec.tasks[].dependencies', `${(e as Error).message}: the tasks must form a DAG`);
  }
  const parties = new Set(spec.tasks.flatMap((t) => t.parties.map((p) => p.domainID)));
  if (!parties.has(spec.initiator)) throw new ValidationError('spec.initiator', `${spec.initiator} takes part in no task: the initiator must be a party of at least one task`);
  if (self !== undefined && spec.initiator !== self) throw new ValidationError('spec.initiator', `must be this domain (${self}): a domain creates only jobs it initiates; ${spec.initiator} creates its own`);
  return spec;
}

/** JSON with object keys sorted, so that every party hashes the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** What a party's records are bound to: the job's name and its complete spec. */
export function specHash(jobName: string, spec: JobSpec): string {
  return createHash('sha256').update(canonicalJson({ name: jobName, spec })).digest('hex');
}
