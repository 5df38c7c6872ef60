// Free ports for the demo and the tests. They are drawn at random below the
// kernel's ephemeral range, which the OS never hands out for port-0 binds or
// outgoing connections, so a port chosen here stays free until it is used.
// Each port handed out is also claimed in a lock file (tmpdir/ferry-ports)
// until this process exits, so concurrent test processes never draw the same
// port between choosing it and binding it.
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';

function ephemeralStart(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}

function tryBind(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '0.0.0.0', () => resolve(s));
  });
}

const LOCKS = join(tmpdir(), 'ferry-ports');
const claimed: string[] = [];
let cleanupRegistered = false;

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Claims `port` for this process; false when another live process holds it. */
function claim(port: number): boolean {
  mkdirSync(LOCKS, { recursive: true });
  const path = join(LOCKS, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      claimed.push(path);
      if (!cleanupRegistered) {
        cleanupRegistered = true;
        process.once('exit', () => { for (const p of claimed) rmSync(p, { force: true }); });
      }
      return true;
    } catch {
      let owner = 0;
      try { owner = Number(readFileSync(path, 'utf8')); } catch { /* gone meanwhile */ }
      if (owner === process.pid) return false; // handed out already in this process
      if (owner > 0 && alive(owner)) return false;
      rmSync(path, { force: true }); // a dead process's claim
    }
  }
  return false;
}

/** Locks of processes that are gone (killed tests), removed now and then. */
function sweepStaleLocks(): void {
  try {
    for (const f of readdirSync(LOCKS)) {
      const path = join(LOCKS, f);
      let owner = 0;
      try { owner = Number(readFileSync(path, 'utf8')); } catch { continue; }
      if (owner > 0 && !alive(owner)) rmSync(path, { force: true });
    }
  } catch { /* no lock dir yet */ }
}

export async function freePorts(n: number): Promise<number[]> {
  if (Math.random() < 0.05) sweepStaleLocks();
  const high = Math.min(ephemeralStart(), 60000);
  const low = Math.max(10000, high - 16000);
  const held: Server[] = [];
  const ports: number[] = [];
  for (let attempts = 0; ports.length < n && attempts < 1000; attempts++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (ports.includes(port)) continue;
    const s = await tryBind(port);
    if (s && claim(port)) {
      held.push(s);
      ports.push(port);
    } else if (s) {
      await new Promise((r) => s.close(r));
    }
  }
  await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  if (ports.length < n) throw new Error(`could not find ${n} free ports below ${high}`);
  return ports;
}
