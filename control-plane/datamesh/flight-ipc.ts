// Arrow IPC messages <-> Flight's FlightData (data_header: the flatbuffer
// Message, data_body: its body), with `apache-arrow` doing the Arrow work.
// A Flight stream is an IPC stream cut at message boundaries: the schema
// first, then one FlightData per record batch. One batch at a time, so a
// table of any size passes in bounded memory.
import { Message, MessageHeader, RecordBatch, RecordBatchReader, Schema, Table, Type, tableToIPC } from 'apache-arrow';

export interface FlightMessage {
  /** The flatbuffer Message (no continuation marker, no length prefix). */
  header: Uint8Array;
  body: Uint8Array;
}

const CONTINUATION = 0xffffffff;

/** Splits an IPC stream's bytes into its messages (the end-of-stream marker ends it). */
export function splitIpcStream(bytes: Uint8Array): FlightMessage[] {
  const out: FlightMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    if (view.getUint32(at, true) !== CONTINUATION) throw new Error('Arrow IPC: expected a continuation marker');
    const len = view.getInt32(at + 4, true);
    if (len === 0) break; // end of stream
    const header = bytes.subarray(at + 8, at + 8 + len);
    const bodyLength = Number(Message.decode(header).bodyLength);
    const body = bytes.subarray(at + 8 + len, at + 8 + len + bodyLength);
    out.push({ header, body });
    at += 8 + len + bodyLength;
  }
  return out;
}

/** One message framed as an IPC stream would hold it (header padded to 8 bytes). */
export function frameMessage(m: FlightMessage): Uint8Array {
  const padded = (m.header.length + 7) & ~7;
  const out = new Uint8Array(8 + padded + m.body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTINUATION, true);
  view.setInt32(4, padded, true);
  out.set(m.header, 8);
  out.set(m.body, 8 + padded);
  return out;
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** The schema message of a stream. */
export function schemaMessage(schema: Schema): FlightMessage {
  return splitIpcStream(tableToIPC(new Table(schema), 'stream'))[0]!;
}

/** The schema as FlightInfo.schema / SchemaResult carry it: an encapsulated IPC message. */
export function encapsulatedSchema(schema: Schema): Uint8Array {
  return frameMessage(schemaMessage(schema));
}

/** The messages of one batch (dictionaries, then the record batch), without the schema. */
export function batchMessages(batch: RecordBatch): FlightMessage[] {
  return splitIpcStream(tableToIPC(new Table([batch]), 'stream')).slice(1);
}

/**
 * Reads a stream of FlightData back into record batches: the first message
 * must be the schema. Each batch is decoded alone (schema + that message), so
 * memory holds one batch, whatever the table's size.
 */
export class FlightStreamDecoder {
  private schemaFrame: Uint8Array | undefined;
  /** The last dictionary batch of each dictionary id (a later one replaces it, as in an IPC stream). */
  private readonly dictionaries = new Map<number, Uint8Array>();
  schema: Schema | undefined;

  /** The batches this message holds (none for the schema itself). */
  push(m: FlightMessage): RecordBatch[] {
    if (!m.header.length) return []; // metadata-only FlightData (app_metadata)
    const message = Message.decode(m.header);
    const type = message.headerType;
    if (!this.schemaFrame) {
      if (type !== MessageHeader.Schema) throw new Error('Flight stream: the first message must be the schema');
      this.schemaFrame = frameMessage(m);
      this.schema = RecordBatchReader.from(concat([this.schemaFrame, EOS])).open().schema;
      return [];
    }
    if (type === MessageHeader.DictionaryBatch) {
      const dict = message.header() as unknown as { id: number; isDelta: boolean };
      if (dict.isDelta) throw new Error('Flight stream: delta dictionaries are not supported; send whole dictionaries');
      this.dictionaries.set(Number(dict.id), frameMessage(m));
      return [];
    }
    if (type !== MessageHeader.RecordBatch) return [];
    const reader = RecordBatchReader.from(concat([this.schemaFrame, ...this.dictionaries.values(), frameMessage(m), EOS]));
    return [...reader];
  }
}

/**
 * The values of a record batch of one binary column (RAW content), as views
 * of the message body: no copy, no Arrow objects. Undefined when the stream's
 * schema is not one binary column or the body is compressed (decode with push()).
 */
export function binaryValues(schema: Schema | undefined, m: FlightMessage): Uint8Array[] | undefined {
  if (!schema || schema.fields.length !== 1 || !m.header.length) return undefined;
  const large = schema.fields[0]!.type.typeId === Type.LargeBinary;
  if (!large && schema.fields[0]!.type.typeId !== Type.Binary) return undefined;
  const message = Message.decode(m.header);
  if (message.headerType !== MessageHeader.RecordBatch) return [];
  const h = message.header() as unknown as { compression: unknown; nodes: { length: number; nullCount: number }[]; buffers: { offset: number; length: number }[] };
  if (h.compression || h.nodes.length !== 1 || h.buffers.length < 3) return undefined;
  const n = Number(h.nodes[0]!.length);
  const [validity, offsets, data] = h.buffers as [{ offset: number; length: number }, { offset: number; length: number }, { offset: number; length: number }];
  const body = m.body;
  const view = new DataView(body.buffer, body.byteOffset + Number(offsets.offset), Number(offsets.length));
  const off = (i: number) => (large ? Number(view.getBigInt64(i * 8, true)) : view.getInt32(i * 4, true));
  const valid = h.nodes[0]!.nullCount ? body.subarray(Number(validity.offset), Number(validity.offset) + Number(validity.length)) : undefined;
  const base = Number(data.offset);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (valid && !((valid[i >> 3]! >> (i & 7)) & 1)) continue;
    out.push(body.subarray(base + off(i), base + off(i + 1)));
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function varint(n: number, out: number[]): void {
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
}

/**
 * FlightData on the wire (data_header = 2, data_body = 1000), written in one
 * buffer from the body's parts: one copy, where protobufjs would make two.
 */
export function encodeFlightData(header: Uint8Array, body: readonly Uint8Array[]): Buffer {
  const bodyLength = body.reduce((n, p) => n + p.length, 0);
  const head: number[] = [0x12];
  varint(header.length, head);
  const mid: number[] = [0xc2, 0x3e]; // field 1000, length-delimited
  varint(bodyLength, mid);
  const out = Buffer.allocUnsafe(head.length + header.length + (bodyLength ? mid.length + bodyLength : 0));
  out.set(head, 0);
  let at = head.length;
  out.set(header, at);
  at += header.length;
  if (bodyLength) {
    out.set(mid, at);
    at += mid.length;
    for (const p of body) { out.set(p, at); at += p.length; }
  }
  return out;
}

/**
 * A RAW batch (one binary column, one value: `chunk`) as a Flight message
 * without Arrow encoding the chunk: the header depends on the chunk's length
 * only (cached), the body is [offsets 0,len | chunk | padding].
 */
export class RawBatchEncoder {
  private readonly headers = new Map<number, Uint8Array>();

  encode(chunk: Uint8Array, makeBatch: (c: Uint8Array) => RecordBatch): Buffer {
    let header = this.headers.get(chunk.length);
    if (!header) {
      const [m] = batchMessages(makeBatch(chunk));
      header = m!.header.slice();
      if (this.headers.size > 16) this.headers.clear();
      this.headers.set(chunk.length, header);
    }
    const offsets = new Uint8Array(8);
    new DataView(offsets.buffer).setInt32(4, chunk.length, true);
    const pad = new Uint8Array((8 - (chunk.length % 8)) % 8);
    return encodeFlightData(header, [offsets, chunk, pad]);
  }
}
