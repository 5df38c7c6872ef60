// An adopted Envoy that dies is not our child: until someone reaps it, it is a
// zombie, which kill(pid, 0) still reports as alive (issue 12, Low). The
// supervisor's liveness check reads its /proc state instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processAlive } from '../../control-plane/supervisor/envoy-supervisor.ts';
import { waitFor } from '../support/harness.ts';

test('a zombie (dead, unreaped) counts as dead; a running process as alive', async () => {
  // sh starts a background sleep, then becomes a sleep that never reaps it.
  const parent = spawn('sh', ['-c', 'sleep 120 & echo $!; exec sleep 120'], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()))));
    assert.equal(processAlive(pid), true);
    process.kill(pid, 'SIGKILL');
    await waitFor('the zombie', async () => (/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8')) ? true : undefined));
    assert.doesNotThrow(() => process.kill(pid, 0), 'kill(pid, 0) still sees the zombie');
    assert.equal(processAlive(pid), false);
    assert.equal(processAlive(process.pid), true);
  } finally {
    parent.kill('SIGKILL');
  }
  assert.equal(processAlive(2 ** 22 + 12345), false, 'no such process');
});
