// KusciaAPI over HTTP, as Kuscia serves it: every call a POST, JSON (or
// protobuf with Content-Type application/x-protobuf), the `Token` header,
// answered HTTP 200 with {status, data} for every call it handles. A Fastify
// plugin: it shares Ferry's REST listener (default) or has one of its own.
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { Code, validation } from './codes.ts';
import { messageType, requestFromBinary, requestFromJson, responseToBinary, responseToJson } from './protos.ts';
import { errorResponse, runCall, type Call } from './service.ts';

export interface KusciaHttpOptions {
  calls: Call[];
  token: string;
  log: Logger;
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
      const binary = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase() === PROTOBUF;
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
