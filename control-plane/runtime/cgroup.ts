// A CPU + memory limit for a set of processes: a task under RunP
// (control-plane/runtime/controller.ts) or one domain of bench/psi-1c2g.ts.
// cgroup v2 when /sys/fs/cgroup is the unified hierarchy (cpu.max, memory.max,
// memory.peak); otherwise cgroup v1 (cpu.cfs_quota_us, memory.limit_in_bytes,
// memory.max_usage_in_bytes), the memory group nested under this process's own
// memory cgroup so whatever accounts for this process still sees it.
// `systemd-run --scope` needs systemd as PID 1; directories are used directly.
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Cgroup {
  kind: 'v2' | 'v1';
  /** Files a process writes its pid to in order to join (all of them). */
  procs: string[];
  /** Peak memory (bytes) since creation or the last resetPeak(). */
  peakBytes(): number;
  resetPeak(): void;
  /** CPU seconds used by the members, when the hierarchy reports it. */
  cpuSeconds(): number | undefined;
  /** How many times the kernel killed a member for the memory limit. */
  oomKills(): number;
  describe: string;
  remove(): void;
}

const ROOT = '/sys/fs/cgroup';

function ownPath(controller: string): string {
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, ctrls, path] = line.split(':');
    if (controller === '' ? ctrls === '' : ctrls!.split(',').includes(controller)) return path!;
  }
  return '/';
}

/** A "name value" line of a cgroup file (memory.events, memory.oom_control); 0 when absent. */
function counter(file: string, name: string): number {
  try {
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(readFileSync(file, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Creates a group limited to `cpus` CPUs and `memoryBytes` (Infinity: no limit), or throws with why not. */
export function createCgroup(name: string, cpus: number, memoryBytes: number): Cgroup {
  const period = 100_000;
  const quota = Number.isFinite(cpus) ? Math.round(cpus * period) : undefined;
  const memory = Number.isFinite(memoryBytes) ? memoryBytes : undefined;
  if (existsSync(join(ROOT, 'cgroup.controllers'))) {
    const parent = join(ROOT, ownPath('').replace(/^\//, ''));
    // A v2 group with members cannot enable controllers for children: use a sibling under the root.
    const base = readFileSync(join(ROOT, 'cgroup.subtree_control'), 'utf8').includes('memory') ? ROOT : parent;
    for (const c of ['+cpu', '+memory']) try { writeFileSync(join(base, 'cgroup.subtree_control'), c); } catch { /* already or not allowed: checked below */ }
    const dir = join(base, name);
    mkdirSync(dir);
    chmodSync(dir, 0o755); // whatever the umask: a task under its own user joins through cgroup.procs
    writeFileSync(join(dir, 'cpu.max'), `${quota ?? 'max'} ${period}`);
    writeFileSync(join(dir, 'memory.max'), String(memory ?? 'max'));
    writeFileSync(join(dir, 'memory.swap.max'), '0');
    return {
      kind: 'v2',
      procs: [join(dir, 'cgroup.procs')],
      peakBytes: () => Number(readFileSync(join(dir, 'memory.peak'), 'utf8')),
      resetPeak: () => { try { writeFileSync(join(dir, 'memory.peak'), '0'); } catch { /* kernels before 6.12 cannot reset */ } },
      cpuSeconds: () => Number(/usage_usec (\d+)/.exec(readFileSync(join(dir, 'cpu.stat'), 'utf8'))?.[1]) / 1e6,
      oomKills: () => counter(join(dir, 'memory.events'), 'oom_kill'),
      describe: `cgroup v2 ${dir}: cpu.max "${quota ?? 'max'} ${period}", memory.max ${memory ?? 'max'}, memory.swap.max 0`,
      remove: () => rmdirSync(dir),
    };
  }
  const cpuDir = join(ROOT, 'cpu', ownPath('cpu'), name);
  const cpuacctDir = existsSync(join(ROOT, 'cpuacct')) ? join(ROOT, 'cpuacct', ownPath('cpuacct'), name) : undefined;
  const memDir = join(ROOT, 'memory', ownPath('memory'), name);
  mkdirSync(cpuDir);
  try {
    mkdirSync(memDir);
    if (cpuacctDir && cpuacctDir !== cpuDir) mkdirSync(cpuacctDir);
  } catch (e) {
    rmdirSync(cpuDir);
    throw e;
  }
  writeFileSync(join(cpuDir, 'cpu.cfs_period_us'), String(period));
  writeFileSync(join(cpuDir, 'cpu.cfs_quota_us'), String(quota ?? -1));
  writeFileSync(join(memDir, 'memory.limit_in_bytes'), String(memory ?? -1));
  // memsw (memory + swap) must not be below the memory limit: written after it.
  try { writeFileSync(join(memDir, 'memory.memsw.limit_in_bytes'), String(memory ?? -1)); } catch { /* no swap accounting */ }
  const dirs = [cpuDir, memDir, ...(cpuacctDir && cpuacctDir !== cpuDir ? [cpuacctDir] : [])];
  for (const d of dirs) chmodSync(d, 0o755); // whatever the umask: a task under its own user joins through cgroup.procs
  return {
    kind: 'v1',
    procs: dirs.map((d) => join(d, 'cgroup.procs')),
    peakBytes: () => Number(readFileSync(join(memDir, 'memory.max_usage_in_bytes'), 'utf8')),
    resetPeak: () => writeFileSync(join(memDir, 'memory.max_usage_in_bytes'), '0'),
    cpuSeconds: () => (cpuacctDir ? Number(readFileSync(join(cpuacctDir, 'cpuacct.usage'), 'utf8')) / 1e9 : undefined),
    oomKills: () => counter(join(memDir, 'memory.oom_control'), 'oom_kill'),
    describe: `cgroup v1 (no unified hierarchy with controllers here): cpu group ${name} with cpu.cfs_quota_us ${quota ?? -1} / cpu.cfs_period_us ${period}; memory group ${name} (under this process's own) with memory.limit_in_bytes ${memory ?? -1}`,
    remove: () => { for (const d of dirs.reverse()) try { rmdirSync(d); } catch { /* still busy or gone */ } },
  };
}

/**
 * Kubernetes quantities as Kuscia's task resources give them: cpu "2",
 * "500m", 1.5; memory "2Gi", "512Mi", "1G", "1e9", 1048576. Undefined when the
 * text is not one (the caller names the field).
 */
export function parseCpu(q: string | number): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(m?)$/.exec(String(q).trim());
  if (!m) return undefined;
  const v = Number(m[1]) / (m[2] ? 1000 : 1);
  return v > 0 ? v : undefined;
}

const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };

export function parseMemory(q: string | number): number | undefined {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q).trim());
  if (!m) return undefined;
  const v = Math.floor(Number(m[1]) * MEMORY_UNITS[m[2] ?? '']!);
  return v >= 1024 * 1024 ? v : undefined; // below 1 MiB no process starts
}
