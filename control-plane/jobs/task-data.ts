// Which DomainData a task reads and writes at this party, from its task input
// config as SecretFlow's engines name them under Kuscia: `sf_input_ids` (the
// DomainData the task reads, every party's in one list: each party reads
// those that are its own domain's) and `sf_output_ids` / `sf_output_uris` (one
// per party, in the task's party order; a single one serves every party).
// The jobs controller admits a job with it (DataMesh grants), the runtime
// scopes the task's DataMesh credential with it. Pure.
import type { JobAdmission } from '../datamesh/access.ts';
import type { JobSpec } from './phase.ts';

export interface TaskData {
  /** This domain's DomainData the task reads (named in sf_input_ids and stored here). */
  reads: string[];
  /** The DomainData this party's side of the task may create (its sf_output_ids entry, when it does not exist yet). */
  writes: string[];
  /** The relative URI for each write (sf_output_uris, or `<id>.csv`). */
  uris: Record<string, string>;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string' && x.length > 0) : []);

/**
 * The task's DomainData at `self`. `parties` in the task's order; `local`
 * says whether a DomainData id is stored in this domain. A task input config
 * that is not a JSON object names no DomainData (the engine's own check
 * refuses it, with the field).
 */
export function taskData(self: string, taskInputConfig: string | undefined, parties: readonly string[], local: (id: string) => boolean): TaskData {
  let cfg: unknown;
  try {
    cfg = JSON.parse(taskInputConfig || '{}');
  } catch {
    return { reads: [], writes: [], uris: {} };
  }
  if (!cfg || typeof cfg !== 'object' || Array.isArray(cfg)) return { reads: [], writes: [], uris: {} };
  const c = cfg as Record<string, unknown>;
  const reads = [...new Set(strings(c.sf_input_ids).filter(local))];
  const outs = strings(c.sf_output_ids);
  const uris = Array.isArray(c.sf_output_uris) ? c.sf_output_uris : [];
  const i = outs.length === 1 ? 0 : outs.length === parties.length ? parties.indexOf(self) : -1;
  // Create only: an output that exists already is not the task's to overwrite (the initiator, a partner perhaps, names it).
  const out = i >= 0 && !local(outs[i]!) ? outs[i] : undefined;
  const uri = i >= 0 && typeof uris[i] === 'string' && uris[i] ? (uris[i] as string) : undefined;
  return { reads, writes: out ? [out] : [], uris: out ? { [out]: uri ?? `${out}.csv` } : {} };
}

/** What the DataMesh is asked before this party takes part in a job: its tasks and the DomainData each reads; every other party of each task needs a grant. */
export function jobAdmission(self: string, name: string, spec: JobSpec, local: (id: string) => boolean): JobAdmission {
  const parties = [...new Set(spec.tasks.flatMap((t) => t.parties.map((p) => p.domainID)))];
  return {
    jobID: name,
    initiator: spec.initiator,
    parties,
    ...(spec.flowID ? { flowID: spec.flowID } : {}),
    tasks: spec.tasks.filter((t) => t.parties.some((p) => p.domainID === self)).map((t) => ({
      taskID: t.taskID,
      // The task's own parties read with it: each of them needs the grant, not every party of the job.
      parties: [...new Set(t.parties.map((p) => p.domainID))],
      domainDataIDs: taskData(self, t.taskInputConfig, t.parties.map((p) => p.domainID), local).reads,
      component: t.appImage,
    })),
  };
}
