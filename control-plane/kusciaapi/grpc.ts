// KusciaAPI over gRPC (grpc-js), from the same call table as HTTP: the
// services of package kuscia.proto.api.v1alpha1.kusciaapi with protobufjs
// codecs; metadata `token` checked on every call (UNAUTHENTICATED otherwise);
// a handled failure is an OK reply whose status carries Kuscia's code; server
// reflection as Kuscia has it.
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { messageType, PACKAGE, requestFromBinary, responseToBinary } from './protos.ts';
import { errorResponse, runCall, type Call, type StreamCall } from './service.ts';
import { KusciaError } from './codes.ts';
import type { KusciaServerTls } from './tls.ts';
import { ReflectionService } from '@grpc/reflection';
import { reflectionPackage } from './reflection.ts';

export interface KusciaGrpcOptions {
  calls: Call[];
  streams: StreamCall[];
  token: string;
  log: Logger;
  address: string;
  port: number;
  /** TLS (server certificate) or MTLS (and a client certificate signed by the domain CA); none: plaintext. */
  tls?: KusciaServerTls;
}

export async function startKusciaGrpc(opts: KusciaGrpcOptions): Promise<{ port: number; close: () => Promise<void> }> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 32 * 1024 * 1024 });
  const token = Buffer.from(opts.token);
  const mtls = opts.tls?.mtls ?? false;
  /** Why a call is refused (a client certificate with MTLS, then the token), or nothing. */
  const refusal = (call: { metadata: grpc.Metadata; getAuthContext: () => { sslPeerCertificate?: unknown } }): Partial<grpc.StatusObject> | undefined => {
    // The handshake lets a client without a good certificate through (MTLS), so it can be told why here.
    if (mtls && !call.getAuthContext().sslPeerCertificate) {
      return { code: grpc.status.UNAUTHENTICATED, details: "client certificate: none was sent, or it is not signed by this domain's CA (or has expired): MTLS needs a certificate signed by <home>/certs/ca.crt, e.g. <home>/certs/kusciaapi-server.crt with its key, as Kuscia's clients use" };
    }
    const given = Buffer.from(String(call.metadata.get('token')[0] ?? ''));
    if (given.length === token.length && timingSafeEqual(given, token)) return undefined;
    return { code: grpc.status.UNAUTHENTICATED, details: 'token: missing or wrong: send metadata "token" with the token from <home>/certs/token' };
  };
  const services = new Map<string, Record<string, grpc.MethodDefinition<Buffer, Record<string, unknown>>>>();
  const handlers = new Map<string, grpc.UntypedServiceImplementation>();
  for (const call of opts.calls) {
    const reqType = messageType(call.request);
    const respType = messageType(call.response);
    const def = services.get(call.service) ?? {};
    def[call.method] = {
      path: `/${PACKAGE}.${call.service}/${call.method}`,
      requestStream: false,
      responseStream: false,
      // Decoding happens in the handler, so a bad message is Kuscia's validation error, not a transport failure.
      requestDeserialize: (b: Buffer) => b,
      requestSerialize: (b: Buffer) => b,
      responseSerialize: (m: Record<string, unknown>) => Buffer.from(responseToBinary(respType, m)),
      responseDeserialize: (b: Buffer) => ({ bytes: b }),
    };
    services.set(call.service, def);
    const impl = handlers.get(call.service) ?? {};
    impl[call.method] = ((rpc: grpc.ServerUnaryCall<Buffer, unknown>, done: grpc.sendUnaryData<unknown>) => {
      const refused = refusal(rpc);
      if (refused) {
        opts.log.warn({ call: call.method, peer: rpc.getPeer(), why: refused.details }, 'KusciaAPI gRPC call refused');
        done(refused);
        return;
      }
      const onUnexpected = (err: unknown) => opts.log.error({ err, call: call.method }, 'KusciaAPI call failed');
      let reply: Promise<Record<string, unknown>>;
      try {
        reply = runCall(call, requestFromBinary(reqType, rpc.request), onUnexpected);
      } catch (e) {
        reply = Promise.resolve(errorResponse(e, call.failCode, onUnexpected));
      }
      reply.then((m) => done(null, m), (e: unknown) => done({ code: grpc.status.INTERNAL, details: String(e) }));
    }) as grpc.handleUnaryCall<unknown, unknown>;
    handlers.set(call.service, impl);
  }
  for (const stream of opts.streams) {
    const reqType = messageType(stream.request);
    const respType = messageType(stream.response);
    const def = services.get(stream.service) ?? {};
    def[stream.method] = {
      path: `/${PACKAGE}.${stream.service}/${stream.method}`,
      requestStream: false,
      responseStream: true,
      requestDeserialize: (b: Buffer) => b,
      requestSerialize: (b: Buffer) => b,
      responseSerialize: (m: Record<string, unknown>) => Buffer.from(responseToBinary(respType, m)),
      responseDeserialize: (b: Buffer) => ({ bytes: b }),
    };
    services.set(stream.service, def);
    const impl = handlers.get(stream.service) ?? {};
    impl[stream.method] = ((rpc: grpc.ServerWritableStream<Buffer, unknown>) => {
      const refused = refusal(rpc);
      if (refused) {
        rpc.emit('error', refused);
        return;
      }
      try {
        const stop = stream.start(requestFromBinary(reqType, rpc.request), (event) => rpc.write(event), () => rpc.end());
        rpc.on('cancelled', stop);
        rpc.on('close', stop);
      } catch (e) {
        // Kuscia answers a bad watch request with an error status; Ferry says which field.
        rpc.emit('error', { code: e instanceof KusciaError ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL, details: (e as Error).message });
      }
    }) as grpc.handleServerStreamingCall<unknown, unknown>;
    handlers.set(stream.service, impl);
  }
  for (const [name, def] of services) server.addService(def as grpc.ServiceDefinition, handlers.get(name)!);
  // Server reflection, as Kuscia registers it (grpcurl needs no protos), behind the same token.
  new ReflectionService(reflectionPackage()).addToServer({
    addService: (def, impl) => server.addService(def, Object.fromEntries(Object.entries(impl).map(([method, handle]) => [method, (call: grpc.ServerDuplexStream<unknown, unknown>) => {
      const refused = refusal(call);
      if (refused) {
        call.emit('error', refused);
        return;
      }
      (handle as (c: typeof call) => void)(call);
    }])) as grpc.UntypedServiceImplementation),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${opts.address.includes(':') ? `[${opts.address}]` : opts.address}:${opts.port}`, credentials(opts.tls), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port,
    close: () => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { server.forceShutdown(); resolve(); }, 2000);
      server.tryShutdown(() => { clearTimeout(timer); resolve(); });
    }),
  };
}

function credentials(tls: KusciaServerTls | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  const pair = { private_key: Buffer.from(tls.keyPem), cert_chain: Buffer.from(tls.certPem) };
  if (!tls.mtls) return grpc.ServerCredentials.createSsl(null, [pair], false);
  // MTLS: a client certificate is asked for and checked against the domain CA, but the
  // handshake does not fail on it: each call without a verified one is refused, saying why.
  const provider = staticProvider({ caCertificate: Buffer.from(tls.caPem) }, { certificate: pair.cert_chain, privateKey: pair.private_key });
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/**
 * A CertificateProvider whose certificates never change (the pair is read at
 * start). Updates are delivered a microtask later: grpc-js registers its
 * watcher only after adding the listener, and would miss a synchronous one.
 */
function staticProvider(ca: grpc.experimental.CaCertificateUpdate, identity: grpc.experimental.IdentityCertificateUpdate): grpc.experimental.CertificateProvider {
  return {
    addCaCertificateListener: (l) => queueMicrotask(() => l(ca)),
    removeCaCertificateListener: () => {},
    addIdentityCertificateListener: (l) => queueMicrotask(() => l(identity)),
    removeIdentityCertificateListener: () => {},
  };
}
