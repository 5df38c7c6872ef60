// Runs Envoy as a child process: writes the bootstrap into <home>/run/,
// restarts Envoy with exponential back-off when it dies, and reports
// readiness from Envoy's admin API (/ready).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.ts';
import { envoyBootstrap } from '../../envoy/bootstrap.ts';

export interface SupervisorOptions {
  envoyBin: string;
  bootstrapPath: string;
  logDir: string;
  config: NodeConfig;
  log: Logger;
  onRestart?: () => void;
}

export class EnvoySupervisor {
  private child: ChildProcess | undefined;
  private stopping = false;
  private backoffMs = 250;
  private restartTimer: NodeJS.Timeout | undefined;
  restarts = 0;
  lastExit: { code: number | null; signal: string | null; at: string } | undefined;

  private readonly opts: SupervisorOptions;

  constructor(opts: SupervisorOptions) {
    this.opts = opts;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    mkdirSync(this.opts.logDir, { recursive: true });
    writeFileSync(this.opts.bootstrapPath, JSON.stringify(envoyBootstrap(this.opts.config), null, 2));
    this.spawnEnvoy();
  }

  private spawnEnvoy(): void {
    const { envoyBin, bootstrapPath, logDir, log } = this.opts;
    const args = ['-c', bootstrapPath, '--disable-hot-restart', '--log-level', 'warn', '--drain-time-s', '5', '--parent-shutdown-time-s', '10'];
    const out = createWriteStream(join(logDir, 'envoy.log'), { flags: 'a' });
    const child = spawn(envoyBin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(out, { end: false });
    child.stderr!.pipe(out, { end: false });
    this.child = child;
    const startedAt = Date.now();
    log.info({ pid: child.pid, bin: envoyBin }, 'Envoy started');
    child.on('exit', (code, signal) => {
      out.end();
      this.child = undefined;
      this.lastExit = { code, signal, at: new Date().toISOString() };
      if (this.stopping) return;
      // A run that lasted a while resets the back-off: only crash loops slow down.
      if (Date.now() - startedAt > 30_000) this.backoffMs = 250;
      log.error({ code, signal, restartInMs: this.backoffMs, log: join(logDir, 'envoy.log') }, 'Envoy exited; restarting');
      this.restarts++;
      this.opts.onRestart?.();
      this.restartTimer = setTimeout(() => this.spawnEnvoy(), this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, 10_000);
    });
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

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => { clearTimeout(kill); resolve(); });
      child.kill('SIGTERM');
    });
  }
}
