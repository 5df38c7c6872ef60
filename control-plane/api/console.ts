// The web console (docs/console.md): its page and built assets under /ui/ on
// the API listener. The files hold no data and no secret, so they need no
// token; everything the page shows it asks the REST API for, with the bearer
// token the user typed (kept in sessionStorage). A strict Content-Security-
// Policy allows this origin's script and style files only: no inline script,
// no other host, no framing.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export const CONSOLE_ROOT = resolve(import.meta.dirname, '..', '..', 'console');

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.map': 'application/json; charset=utf-8', '.svg': 'image/svg+xml' };

/** Headers on every console answer. */
function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('cache-control', 'no-cache');
}

export const consoleUi: FastifyPluginAsync<{ root?: string }> = async (app, opts) => {
  const root = opts.root ?? CONSOLE_ROOT;
  const dist = join(root, 'dist');
  // The files served are those built at start: a name from the URL never reaches the file system.
  const assets = new Map<string, { type: string; body: Buffer }>();
  if (existsSync(dist)) {
    for (const name of readdirSync(dist)) {
      const ext = name.slice(name.lastIndexOf('.'));
      if (TYPES[ext]) assets.set(name, { type: TYPES[ext]!, body: readFileSync(join(dist, name)) });
    }
  }
  const index = existsSync(join(root, 'index.html')) ? readFileSync(join(root, 'index.html')) : undefined;
  const config = { console: true };

  app.get('/ui', { config, schema: { hide: true } }, async (_req, reply) => secure(reply).redirect('/ui/', 308));
  app.get('/ui/', { config, schema: { hide: true } }, async (_req, reply) => {
    if (!index || !assets.has('app.js')) return secure(reply).code(503).send({ error: `the console is not built: run \`npm run build:console\` (console/build.ts) in ${resolve(root, '..')}` });
    return secure(reply).type('text/html; charset=utf-8').send(index);
  });
  app.get('/ui/:file', { config, schema: { hide: true } }, async (req, reply) => {
    const a = assets.get((req.params as { file: string }).file);
    if (!a) return secure(reply).code(404).send({ error: `no such console file: ${req.url.split('?')[0]}` });
    return secure(reply).type(a.type).send(a.body);
  });
};
