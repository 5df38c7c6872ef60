// The DataMesh kinds, Kuscia's fields (kuscia.secretflow/v1alpha1): their JSON
// schemas (used by resources/schemas.ts like every other kind) and the checks
// that need more than a schema. Pure: no store, no clock, no key.
//
// DomainDataSource is written with `spec.info` (KusciaAPI's DataSourceInfo:
// localfs/oss/database) and stored with that info sealed in
// `spec.data.encryptedInfo` (Kuscia's own field for it, see secrets.ts): the
// plain info never reaches the store, an answer or a log.
import { ValidationError } from '../resources/validation-error.ts';

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$';
const stringMap = { type: 'object', additionalProperties: { type: 'string' } } as const;
const str = { type: 'string', maxLength: 4096 } as const;

/** Kuscia's source types served by built-in drivers (odps is not: docs/datamesh.md). */
export const BUILTIN_SOURCE_TYPES = ['localfs', 'mysql', 'postgresql', 'oss'] as const;
export const DEFAULT_DATA_SOURCE = 'default-data-source';
/** Kuscia's DataColumn types (common.proto), plus the spellings its engines write (str, int, float). */
export const COLUMN_TYPES = ['int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float32', 'float64', 'date32', 'date64', 'bool', 'string', 'binary', 'str', 'int', 'float', 'double'] as const;

const dataColumn = {
  type: 'object',
  required: ['name', 'type'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 256 }, type: { type: 'string', enum: [...COLUMN_TYPES] }, comment: str, notNullable: { type: 'boolean' } },
  additionalProperties: false,
} as const;

export const DOMAIN_DATA_SOURCE_SPEC = {
  type: 'object',
  required: ['type'],
  properties: {
    type: { type: 'string', pattern: DNS_LABEL },
    name: str,
    uri: str,
    info: {
      type: 'object',
      properties: {
        localfs: { type: 'object', properties: { path: str }, additionalProperties: false },
        oss: {
          type: 'object',
          properties: { endpoint: str, bucket: str, prefix: str, access_key_id: str, access_key_secret: str, virtualhost: { type: 'boolean' }, version: str, storage_type: str },
          additionalProperties: false,
        },
        database: { type: 'object', properties: { endpoint: str, user: str, password: str, database: str }, additionalProperties: false },
        odps: { type: 'object', properties: { endpoint: str, project: str, access_key_id: str, access_key_secret: str }, additionalProperties: false },
      },
      additionalProperties: false,
    },
    infoKey: str,
    accessDirectly: { type: 'boolean' },
    data: stringMap,
  },
  additionalProperties: false,
} as const;

export const DOMAIN_DATA_SPEC = {
  type: 'object',
  required: ['relativeURI', 'name', 'type'],
  properties: {
    relativeURI: { type: 'string', minLength: 1, maxLength: 1024 },
    author: { type: 'string', pattern: DNS_LABEL },
    name: { type: 'string', minLength: 1, maxLength: 256 },
    type: { type: 'string', enum: ['table', 'model', 'rule', 'report', 'unknown'] },
    dataSource: { type: 'string', pattern: DNS_LABEL },
    attributes: stringMap,
    partitions: { type: 'object', required: ['type'], properties: { type: str, fields: { type: 'array', maxItems: 64, items: dataColumn } }, additionalProperties: false },
    columns: { type: 'array', maxItems: 10_000, items: dataColumn },
    vendor: str,
    fileFormat: { type: 'string', enum: ['CSV', 'BINARY', 'UNKNOWN', ''] },
  },
  additionalProperties: false,
} as const;

