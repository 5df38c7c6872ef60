// The DataMesh's Arrow Flight service on @grpc/grpc-js with Kuscia's commands:
// GetFlightInfo takes CommandDomainDataQuery / CommandDomainDataUpdate (packed
// in a google.protobuf.Any) and answers a one-use ticket at the location
// "kuscia://datamesh" (the client stays on this connection); DoGet streams
// the DomainData, DoPut writes it; GetSchema takes CommandGetDomainDataSchema;
// DoAction serves Kuscia's actions (task-metadata.ts says what a task may do).
// Every call is made with a task's credential (caller.ts); tickets are bound to it.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { Binary, Field, RecordBatch, Schema, makeData } from 'apache-arrow';
import type { Logger } from 'pino';
import { batchMessages, binaryValues, encapsulatedSchema, encodeFlightData, FlightStreamDecoder, RawBatchEncoder, schemaMessage, type FlightMessage } from './flight-ipc.ts';
import { schemaOf } from './csv.ts';
import { MeshError, type Mesh } from './mesh.ts';
import { refuseDataChange, refusePartition, refuseSqlQuery, sourceForTask } from './task-metadata.ts';
import type { TaskCredential } from './access.ts';

const DIR = resolve(import.meta.dirname, '..', '..', 'interop', 'datamesh');
const DM = 'kuscia.proto.api.v1alpha1.datamesh';
export const ENDPOINT_URI = 'kuscia://datamesh';
const TICKET_TTL_MS = 10 * 60_000;
const RAW_COLUMN = 'binary_data';

