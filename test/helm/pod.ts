// Runs a rendered pod template here, as processes: each volume becomes a
// directory, each container's command line and env are taken from the
// manifest with its mount paths rewritten to those directories (a mount
// nested in another one becomes a symlink inside it), and `ferry`, `node` and
// `envoy` on PATH stand for the images' programs. What the chart wires (paths,
// flags, env, shared volumes, probes) is what runs.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { locateEnvoy } from '../../envoy/locate.ts';
import { ROOT, waitFor } from '../support/harness.ts';
import type { Container, K8sObject, PodSpec, Probe } from './chart.ts';

/** A bin directory with `ferry` (the repository's CLI, as the image's /app/ferry), `node` and `envoy`. */
export function imageBin(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'ferry'), `#!/bin/sh\nexec "${process.execPath}" --disable-warning=ExperimentalWarning "${ROOT}/control-plane/cli/main.ts" "$@"\n`);
  chmodSync(join(bin, 'ferry'), 0o755);
  if (!existsSync(join(bin, 'node'))) symlinkSync(process.execPath, join(bin, 'node'));
  if (!existsSync(join(bin, 'envoy'))) symlinkSync(locateEnvoy().bin, join(bin, 'envoy'));
  return bin;
}

export interface PodSources {
  /** Secrets by name: key -> content. */
  secrets?: Record<string, Record<string, string>>;
  /** ConfigMaps by name beyond those in the rendered objects. */
  configMaps?: Record<string, Record<string, string>>;
}

export class LocalPod {
  readonly volumes = new Map<string, string>();
  private readonly running: { name: string; child: ChildProcess; exited: Promise<number | null> }[] = [];
  readonly output = new Map<string, string>();
  readonly spec: PodSpec;
  readonly dir: string;
  readonly env: Record<string, string>;

  constructor(spec: PodSpec, dir: string, rendered: K8sObject[], sources: PodSources, env: Record<string, string> = {}) {
    this.spec = spec;
    this.dir = dir;
    this.env = env;
    const maps = { ...Object.fromEntries(rendered.filter((o) => o.kind === 'ConfigMap').map((o) => [o.metadata.name, (o as { data?: Record<string, string> }).data ?? {}])), ...sources.configMaps };
    for (const v of spec.volumes ?? []) {
      const path = join(dir, `vol-${v.name}`);
      mkdirSync(path, { recursive: true });
      let files: Record<string, string> = {};
      if (v.secret) files = need(sources.secrets?.[v.secret.secretName], `Secret ${v.secret.secretName}`);
      else if (v.configMap) files = need(maps[v.configMap.name], `ConfigMap ${v.configMap.name}`);
      else if (!v.emptyDir && !v.persistentVolumeClaim) throw new Error(`volume ${v.name}: kind not supported here`);
      for (const [k, content] of Object.entries(files)) writeFileSync(join(path, k), content, { mode: v.secret ? 0o400 : 0o644 });
      this.volumes.set(v.name, path);
    }
  }

  /** The container's mount paths -> directories, longest first; nested mounts linked inside their parent. */
  private mounts(c: Container): [string, string][] {
    const list = (c.volumeMounts ?? []).map((m) => [m.mountPath, need(this.volumes.get(m.name), `volume ${m.name}`)] as [string, string]).sort((a, b) => b[0].length - a[0].length);
    for (const [path, dir] of list) {
      const parent = list.find(([p]) => p !== path && path.startsWith(`${p}/`));
      if (!parent) continue;
      const link = join(parent[1], relative(parent[0], path));
      mkdirSync(dirname(link), { recursive: true });
      if (!existsSync(link)) symlinkSync(dir, link);
    }
    return list;
  }

  /** The container's command line and env with mount paths rewritten. */
  resolve(c: Container): { argv: string[]; env: Record<string, string> } {
    const mounts = this.mounts(c);
    const pattern = new RegExp(`(?<![\\w.-])(${mounts.map(([p]) => p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|')})(?=$|[/\\s"'*])`, 'g');
    const rewrite = (s: string) => (mounts.length ? s.replace(pattern, (p) => mounts.find(([m]) => m === p)![1]) : s);
    const argv = [...(c.command ?? []), ...(c.args ?? [])].map(rewrite);
    if (!argv.length) throw new Error(`container ${c.name}: no command (the image's entrypoint is not modelled)`);
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, rewrite(need(e.value, `env ${e.name} value`))]));
    return { argv, env };
  }

  private spawn(c: Container): ChildProcess {
    const { argv, env } = this.resolve(c);
    const child = spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH ?? '', HOME: this.dir, ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    const keep = (d: Buffer) => { out = (out + d.toString()).slice(-20_000); this.output.set(c.name, out); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    return child;
  }

  /** Init containers in order, each to a zero exit; then the containers. */
  async start(): Promise<void> {
    await this.runInits();
    for (const c of this.spec.containers) {
      const child = this.spawn(c);
      this.running.push({ name: c.name, child, exited: new Promise((r) => child.once('exit', (code) => r(code))) });
    }
  }

  /** Runs one container of the spec to completion (a Job's). */
  async runToEnd(name: string): Promise<{ code: number | null; output: string }> {
    const c = need(this.spec.containers.find((x) => x.name === name), `container ${name}`);
    const child = this.spawn(c);
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    return { code, output: this.output.get(name) ?? '' };
  }

  async runInits(): Promise<void> {
    for (const c of this.spec.initContainers ?? []) {
      const child = this.spawn(c);
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      if (code !== 0) throw new Error(`init container ${c.name} exited ${code}: ${this.output.get(c.name)}`);
    }
  }

  /** Waits until every container's readiness probe passes (httpGet or tcpSocket on 127.0.0.1). */
  async ready(timeoutMs = 60_000): Promise<void> {
    for (const c of this.spec.containers) {
      if (!c.readinessProbe) continue;
      await waitFor(`${c.name} readiness probe`, async () => {
        const gone = this.running.find((r) => r.name === c.name && r.child.exitCode !== null);
        if (gone) throw new Error(`container ${c.name} exited ${gone.child.exitCode}: ${this.output.get(c.name)}`);
        return (await probe(c, c.readinessProbe!)) ? true : undefined;
      }, timeoutMs);
    }
  }

  pid(name: string): number | undefined {
    return this.running.find((r) => r.name === name)?.child.pid;
  }

  /** SIGTERM to each container's process group (as the kubelet does), SIGKILL after 10 s. */
  async stop(): Promise<void> {
    await Promise.all(this.running.map(async ({ child, exited }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* gone */ } }, 10_000);
      await exited;
      clearTimeout(timer);
    }));
  }
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`${what} missing`);
  return v;
}

function portOf(c: Container, port: string | number): number {
  return typeof port === 'number' ? port : need(c.ports?.find((p) => p.name === port)?.containerPort, `container ${c.name} port ${port}`);
}

export async function probe(c: Container, p: Probe): Promise<boolean> {
  if (p.httpGet) {
    try {
      const res = await fetch(`http://127.0.0.1:${portOf(c, p.httpGet.port)}${p.httpGet.path}`, { signal: AbortSignal.timeout(3000) });
      return res.status >= 200 && res.status < 400;
    } catch {
      return false;
    }
  }
  if (p.tcpSocket) {
    const port = portOf(c, p.tcpSocket.port);
    return new Promise((r) => {
      const s = createConnection({ host: '127.0.0.1', port }, () => { s.destroy(); r(true); });
      s.on('error', () => r(false));
    });
  }
  throw new Error(`container ${c.name}: probe kind not supported here`);
}
