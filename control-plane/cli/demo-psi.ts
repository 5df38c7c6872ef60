// The PSI part of `ferry demo` (docs/engines.md "Running an engine under
// Ferry"): SecretFlow's PSI engine as a Ferry job between two domains. The
// pieces here are pure (datasets, Kuscia's PSI task input config, the job) so
// the tests and the bench build the same job the demo runs.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export type PsiProtocol = 'PROTOCOL_ECDH' | 'PROTOCOL_RR22' | 'PROTOCOL_KKRT';

/**
 * Two parties' ids, deterministic for a seed: `overlap` shared, the rest each
 * party's own, shuffled. The test or the demo knows the intersection.
 */
export function psiDatasets(rows: number, overlap: number, seed: number): { shared: string[]; alice: string[]; bob: string[] } {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const shuffle = (a: string[]) => { for (let i = a.length - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [a[i], a[j]] = [a[j]!, a[i]!]; } return a; };
  const shared = Array.from({ length: overlap }, (_, i) => `u${seed}-${i}`);
  const own = (p: string) => Array.from({ length: rows - overlap }, (_, i) => `${p}${seed}-${i}`);
  return { shared, alice: shuffle([...shared, ...own('a')]), bob: shuffle([...shared, ...own('b')]) };
}

/** A CSV with an `id` column and a value column named after the party (it travels with the key into the result). */
export function writePsiCsv(path: string, party: string, ids: readonly string[]): void {
  mkdirSync(dirname(path), { recursive: true });
  const lines = [`id,${party}_value`];
  for (let i = 0; i < ids.length; i++) lines.push(`${ids[i]},${i}`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  // Readable by the task's user (a root node runs tasks as nobody), whatever the umask.
  chmodSync(dirname(path), 0o755);
  chmodSync(path, 0o644);
}

/** Kuscia's PSI task input config: the receiver gets (and with broadcast both get) the intersection. */
export function psiTaskInputConfig(protocol: PsiProtocol, receiver: string, parties: Record<string, { input: string; output: string }>): object {
  return {
    sf_psi_config_map: Object.fromEntries(Object.entries(parties).map(([d, io]) => [d, {
      psi_config: {
        protocol_config: { protocol, role: d === receiver ? 'ROLE_RECEIVER' : 'ROLE_SENDER', broadcast_result: true, ...(protocol === 'PROTOCOL_ECDH' ? { ecdh_config: { curve: 'CURVE_25519' } } : {}) },
        input_config: { type: 'IO_TYPE_FILE_CSV', path: io.input },
        output_config: { type: 'IO_TYPE_FILE_CSV', path: io.output },
        keys: ['id'],
      },
    }])),
  };
}

/** A one-task KusciaJob running SecretFlow's PSI AppImage (`secretflow-psi`) between the parties. */
export function psiJob(name: string, initiator: string, parties: string[], taskInputConfig: object, resources?: { cpu?: string; memory?: string }): object {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1',
    kind: 'KusciaJob',
    metadata: { name },
    spec: {
      initiator,
      tasks: [{
        alias: 'psi',
        taskID: `${name}-psi`,
        appImage: 'secretflow-psi',
        taskInputConfig: JSON.stringify(taskInputConfig),
        parties: parties.map((domainID) => ({ domainID, ...(resources ? { resources: { limits: resources } } : {}) })),
      }],
    },
  };
}

/** The engine's machine-readable last line in a task log ("psi-result {json}"), if it wrote one. */
/** `seconds`: from the launcher's start of work (link included); `execute_seconds`: psi_execute alone. */
export function psiResult(log: string): { party: string; protocol: string; seconds: number; execute_seconds: number; intersection_count: number; original_count: number; output: string | null } | undefined {
  const line = log.split('\n').reverse().find((l) => l.startsWith('psi-result '));
  return line ? JSON.parse(line.slice('psi-result '.length)) : undefined;
}
