// Example services for the demo and the tests: an HTTP echo (HTTP/1.1 and
// h2c) and a gRPC echo that needs no .proto (messages are JSON bytes).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';

export interface Echo {
  port: number;
  close: () => Promise<void>;
}

/** What the HTTP echo answers: enough for a caller to check what arrived. */
export interface EchoReply {
  service: string;
  method: string;
  path: string;
  host: string;
  httpVersion: string;
  kuscia: Record<string, string>;
  bodyBytes: number;
}

export function startHttpEcho(service: string, port = 0, host = '127.0.0.1'): Promise<Echo> {
  const server: Server = createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length; });
    req.on('end', () => {
      const kuscia = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('kuscia-')).map(([k, v]) => [k, String(v)]));
      const reply: EchoReply = { service, method: req.method ?? '', path: req.url ?? '', host: req.headers.host ?? '', httpVersion: req.httpVersion, kuscia, bodyBytes };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve({
      port: (server.address() as AddressInfo).port,
      close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
    }));
  });
}

export const GRPC_ECHO_METHOD = '/ferry.demo.Echo/Say';
/** Bidirectional streaming: every message {n} is answered with {n: n + 1}. */
export const GRPC_CHAT_METHOD = '/ferry.demo.Chat/Talk';
export const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString('utf8')) as unknown,
};

export function startGrpcEcho(service: string, port = 0, host = '127.0.0.1'): Promise<Echo> {
  const server = new grpc.Server();
  server.addService(
    { Say: { path: GRPC_ECHO_METHOD, requestStream: false, responseStream: false, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    {
      Say: (call: grpc.ServerUnaryCall<{ message?: string }, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        callback(null, { service, message: call.request.message, source: call.metadata.get('kuscia-source')[0] ?? null });
      },
    },
  );
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) return reject(err);
      resolve({ port: bound, close: () => new Promise((r) => server.tryShutdown(() => r())) });
    });
  });
}

/** One unary gRPC call to the echo through `target` (e.g. a Ferry internal listener) with the given authority. */
export function grpcEchoCall(target: string, authority: string, message: string): Promise<{ service: string; message: string; source: string | null }> {
  const Client = grpc.makeGenericClientConstructor({}, 'Echo');
  const client = new Client(target, grpc.credentials.createInsecure(), { 'grpc.default_authority': authority });
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(GRPC_ECHO_METHOD, json.serialize, json.deserialize, { message }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, value) => {
      client.close();
      if (err) reject(err);
      else resolve(value as { service: string; message: string; source: string | null });
    });
  });
}

/** A gRPC bidirectional-streaming echo (GRPC_CHAT_METHOD): answers {n} with {n: n + 1}. */
export function startGrpcChat(port = 0, host = '127.0.0.1'): Promise<Echo> {
  const server = new grpc.Server();
  server.addService(
    { Talk: { path: GRPC_CHAT_METHOD, requestStream: true, responseStream: true, requestSerialize: json.serialize, requestDeserialize: json.deserialize, responseSerialize: json.serialize, responseDeserialize: json.deserialize } },
    {
      Talk: (call: grpc.ServerDuplexStream<{ n: number }, { n: number }>) => {
        call.on('data', (m) => call.write({ n: m.n + 1 }));
        call.on('end', () => call.end());
        call.on('error', () => {});
      },
    },
  );
  return new Promise((resolve, reject) => {
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => {
      if (err) return reject(err);
      resolve({ port: bound, close: async () => { server.forceShutdown(); } });
    });
  });
}
