// Task logs are rotated by copy-and-truncate: the engine keeps its file open
// (append mode) and goes on writing at the new end; older copies are kept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { rotateOnce } from '../../control-plane/logs/rotation.ts';

test('a task log over the limit is copied to .1 and truncated; the engine\'s open file goes on at the new end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rotate-'));
  try {
    mkdirSync(join(dir, 'tasks'));
    const log = join(dir, 'tasks', 'job-a-psi.log');
    const fd = openSync(log, 'a'); // as the runtime hands it to the engine
    writeSync(fd, 'x'.repeat(2000) + '\n');
    const opts = { dir, maxBytes: 1000, keep: 2, checkEveryMs: 1000, reopen: { envoy: async () => {}, node: () => {} }, log: pino({ level: 'silent' }) };
    assert.deepEqual(await rotateOnce(opts), ['tasks/job-a-psi.log']);
    assert.equal(statSync(log).size, 0);
    assert.equal(readFileSync(`${log}.1`, 'utf8').length, 2001);
    writeSync(fd, 'after the rotation\n');
    assert.equal(readFileSync(log, 'utf8'), 'after the rotation\n', 'no hole of zeros: the writer appends');
    appendFileSync(log, 'y'.repeat(2000));
    await rotateOnce(opts);
    assert.match(readFileSync(`${log}.1`, 'utf8'), /^after the rotation\ny+$/);
    assert.equal(readFileSync(`${log}.2`, 'utf8').length, 2001, 'the older copy moved to .2');
    assert.deepEqual(await rotateOnce(opts), [], 'nothing over the limit, nothing rotated');
    closeSync(fd);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
