// Issue 12.7: the store is checked at start. A node that has run before
// refuses to start on a missing, empty, foreign or damaged store, in one line
// that says what to do, and `ferry store check` says what is wrong. Runs the
// real CLI; every refusal happens before Envoy would start.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync, closeSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ferry, tempDir } from '../support/harness.ts';
import { freePorts } from '../../control-plane/util/ports.ts';

const services = Array.from({ length: 20 }, (_, i) => `apiVersion: v1
kind: Service
metadata: { name: svc-${i} }
spec: { type: ExternalName, externalName: 127.0.0.1, ports: [{ port: ${8000 + i} }] }
`).join('---\n');

/** A refusal is exactly one line on stderr, no stack trace, exit 1. */
function assertOneLineRefusal(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, no stack trace:\n${r.stderr}`);
  assert.match(lines[0]!, /^ferry: error: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

describe('store integrity at start', () => {
  let home: string;
  let db: string;
  beforeEach(async () => {
    home = join(tempDir('store-integrity'), 'home');
    const ports = await freePorts(6);
    const init = ferry(['init', 'alice', '--home', home, '--public-port', String(ports[0]), '--internal-port', String(ports[1]), '--api-port', String(ports[2]), '--admin-port', String(ports[3]), '--xds-port', String(ports[4]), '--kusciaapi-grpc-port', String(ports[5])]);
    assert.equal(init.code, 0, init.stderr);
    // Applying with no node running writes the store: from then on the node has a store to keep.
    const apply = ferry(['apply', '--home', home, '-f', '-'], services);
    assert.equal(apply.code, 0, apply.stderr);
    db = join(home, 'data', 'ferry.db');
    assert.match(readFileSync(join(home, 'store-id'), 'utf8'), /^[0-9a-f-]{36}\n$/);
  });
  afterEach(() => rmSync(join(home, '..'), { recursive: true, force: true }));

  test('a healthy store checks ok and keeps every resource', () => {
    const check = ferry(['store', 'check', '--home', home]);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, /integrity check passed/);
    assert.match(check.stdout, /20 Service/);
  });

  test('a 0-byte store is refused at start and by apply, not started empty', () => {
    // Drop the WAL too, so what is left is exactly a 0-byte file.
    for (const f of ['-wal', '-shm']) rmSync(db + f, { force: true });
    truncateSync(db, 0);
    assertOneLineRefusal(ferry(['start', '--home', home]), /ferry\.db is empty \(0 bytes\), but this node has run with store [0-9a-f-]+ .*restore the file from a backup.*ferry store check --home/);
    assertOneLineRefusal(ferry(['apply', '--home', home, '-f', '-'], services), /is empty/);
    assert.equal(statSync(db).size, 0, 'nothing was written over it');
    const check = ferry(['store', 'check', '--home', home]);
    assert.equal(check.code, 1);
    assert.match(check.stdout, /FAIL .*ferry\.db is empty/);
  });

  test('a deleted store is refused; deleting the marker on purpose starts afresh', () => {
    for (const f of ['', '-wal', '-shm']) rmSync(db + f, { force: true });
    assertOneLineRefusal(ferry(['apply', '--home', home, '-f', '-'], services), /ferry\.db is missing, but this node has run .*to start this node afresh with no resources on purpose, delete .*store-id/);
    rmSync(join(home, 'store-id'));
    const fresh = ferry(['apply', '--home', home, '-f', '-'], services);
    assert.equal(fresh.code, 0, fresh.stderr);
  });

  test('another store put in its place is refused', () => {
    writeFileSync(join(home, 'store-id'), '00000000-0000-0000-0000-000000000000\n');
    assertOneLineRefusal(ferry(['start', '--home', home]), /is store [0-9a-f-]+, not this node's store 00000000-/);
  });

  test('a damaged page is found at start, in one line, and by `ferry store check`', () => {
    // Fold the WAL into the file first, so the damage is in what SQLite reads.
    const checkpoint = ferry(['store', 'check', '--home', home]);
    assert.equal(checkpoint.code, 0);
    for (const f of ['-wal', '-shm']) rmSync(db + f, { force: true });
    const size = statSync(db).size;
    assert.ok(size > 8192, `store has several pages (${size} bytes)`);
    const fd = openSync(db, 'r+');
    // Page 2 onwards: overwrite with garbage (the header on page 1 stays valid).
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, 4096);
    closeSync(fd);
    assertOneLineRefusal(ferry(['start', '--home', home]), /the store .*ferry\.db is unusable .*restore it from a backup, or run `ferry store check`/);
    const check = ferry(['store', 'check', '--home', home]);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /FAIL .*(integrity check found|cannot be read)/);
  });
});

describe('a shared store at start', () => {
  test('`ferry init --store` checks its flags before writing anything; `ferry start` on an etcd that does not answer is one line', async () => {
    const dir = tempDir('store-etcd-down');
    try {
      const home = join(dir, 'home');
      const [dead, ...ports] = await freePorts(6);
      const portFlags = ['--public-port', String(ports[0]), '--internal-port', String(ports[1]), '--api-port', String(ports[2]), '--admin-port', String(ports[3]), '--xds-port', String(ports[4])];
      const noKey = ferry(['init', 'bob', '--home', home, ...portFlags, '--store', `etcd://127.0.0.1:${dead}`]);
      assertOneLineRefusal(noKey, /--store-key-file is required with --store: .*openssl rand -base64 32/);
      assert.equal(existsSync(home), false, 'nothing written');
      const badUrl = ferry(['init', 'bob', '--home', home, ...portFlags, '--store', 'http://127.0.0.1:2379']);
      assertOneLineRefusal(badUrl, /--store: "http:\/\/127\.0\.0\.1:2379" is not a store address: write etcd:\/\/host:2379/);
      const keyFile = join(dir, 'store.key');
      writeFileSync(keyFile, randomBytes(32).toString('base64'));
      const init = ferry(['init', 'bob', '--home', home, ...portFlags, '--store', `etcd://127.0.0.1:${dead}`, '--store-key-file', keyFile]);
      assert.equal(init.code, 0, init.stderr);
      assert.match(init.stdout, /store: etcd:\/\/127\.0\.0\.1:\d+ \(keys under \/ferry\/bob\/\)/);
      assertOneLineRefusal(ferry(['start', '--home', home]), /the store etcd:\/\/127\.0\.0\.1:\d+\/ferry\/bob\/ does not answer \(.*\): start etcd \(a quorum of its members\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