export const DOMAIN_DATA_GRANT_SPEC = {
  type: 'object',
  required: ['author', 'domainDataID', 'grantDomain'],
  properties: {
    author: { type: 'string', pattern: DNS_LABEL },
    domainDataID: { type: 'string', pattern: DNS_LABEL },
    signature: { type: 'string', maxLength: 8192 },
    grantDomain: { type: 'string', pattern: DNS_LABEL },
    limit: {
      type: 'object',
      properties: {
        expirationTime: { type: 'string', maxLength: 64 },
        useCount: { type: 'integer', minimum: 0, maximum: 2147483647 },
        grantMode: { type: 'array', maxItems: 16, items: { type: 'string' } },
        flowID: str,
        components: { type: 'array', maxItems: 256, items: { type: 'string' } },
        initiator: { type: 'string', pattern: DNS_LABEL },
        inputConfig: { type: 'string', maxLength: 1_048_576 },
      },
      additionalProperties: false,
    },
    description: stringMap,
  },
  additionalProperties: false,
} as const;

export interface DataColumn { name: string; type: string; comment?: string; notNullable?: boolean }
export interface DataSourceInfo {
  localfs?: { path?: string };
  oss?: { endpoint?: string; bucket?: string; prefix?: string; access_key_id?: string; access_key_secret?: string; virtualhost?: boolean; version?: string; storage_type?: string };
  database?: { endpoint?: string; user?: string; password?: string; database?: string };
  odps?: Record<string, unknown>;
}
export interface DomainDataSourceSpec {
  type: string;
  name?: string;
  uri?: string;
  /** Only on the way in: sealed into data.encryptedInfo before the store. */
  info?: DataSourceInfo;
  infoKey?: string;
  accessDirectly?: boolean;
  data?: Record<string, string>;
}
export interface DomainDataSpec {
  relativeURI: string;
  author?: string;
  name: string;
  type: 'table' | 'model' | 'rule' | 'report' | 'unknown';
  dataSource?: string;
  attributes?: Record<string, string>;
  partitions?: { type: string; fields?: DataColumn[] };
  columns?: DataColumn[];
  vendor?: string;
  fileFormat?: 'CSV' | 'BINARY' | 'UNKNOWN' | '';
}
export interface GrantLimit {
  expirationTime?: string;
  useCount?: number;
  grantMode?: string[];
  flowID?: string;
  components?: string[];
  initiator?: string;
  inputConfig?: string;
}
export interface DomainDataGrantSpec {
  author: string;
  domainDataID: string;
  signature?: string;
  grantDomain: string;
  limit?: GrantLimit;
  description?: Record<string, string>;
}
export interface UseRecord { use_time: string; grant_domain: string; component?: string; output?: string }
export interface GrantStatus { phase: 'Ready' | 'Unavailable' | 'Unknown'; message: string; use_records?: UseRecord[] }

/** The checks past the schema; fills Kuscia's defaults (author: this domain, dataSource: default-data-source). */
export function checkDataSpec(kind: 'DomainDataSource' | 'DomainData' | 'DomainDataGrant', spec: Record<string, unknown>, self: string): void {
  if (kind === 'DomainDataSource') return checkSource(spec as unknown as DomainDataSourceSpec);
  if (kind === 'DomainData') return checkData(spec as unknown as DomainDataSpec, self);
  return checkGrant(spec as unknown as DomainDataGrantSpec);
}

function checkSource(s: DomainDataSourceSpec): void {
  if (s.data && 'encryptedInfo' in s.data) {
    throw new ValidationError('spec.data.encryptedInfo', 'is written by the node (it seals spec.info); give the credentials as spec.info instead');
  }
  const info = s.info ?? {};
  if (s.type === 'localfs' && info.localfs?.path === undefined && !s.uri && !s.infoKey) {
    throw new ValidationError('spec.info.localfs.path', 'is required for a localfs source (or spec.uri): the directory that holds its data');
  }
  for (const p of [info.localfs?.path, s.type === 'localfs' ? s.uri : undefined]) {
    if (p !== undefined && p !== '' && !p.startsWith('/')) throw new ValidationError(info.localfs?.path === p ? 'spec.info.localfs.path' : 'spec.uri', `must be an absolute directory path (got ${JSON.stringify(p)})`);
  }
  // Without info, a stored source keeps its sealed credentials (secrets.ts refuses a new one without).
  if ((s.type === 'mysql' || s.type === 'postgresql') && !s.infoKey && s.info) {
    const db = info.database;
    if (!db?.endpoint) throw new ValidationError('spec.info.database.endpoint', `is required for a ${s.type} source: host:port of the server`);
    if (!/^[^\s:/]+:\d{1,5}$/.test(db.endpoint)) throw new ValidationError('spec.info.database.endpoint', `must be host:port, e.g. 127.0.0.1:${s.type === 'mysql' ? 3306 : 5432}`);
    if (!db.database) throw new ValidationError('spec.info.database.database', 'is required: the database that holds the tables');
    if (!db.user) throw new ValidationError('spec.info.database.user', 'is required: the account Ferry reads and writes with');
  }
  if (s.type === 'oss' && !s.infoKey && s.info) checkOss(info.oss);
}

