// A real squid (Debian package) as an institution's HTTP forward proxy:
// CONNECT to any port, no cache, its own temp dir and port; stopped by the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePorts, tempDir, waitForPort } from './harness.ts';

export const SQUID = ['/usr/sbin/squid', '/usr/bin/squid'].find((p) => existsSync(p));

export interface Squid {
  host: string;
  port: number;
  /** CONNECT targets squid logged (host:port), in order. */
  connects(): string[];
  stop(): Promise<void>;
}

/** Starts squid listening on `host` (default 127.0.0.1); `spawnIn` lets a test run it inside a network namespace. */
export async function startSquid(opts: { host?: string; probeHost?: string; spawnIn?: (cmd: string, args: string[]) => ChildProcess } = {}): Promise<Squid> {
  if (!SQUID) throw new Error('squid is not installed (Debian package squid; scripts/debian-tools.sh installs it)');
  const host = opts.host ?? '127.0.0.1';
  const [port] = await freePorts(1);
  const dir = tempDir('squid');
  chmodSync(dir, 0o777); // squid drops to its own user
  const logs = join(dir, 'logs');
  mkdirSync(logs, { mode: 0o777 });
  chmodSync(logs, 0o777);
  const conf = join(dir, 'squid.conf');
  writeFileSync(conf, [
    `http_port ${host}:${port}`,
    'http_access allow all', // the test's network; a real proxy lists its clients and allowed targets
    'cache deny all',
    `pid_filename ${join(dir, 'squid.pid')}`,
    `access_log stdio:${join(logs, 'access.log')}`,
    `cache_log ${join(logs, 'cache.log')}`,
    'logfile_rotate 0',
    'shutdown_lifetime 0 seconds',
    `coredump_dir ${dir}`,
    '',
  ].join('\n'));
  const check = spawnSync(SQUID, ['-k', 'parse', '-f', conf], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`squid config: ${check.stderr}`);
  const args = ['-N', '-f', conf];
  const child = opts.spawnIn ? opts.spawnIn(SQUID, args) : spawn(SQUID, args, { stdio: 'ignore' });
  await waitForPort('squid to accept connections', opts.probeHost ?? host, port!);
  return {
    host,
    port: port!,
    connects: () => {
      try {
        return readFileSync(join(logs, 'access.log'), 'utf8').split('\n').filter((l) => / CONNECT /.test(l)).map((l) => l.split(/\s+/)[6] ?? '');
      } catch {
        return [];
      }
    },
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL'); // squid -N: one process
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
