// Real MariaDB and PostgreSQL servers from Debian (scripts/debian-tools.sh),
// started by a test in a temp directory on a free loopback port, each with a
// database `sales` and an account `ferry` (password given) that owns it.
// Ready when the account can log in; stopped (and their files removed) by stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import pg from 'pg';
import { freePorts } from '../../control-plane/util/ports.ts';

export interface TestDatabase {
  endpoint: string;
  user: string;
  password: string;
  database: string;
  stop(): Promise<void>;
}

const root = process.getuid?.() === 0;

function pgBin(name: string): string | undefined {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return undefined;
  const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) if (existsSync(join(base, v, 'bin', name))) return join(base, v, 'bin', name);
  return undefined;
}

export function databasesMissing(): string | undefined {
  if (!existsSync('/usr/sbin/mariadbd') || !existsSync('/usr/bin/mariadb-install-db')) return 'MariaDB is not installed (Debian mariadb-server; scripts/debian-tools.sh installs it)';
  if (!pgBin('postgres') || !pgBin('initdb')) return 'PostgreSQL is not installed (Debian postgresql; scripts/debian-tools.sh installs it)';
  if (root && spawnSync('id', ['postgres']).status !== 0) return 'no postgres user to run PostgreSQL as (root may not)';
  return undefined;
}

async function until<T>(what: string, probe: () => Promise<T>, child: ChildProcess, log: () => string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (let i = 0; Date.now() < deadline; i++) {
    if (child.exitCode !== null) throw new Error(`${what} exited (${child.exitCode}): ${log().slice(-2000)}`);
    try { return await probe(); } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** i, 500)));
  }
  throw new Error(`${what} not ready in ${timeoutMs} ms: ${(last as Error)?.message}; ${log().slice(-2000)}`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

export async function startMariaDb(password: string): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-mariadb-'));
  const [port] = await freePorts(1);
  const user = root ? ['--user=root'] : [];
  const init = spawnSync('/usr/bin/mariadb-install-db', ['--no-defaults', `--datadir=${dir}/data`, '--auth-root-authentication-method=normal', '--skip-test-db', ...user], { encoding: 'utf8', timeout: 120_000 });
  if (init.status !== 0) throw new Error(`mariadb-install-db failed: ${init.stderr}${init.stdout}`);
  let out = '';
  const child = spawn('/usr/sbin/mariadbd', ['--no-defaults', `--datadir=${dir}/data`, `--socket=${dir}/sock`, `--port=${port}`, '--bind-address=127.0.0.1', `--pid-file=${dir}/pid`, '--skip-name-resolve', ...user], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { out += d; });
  const admin = await until('mariadbd', () => createConnection({ host: '127.0.0.1', port: port!, user: 'root', password: '' }), child, () => out);
  await admin.query('CREATE DATABASE sales');
  await admin.query('CREATE USER \'ferry\'@\'%\' IDENTIFIED BY ?', [password]);
  await admin.query('GRANT ALL ON sales.* TO \'ferry\'@\'%\'');
  await admin.end();
  return {
    endpoint: `127.0.0.1:${port}`, user: 'ferry', password, database: 'sales',
    stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }); },
  };
}

export async function startPostgres(password: string): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pg-'));
  const [port] = await freePorts(1);
  const as = (cmd: string, args: string[]): [string, string[]] => (root ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]);
  writeFileSync(join(dir, 'pw'), `${password}\n`);
  if (root) {
    const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim();
    chownSync(dir, Number(ids), Number(gid));
    chownSync(join(dir, 'pw'), Number(ids), Number(gid));
  }
  const [ic, ia] = as(pgBin('initdb')!, ['-D', join(dir, 'data'), '-U', 'ferry', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${join(dir, 'pw')}`, '--no-sync']);
  const init = spawnSync(ic, ia, { encoding: 'utf8', timeout: 120_000, cwd: dir });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}${init.stdout}`);
  let out = '';
  const [sc, sa] = as(pgBin('postgres')!, ['-D', join(dir, 'data'), '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off']);
  const child = spawn(sc, sa, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  child.stdout!.on('data', (d: Buffer) => { out += d; });
  child.stderr!.on('data', (d: Buffer) => { out += d; });
  await until('postgres', async () => {
    const c = new pg.Client({ host: '127.0.0.1', port: port!, user: 'ferry', password, database: 'postgres' });
    await c.connect();
    await c.query('CREATE DATABASE sales');
    await c.end();
  }, child, () => out);
  return {
    endpoint: `127.0.0.1:${port}`, user: 'ferry', password, database: 'sales',
    stop: async () => { await stopChild(child); rmSync(dir, { recursive: true, force: true }); },
  };
}
