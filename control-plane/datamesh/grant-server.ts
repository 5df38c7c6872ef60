// The grant protocol's receiving end, ferry-datamesh.<domain>.svc (built the
// way ferry-interop is: a 0600 Unix socket behind the public port, reached
// only by authenticated partners; the caller is the partner the gateway
// authenticated, Kuscia-Source). An author pushes its grant to the grantee:
// PUT /v1/grants/<name> {spec}; it is stored here only if the author is the
// caller, the grantee is this domain and the signature verifies against the
// author's certificate (Domain.spec.cert); DELETE /v1/grants/<name> revokes.
// A partner never reads this domain's data here: there is no such call.
import { chmodSync, rmSync } from 'node:fs';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { splitPemCertificates } from '../../certs/authority.ts';
import { decodePartnerCa } from '../resources/validate.ts';
import { KUSCIA_API_VERSION } from '../resources/types.ts';
import { applyDocuments } from '../resources/apply.ts';
import type { ResourceStore } from '../store/store.ts';
import { grantSignatureProblem } from './grant-sign.ts';
import type { DomainDataGrantSpec } from './spec.ts';

const NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** Marks a grant stored here because its author pushed it (it is the author's to change or revoke). */
export const SYNCED_FROM_ANNOTATION = 'ferry.secretflow/grant-from';

export async function startGrantServer(socketPath: string, self: string, store: ResourceStore, log: Logger) {
  const app = Fastify({ loggerInstance: log.child({ component: 'datamesh-grants' }, { level: 'warn' }), bodyLimit: 2 * 1024 * 1024 });
  const callerOf = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    const source = req.headers['kuscia-source'];
    if (typeof source !== 'string' || !NAME.test(source) || source === self) {
      void reply.code(403).send({ error: 'the grant protocol answers only authenticated partners, through the public port' });
      return undefined;
    }
    return source;
  };
  const existingFrom = async (name: string) => {
    const g = await store.get('DomainDataGrant', name);
    return g ? { g, from: g.metadata.annotations?.[SYNCED_FROM_ANNOTATION] } : undefined;
  };

  app.put<{ Params: { name: string } }>('/v1/grants/:name', async (req, reply) => {
    const caller = callerOf(req, reply);
    if (!caller) return reply;
    const { name } = req.params;
    if (!NAME.test(name)) return reply.code(400).send({ error: 'grant name: must be a lowercase DNS label' });
    const spec = (req.body as { spec?: DomainDataGrantSpec } | undefined)?.spec;
    if (!spec || typeof spec !== 'object') return reply.code(400).send({ error: 'body: give {spec}, the signed DomainDataGrant spec' });
    if (spec.author !== caller) return reply.code(403).send({ error: `spec.author is ${String(spec.author)}, but the caller is ${caller}: a domain pushes only its own grants` });
    if (spec.grantDomain !== self) return reply.code(400).send({ error: `spec.grantDomain is ${String(spec.grantDomain)}, not ${self}` });
    const prior = await existingFrom(name);
    if (prior && prior.from !== caller) return reply.code(409).send({ error: `DomainDataGrant ${name} exists at ${self} and is not ${caller}'s: name the grant otherwise` });
    const domain = await store.get('Domain', caller);
    const cert = (domain?.spec as { cert?: string } | undefined)?.cert;
    let problem: string | undefined;
    try {
      problem = cert ? grantSignatureProblem(spec, splitPemCertificates(decodePartnerCa(cert))) : `no certificate of ${caller} here (Domain ${caller} spec.cert)`;
    } catch (e) {
      problem = (e as Error).message;
    }
    if (problem) {
      log.warn({ partner: caller, grant: name, problem }, 'DataMesh: a pushed grant was refused');
      return reply.code(403).send({ error: problem });
    }
    const doc = { apiVersion: KUSCIA_API_VERSION, kind: 'DomainDataGrant', metadata: { name, annotations: { [SYNCED_FROM_ANNOTATION]: caller } }, spec };
    try {
      await applyDocuments(store, [doc], { domain: self });
    } catch (e) {
      return reply.code(400).send({ error: (e as Error).message });
    }
    await store.updateStatus('DomainDataGrant', name, { phase: 'Ready', message: `signed by ${caller}, verified with its certificate`, use_records: [] });
    return reply.send({ ok: true });
  });

  app.delete<{ Params: { name: string } }>('/v1/grants/:name', async (req, reply) => {
    const caller = callerOf(req, reply);
    if (!caller) return reply;
    const prior = await existingFrom(req.params.name);
    if (!prior) return reply.send({ ok: true });
    if (prior.from !== caller) return reply.code(403).send({ error: `DomainDataGrant ${req.params.name} is not ${caller}'s` });
    await store.delete('DomainDataGrant', req.params.name);
    return reply.send({ ok: true });
  });

  rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return app;
}
