// Runs one of the tests' Python client scripts (test/support/*.py, driving a
// field's own PyPI client) with its arguments as one JSON argument; the script
// prints one JSON object per line (a step and what it saw).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness.ts';

export interface PythonRun {
  code: number | null;
  out: string;
  err: string;
  /** stdout's lines, each parsed as JSON. */
  lines: Record<string, unknown>[];
}

export function runPythonClient(python: string, script: string, args: unknown, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [join(ROOT, 'test', 'support', script), JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.env ? { env: opts.env } : {}) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err, lines: out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) });
    });
  });
}

/** This process's environment without proxy variables: a task's credential reaches the DataMesh client as its grpc_proxy alone. */
export const withoutProxies = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(no_proxy|no_grpc_proxy|grpc_proxy|https?_proxy)$/i.test(k))) as Record<string, string>;

/** The lines keyed by their `step`. */
export const byStep = <T>(lines: Record<string, unknown>[]): Record<string, T> => Object.fromEntries(lines.map((l) => [l.step as string, l as T]));
