// Builds the console (console/src -> console/dist: app.js, app.css) with
// esbuild. The built files are committed beside their source so a node
// serves the console offline and without dev dependencies; `--check` fails
// when they are not what the source builds to (test/unit/console.test.ts).
import { build } from 'esbuild';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const root = import.meta.dirname;
const dist = join(root, 'dist');

export async function buildConsole(): Promise<Map<string, string>> {
  const result = await build({
    entryPoints: [join(root, 'src', 'main.tsx')],
    bundle: true, format: 'esm', target: 'es2022', minify: true, write: false, outdir: dist,
    entryNames: 'app', jsx: 'automatic', jsxImportSource: 'preact', legalComments: 'eof', logLevel: 'error',
    // Node-only code must not reach the page: the CLI formatter imports types and YAML only.
    platform: 'browser',
  });
  return new Map(result.outputFiles.map((f) => [f.path.slice(dist.length + 1), f.text]));
}

if (import.meta.main) {
  const files = await buildConsole();
  if (process.argv.includes('--check')) {
    const stale = [...files].filter(([name, text]) => { try { return readFileSync(join(dist, name), 'utf8') !== text; } catch { return true; } }).map(([n]) => n);
    if (stale.length) { console.error(`console/dist is stale (${stale.join(', ')}): run npm run build:console and commit it`); process.exit(1); }
  } else {
    mkdirSync(dist, { recursive: true });
    for (const [name, text] of files) writeFileSync(join(dist, name), text);
    console.log(`console/dist: ${[...files.keys()].join(', ')}`);
  }
}
