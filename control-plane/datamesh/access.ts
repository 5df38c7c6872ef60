// Who may read or write which DomainData, decided purely from the task's
// credential, the DomainData and the grants as the store holds them now, and
// the time. Golden-tested (test/golden/testdata/datamesh-*.yaml). The edges
// (server.ts) load the inputs and record the uses this answers with.
//
// Rules (docs/datamesh.md "Enforcement"):
// - no credential, or a revoked one: refused (only the node's tasks use the DataMesh);
// - a task reads and writes only the DomainData its credential names;
// - a job with partners reads this domain's data on their behalf: each partner
//   needs a Ready DomainDataGrant (author: this domain, grantDomain: the
//   partner) for that DomainData, unexpired, with uses left, whose flowID, initiator
//   and components limits (when set) match the job;
// - every read that passes records one use on each grant it relied on.
import type { DomainDataGrantSpec, GrantStatus, UseRecord } from './spec.ts';

/** What a task's DataMesh credential carries (issued per task, credentials.ts). */
export interface TaskCredential {
  taskID: string;
  jobID: string;
  initiator: string;
  /** The job's parties (domain ids), this domain included. */
  parties: string[];
  /** The DomainData ids the task's input config names (reads) and its outputs (writes). */
  domainDataIDs: string[];
  /** The task's app image or component, matched against a grant's limit.components. */
  component?: string;
  /** The job's spec.flowID (Kuscia's flow), matched against a grant's limit.flowID. */
  flowID?: string;
}

export interface GrantView {
  name: string;
  spec: DomainDataGrantSpec;
  status?: Partial<GrantStatus>;
}

export type AccessDecision =
  | { ok: true; grants: string[] }
  | { ok: false; code: 401 | 403 | 404; reason: string };

export interface AccessInput {
  self: string;
  credential: TaskCredential | undefined;
  /** What the request names. */
  domainDataID: string;
  /** The DomainData as stored; undefined when it does not exist. */
  exists: boolean;
  op: 'read' | 'write' | 'create';
  grants: readonly GrantView[];
  now: Date;
}

/** Why a grant cannot serve `partner` for this job now; undefined when it can. */
export function grantProblem(g: GrantView, partner: string, cred: Pick<TaskCredential, 'initiator' | 'component' | 'flowID'>, now: Date): string | undefined {
  if (g.status?.phase === 'Unavailable') return `DomainDataGrant ${g.name} is Unavailable (revoked)${g.status.message ? `: ${g.status.message}` : ''}`;
  const l = g.spec.limit ?? {};
  if (l.expirationTime && Date.parse(l.expirationTime) <= now.getTime()) return `DomainDataGrant ${g.name} expired at ${l.expirationTime}`;
  if (l.useCount) {
    const used = (g.status?.use_records ?? []).filter((r) => r.grant_domain === partner).length;
    if (used >= l.useCount) return `DomainDataGrant ${g.name} is used up (${used} of useCount ${l.useCount} uses)`;
  }
  if (l.flowID && l.flowID !== cred.flowID) return `DomainDataGrant ${g.name} is limited to flow ${l.flowID}, not ${cred.flowID ? `flow ${cred.flowID}` : 'a job without spec.flowID'}`;
  if (l.initiator && l.initiator !== cred.initiator) return `DomainDataGrant ${g.name} is limited to jobs initiated by ${l.initiator}, not ${cred.initiator}`;
  if (l.components?.length && !(cred.component && l.components.includes(cred.component))) {
    return `DomainDataGrant ${g.name} is limited to components ${l.components.join(', ')}, not ${cred.component ?? '(none)'}`;
  }
  return undefined;
}

/**
 * The grant each partner of the job needs for `domainDataID`: the first one
 * that can serve, or why none can. Partners are the job's parties other than
 * this domain.
 */
