// The PSI part of `ferry demo` (docs/engines.md "Running an engine under
// Ferry"): SecretFlow's PSI engine as a Ferry job between two domains. The
// pieces here are pure (datasets, Kuscia's PSI task input config, the job) so
// the tests and the bench build the same job the demo runs.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

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

/**
 * Kuscia's PSI task input config: the receiver gets (and with broadcast both
 * get) the intersection. The data goes through the DataMesh: `inputs` are the
 * parties' DomainData (each reads its own), `outputs` the result's DomainData,
 * one per party in `parties` order (engines/psi/launcher.py).
 */
export function psiTaskInputConfig(protocol: PsiProtocol, receiver: string, parties: readonly string[], data: { inputs: string[]; outputs: string[] }): object {
  return {
    sf_psi_config_map: Object.fromEntries(parties.map((d) => [d, {
      psi_config: {
        protocol_config: { protocol, role: d === receiver ? 'ROLE_RECEIVER' : 'ROLE_SENDER', broadcast_result: true, ...(protocol === 'PROTOCOL_ECDH' ? { ecdh_config: { curve: 'CURVE_25519' } } : {}) },
        keys: ['id'],
      },
    }])),
    sf_input_ids: data.inputs,
    sf_output_ids: data.outputs,
    sf_output_uris: data.outputs.map((o) => `${o}.csv`),
  };
}

/** The same for the engine run alone, without a node (no DataMesh): psi.v2's input and output file paths. */
export function psiFileTaskInputConfig(protocol: PsiProtocol, receiver: string, parties: Record<string, { input: string; output: string }>): object {
  const cfg = psiTaskInputConfig(protocol, receiver, Object.keys(parties), { inputs: [], outputs: [] }) as { sf_psi_config_map: Record<string, { psi_config: Record<string, unknown> }> };
  for (const [d, io] of Object.entries(parties)) {
    Object.assign(cfg.sf_psi_config_map[d]!.psi_config, { input_config: { type: 'IO_TYPE_FILE_CSV', path: io.input }, output_config: { type: 'IO_TYPE_FILE_CSV', path: io.output } });
  }
  return { sf_psi_config_map: cfg.sf_psi_config_map };
}

/** Where a node keeps a DomainData's file in its default data source (localfs, <home>/data/domaindata). */
export function domainDataFile(home: string, relativeURI: string): string {
  return join(home, 'data', 'domaindata', relativeURI);
}

/** A party's PSI input as a DomainData of its domain (the CSV writePsiCsv writes, at relativeURI in the default data source). */
export function psiDomainData(id: string, party: string, relativeURI: string): object {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'DomainData', metadata: { name: id },
    spec: { relativeURI, name: id, type: 'table', author: party, fileFormat: 'CSV', columns: [{ name: 'id', type: 'str' }, { name: `${party}_value`, type: 'str' }] },
  };
}

/**
 * One party's PSI data ready to apply at its node: the CSV written where its
 * default data source keeps `<id>.csv`, its DomainData, and its grant to the
 * partner (without a grant the job is refused at admission).
 */
export function psiPartyData(home: string, party: string, partner: string, id: string, ids: readonly string[], limit?: { useCount?: number; expirationTime?: string }): object[] {
  writePsiCsv(domainDataFile(home, `${id}.csv`), party, ids);
  return [psiDomainData(id, party, `${id}.csv`), psiGrant(`${id}-${partner}`, party, id, partner, limit)];
}

/** The author's grant of a DomainData to a partner (docs/datamesh.md "Grants"). */
export function psiGrant(name: string, author: string, domainDataID: string, grantDomain: string, limit?: { useCount?: number; expirationTime?: string }): object {
  return {
    apiVersion: 'kuscia.secretflow/v1alpha1', kind: 'DomainDataGrant', metadata: { name },
    spec: { author, domainDataID, grantDomain, ...(limit ? { limit } : {}), description: { purpose: 'psi' } },
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
