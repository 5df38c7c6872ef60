// KusciaAPI over HTTP, as Kuscia serves it: every call a POST, JSON (or
// protobuf with Content-Type application/x-protobuf), the `Token` header,
// answered HTTP 200 with {status, data} for every call it handles. A Fastify
// plugin: it shares Ferry's REST listener (default) or has one of its own.
import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Code, validation } from './codes.ts';
import { messageType, requestFromBinary, requestFromJson, responseToBinary, responseToJson } from './protos.ts';
import { errorResponse, runCall, type Call, type StreamCall } from './service.ts';

export interface KusciaHttpOptions {
  calls: Call[];
  streams: StreamCall[];
  token: string;
  log: Logger;
  /**
   * MTLS on a listener of its own: the TLS layer asks for a client certificate
   * but lets the handshake finish, so a client without a good one is told why
   * (HTTP 401, code 11102) instead of seeing a bare reset.
   */
  clientCertRequired?: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A KusciaAPI route: Ferry's REST bearer check leaves it to KusciaAPI's Token check. */
    kusciaApi?: boolean;
  }
}

const PROTOBUF = 'application/x-protobuf';
/** Paths answered without a token (readiness only, like the REST API's /healthz). */
const OPEN = new Set(['/healthZ']);

export async function kusciaHttp(app: FastifyInstance, opts: KusciaHttpOptions): Promise<void> {
  const token = Buffer.from(opts.token);
  // The raw body: a JSON syntax error is a KusciaAPI validation error (HTTP 200), not Fastify's 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 200;
    if (status === 200) opts.log.error({ err }, 'KusciaAPI error');
    void reply.code(status).send(errorResponse(status === 200 ? err : validation('(request)', err.message), Code.ForUnexpected));
  });

  app.addHook('onRequest', async (req, reply) => {
    const socket = req.raw.socket as TLSSocket;
    if (opts.clientCertRequired && !socket.authorized) {
      const why = clientCertProblem(socket);
      opts.log.warn({ from: socket.remoteAddress, why }, 'KusciaAPI HTTPS: client certificate refused');
      return reply.code(401).send({ status: { code: Code.AuthFailed, message: `client certificate: ${why}: MTLS needs a certificate signed by this domain's CA (<home>/certs/ca.crt), e.g. <home>/certs/kusciaapi-server.crt with its key, as Kuscia's clients use`, details: [] }, data: null });
    }
    if (OPEN.has(req.routeOptions.url ?? '')) return;
    const given = Buffer.from(String(req.headers.token ?? ''));
    if (given.length !== token.length || !timingSafeEqual(given, token)) {
      return reply.code(401).send({ status: { code: Code.AuthFailed, message: 'Token: missing or wrong: send the header "Token: <token>" with the token from <home>/certs/token', details: [] }, data: null });
    }
  });

  for (const call of opts.calls) {
    const reqType = messageType(call.request);
    const respType = messageType(call.response);
    app.post(call.path, { config: { kusciaApi: true } }, async (req, reply: FastifyReply) => {
      const binary = isProtobuf(req.headers['content-type']);
      const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
      let response: Record<string, unknown>;
      try {
        const msg = binary ? requestFromBinary(reqType, body) : requestFromJson(reqType, parseJson(body));
        response = await runCall(call, msg, (err) => opts.log.error({ err, call: call.method }, 'KusciaAPI call failed'));
      } catch (e) {
        response = errorResponse(e, call.failCode, (err) => opts.log.error({ err, call: call.method }, 'KusciaAPI call failed'));
      }
      if (binary) return reply.code(200).header('content-type', PROTOBUF).send(Buffer.from(responseToBinary(respType, response)));
      return reply.code(200).header('content-type', 'application/json').send(JSON.stringify(responseToJson(respType, response)));
    });
  }

  // Streams as Kuscia's HTTP watch does: chunked, one JSON object after another
  // with no separator, written like Go's encoding/json of the message (proto
  // names, zero values left out, enums as numbers).
  // Open watches end when the listener closes (a node stop), so it does not wait on them.
  const open = new Set<() => void>();
  app.addHook('onClose', async () => { for (const end of [...open]) end(); });
  for (const stream of opts.streams) {
    const reqType = messageType(stream.request);
    const eventType = messageType(stream.response);
    app.post(stream.path, { config: { kusciaApi: true } }, async (req, reply) => {
      const fail = (e: unknown) => reply.code(200).header('content-type', 'application/json')
        .send(JSON.stringify(errorResponse(e, Code.ForUnexpected, (err) => opts.log.error({ err, call: stream.method }, 'KusciaAPI watch failed'))));
      const write = (event: Record<string, unknown>) => reply.raw.write(JSON.stringify(goJson(eventType.toObject(eventType.fromObject(event), { enums: Number, longs: Number }))));
      let stop: () => void;
      try {
        // The request as Kuscia's gin binding takes it: protobuf by its Content-Type, else JSON; the events are JSON either way.
        const body = (req.body as Buffer | undefined) ?? Buffer.alloc(0);
        const msg = isProtobuf(req.headers['content-type']) ? requestFromBinary(reqType, body) : requestFromJson(reqType, parseJson(body));
        // Nothing is emitted before start returns (the first list is awaited): the head goes first.
        stop = stream.start(msg, write, () => reply.raw.end());
      } catch (e) {
        return fail(e);
      }
      reply.hijack();
      reply.raw.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      const end = () => { stop(); reply.raw.end(); };
      open.add(end);
      reply.raw.on('close', () => { open.delete(end); stop(); });
    });
  }
}

const isProtobuf = (contentType: string | undefined) => String(contentType ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF;

/** Why a client's certificate was not accepted, in words (Node gives OpenSSL's code). */
function clientCertProblem(socket: TLSSocket): string {
  const peer = socket.getPeerCertificate();
  if (!peer || Object.keys(peer).length === 0) return 'none was sent';
  const code = String(socket.authorizationError ?? 'not verified');
  const who = `"${[peer.subject?.CN && `CN=${peer.subject.CN}`, peer.subject?.O && `O=${peer.subject.O}`].filter(Boolean).join(', ')}"`;
  if (code === 'CERT_HAS_EXPIRED') return `${who} has expired (${code})`;
  if (code === 'CERT_NOT_YET_VALID') return `${who} is not valid yet (${code})`;
  return `${who} is not signed by this domain's CA (${code})`;
}

/** Zero values left out, as Go's encoding/json with omitempty writes a generated message. */
function goJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(goJson);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const y = goJson(x);
      if (y === 0 || y === '' || y === false || y === null || y === undefined || (Array.isArray(y) && y.length === 0)) continue;
      out[k] = y;
    }
    return out;
  }
  return v;
}

function parseJson(body: Buffer): unknown {
  const text = body.toString('utf8').trim();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw validation('(body)', `is not JSON: ${(e as Error).message}`);
  }
}