/** Kuscia's OssDataSourceInfo as an S3 client needs it. */
function checkOss(o: DataSourceInfo['oss']): void {
  const f = (n: string) => `spec.info.oss.${n}`;
  if (!o?.endpoint) throw new ValidationError(f('endpoint'), 'is required for an oss source: the S3-compatible server, e.g. http://127.0.0.1:9000 or https://oss-cn-hangzhou.aliyuncs.com');
  let url: URL | undefined;
  try { url = new URL(o.endpoint); } catch { /* below */ }
  if (!url || !/^https?:$/.test(url.protocol) || (url.pathname !== '/' && url.pathname !== '') || url.search || url.username) {
    throw new ValidationError(f('endpoint'), `must be http(s)://host[:port] with no path (got ${JSON.stringify(o.endpoint)})`);
  }
  if (!o.bucket || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket)) throw new ValidationError(f('bucket'), `must be an S3 bucket name: 3-63 lower-case letters, digits, "." and "-" (got ${JSON.stringify(o.bucket ?? '')})`);
  if (o.prefix) {
    const problem = relativeUriProblem(o.prefix.replace(/\/+$/, ''));
    if (problem) throw new ValidationError(f('prefix'), problem);
  }
  if (!o.access_key_id || !o.access_key_secret) throw new ValidationError(o.access_key_id ? f('access_key_secret') : f('access_key_id'), 'is required: Ferry signs every S3 request with the source\'s access key');
  if (o.version && o.version !== 's3v4') throw new ValidationError(f('version'), `${JSON.stringify(o.version)} is not served: Ferry signs with S3 signature v4 (s3v4, what every current S3-compatible server takes); leave it empty or set s3v4`);
}

/** A relative URI inside its source: no absolute path, no "..", no backslash. */
export function relativeUriProblem(uri: string): string | undefined {
  if (uri.startsWith('/')) return 'must be relative to the data source (no leading "/")';
  if (uri.split('/').some((p) => p === '..' || p === '.')) return 'must not contain "." or ".." segments (it must stay inside its data source)';
  if (/[\\\0]/.test(uri)) return 'must not contain a backslash or NUL';
  return undefined;
}

function checkData(s: DomainDataSpec, self: string): void {
  const problem = relativeUriProblem(s.relativeURI);
  if (problem) throw new ValidationError('spec.relativeURI', problem);
  if (s.type === 'table' && !s.columns?.length) throw new ValidationError('spec.columns', 'is required for a table: name and type of each column (e.g. [{name: id, type: str}])');
  const names = new Set<string>();
  for (const [i, c] of (s.columns ?? []).entries()) {
    if (names.has(c.name)) throw new ValidationError(`spec.columns[${i}].name`, `"${c.name}" appears twice: column names are unique`);
    names.add(c.name);
  }
  s.author ??= self;
  s.dataSource ??= DEFAULT_DATA_SOURCE;
}

function checkGrant(s: DomainDataGrantSpec): void {
  if (s.author === s.grantDomain) throw new ValidationError('spec.grantDomain', `is the author ${s.author}: a domain needs no grant for its own data`);
  const t = s.limit?.expirationTime;
  if (t !== undefined && !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(t)) {
    throw new ValidationError('spec.limit.expirationTime', `must be an RFC 3339 time such as 2026-12-31T23:59:59Z (got ${JSON.stringify(t)})`);
  }
}