let root: protobuf.Root | undefined;
export function flightRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith('google/') || target.startsWith('/') ? target : join(DIR, target));
  r.loadSync(['flight.proto', 'flightdm.proto', 'domaindata.proto', 'domaindatasource.proto', 'google/protobuf/any.proto'].map((f) => (f.startsWith('google/') ? f : join(DIR, f))), { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}
const T = (name: string) => flightRoot().lookupType(name);
const view = { defaults: true, arrays: true, objects: true, longs: Number, enums: String } as const;

type Ticket = { op: 'get' | 'put'; id: string; token: string; columns: string[]; raw: boolean; delimiter: string; expires: number };

// A streaming call fails with call.emit('error', grpcError(e)): grpc-js then sends the status.
// (call.destroy(err) destroys the stream before its status is sent: the client waits forever.)
function grpcError(e: unknown): grpc.ServiceError {
  const m = e instanceof MeshError ? e : undefined;
  const code = !m ? grpc.status.INTERNAL
    : ({ 400: grpc.status.INVALID_ARGUMENT, 401: grpc.status.UNAUTHENTICATED, 403: grpc.status.PERMISSION_DENIED, 404: grpc.status.NOT_FOUND, 409: grpc.status.ALREADY_EXISTS, 500: grpc.status.INTERNAL, 501: grpc.status.UNIMPLEMENTED } as const)[m.code];
  return Object.assign(new Error((e as Error).message), { code, details: (e as Error).message, metadata: new grpc.Metadata() }) as grpc.ServiceError;
}

export interface FlightDeps {
  mesh: Mesh;
  log: Logger;
  /** The caller's credential (and the token it came with), from the call's metadata or its connection. */
  caller(call: { getPeer(): string; metadata: grpc.Metadata }): { credential: TaskCredential; token: string } | undefined;
}

function method(name: string, req: string, res: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<object, object> {
  const reqT = T(`arrow.flight.protocol.${req}`);
  const resT = T(`arrow.flight.protocol.${res}`);
  return {
    path: `/arrow.flight.protocol.FlightService/${name}`, requestStream, responseStream, originalName: name,
    requestSerialize: (m: object) => Buffer.from(reqT.encode(reqT.fromObject(m)).finish()),
    requestDeserialize: (b: Buffer) => reqT.toObject(reqT.decode(b), view),
    responseSerialize: (m: object) => Buffer.from(resT.encode(resT.fromObject(m)).finish()),
    responseDeserialize: (b: Buffer) => resT.toObject(resT.decode(b), view),
  };
}

export function flightDefinition(): grpc.ServiceDefinition {
  return {
    Handshake: method('Handshake', 'HandshakeRequest', 'HandshakeResponse', true, true),
    ListFlights: method('ListFlights', 'Criteria', 'FlightInfo', false, true),
    GetFlightInfo: method('GetFlightInfo', 'FlightDescriptor', 'FlightInfo', false, false),
    GetSchema: method('GetSchema', 'FlightDescriptor', 'SchemaResult', false, false),
    // FlightData out of DoGet is written by hand from the IPC message's parts (one copy, flight-ipc.ts).
    DoGet: { ...method('DoGet', 'Ticket', 'FlightData', false, true), responseSerialize: (m: object) => (Buffer.isBuffer(m) ? m : encodeFlightData((m as { data_header: Uint8Array }).data_header, [(m as { data_body: Uint8Array }).data_body])) },
    DoPut: method('DoPut', 'FlightData', 'PutResult', true, true),
    DoExchange: method('DoExchange', 'FlightData', 'FlightData', true, true),
    DoAction: method('DoAction', 'Action', 'Result', false, true),
    ListActions: method('ListActions', 'Empty', 'ActionType', false, true),
  };
}

/** A packed command: its type name and fields. */
function unpackCommand(cmd: Uint8Array): { type: string; msg: Record<string, unknown> } {
  let any: { type_url?: string; value?: Uint8Array };
  try {
    any = T('google.protobuf.Any').decode(cmd) as unknown as { type_url: string; value: Uint8Array };
  } catch {
    throw new MeshError(400, 'FlightDescriptor.cmd: not a google.protobuf.Any holding a Kuscia DataMesh command');
  }
  const type = (any.type_url ?? '').split('/').pop() ?? '';
  if (!type.startsWith(`${DM}.`)) throw new MeshError(400, `FlightDescriptor.cmd: ${type || '(empty type_url)'} is not a Kuscia DataMesh command (CommandDomainDataQuery, CommandDomainDataUpdate)`);
  let t: protobuf.Type;
  try {
    t = T(type);
  } catch {
    throw new MeshError(501, `FlightDescriptor.cmd: ${type} is not a DataMesh command Ferry knows (CommandDomainDataQuery, CommandDomainDataUpdate, CommandGetDomainDataSchema)`);
  }
  try {
    return { type: type.slice(DM.length + 1), msg: t.toObject(t.decode(any.value ?? new Uint8Array()), view) };
  } catch (e) {
    throw new MeshError(400, `FlightDescriptor.cmd: not a valid ${type}: ${(e as Error).message}`);
  }
}


export function flightService(deps: FlightDeps): grpc.UntypedServiceImplementation {
  const tickets = new Map<string, Ticket>();
  const { mesh, log } = deps;
  const who = (call: { getPeer(): string; metadata: grpc.Metadata }) => {
    const c = deps.caller(call);
    if (!c) throw new MeshError(401, 'no valid DataMesh credential: only this node\'s tasks use the DataMesh, each with the credential the node gave it (it ends with the task)');
    return c;
  };
  const takeTicket = (bytes: Uint8Array, token: string, op: Ticket['op']): Ticket => {
    const key = Buffer.from(bytes).toString('utf8');
    const t = tickets.get(key);
    tickets.delete(key);
    for (const [k, v] of tickets) if (v.expires < Date.now()) tickets.delete(k);
    if (!t || t.op !== op || t.expires < Date.now()) throw new MeshError(404, `unknown or expired ${op === 'get' ? 'DoGet ticket' : 'DoPut descriptor'}: ask GetFlightInfo for a new one`);
    if (t.token !== token) throw new MeshError(403, 'the ticket was issued to another task\'s credential');
    return t;
  };

  return {
    GetFlightInfo: async (call: grpc.ServerUnaryCall<{ cmd: Uint8Array; type: string }, object>, cb: grpc.sendUnaryData<object>) => {
      try {
        const { credential, token } = who(call);
        const { type, msg } = unpackCommand(call.request.cmd);
        let ticket: Ticket;
        if (msg.partition_spec) throw refusePartition(`${type}.partition_spec`);
        if (type === 'CommandDomainDataQuery') {
          const id = String(msg.domaindata_id);
          await mesh.authorize(credential, id, 'read');
          const csv = (msg.file_write_options as { csv_options?: { field_delimiter?: string } } | null)?.csv_options?.field_delimiter;
          ticket = { op: 'get', id, token, columns: (msg.columns as string[]) ?? [], raw: msg.content_type === 'RAW', delimiter: csv || ',', expires: Date.now() + TICKET_TTL_MS };
        } else if (type === 'CommandDomainDataUpdate') {
          let id = String(msg.domaindata_id);
          const create = msg.domaindata_request as Record<string, unknown> | null;
          if (!id && create) id = String(create.domaindata_id);
          if (create && !(await mesh.domainData(id))) {
            await mesh.authorize(credential, id, 'create');
            await mesh.createDomainData(createRequest(create));
          }
          await mesh.authorize(credential, id, 'write');
          const csv = (msg.file_write_options as { csv_options?: { field_delimiter?: string } } | null)?.csv_options?.field_delimiter;
          ticket = { op: 'put', id, token, columns: [], raw: msg.content_type === 'RAW', delimiter: csv || ',', expires: Date.now() + TICKET_TTL_MS };
        } else if (type === 'CommandDataSourceSqlQuery') {
          throw refuseSqlQuery();
        } else {
          throw new MeshError(501, `${type} is not served by GetFlightInfo (CommandDomainDataQuery, CommandDomainDataUpdate are; CommandGetDomainDataSchema goes to GetSchema)`);
        }
        const key = randomBytes(24).toString('base64url');
        tickets.set(key, ticket);
        cb(null, { flight_descriptor: { type: 'CMD', cmd: call.request.cmd }, endpoint: [{ ticket: { ticket: Buffer.from(key) }, location: [{ uri: ENDPOINT_URI }] }], total_records: -1, total_bytes: -1 });
      } catch (e) {
        cb(grpcError(e));
      }
    },

    DoGet: async (call: grpc.ServerWritableStream<{ ticket: Uint8Array }, object>) => {
      try {
        const { credential, token } = who(call);
        const t = takeTicket(call.request.ticket, token, 'get');
        const grants = await mesh.authorize(credential, t.id, 'read'); // the grants as they are now, not at GetFlightInfo
        const d = await mesh.resolve(t.id);
        await mesh.recordUses(grants, credential, t.id);
        const send = async (data: object) => {
          if (!call.write(data)) await new Promise((r) => call.once('drain', r));
        };
        const write = (m: FlightMessage) => send(encodeFlightData(m.header, [m.body]));
        d.ctx.delimiter = t.delimiter;
        if (t.raw) {
          if (!d.driver.readRaw) throw new MeshError(400, `DomainData ${t.id} is in a ${d.ctx.source.type} source: ask for content_type Table`);
          const schema = new Schema([new Field(RAW_COLUMN, new Binary(), true)]);
          await write(schemaMessage(schema));
          const raw = new RawBatchEncoder();
          const batchOf = (c: Uint8Array) => new RecordBatch({ [RAW_COLUMN]: makeData({ type: new Binary(), length: 1, nullCount: 0, valueOffsets: Int32Array.of(0, c.length), data: c }) });
          for await (const chunk of d.driver.readRaw(d.ctx)) await send(raw.encode(chunk, batchOf));
        } else {
          const cols = t.columns.length ? t.columns.map((n) => d.ctx.data.columns.find((c) => c.name === n) ?? (() => { throw new MeshError(400, `columns: ${n} is not a column of DomainData ${t.id}`); })()) : d.ctx.data.columns;
          if (!cols.length) throw new MeshError(400, `DomainData ${t.id} has no columns: ask for content_type RAW`);
          await write(schemaMessage(schemaOf(cols)));
          for await (const batch of d.driver.readTable(d.ctx, cols)) for (const m of batchMessages(batch)) await write(m);
        }
        log.info({ task: credential.taskID, domainData: t.id, grants }, 'DataMesh: read');
        call.end();
      } catch (e) {
        call.emit('error', grpcError(e));
      }
    },

    DoPut: async (call: grpc.ServerDuplexStream<{ flight_descriptor?: { cmd: Uint8Array }; data_header: Uint8Array; data_body: Uint8Array }, object>) => {
      let sink: { write(x: never): Promise<void>; close(): Promise<void>; abort(): Promise<void> } | undefined;
      try {
        const { credential, token } = who(call);
        const decoder = new FlightStreamDecoder();
        let ticket: Ticket | undefined;
        let d: Awaited<ReturnType<Mesh['resolve']>> | undefined;
        for await (const msg of call) {
          if (!ticket) {
            if (!msg.flight_descriptor?.cmd?.length) throw new MeshError(400, 'DoPut: the first message must carry the descriptor GetFlightInfo answered with (its ticket as cmd)');
            ticket = takeTicket(msg.flight_descriptor.cmd, token, 'put');
            await mesh.authorize(credential, ticket.id, 'write');
            d = await mesh.resolve(ticket.id);
            d.ctx.delimiter = ticket.delimiter;
          }
          const fm = { header: msg.data_header ?? new Uint8Array(), body: msg.data_body ?? new Uint8Array() };
          // RAW: the bytes straight from the message body (no copy); anything else through Arrow.
          const raw = ticket.raw && sink ? binaryValues(decoder.schema, fm) : undefined;
          if (raw) {
            for (const v of raw) await (sink as unknown as { write(c: Uint8Array): Promise<void> }).write(v);
            continue;
          }
          const batches = decoder.push(fm);
          if (!sink && decoder.schema) {
            if (ticket.raw) {
              if (!d!.driver.writeRaw) throw new MeshError(400, `DomainData ${ticket.id} is in a ${d!.ctx.source.type} source: send content_type Table`);
              const raw = await d!.driver.writeRaw(d!.ctx);
              sink = raw as never;
            } else {
              sink = (await d!.driver.writeTable(d!.ctx, decoder.schema)) as never;
            }
          }
          for (const b of batches) {
            if (ticket.raw) {
              const col = b.getChildAt(0);
              if (!col) continue;
              for (let i = 0; i < b.numRows; i++) {
                const v = col.get(i) as Uint8Array | null;
                if (v) await (sink as unknown as { write(c: Uint8Array): Promise<void> }).write(v);
              }
            } else {
              await (sink as unknown as { write(c: RecordBatch): Promise<void> }).write(b);
            }
          }
        }
        if (!ticket) throw new MeshError(400, 'DoPut: no data sent');
        if (!sink) throw new MeshError(400, 'DoPut: no schema sent');
        await sink.close();
        log.info({ task: credential.taskID, domainData: ticket.id }, 'DataMesh: written');
        call.end();
      } catch (e) {
        await sink?.abort().catch(() => undefined);
        call.emit('error', grpcError(e));
      }
    },

    DoAction: async (call: grpc.ServerWritableStream<{ type: string; body: Uint8Array }, object>) => {
      try {
        const { credential } = who(call);
        const { type, body } = call.request;
        if (type === 'ActionCreateDomainDataRequest') {
          const req = T(`${DM}.CreateDomainDataRequest`).toObject(T(`${DM}.CreateDomainDataRequest`).decode(body), view);
          const id = String(req.domaindata_id);
          if (!id) throw new MeshError(400, 'domaindata_id: is required (Ferry does not make ids up: the task\'s credential names the ids it may use)');
          await mesh.authorize(credential, id, 'create');
          await mesh.createDomainData(createRequest(req));
          call.write({ body: encode(`${DM}.CreateDomainDataResponse`, { status: { code: 0, message: 'success' }, data: { domaindata_id: id } }) });
        } else if (type === 'ActionQueryDomainDataSourceRequest') {
          const req = T(`${DM}.QueryDomainDataSourceRequest`).toObject(T(`${DM}.QueryDomainDataSourceRequest`).decode(body), view);
          if (!req.datasource_id) throw new MeshError(400, 'datasource_id: is required');
          const data = await sourceForTask(mesh, credential, String(req.datasource_id));
          call.write({ body: encode(`${DM}.QueryDomainDataSourceResponse`, { status: { code: 0, message: 'success' }, data }) });
        } else if (type === 'ActionUpdateDomainDataRequest' || type === 'ActionDeleteDomainDataRequest') {
          throw refuseDataChange(type === 'ActionUpdateDomainDataRequest' ? 'update' : 'delete');
        } else if (type === 'ActionQueryDomainDataRequest') {
          const req = T(`${DM}.QueryDomainDataRequest`).toObject(T(`${DM}.QueryDomainDataRequest`).decode(body), view);
          const id = String(req.domaindata_id);
          await mesh.authorize(credential, id, 'write'); // named for the task and existing; no use recorded for metadata
          const dd = await mesh.domainData(id);
          call.write({ body: encode(`${DM}.QueryDomainDataResponse`, { status: { code: 0, message: 'success' }, data: toProtoDomainData(id, dd!.spec as Record<string, unknown>) }) });
        } else {
          throw new MeshError(501, `action ${type} is not one of Kuscia's DataMesh actions (${ACTIONS.map((a) => a.type).join(', ')})`);
        }
        call.end();
      } catch (e) {
        call.emit('error', grpcError(e));
      }
    },

    ListActions: (call: grpc.ServerWritableStream<object, object>) => {
      for (const a of ACTIONS) call.write(a);
      call.end();
    },
    Handshake: (call: grpc.ServerDuplexStream<object, object>) => call.emit('error', grpcError(new MeshError(501, 'Handshake: the DataMesh authenticates by the task\'s credential, not a Flight handshake'))),
    ListFlights: (call: grpc.ServerWritableStream<object, object>) => call.emit('error', grpcError(new MeshError(501, 'ListFlights is not served: query a DomainData by id'))),
    GetSchema: async (call: grpc.ServerUnaryCall<{ cmd: Uint8Array }, object>, cb: grpc.sendUnaryData<object>) => {
      try {
        const { credential } = who(call);
        const { type, msg } = unpackCommand(call.request.cmd);
        if (type !== 'CommandGetDomainDataSchema' && type !== 'CommandDomainDataQuery') throw new MeshError(400, `GetSchema takes CommandGetDomainDataSchema (got ${type})`);
        const id = String(msg.domaindata_id);
        await mesh.authorize(credential, id, 'read'); // the schema is metadata: no use recorded
        const d = await mesh.resolve(id);
        if (!d.ctx.data.columns.length) throw new MeshError(400, `DomainData ${id} has no columns (type ${d.spec.type}): its content is RAW bytes`);
        cb(null, { schema: encapsulatedSchema(schemaOf(d.ctx.data.columns)) });
      } catch (e) {
        cb(grpcError(e));
      }
    },
    DoExchange: (call: grpc.ServerDuplexStream<object, object>) => call.emit('error', grpcError(new MeshError(501, 'DoExchange is not served'))),
  };
}

/** Kuscia's DataMesh actions, all answered (some with a refusal that says why: task-metadata.ts). */
const ACTIONS = [
  { type: 'ActionCreateDomainDataRequest', description: 'create a DomainData (Kuscia CreateDomainDataRequest): a task\'s outputs' },
  { type: 'ActionQueryDomainDataRequest', description: 'query a DomainData the task names (Kuscia QueryDomainDataRequest)' },
  { type: 'ActionUpdateDomainDataRequest', description: 'refused for tasks: the domain\'s admin updates DomainData' },
  { type: 'ActionDeleteDomainDataRequest', description: 'refused for tasks: the domain\'s admin deletes DomainData' },
  { type: 'ActionQueryDomainDataSourceRequest', description: 'query the DomainDataSource of a DomainData the task may read (Kuscia QueryDomainDataSourceRequest)' },
];

function encode(type: string, obj: Record<string, unknown>): Buffer {
  const t = T(type);
  return Buffer.from(t.encode(t.fromObject(obj)).finish());
}

function createRequest(req: Record<string, unknown>) {
  const cols = (req.columns as { name: string; type: string; comment?: string; not_nullable?: boolean }[] | undefined) ?? [];
  return {
    id: String(req.domaindata_id), name: String(req.name ?? ''), type: String(req.type ?? ''), relativeURI: String(req.relative_uri ?? ''),
    dataSource: String(req.datasource_id ?? ''), attributes: (req.attributes as Record<string, string>) ?? {},
    columns: cols.map((c) => ({ name: c.name, type: c.type, ...(c.comment ? { comment: c.comment } : {}), ...(c.not_nullable ? { notNullable: true } : {}) })),
    vendor: String(req.vendor ?? ''), fileFormat: String(req.file_format ?? ''),
  };
}

export function toProtoDomainData(id: string, s: Record<string, unknown>): Record<string, unknown> {
  const cols = (s.columns as { name: string; type: string; comment?: string; notNullable?: boolean }[] | undefined) ?? [];
  return {
    domaindata_id: id, name: s.name, type: s.type, relative_uri: s.relativeURI, datasource_id: s.dataSource, attributes: s.attributes ?? {},
    columns: cols.map((c) => ({ name: c.name, type: c.type, comment: c.comment ?? '', not_nullable: !!c.notNullable })),
    vendor: s.vendor ?? '', file_format: s.fileFormat && s.fileFormat !== '' ? s.fileFormat : 'UNKNOWN', author: s.author ?? '',
  };
}
