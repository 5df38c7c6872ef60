// `npm run bench [-- <name>...]`: runs the named benchmarks (the default set
// without a name), each a module in bench/ that writes bench/results/<name>.{json,md}.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Run by `npm run bench` with no name: the data path and the 1C2G profile (well under 20 minutes). */
const DEFAULT = ['psi-exchange', 'datapath', 'psi-1c2g']; // datapath's goal table quotes psi-exchange's result
/**
 * Run only when named: xds (minutes: 10k-Service points and 1,000 simulated
 * clients; it was the default before the data-path benchmarks, and the default
 * set must finish within 20 minutes), idle (30 minutes by design), rotation, store,
 * reachability, jobs, datamesh.
 */
const KNOWN = [...DEFAULT, 'xds', 'idle', 'rotation', 'reachability', 'store', 'jobs', 'datamesh', 'envoy-tuning'];
const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
for (const name of names.length ? names : DEFAULT) {
  if (!KNOWN.includes(name)) {
    console.error(`bench: unknown benchmark "${name}": one of ${KNOWN.join(', ')}`);
    process.exit(2);
  }
  console.log(`== bench ${name}`);
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(import.meta.dirname, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
