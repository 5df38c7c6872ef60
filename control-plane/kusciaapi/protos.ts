// The KusciaAPI protos (interop/kusciaapi) loaded with protobufjs, and the
// codecs both transports use: JSON as Kuscia writes it (proto field names,
// unpopulated fields emitted, 64-bit integers as strings, enums as names) and
// binary protobuf. Input JSON takes proto names or lowerCamel names; unknown
// fields are ignored (as Kuscia does); a value of the wrong type is refused
// with the field's path.
import { join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { validation } from './codes.ts';

export const PROTO_DIR = resolve(import.meta.dirname, '..', '..', 'interop', 'kusciaapi');
const DIR = PROTO_DIR;
export const PROTO_FILES = ['health.proto', 'domain.proto', 'domain_route.proto', 'job.proto', 'appimage.proto', 'domaindatasource.proto', 'domaindata.proto', 'domaindatagrant.proto'];
export const PACKAGE = 'kuscia.proto.api.v1alpha1.kusciaapi';

let root: protobuf.Root | undefined;

export function protoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('google/') || target.startsWith('/') ? target : join(DIR, target));
  r.loadSync(PROTO_FILES.map((f) => join(DIR, f)), { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

export function messageType(name: string): protobuf.Type {
  return protoRoot().lookupType(`${PACKAGE}.${name}`);
}

/** What a handler receives: every field present (defaults filled), 64-bit integers as numbers. */
const REQUEST_VIEW: protobuf.IConversionOptions = { defaults: true, arrays: true, objects: true, longs: Number, enums: String };
/** What goes out as JSON: every field present, 64-bit integers as strings, enums as names. */
const JSON_VIEW: protobuf.IConversionOptions = { defaults: true, arrays: true, objects: true, longs: String, enums: String };

const lowerCamel = (name: string) => name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** A JSON request body checked against the message type and made into the handler's view. */
export function requestFromJson(type: protobuf.Type, body: unknown): Record<string, unknown> {
  const checked = checkMessage(type, body ?? {}, '');
  return type.toObject(type.fromObject(checked), REQUEST_VIEW);
}

export function requestFromBinary(type: protobuf.Type, bytes: Uint8Array): Record<string, unknown> {
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (e) {
    throw validation('(body)', `is not a protobuf ${type.name}: ${(e as Error).message}`);
  }
  return type.toObject(message, REQUEST_VIEW);
}

export function responseToJson(type: protobuf.Type, response: Record<string, unknown>): Record<string, unknown> {
  return inFieldOrder(type, type.toObject(type.fromObject(response), JSON_VIEW));
}

/** Keys in field-number order, as Kuscia's protojson writes them (protobufjs puts repeated fields first). */
function inFieldOrder(type: protobuf.Type, obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of [...type.fieldsArray].sort((a, b) => a.id - b.id)) {
    const v = obj[field.name];
    const t = field.resolvedType;
    if (t instanceof protobuf.Type && t.fullName !== '.google.protobuf.Any' && v !== null && typeof v === 'object') {
      if (field.map) out[field.name] = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, inFieldOrder(t, x as Record<string, unknown>)]));
      else if (Array.isArray(v)) out[field.name] = v.map((x) => inFieldOrder(t, x as Record<string, unknown>));
      else out[field.name] = inFieldOrder(t, v as Record<string, unknown>);
    } else {
      out[field.name] = v;
    }
  }
  return out;
}

export function responseToBinary(type: protobuf.Type, response: Record<string, unknown>): Uint8Array {
  return type.encode(type.fromObject(response)).finish();
}

const INT32 = new Set(['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64', 'uint64', 'fixed64']);

function checkMessage(type: protobuf.Type, value: unknown, path: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw validation(path || '(body)', `expected a JSON object (message ${type.name})`);
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const given = value as Record<string, unknown>;
    const key = field.name in given ? field.name : lowerCamel(field.name) in given ? lowerCamel(field.name) : undefined;
    if (key === undefined || given[key] === null) continue; // null means unset in proto JSON
    const at = path ? `${path}.${field.name}` : field.name;
    const v = given[key];
    if (field.map) {
      if (typeof v !== 'object' || Array.isArray(v)) throw validation(at, 'expected a JSON object (a map)');
      const m: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v as object)) m[k] = checkScalarOrMessage(field, item, `${at}.${k}`);
      out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) throw validation(at, 'expected a JSON array');
      out[field.name] = v.map((item, i) => checkScalarOrMessage(field, item, `${at}[${i}]`));
    } else {
      out[field.name] = checkScalarOrMessage(field, v, at);
    }
  }
  return out;
}

function checkScalarOrMessage(field: protobuf.Field, v: unknown, at: string): unknown {
  const t = field.resolvedType;
  if (t instanceof protobuf.Type) {
    // google.protobuf.Any (Status.details) never comes in a request: left out.
    if (t.fullName === '.google.protobuf.Any') return undefined;
    return checkMessage(t, v, at);
  }
  if (t instanceof protobuf.Enum) {
    if (typeof v === 'string' && v in t.values) return v;
    if (typeof v === 'number' && Object.values(t.values).includes(v)) return v;
    throw validation(at, `must be one of ${Object.keys(t.values).join(', ')}`);
  }
  if (field.type === 'string') {
    if (typeof v !== 'string') throw validation(at, 'expected a string');
    return v;
  }
  if (field.type === 'bool') {
    if (typeof v !== 'boolean') throw validation(at, 'expected true or false');
    return v;
  }
  if (field.type === 'bytes') {
    if (typeof v !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(v)) throw validation(at, 'expected base64 text');
    return v;
  }
  if (INT64.has(field.type)) {
    // Nanosecond times pass Number's safe range: checked as BigInt, kept exact for protobufjs.
    const text = typeof v === 'string' ? v.trim() : typeof v === 'number' && Number.isInteger(v) ? BigInt(v).toString() : undefined;
    const unsigned = field.type.startsWith('u') || field.type.startsWith('fixed');
    const [min, max] = unsigned ? [0n, 2n ** 64n - 1n] : [-(2n ** 63n), 2n ** 63n - 1n];
    if (text === undefined || !/^-?\d+$/.test(text) || BigInt(text) < min || BigInt(text) > max) throw validation(at, `expected an integer from ${min} to ${max}`);
    return text;
  }
  if (INT32.has(field.type)) {
    const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : v;
    const unsigned = field.type.startsWith('u') || field.type.startsWith('fixed');
    const max = unsigned ? 2 ** 32 - 1 : 2 ** 31 - 1;
    const min = unsigned ? 0 : -max - 1;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) throw validation(at, `expected an integer from ${min} to ${max}`);
    return n;
  }
  if (field.type === 'double' || field.type === 'float') {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw validation(at, 'expected a number');
    return v;
  }
  throw validation(at, `unsupported field type ${field.type}`);
}
