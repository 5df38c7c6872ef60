// The handshake endpoint partners reach through the public port
// (kuscia-handshake.<domain>.svc, [pathPrefix]/handshake): a Fastify server on
// a 0600 Unix socket that only this node's Envoy forwards to.
import { chmodSync, rmSync } from 'node:fs';
import Fastify, { type FastifyError } from 'fastify';
import type { Logger } from 'pino';
import { MAX_HANDSHAKE_BODY_BYTES, failedHandshake } from '../../interop/kuscia-handshake.ts';
import type { TokenIssuer } from './issuer.ts';

const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

export async function startHandshakeServer(socketPath: string, issuer: TokenIssuer, log: Logger) {
  const app = Fastify({ loggerInstance: log.child({ component: 'handshake' }, { level: 'warn' }), bodyLimit: MAX_HANDSHAKE_BODY_BYTES });
  // Kuscia's shape for every refusal; 400 malformed, 413 too large, 415 not JSON.
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) log.error({ err }, 'handshake error');
    reply.code(status).send(failedHandshake(`handshake refused: ${err.message}`, status));
  });
  app.route({
    method: ['GET', 'POST'],
    url: '*',
    handler: async (req, reply) => {
      if (!/\/handshake$/.test(req.url.split('?')[0]!)) return reply.code(404).send(failedHandshake('not a handshake path: use [pathPrefix]/handshake', 404));
      const source = header(req.headers['kuscia-origin-source']) ?? header(req.headers['kuscia-source']);
      if (req.method === 'GET') return issuer.heartbeat(source, header(req.headers['kuscia-token-revision']));
      const answer = await issuer.handshake(req.body, source);
      return reply.code(answer.httpStatus).send(answer.body);
    },
  });
  rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return app;
}
