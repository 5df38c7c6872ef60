// The Dockerfile, without a container builder (none here; docs/kubernetes.md
// says how to build): its steps run in a clean directory standing for the
// image's root. COPY copies from the repository, RUN runs its command with
// /app mapped to that directory, ENV and WORKDIR apply; then the entrypoint
// from the result initialises a home and starts a node (Envoy external, as in
// the pod), which answers /healthz: the image holds all the program needs,
// production dependencies only, and runs as a non-root user.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { ROOT, freePorts, tempDir, waitFor } from '../support/harness.ts';

interface Step { op: string; arg: string }

/** Dockerfile instructions, continuation lines joined, comments dropped. */
export function parseDockerfile(text: string): Step[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const m = /^(\w+)\s+(.*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile: cannot read "${l}"`);
    return { op: m[1]!.toUpperCase(), arg: m[2]! };
  });
}

const npmOk = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;

describe('Dockerfile: its steps build a working image root', { skip: npmOk ? false : 'npm is not installed' }, () => {
  const dir = tempDir('dockerfile');
  const root = join(dir, 'root');
  const steps = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  // The base image's PATH finds Node 24 (here: the node running this test).
  const env: Record<string, string> = { PATH: `${dirname(process.execPath)}:${process.env.PATH}` };
  let workdir = '/';
  const children: ReturnType<typeof spawn>[] = [];
  // Paths of the image (absolute) land under `root`.
  const inRoot = (p: string) => join(root, p);
  const rewrite = (s: string) => s.replace(/(?<![\w.-])\/app(?=$|[/\s"':])/g, inRoot('/app'));

  after(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    if (process.env.FERRY_KEEP_TEST_HOMES) console.log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  });

  test('the base is Node 24 slim, the steps run, the user is not root', () => {
    const from = steps.find((s) => s.op === 'FROM')!;
    assert.match(from.arg, /^node:24(\.\d+)*-slim$/);
    assert.equal(Number(process.versions.node.split('.')[0]), 24, 'the steps run on Node 24 like the base image');
    const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const step of steps) {
      switch (step.op) {
        case 'FROM': case 'ENTRYPOINT': case 'CMD': case 'LABEL': case 'EXPOSE': break;
        case 'WORKDIR':
          workdir = isAbsolute(step.arg) ? step.arg : join(workdir, step.arg);
          mkdirSync(inRoot(workdir), { recursive: true });
          break;
        case 'ENV': {
          const m = /^(\w+)=(.*)$/.exec(step.arg)!;
          env[m[1]!] = rewrite(m[2]!.replace(/\$(\w+)/g, (_, k: string) => env[k] ?? process.env[k] ?? ''));
          break;
        }
        case 'COPY': {
          const parts = step.arg.split(/\s+/);
          const dest = parts.pop()!;
          const target = inRoot(isAbsolute(dest) ? dest : join(workdir, dest));
          for (const src of parts) {
            assert.ok(!ignored.includes(src), `COPY ${src}: excluded by .dockerignore`);
            assert.ok(existsSync(join(ROOT, src)), `COPY ${src}: not in the repository`);
            const to = dest.endsWith('/') || parts.length > 1 ? join(target, src) : target;
            mkdirSync(dirname(to), { recursive: true });
            cpSync(join(ROOT, src), to, { recursive: true });
          }
          break;
        }
        case 'RUN': {
          const r = spawnSync('sh', ['-c', rewrite(step.arg)], {
            cwd: inRoot(workdir), encoding: 'utf8', timeout: 300_000,
            env: {
              ...env,
              HOME: join(dir, 'home'),
              // The machine's npm cache, read first: no download when it holds the packages.
              npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
              npm_config_prefer_offline: 'true',
              // This machine's way out (a proxy, its CA): a build here would be given the same.
              ...Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|SSL_CERT_DIR|https?_proxy|no_proxy|npm_config_registry)$/i.test(k))),
            },
          });
          assert.equal(r.status, 0, `RUN ${step.arg}\n${r.stdout}\n${r.stderr}`);
          break;
        }
        case 'USER':
          assert.match(step.arg, /^[1-9]\d*(:[1-9]\d*)?$/, 'a numeric non-root user (runAsNonRoot can check it)');
          break;
        default:
          assert.fail(`Dockerfile instruction ${step.op} is not modelled by this test`);
      }
    }
    assert.ok(existsSync(inRoot('/app/node_modules/fastify')), 'production dependencies installed');
    assert.ok(!existsSync(inRoot('/app/node_modules/typescript')), 'no devDependencies in the image');
    assert.ok(!existsSync(inRoot('/app/test')) && !existsSync(inRoot('/app/.tools')), 'no tests or tools in the image');
    // Every relative import of the copied program (lazy ones too) resolves inside the image.
    const app = inRoot('/app');
    const files = (readdirSync(app, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts') && !f.startsWith('node_modules'));
    assert.ok(files.length > 50);
    const missing = files.flatMap((f) => [...readFileSync(join(app, f), 'utf8').matchAll(/(?:from |import\()\s*'(\.{1,2}\/[^']+)'/g)]
      .map((m) => join(dirname(join(app, f)), m[1]!)).filter((target) => !existsSync(target)).map((t) => `${f} -> ${t}`));
    assert.deepEqual(missing, [], 'imports of files the Dockerfile does not copy');
  });

  test('the entrypoint from the built root initialises a home and starts a node that answers /healthz', async () => {
    const entry = JSON.parse(steps.find((s) => s.op === 'ENTRYPOINT')!.arg) as string[];
    assert.deepEqual(entry, ['ferry']);
    const PATH = `${env.PATH ?? ''}`;
    assert.ok(PATH.startsWith(inRoot('/app')), 'ENV PATH puts /app (ferry) first');
    const runEnv = { ...env, HOME: join(dir, 'home') };
    const home = join(dir, 'home-node');
    const [pub, internal, api, admin, xds, kusciaGrpc] = await freePorts(6);
    const init = spawnSync('ferry', ['init', 'alice', '--home', home, '--public-port', `${pub}`, '--internal-port', `${internal}`, '--api-port', `${api}`, '--admin-port', `${admin}`, '--xds-port', `${xds}`, '--kusciaapi-grpc-port', `${kusciaGrpc}`], { env: runEnv, encoding: 'utf8', timeout: 60_000 });
    assert.equal(init.status, 0, init.stderr);
    const node = spawn('ferry', ['start', '--home', home, '--external-envoy'], { env: runEnv, stdio: 'ignore' });
    children.push(node);
    await waitFor('/healthz of the node from the built root', async () => {
      if (node.exitCode !== null) throw new Error(`ferry start exited ${node.exitCode}`);
      const res = await fetch(`http://127.0.0.1:${api}/healthz`).catch(() => undefined);
      return res?.ok ? true : undefined;
    }, 60_000);
    assert.ok(existsSync(join(home, 'run', 'envoy-bootstrap.json')), 'bootstrap written for the Envoy container');
    // The web console's page and bundle are in the image (committed built files, no dev dependency needed).
    for (const path of ['/ui/', '/ui/app.js']) assert.equal((await fetch(`http://127.0.0.1:${api}${path}`)).status, 200, path);
    node.kill('SIGTERM');
    await new Promise((r) => node.once('exit', r));
  });
});
