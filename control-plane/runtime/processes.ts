// Task processes (RunP): each task runs as its own process group, in its own
// directory, with stdout and stderr in one log file. A small sh wrapper
// records the exit status in a file, so a node that restarts while a task
// runs still learns how it ended. Stop = SIGTERM to the group, SIGKILL after
// the grace period.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, fstatSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { constants } from 'node:os';

export interface Exit {
  exitCode?: number;
  signal?: string;
}

export interface StartedProcess {
  pid: number;
  exitFile: string;
}

// The wrapper first joins the task's cgroups (the files before "--"), so the
// engine starts inside its limits; "$@" runs the engine as the wrapper's child;
// its status (128+n for signal n) goes to $1.
const WRAPPER = [
  'f=$1; shift',
  'while [ "$1" != -- ]; do echo $$ > "$1" || { echo "ferry: could not join the task\'s cgroup $1" >&2; echo 125 > "$f"; exit 125; }; shift; done; shift',
  '"$@"; c=$?; echo $c > "$f.tmp" && mv "$f.tmp" "$f"; exit $c',
].join('\n');

export function startProcess(opts: { command: string[]; cwd: string; env: Record<string, string>; logFile: string; files: Record<string, string>; cgroupProcs?: string[]; uid?: number; gid?: number; onExit: (e: Exit) => void }): StartedProcess {
  mkdirSync(opts.cwd, { recursive: true, mode: 0o700 });
  // A task under its own user passes through the tasks directory to its own (it cannot list it).
  if (opts.uid !== undefined) chmodSync(dirname(opts.cwd), 0o711);
  mkdirSync(join(opts.cwd, 'tmp'), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(opts.logFile), { recursive: true, mode: 0o700 });
  for (const [path, content] of Object.entries(opts.files)) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileSync(path, content, { mode: 0o600 });
  }
  const exitFile = join(opts.cwd, '.exit-status');
  rmSync(exitFile, { force: true }); // a previous run's
  if (opts.uid !== undefined) {
    // The task's own directory (and what the node wrote in it) and its cgroups belong to the task's user.
    const own = (p: string) => chownSync(p, opts.uid!, opts.gid ?? opts.uid!);
    const walk = (dir: string) => { own(dir); for (const e of readdirSync(dir, { withFileTypes: true })) e.isDirectory() ? walk(join(dir, e.name)) : own(join(dir, e.name)); };
    walk(opts.cwd);
    for (const p of opts.cgroupProcs ?? []) own(p);
  }
  const log = openSync(opts.logFile, 'a', 0o600);
  try {
    const child = spawn('/bin/sh', ['-c', WRAPPER, 'ferry-task', exitFile, ...(opts.cgroupProcs ?? []), '--', ...opts.command], {
      cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', log, log],
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
    });
    child.on('error', () => undefined); // reported through 'exit'
    // No exit file: the wrapper itself was killed (a signal to the whole group) or could not run.
    child.on('exit', (code, signal) => opts.onExit(readExit(exitFile) ?? (signal ? { signal } : { exitCode: code ?? 127 })));
    child.unref();
    if (child.pid === undefined) throw new Error(`could not start ${opts.command[0]}`);
    return { pid: child.pid, exitFile };
  } finally {
    closeSync(log);
  }
}

/** How the wrapped process ended, from its exit file; undefined while it runs (or if it never wrote one). */
export function readExit(exitFile: string): Exit | undefined {
  if (!existsSync(exitFile)) return undefined;
  const code = Number(readFileSync(exitFile, 'utf8').trim());
  if (!Number.isInteger(code)) return undefined;
  if (code > 128) {
    const name = Object.entries(constants.signals).find(([, n]) => n === code - 128)?.[0];
    return { signal: name ?? `signal ${code - 128}` };
  }
  return { exitCode: code };
}

export function processAlive(pid: number): boolean {
  try {
    // A zombie (exited, not yet reaped) is not alive.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** SIGTERM to the group, then SIGKILL after graceMs if anything is left. */
export async function stopGroup(pid: number, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch { /* gone */ }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && processAlive(pid)) await new Promise((r) => setTimeout(r, 50));
  if (processAlive(pid)) signal('SIGKILL');
}

/** The last lines of a log file (at most 16 KiB read). */
export function tailLines(file: string, lines: number): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').filter((l) => l.length > 0).slice(-lines);
  } finally {
    closeSync(fd);
  }
}
