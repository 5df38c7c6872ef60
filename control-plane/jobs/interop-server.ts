// The job protocol's receiving end, ferry-interop.<domain>.svc: partners
// propose jobs and push their own records here; a party pulls another's record
// to resync after a partition. Reached only through the public port by
// authenticated partners, on a 0600 Unix socket (like the diagnose service).
// The caller is the partner the gateway authenticated: Envoy overwrites
// Kuscia-Source with it on the public listener, so no engine header can
// claim another domain. Wire format: docs/jobs.md "Protocol".
import { rmSync, chmodSync } from 'node:fs';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { JobSpec, PartyRecord } from './phase.ts';


export interface Proposal {
  spec: JobSpec;
  specHash: string;
  /** The initiator's own record, so the receiver has it at once. */
  record: PartyRecord;
}

export type InboxAnswer = { ok: true; record?: PartyRecord } | { ok: false; status: 400 | 403 | 404 | 409 | 503; reason: string };

/** What the jobs controller answers to partners. Each call names the authenticated caller. */
export interface JobsInbox {
  propose(caller: string, job: string, p: Proposal): Promise<InboxAnswer>;
  pushRecord(caller: string, job: string, record: PartyRecord): Promise<InboxAnswer>;
  /** This domain's own record of the job, if the caller is a party of it. */
  ownRecord(caller: string, job: string): Promise<InboxAnswer>;
}

const JOB_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_BODY = 4 * 1024 * 1024;

export async function startInteropServer(socketPath: string, self: string, inbox: JobsInbox, log: Logger) {
  const app = Fastify({ loggerInstance: log.child({ component: 'jobs-interop' }, { level: 'warn' }), bodyLimit: MAX_BODY });

  /** The authenticated partner, or a refusal: one Kuscia-Source, never this domain (a local engine). */
  const callerOf = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    const source = req.headers['kuscia-source'];
    if (typeof source !== 'string' || !JOB_NAME.test(source) || source === self) {
      void reply.code(403).send({ error: 'the job protocol answers only authenticated partners, through the public port' });
      return undefined;
    }
    return source;
  };
  const send = (reply: FastifyReply, a: InboxAnswer) => (a.ok ? reply.send({ record: a.record ?? null }) : reply.code(a.status).send({ error: a.reason }));
  const checkName = (name: string, reply: FastifyReply) => {
    if (JOB_NAME.test(name)) return true;
    void reply.code(400).send({ error: 'job name: must be a lowercase DNS label' });
    return false;
  };

  app.post<{ Params: { name: string }; Body: Proposal }>('/v1/jobs/:name', async (req, reply) => {
    const caller = callerOf(req, reply);
    if (!caller || !checkName(req.params.name, reply)) return reply;
    const body = req.body as Partial<Proposal> | undefined;
    if (!body || typeof body !== 'object' || !body.spec || typeof body.specHash !== 'string' || !body.record) {
      return reply.code(400).send({ error: 'body: give {spec, specHash, record}' });
    }
    return send(reply, await inbox.propose(caller, req.params.name, body as Proposal));
  });

  app.put<{ Params: { name: string; domain: string }; Body: PartyRecord }>('/v1/jobs/:name/records/:domain', async (req, reply) => {
    const caller = callerOf(req, reply);
    if (!caller || !checkName(req.params.name, reply)) return reply;
    const record = req.body as PartyRecord | undefined;
    if (!record || typeof record !== 'object' || record.domainID !== req.params.domain) {
      return reply.code(400).send({ error: 'body: the party record whose domainID is the path\'s domain' });
    }
    return send(reply, await inbox.pushRecord(caller, req.params.name, record));
  });

  app.get<{ Params: { name: string } }>('/v1/jobs/:name/records/self', async (req, reply) => {
    const caller = callerOf(req, reply);
    if (!caller || !checkName(req.params.name, reply)) return reply;
    return send(reply, await inbox.ownRecord(caller, req.params.name));
  });

  rmSync(socketPath, { force: true });
  await app.listen({ path: socketPath });
  chmodSync(socketPath, 0o600);
  return app;
}
