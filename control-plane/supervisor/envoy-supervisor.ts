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
import { envoyBootstrap } from '../../envoy/bootstrap.ts';

export interface SupervisorOptions {
  /** Absent when Envoy runs outside the node (external). */
  envoyBin?: string;
  external?: boolean;
  bootstrapPath: string;
  logDir: string;
  config: NodeConfig;
  log: Logger;
  onRestart?: () => void;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

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

  start(): void {
    mkdirSync(this.opts.logDir, { recursive: true });
    // Beside, then rename: an Envoy started by someone else never reads half a file.
    writeFileSync(`${this.opts.bootstrapPath}.new`, JSON.stringify(envoyBootstrap(this.opts.config), null, 2));
    renameSync(`${this.opts.bootstrapPath}.new`, this.opts.bootstrapPath);
    if (this.opts.external) {
      this.opts.log.info({ bootstrap: this.opts.bootstrapPath }, 'Envoy runs outside the node: bootstrap written, not starting it');
      return;
    }
    const previous = this.runningEnvoy();
    if (previous) {
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
      return pid > 0 && cmdline.includes(this.opts.bootstrapPath) ? pid : undefined;
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
    const out = createWriteStream(join(logDir, 'envoy.log'), { flags: 'a' });
    // Own session: Envoy is not killed with the node's terminal or process group.
    const child = spawn(envoyBin, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    child.unref();
    this.envoyPid = child.pid;
    this.adopted = false;
    writeFileSync(this.pidFile, `${child.pid}\n`);
    const startedAt = Date.now();
    log.info({ pid: child.pid, bin: envoyBin }, 'Envoy started');
    child.on('exit', (code, signal) => {
      out.end();
      this.exited(code, signal, startedAt);
    });
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
    this.restartTimer = setTimeout(() => this.spawnEnvoy(), this.backoffMs);
    this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
  }

  /** Envoy's own readiness (admin /ready answers LIVE once its initial config is in). */
  async envoyReady(): Promise<boolean> {
    const { envoyAdmin } = this.opts.config.listeners;
    try {
      const res = await fetch(`http://${envoyAdmin.address}:${envoyAdmin.port}/ready`, { signal: AbortSignal.timeout(1000) });
      return res.ok;
    } catch {
      return false;
    }
  }

  /** Stops Envoy (SIGTERM, SIGKILL after 5 s) and forgets it. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.watchTimer);
    const pid = this.envoyPid;
    if (pid && alive(pid)) {
      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 5000;
      while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      if (alive(pid)) process.kill(pid, 'SIGKILL');
      while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
    }
    rmSync(this.pidFile, { force: true });
  }
}
