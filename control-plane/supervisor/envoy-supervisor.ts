// Runs Envoy: writes the bootstrap into <home>/run/, starts Envoy, restarts
// it with exponential back-off when it dies, and reports readiness from
// Envoy's admin API (/ready).
//
// Envoy outlives a crash of the control plane: it keeps serving its last
// configuration. When the node starts again it adopts that Envoy (recorded in
// <run>/envoy.pid) instead of starting a second one, so a control-plane
// restart costs no traffic; Envoy reconnects to xDS by itself.
//
// With `external` (`ferry start --external-envoy`, e.g. Envoy as a second
// container of a Kubernetes pod) the node only writes the bootstrap; whoever
// runs Envoy starts it with `-c <run>/envoy-bootstrap.json`.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { envoyBootstrap, type LocalEndpoints } from '../../envoy/bootstrap.ts';
import { adminRequest, type AdminTarget } from '../../envoy/admin.ts';

export interface SupervisorOptions {
  /** Absent when Envoy runs outside the node (external). */
  envoyBin?: string;
  external?: boolean;
  bootstrapPath: string;
  logDir: string;
  config: NodeConfig;
  /** Admin and xDS Unix sockets and the xDS secret (the node's); without them, the configuration's TCP addresses. */
  local?: LocalEndpoints;
  log: Logger;
  onRestart?: () => void;
  /** A file the supervisor writes (Envoy's log, its pid file) could not be written. */
  onWriteError?: (what: string, err: unknown) => void;
}

/**
 * Whether a process runs. Not kill(pid, 0) alone: an adopted Envoy that died
 * is not our child, so it can stay an unreaped zombie for a while, which
 * kill(pid, 0) still sees as alive. Its /proc state (Z, X) says it is gone.
 */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the command name in parentheses, which may itself contain ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X' && state !== 'x';
  } catch {
    return false; // gone between the two checks
  }
}
const alive = processAlive;

export class EnvoySupervisor {
  private envoyPid: number | undefined;
  private stopping = false;
  private backoffMs = 250;
  private restartTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  restarts = 0;
  /** Whether the running Envoy was adopted from a previous run of the node. */
  adopted = false;
  lastExit: { code: number | null; signal: string | null; at: string } | undefined;
  private readonly opts: SupervisorOptions;
  private readonly pidFile: string;

  constructor(opts: SupervisorOptions) {
    this.opts = opts;
    this.pidFile = join(dirname(opts.bootstrapPath), 'envoy.pid');
  }

  get pid(): number | undefined {
    return this.envoyPid;
  }

  async start(): Promise<void> {
    mkdirSync(this.opts.logDir, { recursive: true });
    const bootstrap = JSON.stringify(envoyBootstrap(this.opts.config, this.opts.local), null, 2);
    let before: string | undefined;
    try { before = readFileSync(this.opts.bootstrapPath, 'utf8'); } catch { /* first start */ }
    // Beside, then rename: an Envoy started by someone else never reads half a file. 0600: it carries the xDS secret.
    writeFileSync(`${this.opts.bootstrapPath}.new`, bootstrap, { mode: 0o600 });
    renameSync(`${this.opts.bootstrapPath}.new`, this.opts.bootstrapPath);
    if (this.opts.external) {
      this.opts.log.info({ bootstrap: this.opts.bootstrapPath }, 'Envoy runs outside the node: bootstrap written, not starting it');
      return;
    }
    const previous = this.runningEnvoy();
    if (previous && before !== bootstrap) {
      // It runs an older bootstrap (an upgrade, a changed ferry.yaml): it may not even reach this
      // control plane (another socket, no xDS secret). Restart it to take the new one.
      this.opts.log.warn({ pid: previous }, 'the Envoy left running has another bootstrap: restarting it to take the new one');
      await terminate(previous);
      this.spawnEnvoy();
    } else if (previous) {
      this.adopted = true;
      this.envoyPid = previous;
      this.opts.log.info({ pid: previous }, 'adopted the Envoy still running from the previous run');
      this.watch(previous, Date.now());
    } else {
      this.spawnEnvoy();
    }
  }