export function grantsFor(self: string, domainDataID: string, cred: Pick<TaskCredential, 'initiator' | 'component' | 'parties' | 'flowID'>, grants: readonly GrantView[], now: Date): { used: string[]; missing: { grantDomain: string; reason: string }[] } {
  const used: string[] = [];
  const missing: { grantDomain: string; reason: string }[] = [];
  for (const partner of [...new Set(cred.parties)].filter((p) => p !== self).sort()) {
    const candidates = grants.filter((g) => g.spec.author === self && g.spec.domainDataID === domainDataID && g.spec.grantDomain === partner)
      .sort((a, b) => a.name.localeCompare(b.name));
    if (!candidates.length) {
      missing.push({ grantDomain: partner, reason: `no DomainDataGrant gives ${partner} DomainData ${domainDataID} (create one: author ${self}, domainDataID ${domainDataID}, grantDomain ${partner})` });
      continue;
    }
    const problems = candidates.map((g) => grantProblem(g, partner, cred, now));
    const ok = problems.findIndex((p) => p === undefined);
    if (ok >= 0) used.push(candidates[ok]!.name);
    else missing.push({ grantDomain: partner, reason: problems.join('; ') });
  }
  return { used, missing };
}

export function decideAccess(a: AccessInput): AccessDecision {
  const cred = a.credential;
  if (!cred) return { ok: false, code: 401, reason: 'no valid DataMesh credential: only this node\'s tasks use the DataMesh, each with the credential the node gave it (it ends with the task)' };
  if (!cred.domainDataIDs.includes(a.domainDataID)) {
    return { ok: false, code: 403, reason: `task ${cred.taskID} may not use DomainData ${a.domainDataID}: its task input config names only ${cred.domainDataIDs.join(', ') || '(none)'}` };
  }
  if (a.op === 'create') return a.exists ? { ok: false, code: 403, reason: `DomainData ${a.domainDataID} exists already` } : { ok: true, grants: [] };
  if (!a.exists) return { ok: false, code: 404, reason: `DomainData ${a.domainDataID} does not exist in ${a.self}` };
  if (a.op === 'write') return { ok: true, grants: [] };
  const { used, missing } = grantsFor(a.self, a.domainDataID, cred, a.grants, a.now);
  if (missing.length) return { ok: false, code: 403, reason: `task ${cred.taskID} of job ${cred.jobID} may not read DomainData ${a.domainDataID} for ${missing.map((m) => m.grantDomain).join(', ')}: ${missing.map((m) => m.reason).join('; ')}` };
  return { ok: true, grants: used };
}

/** The use a read records on a grant (Kuscia's UseRecord). */
export function useRecord(partner: string, now: Date, component?: string, output?: string): UseRecord {
  return { use_time: now.toISOString(), grant_domain: partner, ...(component ? { component } : {}), ...(output ? { output } : {}) };
}

/** What the jobs controller asks before admitting a job: every task's reads of this domain's data are granted. */
export interface JobAdmission {
  jobID: string;
  initiator: string;
  parties: string[];
  /** The job's spec.flowID, when it has one. */
  flowID?: string;
  /** This domain's tasks of the job and the DomainData each reads. */
  tasks: { taskID: string; domainDataIDs: string[]; component?: string; /** The task's parties, when not the job's (a multi-task job). */ parties?: string[] }[];
}

export type AdmissionDecision = { ok: true } | { ok: false; missing: { taskID: string; domainDataID: string; grantDomain: string; reason: string }[]; message: string };

export function admitJob(self: string, job: JobAdmission, grants: readonly GrantView[], knownData: ReadonlySet<string>, now: Date): AdmissionDecision {
  const missing: { taskID: string; domainDataID: string; grantDomain: string; reason: string }[] = [];
  for (const t of job.tasks) {
    for (const id of t.domainDataIDs) {
      if (!knownData.has(id)) {
        missing.push({ taskID: t.taskID, domainDataID: id, grantDomain: self, reason: `DomainData ${id} does not exist in ${self}` });
        continue;
      }
      const r = grantsFor(self, id, { initiator: job.initiator, parties: t.parties ?? job.parties, ...(t.component ? { component: t.component } : {}), ...(job.flowID ? { flowID: job.flowID } : {}) }, grants, now);
      for (const m of r.missing) missing.push({ taskID: t.taskID, domainDataID: id, ...m });
    }
  }
  if (!missing.length) return { ok: true };
  return { ok: false, missing, message: `job ${job.jobID} is not admitted at ${self}: ${missing.map((m) => `task ${m.taskID}: ${m.reason}`).join('; ')}` };
}
