// A task's CPU and memory limits (docs/engines.md "Limits"): the party's
// `resources.limits` in the job, else the AppImage container's, applied as a
// cgroup per task when the node may create cgroups. The task's status says
// which limits applied, or why none did.
import { createCgroup, parseCpu, parseMemory, type Cgroup } from './cgroup.ts';

export type Quantities = { cpu?: string | number; memory?: string | number };

/** `auto` (the default): limits when the node can create cgroups; `off`: never. */
export interface TaskLimits {
  mode: 'auto' | 'off';
}

export interface WantedLimits {
  cpus?: number;
  memoryBytes?: number;
}

/** The limits a party's task asks for; a quantity that does not parse is an error naming the field. Pure. */
export function wantedLimits(party: { resources?: { limits?: Quantities } }, container: { resources?: { limits?: Quantities } } | undefined): WantedLimits {
  const out: WantedLimits = {};
  const pick = (k: keyof Quantities): { value: string | number; field: string } | undefined => {
    const p = party.resources?.limits?.[k];
    if (p !== undefined && p !== '') return { value: p, field: `parties[].resources.limits.${k}` };
    const c = container?.resources?.limits?.[k];
    if (c !== undefined && c !== '') return { value: c, field: `AppImage containers[].resources.limits.${k}` };
    return undefined;
  };
  const cpu = pick('cpu');
  if (cpu) {
    const v = parseCpu(cpu.value);
    if (v === undefined) throw new Error(`${cpu.field}: ${JSON.stringify(cpu.value)} is not a CPU quantity; write e.g. "1", "500m" or 0.5`);
    out.cpus = v;
  }
  const mem = pick('memory');
  if (mem) {
    const v = parseMemory(mem.value);
    if (v === undefined) throw new Error(`${mem.field}: ${JSON.stringify(mem.value)} is not a memory quantity of 1Mi or more; write e.g. "2Gi", "512Mi" or a number of bytes`);
    out.memoryBytes = v;
  }
  return out;
}

export function describeWanted(w: WantedLimits): string {
  const parts = [...(w.cpus !== undefined ? [`cpu ${w.cpus}`] : []), ...(w.memoryBytes !== undefined ? [`memory ${w.memoryBytes} bytes`] : [])];
  return parts.join(', ');
}

/** A cgroup for the task, or why the limits could not be applied (the task runs without them). */
export function taskLimits(name: string, wanted: WantedLimits, mode: TaskLimits['mode']): { cgroup?: Cgroup; applied: string } {
  if (wanted.cpus === undefined && wanted.memoryBytes === undefined) return { applied: 'none asked (no resources.limits)' };
  if (mode === 'off') return { applied: `not applied (${describeWanted(wanted)} asked; limits are off in this node's jobs.taskLimits)` };
  try {
    const cgroup = createCgroup(name, wanted.cpus ?? Infinity, wanted.memoryBytes ?? Infinity);
    return { cgroup, applied: `${describeWanted(wanted)}: ${cgroup.describe}` };
  } catch (e) {
    return { applied: `not applied (${describeWanted(wanted)} asked): this node cannot create cgroups (${(e as Error).message}); run the node as root or give it a delegated cgroup` };
  }
}
