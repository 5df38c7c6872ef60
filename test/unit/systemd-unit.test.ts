// deploy/systemd/ferry@.service: systemd accepts it, and it is the unit of a
// hitless restart: ExecStop keeps Envoy (`ferry stop --keep-envoy`) and
// KillMode=process keeps systemd from killing Envoy with the control plane.
// Its ExecStart/ExecStop lines run as they are, with the checkout for /opt/ferry.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../support/harness.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
const UNIT = join(ROOT, 'deploy', 'systemd', 'ferry@.service');
const text = readFileSync(UNIT, 'utf8');
const key = (k: string) => [...text.matchAll(new RegExp(`^${k}=(.*)$`, 'gm'))].map((m) => m[1]!);

test('the unit keeps Envoy across restarts', () => {
  assert.deepEqual(key('KillMode'), ['process']);
  assert.equal(key('ExecStop').length, 1);
  assert.match(key('ExecStop')[0]!, / stop --keep-envoy --home \/var\/lib\/ferry\/%i$/);
  assert.match(key('ExecStart')[0]!, / start --home \/var\/lib\/ferry\/%i$/);
  assert.deepEqual(key('UMask'), ['0077']);
});

test('systemd-analyze verify accepts it', { skip: existsSync('/usr/bin/systemd-analyze') ? false : 'systemd-analyze not installed' }, () => {
  const dir = tempDir('unit');
  copyFileSync(UNIT, join(dir, 'ferry@alice.service'));
  const r = spawnSync('systemd-analyze', ['verify', join(dir, 'ferry@alice.service')], { encoding: 'utf8' });
  rmSync(dir, { recursive: true, force: true });
  // It warns (and still exits 0) on unknown keys or values: no output is the pass.
  assert.equal(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('ferry@alice.service') && !/Command .* is not executable|No such file/.test(l)).join('\n'), '');
});

test('its ExecStop command line runs (no node: says so)', () => {
  const home = join(tempDir('unit-home'), 'alice');
  const cli = (args: string[]) => spawnSync('bash', [join(ROOT, 'scripts', 'node.sh'), join(ROOT, 'control-plane', 'cli', 'main.ts'), ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(cli(['init', 'alice', '--home', home]).status, 0);
  const argv = key('ExecStop')[0]!.split(' ').slice(3).map((a) => a.replace('/var/lib/ferry/%i', home));
  const r = cli(argv);
  rmSync(join(home, '..'), { recursive: true, force: true });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /no node is running/);
});
