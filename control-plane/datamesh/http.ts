// Kuscia's DataMesh HTTP calls (POST /api/v1/datamesh/<resource>/<verb>, JSON
// with proto field names, answers {status: {code, message}, data}), on their
// own loopback listener (Kuscia's 8070 when free). Every call carries the
// task's credential as `Authorization: Bearer <token>`; refusals answer the
// HTTP code (401, 403, 404...) with the reason in status.message.
import Fastify from 'fastify';
import type { Logger } from 'pino';
import type { TaskCredential } from './access.ts';
import { toProtoDomainData } from './flight.ts';
import { MeshError, type Mesh } from './mesh.ts';
import { refuseDataChange, refuseGrantCall, sourceForTask } from './task-metadata.ts';

type Body = Record<string, unknown>;
const ok = (data?: unknown) => ({ status: { code: 0, message: 'success' }, ...(data === undefined ? {} : { data }) });

export function dataMeshHttp(mesh: Mesh, lookup: (token: string) => TaskCredential | undefined, log: Logger) {
  const app = Fastify({ loggerInstance: log.child({ component: 'datamesh-http' }, { level: 'warn' }), bodyLimit: 4 * 1024 * 1024 });
  app.setErrorHandler((err: Error, _req, reply) => {
    const code = err instanceof MeshError ? err.code : (err as { statusCode?: number }).statusCode ?? 500;
    void reply.code(code).send({ status: { code, message: err.message } });
  });
  const who = (auth: string | undefined): TaskCredential => {
    const token = auth && /^bearer\s+/i.test(auth) ? auth.replace(/^bearer\s+/i, '').trim() : undefined;
    const c = token ? lookup(token) : undefined;
    if (!c) throw new MeshError(401, 'no valid DataMesh credential: send the task\'s token as Authorization: Bearer <token> (FERRY_DATAMESH_TOKEN in the task\'s environment)');
    return c;
  };
  const id = (b: Body | undefined) => {
    const v = b?.domaindata_id ?? b?.domaindataId;
    if (typeof v !== 'string' || !v) throw new MeshError(400, 'domaindata_id: is required');
    return v;
  };

  app.post('/api/v1/datamesh/domaindata/query', async (req) => {
    const cred = who(req.headers.authorization);
    const dd = id(req.body as Body);
    await mesh.authorize(cred, dd, 'write'); // named for the task and existing; metadata reads record no use
    const r = await mesh.domainData(dd);
    return ok(toProtoDomainData(dd, r!.spec as Record<string, unknown>));
  });

  app.post('/api/v1/datamesh/domaindata/create', async (req) => {
    const cred = who(req.headers.authorization);
    const b = (req.body ?? {}) as Body;
    const dd = id(b);
    await mesh.authorize(cred, dd, 'create');
    const cols = (b.columns as { name: string; type: string; comment?: string; not_nullable?: boolean }[] | undefined) ?? [];
    await mesh.createDomainData({
      id: dd, name: String(b.name ?? ''), type: String(b.type ?? ''), relativeURI: String(b.relative_uri ?? ''), dataSource: String(b.datasource_id ?? ''),
      attributes: (b.attributes as Record<string, string>) ?? {}, columns: cols.map((c) => ({ name: c.name, type: c.type, ...(c.comment ? { comment: c.comment } : {}), ...(c.not_nullable ? { notNullable: true } : {}) })),
      vendor: String(b.vendor ?? ''), fileFormat: String(b.file_format ?? ''),
    });
    return ok({ domaindata_id: dd });
  });

  app.post('/api/v1/datamesh/domaindatasource/query', async (req) => {
    const cred = who(req.headers.authorization);
    const name = (req.body as Body | undefined)?.datasource_id;
    if (typeof name !== 'string' || !name) throw new MeshError(400, 'datasource_id: is required');
    return ok(await sourceForTask(mesh, cred, name));
  });

  for (const verb of ['update', 'delete']) {
    app.post(`/api/v1/datamesh/domaindata/${verb}`, async () => { throw refuseDataChange(verb); });
  }
  for (const verb of ['create', 'update', 'delete', 'query']) {
    app.post(`/api/v1/datamesh/domaindatagrant/${verb}`, async () => { throw refuseGrantCall(); });
  }
  return app;
}
