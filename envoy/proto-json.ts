// Encodes Envoy resources written in Envoy's own JSON/YAML shape (proto3 JSON
// mapping with snake_case names) into protobuf bytes. protobufjs's fromObject
// does not implement the proto3 JSON forms of the well-known types, so this
// walks the message schema and converts them: Duration "1.5s", wrapper types
// as bare scalars, Struct as a plain object, and Any as {"@type": ..., fields}.
// Unknown fields are errors, so a typo in a translator fails loudly.
import { createHash } from 'node:crypto';
import protobuf from 'protobufjs';
import { protoRoot, TYPE_PREFIX } from './protos.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const WRAPPERS = new Set([
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value',
  'google.protobuf.UInt64Value', 'google.protobuf.Int32Value', 'google.protobuf.UInt32Value',
  'google.protobuf.BoolValue', 'google.protobuf.StringValue', 'google.protobuf.BytesValue',
]);

function fullName(type: protobuf.Type): string {
  return type.fullName.replace(/^\./, '');
}

function parseDuration(value: Json, path: string): { seconds: number; nanos: number } {
  const m = typeof value === 'string' ? /^(-?\d+)(?:\.(\d{1,9}))?s$/.exec(value) : null;
  if (!m) throw new Error(`${path}: expected a duration like "1.5s", got ${JSON.stringify(value)}`);
  const seconds = Number(m[1]);
  // The sign comes from the text: "-0.5s" has seconds 0 (not negative) but negative nanos.
  const nanos = m[2] ? Number(m[2].padEnd(9, '0')) * (m[1]!.startsWith('-') ? -1 : 1) : 0;
  return { seconds: seconds === 0 ? 0 : seconds, nanos };
}

function expectObject(value: Json, path: string, what: string): { [k: string]: Json } {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${path}: expected an object for ${what}, got ${JSON.stringify(value)}`);
  }
  return value;
}

// protobufjs bundles google/protobuf/struct.proto with camelCase field names.
function structValue(value: Json): Record<string, unknown> {
  if (value === null) return { nullValue: 0 };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(structValue) } };
  return { structValue: structFields(value) };
}

function structFields(obj: { [k: string]: Json }): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) fields[k] = structValue(v);
  return { fields };
}

/** Resolves a type URL to its message type, or throws naming the URL. */
export function typeForUrl(typeUrl: string): protobuf.Type {
  const name = typeUrl.startsWith(TYPE_PREFIX) ? typeUrl.slice(TYPE_PREFIX.length) : typeUrl;
  try {
    return protoRoot.lookupType(name);
  } catch {
    throw new Error(`unknown message type ${typeUrl}: add its proto to envoy/protos.ts`);
  }
}

function convertAny(value: Json, path: string): { type_url: string; value: Uint8Array } {
  if (!value || typeof value !== 'object' || Array.isArray(value) || typeof value['@type'] !== 'string') {
    throw new Error(`${path}: Any needs an "@type"`);
  }
  const { '@type': typeUrl, ...rest } = value;
  let type: protobuf.Type;
  try {
    type = typeForUrl(typeUrl as string);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  return { type_url: typeUrl as string, value: encodeJson(type, rest, path) };
}

function convertField(field: protobuf.Field, value: Json, path: string): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    if (typeof value === 'number') return value;
    const number = typeof value === 'string' ? rt.values[value] : undefined;
    if (number === undefined) {
      throw new Error(`${path}: ${JSON.stringify(value)} is not one of ${Object.keys(rt.values).join(', ')}`);
    }
    return number;
  }
  if (!(rt instanceof protobuf.Type)) return value; // scalar: fromObject takes numbers, strings, base64
  const name = fullName(rt);
  if (name === 'google.protobuf.Duration') return parseDuration(value, path);
  if (WRAPPERS.has(name)) return { value };
  if (name === 'google.protobuf.Struct') return structFields(expectObject(value, path, name));
  if (name === 'google.protobuf.Value') return structValue(value);
  if (name === 'google.protobuf.Any') return convertAny(value, path);
  return convertMessage(rt, value, path);
}

function convertMessage(type: protobuf.Type, value: Json, path: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${path}: expected an object for ${fullName(type)}`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const field = type.fields[key];
    const fieldPath = path ? `${path}.${key}` : key;
    if (!field) throw new Error(`${fieldPath}: no such field in ${fullName(type)}`);
    if (field.repeated) {
      if (!Array.isArray(v)) throw new Error(`${fieldPath}: expected a list`);
      out[key] = v.map((item, i) => convertField(field, item, `${fieldPath}[${i}]`));
    } else if (field instanceof protobuf.MapField) {
      const entries: Record<string, unknown> = {};
      for (const [mk, mv] of Object.entries(v as { [k: string]: Json })) {
        entries[mk] = convertField(field, mv, `${fieldPath}.${mk}`);
      }
      out[key] = entries;
    } else {
      out[key] = convertField(field, v, fieldPath);
    }
  }
  return out;
}