  /** The Envoy a previous run of this node left running with this bootstrap, if any. */
  private runningEnvoy(): number | undefined {
    try {
      const pid = Number(readFileSync(this.pidFile, 'utf8').trim());
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      return pid > 0 && cmdline.includes(this.opts.bootstrapPath) && alive(pid) ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  private spawnEnvoy(): void {
    const { bootstrapPath, logDir, log } = this.opts;
    const envoyBin = this.opts.envoyBin!;
    // Access logs reach their files within a second (Envoy's default is 10 s).
    // Drain 1 s: a removed partner's filter chain, and so its connections, are gone within a second.
    // Immediate: drained HTTP/2 connections get GOAWAY at once, so no new request
    // starts on a connection about to close (gradual would send it late).
    const args = ['-c', bootstrapPath, '--disable-hot-restart', '--log-level', 'warn', '--drain-time-s', '1', '--drain-strategy', 'immediate', '--parent-shutdown-time-s', '10', '--file-flush-interval-msec', '1000'];
    const out = createWriteStream(join(logDir, 'envoy.log'), { flags: 'a', mode: 0o600 });
    // A full disk: Envoy's output is lost, not the node (an unhandled 'error' would end the process).
    out.on('error', (err) => this.opts.onWriteError?.('envoy-log', err));
    // Own session: Envoy is not killed with the node's terminal or process group.
    const child = spawn(envoyBin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    child.unref();
    const startedAt = Date.now();
    child.on('error', (err) => {
      log.error({ err, bin: envoyBin }, 'Envoy could not be started');
      if (child.pid === undefined) this.exited(null, `spawn failed: ${err.message}`, startedAt); // no 'exit' follows then
    });
    child.on('exit', (code, signal) => {
      out.end();
      this.exited(code, signal, startedAt);
    });
    this.envoyPid = child.pid;
    this.adopted = false;
    try {
      writeFileSync(this.pidFile, `${child.pid}\n`);
    } catch (err) {
      // Without the pid file the next start cannot adopt this Envoy; it still runs and is supervised.
      this.opts.onWriteError?.('envoy-pid', err);
    }
    log.info({ pid: child.pid, bin: envoyBin }, 'Envoy started');
  }

  /** An adopted Envoy is not our child: poll for its end. */
  private watch(pid: number, since: number): void {
    this.watchTimer = setInterval(() => {
      if (alive(pid)) return;
      clearInterval(this.watchTimer);
      this.exited(null, 'unknown (adopted process)', since);
    }, 250);
    this.watchTimer.unref();
  }

  private exited(code: number | null, signal: string | null, startedAt: number): void {
    this.envoyPid = undefined;
    this.lastExit = { code, signal, at: new Date().toISOString() };
    if (this.stopping) return;
    // A run that lasted a while resets the back-off: only crash loops slow down.
    if (Date.now() - startedAt > 30_000) this.backoffMs = 250;
    this.opts.log.error({ code, signal, restartInMs: this.backoffMs, log: join(this.opts.logDir, 'envoy.log') }, 'Envoy exited; restarting');
    this.restarts++;
    this.opts.onRestart?.();
    this.restartTimer = setTimeout(() => {
      try {
        this.spawnEnvoy();
      } catch (err) {
        // Not even a process could be made (EAGAIN...): try again later rather than end the node.
        this.opts.log.error({ err }, 'Envoy could not be restarted');
        this.exited(null, 'spawn failed', Date.now());
      }
    }, this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
  }

  /** Envoy's own readiness (admin /ready answers LIVE once its initial config is in). */
  async envoyReady(): Promise<boolean> {
    try {
      return (await adminRequest(this.admin, '/ready', { timeoutMs: 1000 })).status === 200;
    } catch {
      return false;
    }
  }

  /** Where Envoy's admin API answers. */
  get admin(): AdminTarget {
    const socket = this.opts.local?.adminSocket;
    const tcp = this.opts.config.listeners.envoyAdmin;
    if (socket) return { socket };
    if (!tcp) throw new Error('no Envoy admin address: neither an admin socket nor listeners.envoyAdmin');
    return tcp;
  }

  /**
   * Leaves Envoy running, serving its last configuration, for the next start
   * of the node to adopt (a hitless restart or upgrade: `ferry stop --keep-envoy`).
   */
  detach(): void {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchTimer);
    if (this.envoyPid) this.opts.log.info({ pid: this.envoyPid }, 'Envoy left running for the next start to adopt');
  }

  /** Stops Envoy (SIGTERM, SIGKILL after 5 s) and forgets it. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchTimer);
    if (this.envoyPid) await terminate(this.envoyPid);
    rmSync(this.pidFile, { force: true });
  }
}

/** SIGTERM, SIGKILL after 5 s; resolves when the process is gone. */
async function terminate(pid: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
}
