// Keeps <home>/logs from growing without bound: when an access log or the
// node's log passes a size, it is renamed (.1, .2, ... up to `keep`) and the
// writer reopens the path (Envoy through its admin /reopen_logs, pino through
// its destination's reopen). Task logs (tasks/<task>.log) are written by
// engines that cannot be asked to reopen: they are copied to .1 and truncated
// in place (their writers append, so they go on at the new end).
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';

export interface RotationOptions {
  dir: string;
  /** Rotate a file once it is larger than this. */
  maxBytes: number;
  /** Rotated files kept per log (file.1 is the newest). */
  keep: number;
  checkEveryMs: number;
  /** Asks the writers to reopen their files (after a rename). */
  reopen: { envoy: () => Promise<void>; node: () => void };
  log: Logger;
}

/** Makes room for a new .1: drops .keep, moves .i to .i+1. */
function shiftOlder(path: string, keep: number): void {
  rmSync(`${path}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) if (existsSync(`${path}.${i}`)) renameSync(`${path}.${i}`, `${path}.${i + 1}`);
}

function shift(path: string, keep: number): void {
  shiftOlder(path, keep);
  renameSync(path, `${path}.1`);
}

/** One pass: rotates what is too big; returns the files rotated. */
export async function rotateOnce(opts: RotationOptions): Promise<string[]> {
  const rotated: string[] = [];
  let envoy = false;
  let node = false;
  for (const name of existsSync(opts.dir) ? readdirSync(opts.dir) : []) {
    const isAccess = /^access-.*\.log$/.test(name);
    if (!isAccess && name !== 'ferry.log') continue;
    const path = join(opts.dir, name);
    if (statSync(path).size <= opts.maxBytes) continue;
    shift(path, opts.keep);
    rotated.push(name);
    if (isAccess) envoy = true;
    else node = true;
  }
  const tasks = join(opts.dir, 'tasks');
  for (const name of existsSync(tasks) ? readdirSync(tasks) : []) {
    const path = join(tasks, name);
    if (!name.endsWith('.log') || statSync(path).size <= opts.maxBytes) continue;
    shiftOlder(path, opts.keep);
    copyFileSync(path, `${path}.1`);
    truncateSync(path, 0);
    rotated.push(`tasks/${name}`);
  }
  if (envoy) await opts.reopen.envoy();
  if (node) opts.reopen.node();
  if (rotated.length) opts.log.info({ rotated }, 'rotated logs');
  return rotated;
}

export function startRotation(opts: RotationOptions): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    rotateOnce(opts).catch((err) => opts.log.warn({ err }, 'log rotation failed')).finally(() => { running = false; });
  }, opts.checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}
