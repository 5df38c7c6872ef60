// KusciaAPI data sources, domain data and grants <-> Ferry's DataMesh kinds,
// pure (golden-tested in test/golden/kusciaapi). Built as Kuscia's KusciaAPI
// builds the CRDs (defaults, generated ids, a grant's grantMode "normal",
// times in nanoseconds); checked afterwards as `ferry apply` checks them. A
// source's answer never carries a password or an access key.
import { randomBytes } from 'node:crypto';
import { KUSCIA_API_VERSION, type Resource } from '../resources/types.ts';
import type { StoredResource } from '../store/store.ts';
import { DEFAULT_DATA_SOURCE, type DataColumn, type DataSourceInfo, type DomainDataGrantSpec, type DomainDataSourceSpec, type DomainDataSpec, type GrantStatus } from '../datamesh/spec.ts';
import { validation } from './codes.ts';
import { requireField } from './mapping.ts';

type Msg = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Kuscia's generated ids: GenDomainDataID (a cleaned prefix of the name, then 32 hex digits). */
export function generatedId(name: string, random = randomBytes(16).toString('hex')): string {
  let prefix = name.replace(/[^a-zA-Z0-9/-]+/g, '').toLowerCase().replace(/^[0-9/-]+/, '').slice(0, 16);
  // A "/" Kuscia keeps would not be a DNS label: Ferry drops it.
  prefix = prefix.replace(/\//g, '');
  if (prefix && !prefix.endsWith('-')) prefix += '-';
  return prefix + random;
}

/** An update keeps the metadata set with Ferry's own tools (labels, annotations); the apply is last-writer-wins. */
function metadataOf(name: string, stored: StoredResource | undefined): Resource['metadata'] {
  if (!stored) return { name };
  const m = { ...stored.metadata, name } as Resource['metadata'];
  delete m.resourceVersion;
  return m;
}

/** The request's domain_id: required, and this node's domain (a node serves its own domain's data). */
export function ownDomain(req: Msg, self: string, field = 'domain_id'): string {
  const id = requireField(req, field.split('.').at(-1)!, field);
  if (id !== self) throw validation(field, `is ${id}, but this node serves domain ${self}'s data: send ${self}`);
  return id;
}

const nonEmpty = (m: Msg | null | undefined): Msg | undefined => {
  if (!m) return undefined;
  const out = Object.fromEntries(Object.entries(m).filter(([, v]) => v !== '' && v !== false && v !== null && v !== undefined));
  return Object.keys(out).length ? out : undefined;
};

/** A DataSourceInfo message as the spec's info: empty parts left out. */
function infoSpec(info: Msg): DataSourceInfo {
  const out: Msg = {};
  for (const part of ['localfs', 'oss', 'database', 'odps']) {
    const p = nonEmpty(info[part]);
    if (p) out[part] = p;
  }
  return out as DataSourceInfo;
}

/**
 * A Create/UpdateDomainDataSourceRequest as the DomainDataSource to apply.
 * `stored` (an update): its spec without the sealed info, changed by what the
 * request sets (name, info, info_key, access_directly have presence); without
 * info the stored credentials stay (sealed again by the apply).
 */
export function sourceResource(req: Msg, self: string, stored?: StoredResource): Resource {
  ownDomain(req, self);
  const base = stored ? structuredClone(stored.spec) as unknown as DomainDataSourceSpec : undefined;
  if (base?.data) {
    delete base.data.encryptedInfo;
    if (!Object.keys(base.data).length) delete base.data;
  }
  const type: string = req.type || base?.type || '';
  if (!type) throw validation('type', 'is required: localfs, mysql or postgresql (or a plugin\'s type)');
  const name = stored ? stored.metadata.name : req.datasource_id || `${type}-${randomBytes(16).toString('hex')}`;
  const spec: DomainDataSourceSpec = { ...(base ?? {}), type };
  if (req.name !== undefined) spec.name = req.name;
  if (req.info_key !== undefined) spec.infoKey = req.info_key;
  if (req.access_directly !== undefined) spec.accessDirectly = req.access_directly;
  if (req.info !== undefined && req.info !== null) {
    spec.info = infoSpec(req.info);
    // Kuscia's uri: a directory source's path; an oss source's bucket/prefix (both trimmed of "/", as Kuscia stores them); odps: endpoint/project.
    const i = spec.info;
    if (type === 'localfs' && i.localfs?.path) spec.uri = i.localfs.path = i.localfs.path.replace(/\/+$/, '') || '/';
    if (type === 'oss' && i.oss) {
      for (const k of ['bucket', 'prefix'] as const) if (i.oss[k]) i.oss[k] = i.oss[k].replace(/^\/+|\/+$/g, '');
      spec.uri = [i.oss.bucket, i.oss.prefix].filter(Boolean).join('/');
    }
    if (type === 'odps' && i.odps) spec.uri = `${String(i.odps.endpoint ?? '')}/${String(i.odps.project ?? '')}`;
  } else if (!stored && !req.info_key) {
    throw validation('info', 'is required (or info_key): the source\'s location and credentials, e.g. {"localfs": {"path": "/data"}} or {"database": {"endpoint": "127.0.0.1:3306", "user": "...", "password": "...", "database": "..."}}');
  }
  for (const k of Object.keys(spec) as (keyof DomainDataSourceSpec)[]) if (spec[k] === '' && k !== 'type') delete spec[k];
  return { apiVersion: KUSCIA_API_VERSION, kind: 'DomainDataSource', metadata: metadataOf(name, stored), spec: spec as unknown as Record<string, unknown> };
}

/** What an answer may show of a source's info: no password, no access key. */
export function shownInfo(info: DataSourceInfo | undefined): Msg | null {
  if (!info) return null;
  const i = structuredClone(info) as Msg;
  if (i.database) i.database.password = '';
  for (const part of ['oss', 'odps']) if (i[part]) { i[part].access_key_id = ''; i[part].access_key_secret = ''; }
  return i;
}

export function sourceData(r: StoredResource, self: string, info: DataSourceInfo | undefined): Msg {
  const spec = r.spec as unknown as DomainDataSourceSpec;
  const phase = (r.status as { phase?: string } | undefined)?.phase ?? '';
  return {
    domain_id: self,
    datasource_id: r.metadata.name,
    name: spec.name ?? '',
    type: spec.type,
    status: phase,
    info: shownInfo(info ?? (spec.type === 'localfs' && spec.uri ? { localfs: { path: spec.uri } } : undefined)),
    info_key: spec.infoKey ?? '',
    access_directly: !!spec.accessDirectly,
  };
}

const columns = (cs: Msg[]): DataColumn[] => cs.map((c) => ({ name: c.name, type: c.type, ...(c.comment ? { comment: c.comment } : {}), ...(c.not_nullable ? { notNullable: true } : {}) }));
const pbColumns = (cs: DataColumn[] | undefined) => (cs ?? []).map((c) => ({ name: c.name, type: c.type, comment: c.comment ?? '', not_nullable: !!c.notNullable }));

/**
 * A CreateDomainDataRequest (or an update merged onto the stored spec, empty
 * fields keeping their value, as Kuscia's update does) as the DomainData to apply.
 */
export function dataResource(req: Msg, self: string, stored?: StoredResource): Resource {
  const author = ownDomain(req, self);
  const old = stored?.spec as unknown as DomainDataSpec | undefined;
  if (!old) {
    if (!req.type) throw validation('type', 'is required: table, model, rule, report or unknown');
    if (!req.relative_uri) throw validation('relative_uri', 'is required: the file (relative to its data source) or the table');
  }
  const relativeURI = String(req.relative_uri || old?.relativeURI || '').replace(/^\/+/, '');
  const name = req.name || old?.name || relativeURI.split('/').at(-1) || '';
  const id = stored ? stored.metadata.name : req.domaindata_id || generatedId(name);
  const partition = req.partition?.type ? { type: req.partition.type, ...(req.partition.fields.length ? { fields: columns(req.partition.fields) } : {}) } : old?.partitions;
  const cols = req.columns.length ? columns(req.columns) : old?.columns;
  const attributes = Object.keys(req.attributes).length ? req.attributes : old?.attributes;
  const fileFormat = req.file_format && req.file_format !== 'UNKNOWN' ? req.file_format : old?.fileFormat;
  const spec: DomainDataSpec = {
    relativeURI,
    name,
    type: req.type || old?.type,
    dataSource: req.datasource_id || old?.dataSource || DEFAULT_DATA_SOURCE,
    author,
    ...(attributes && Object.keys(attributes).length ? { attributes } : {}),
    ...(partition ? { partitions: partition } : {}),
    ...(cols?.length ? { columns: cols } : {}),
    vendor: req.vendor || old?.vendor || 'manual',
    ...(fileFormat ? { fileFormat } : {}),
  };
  return { apiVersion: KUSCIA_API_VERSION, kind: 'DomainData', metadata: metadataOf(id, stored), spec: spec as unknown as Record<string, unknown> };
}

export function dataData(r: StoredResource, self: string): Msg {
  const s = r.spec as unknown as DomainDataSpec;
  return {
    domaindata_id: r.metadata.name,
    name: s.name,
    type: s.type,
    relative_uri: s.relativeURI,
    domain_id: self,
    datasource_id: s.dataSource ?? DEFAULT_DATA_SOURCE,
    attributes: s.attributes ?? {},
    partition: s.partitions ? { type: s.partitions.type, fields: pbColumns(s.partitions.fields) } : null,
    columns: pbColumns(s.columns),
    vendor: s.vendor ?? '',
    status: 'Available',
    author: s.author ?? self,
    file_format: s.fileFormat && s.fileFormat !== 'UNKNOWN' ? s.fileFormat : 'UNKNOWN',
  };
}

/** Go's time.Unix(0, ns) in RFC 3339 (what the spec holds); protobufjs hands int64 as number. */
function nsToTime(ns: number, field: string): string {
  const ms = Math.floor(ns / 1e6);
  const d = new Date(ms);
  if (!Number.isFinite(ms) || Number.isNaN(d.getTime()) || ns < 0) throw validation(field, 'must be nanoseconds since 1970-01-01 UTC, or 0 for none');
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

const timeToNs = (t: string | undefined): string => {
  const ms = t ? Date.parse(t) : NaN;
  return Number.isNaN(ms) ? '0' : (BigInt(ms) * 1_000_000n).toString();
};

/** A Create/UpdateDomainDataGrantRequest as the DomainDataGrant to apply (the signature is the node's, made when it is sent). */
export function grantResource(req: Msg, self: string, generated = () => generatedId('domaindatagrant')): Resource {
  const author = ownDomain(req, self);
  const grantDomain = requireField(req, 'grant_domain');
  if (grantDomain === author) throw validation('grant_domain', `is ${author}, the author: a domain needs no grant for its own data`);
  const domainDataID = requireField(req, 'domaindata_id');
  const l = req.limit as Msg | null;
  const spec: DomainDataGrantSpec = { author, domainDataID, grantDomain };
  if (l) {
    spec.limit = {
      ...(l.expiration_time > 0 ? { expirationTime: nsToTime(l.expiration_time, 'limit.expiration_time') } : {}),
      ...(l.use_count ? { useCount: l.use_count } : {}),
      // Kuscia's KusciaAPI writes every limit with grantMode [normal].
      grantMode: ['normal'],
      ...(l.flow_id ? { flowID: l.flow_id } : {}),
      ...(l.components.length ? { components: l.components } : {}),
      ...(l.initiator ? { initiator: l.initiator } : {}),
      ...(l.input_config ? { inputConfig: l.input_config } : {}),
    };
    if (l.use_count < 0) throw validation('limit.use_count', 'must be 0 (no limit) or more');
  }
  if (Object.keys(req.description).length) spec.description = req.description;
  return { apiVersion: KUSCIA_API_VERSION, kind: 'DomainDataGrant', metadata: { name: req.domaindatagrant_id || generated() }, spec: spec as unknown as Record<string, unknown> };
}

/** A grant's answer; `signature`: the author's (this node's, for its own grants; as received, for a partner's). */
export function grantData(r: StoredResource, self: string, signature: string): Msg {
  const s = r.spec as unknown as DomainDataGrantSpec;
  const st = (r.status ?? {}) as Partial<GrantStatus>;
  const l = s.limit;
  return {
    data: {
      domaindatagrant_id: r.metadata.name,
      author: s.author,
      domaindata_id: s.domainDataID,
      grant_domain: s.grantDomain,
      limit: l
        ? { expiration_time: timeToNs(l.expirationTime), use_count: l.useCount ?? 0, flow_id: l.flowID ?? '', components: l.components ?? [], initiator: l.initiator ?? '', input_config: l.inputConfig ?? '' }
        : null,
      description: s.description ?? {},
      signature,
      domain_id: self,
    },
    status: {
      phase: st.phase ?? '',
      message: st.message ?? '',
      records: (st.use_records ?? []).map((u) => ({ use_time: timeToNs(u.use_time), grant_domain: u.grant_domain, component: u.component ?? '', output: u.output ?? '' })),
    },
  };
}
