// `npm run bench [-- <name>...]`: runs the named benchmarks (all by default),
// each a module in bench/ that writes bench/results/<name>.{json,md}.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

/** Run by `npm run bench` with no name. */
const DEFAULT = ['xds'];
/** Run only when named: idle takes 30 minutes by design. */
const KNOWN = [...DEFAULT, 'idle', 'rotation', 'reachability'];
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
