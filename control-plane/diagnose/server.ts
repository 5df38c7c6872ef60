// The built-in diagnose service, ferry-diagnose.<domain>.svc: what `ferry
// diagnose network` on a partner's node measures the link with. Reachable only
// through the public port by authenticated partners (it is a Service whose
// access-domain is every trusted partner), on a 0600 Unix socket. Every answer
// is bounded: sizes and waits are capped.
import { rmSync, chmodSync } from 'node:fs';
import type { Readable } from 'node:stream';
import Fastify from 'fastify';
import type { Logger } from 'pino';

export const DIAGNOSE_LIMITS = {
  /** Largest download /bytes serves. */
  maxDownloadBytes: 256 * 1024 * 1024,
  /** Largest upload /sink reads (then it answers 413). */
  maxUploadBytes: 1024 * 1024 * 1024,
  /** Longest /idle and /drip wait. */
  maxWaitSeconds: 3600,
};

export async function startDiagnoseServer(socketPath: string, domain: string, log: Logger) {
  const app = Fastify({ loggerInstance: log.child({ component: 'diagnose' }, { level: 'warn' }) });
  // Uploads are counted as they stream, never held.
  app.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

  app.get('/echo', async () => ({ domain, time: new Date().toISOString() }));

  app.get<{ Params: { n: string } }>('/bytes/:n', async (req, reply) => {
    const n = Number(req.params.n);
    if (!Number.isSafeInteger(n) || n < 0 || n > DIAGNOSE_LIMITS.maxDownloadBytes) {
      return reply.code(400).send({ error: `bytes: give 0..${DIAGNOSE_LIMITS.maxDownloadBytes}` });
    }
    const chunk = Buffer.alloc(64 * 1024, 0x5a);
    reply.raw.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n), 'x-accel-buffering': 'no' });
    let left = n;
    const pump = () => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        if (!reply.raw.write(piece)) return void reply.raw.once('drain', pump);
      }
      reply.raw.end();
    };
    pump();
    return reply.hijack();
  });

  app.post('/sink', async (req, reply) => {
    let n = 0;
    for await (const chunk of req.body as Readable) {
      n += (chunk as Buffer).length;
      if (n > DIAGNOSE_LIMITS.maxUploadBytes) return reply.code(413).send({ error: `uploads stop at ${DIAGNOSE_LIMITS.maxUploadBytes} bytes` });
    }
    return { bytes: n };
  });

  // First bytes now, the rest after ?ms: a buffering intermediary delivers both at the end.
  app.get<{ Querystring: { ms?: string } }>('/drip', async (req, reply) => {
    const ms = Math.min(Number(req.query.ms ?? 1000) || 0, DIAGNOSE_LIMITS.maxWaitSeconds * 1000);
    reply.raw.writeHead(200, { 'content-type': 'text/plain', 'x-accel-buffering': 'no' });
    reply.raw.write('first\n');
    const timer = setTimeout(() => reply.raw.end('last\n'), ms);
    reply.raw.once('close', () => clearTimeout(timer));
    return reply.hijack();
  });

  // Answers after ?seconds of silence: does a long idle stream survive the path?
  app.get<{ Querystring: { seconds?: string } }>('/idle', async (req) => {
    const seconds = Math.min(Number(req.query.seconds ?? 5) || 0, DIAGNOSE_LIMITS.maxWaitSeconds);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    return { domain, idleSeconds: seconds };
  });

  rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return app;
}