/** Encodes a JSON-shaped message of `type` to protobuf bytes. */
export function encodeJson(type: protobuf.Type, value: unknown, path = ''): Uint8Array {
  const converted = convertMessage(type, value as Json, path);
  const problem = type.verify(converted);
  if (problem) throw new Error(`${path || fullName(type)}: ${problem}`);
  return type.encode(type.fromObject(converted)).finish();
}

/** Decodes bytes back to Envoy's JSON shape (enums as names), for tests and debugging. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): unknown {
  return type.toObject(type.decode(bytes), { enums: String, longs: Number, bytes: String, defaults: false });
}

/**
 * Remembers encoded messages by their JSON text, so that a configuration that
 * changes a little is re-encoded a little. Entries not used by the latest
 * build are dropped at the next one (call `nextGeneration` per build).
 */
export class EncodeCache {
  private previous = new Map<string, Uint8Array>();
  private current = new Map<string, Uint8Array>();
  /**
   * By object identity: a translator that returns the very same (immutable)
   * object for an unchanged input skips even the JSON text.
   */
  readonly byObject = new WeakMap<object, Uint8Array>();

  nextGeneration(): void {
    this.previous = this.current;
    this.current = new Map();
  }

  lookup(key: string): Uint8Array | undefined {
    const hit = this.current.get(key) ?? this.previous.get(key);
    if (hit) this.current.set(key, hit);
    return hit;
  }

  store(key: string, bytes: Uint8Array): void {
    this.current.set(key, bytes);
  }
}

/** Lists longer than this are encoded item by item, each item cached. */
const SPLIT_AT = 16;

/**
 * Like encodeJson, but long repeated message fields (virtual hosts, routes)
 * are encoded item by item through `cache` and appended: protobuf decodes
 * concatenated encodings of one message as their merge, so
 * bytes(msg) = bytes(msg without the list) ++ (tag, length, bytes(item))*.
 */
export function encodeJsonCached(type: protobuf.Type, value: Record<string, unknown>, cache: EncodeCache, path = ''): Uint8Array {
  const same = cache.byObject.get(value);
  if (same) return same;
  const bytes = encodeJsonUncached(type, value, cache, path);
  cache.byObject.set(value, bytes);
  return bytes;
}

function encodeJsonUncached(type: protobuf.Type, value: Record<string, unknown>, cache: EncodeCache, path: string): Uint8Array {
  const split = Object.entries(value).filter(([key, v]) => {
    const field = type.fields[key];
    return field?.repeated && field.resolvedType instanceof protobuf.Type && Array.isArray(v) && v.length > SPLIT_AT;
  });
  if (split.length === 0) {
    // Keyed by a digest of the JSON text: the text itself would double the cache's memory.
    const key = createHash('sha1').update(type.fullName).update(JSON.stringify(value)).digest('base64');
    const hit = cache.lookup(key);
    if (hit) return hit;
    const bytes = encodeJson(type, value, path);
    cache.store(key, bytes);
    return bytes;
  }
  const rest = { ...value };
  for (const [key] of split) delete rest[key];
  const head = encodeJson(type, rest, path);
  const writer = protobuf.Writer.create();
  for (const [key, items] of split) {
    const field = type.fields[key]!;
    const itemType = field.resolvedType as protobuf.Type;
    (items as Record<string, unknown>[]).forEach((item, i) => {
      const bytes = encodeJsonCached(itemType, item, cache, `${path}.${key}[${i}]`);
      writer.uint32(((field.id << 3) | 2) >>> 0).bytes(bytes);
    });
  }
  return Buffer.concat([head, writer.finish()]);
}
