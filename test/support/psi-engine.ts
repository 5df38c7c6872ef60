// SecretFlow's PSI engine for tests: installed (or found done) by the
// project's set-up step scripts/engines.sh, and the CSV the engine writes.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ROOT } from './harness.ts';

const ENGINES = process.env.FERRY_ENGINES_DIR ?? join(ROOT, '.tools');

/** Installs the engine if needed; `skip` says why it cannot run here (a string), or false. */
export function psiEngine(): { skip: string | false; appImage: string } {
  const setup = spawnSync('bash', [join(ROOT, 'scripts', 'engines.sh')], { encoding: 'utf8', env: { ...process.env, FERRY_ENGINES_DIR: ENGINES }, timeout: 900_000 });
  const skip = setup.status === 0 ? false : `the PSI engine could not be installed (scripts/engines.sh: ${(setup.stderr || String(setup.error)).trim().split('\n').slice(-2).join(' ')})`;
  return { skip, appImage: join(ENGINES, 'psi-venv', 'appimage-secretflow-psi.yaml') };
}

/** The ids column of a CSV the engine wrote (header quoted or not). */
export function idsOf(file: string): string[] {
  const [header, ...rows] = readFileSync(file, 'utf8').trim().split('\n');
  const col = header!.split(',').map((h) => h.replace(/"/g, '')).indexOf('id');
  assert.ok(col >= 0, `${file} has an id column: ${header}`);
  return rows.map((r) => r.split(',')[col]!.replace(/"/g, ''));
}
