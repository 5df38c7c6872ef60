// `ferry store migrate`: embedded -> etcd -> embedded with the real CLI and a
// real etcd; idempotent; a non-empty target is refused without --force.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import YAML from 'yaml';
import { ferry, freePorts, tempDir } from '../support/harness.ts';
import { startEtcd, ETCD, type EtcdCluster } from '../support/etcd.ts';
import { EtcdStore } from '../../control-plane/store/etcd.ts';

const services = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `apiVersion: v1
kind: Service
metadata: { name: svc-${from + i} }
spec: { type: ExternalName, externalName: 127.0.0.1, ports: [{ port: ${8000 + i} }] }
`).join('---\n');

describe('ferry store migrate', { skip: !ETCD && 'etcd is not installed (scripts/debian-tools.sh installs etcd-server)' }, () => {
  let etcd: EtcdCluster;
  let dir: string;
  let home: string;
  let keyFile: string;
  before(async () => {
    etcd = await startEtcd(1);
    dir = tempDir('store-migrate');
    home = join(dir, 'home');
    keyFile = join(dir, 'store.key');
    writeFileSync(keyFile, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
    const p = await freePorts(6);
    const init = ferry(['init', 'alice', '--home', home, '--public-port', String(p[0]), '--internal-port', String(p[1]), '--api-port', String(p[2]), '--admin-port', String(p[3]), '--xds-port', String(p[4]), '--kusciaapi-grpc-port', String(p[5])]);
    assert.equal(init.code, 0, init.stderr);
    assert.equal(ferry(['apply', '--home', home, '-f', '-'], services(20)).code, 0);
  });
  after(async () => {
    await etcd?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const listEtcd = async (prefix: string) => {
    const s = new EtcdStore({ endpoints: etcd.endpoints, prefix });
    try {
      return (await s.list()).items.map((r) => r.metadata.name).sort();
    } finally {
      await s.close();
    }
  };

  test('embedded -> etcd copies every object and switches the node; again is nothing to do', async () => {
    const to = `${etcd.url}/ferry/alice/`;
    const r = ferry(['store', 'migrate', '--to', to, '--store-key-file', keyFile, '--home', home]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /migrated to etcd:\/\/.*: 20 object\(s\) copied/);
    assert.equal((await listEtcd('/ferry/alice/')).length, 20);
    const config = YAML.parse(readFileSync(join(home, 'ferry.yaml'), 'utf8')) as { store?: { endpoints: string[]; prefix: string }; storeKeyFile?: string };
    assert.deepEqual(config.store?.endpoints, etcd.endpoints);
    assert.equal(config.storeKeyFile, keyFile);
    const again = ferry(['store', 'migrate', '--to', to, '--store-key-file', keyFile, '--home', home]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /already uses .*nothing to do/);
    const check = ferry(['store', 'check', '--home', home]);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, /answers: revision \d+, 20 object\(s\)\nok   store [0-9a-f-]+ \(this node's\)/);
    // Writes now go to etcd.
    assert.equal(ferry(['apply', '--home', home, '-f', '-'], services(1, 100)).code, 0);
    assert.ok((await listEtcd('/ferry/alice/')).includes('svc-100'));
  });

  test('back to embedded: the old file is not empty, so --force makes it an exact copy; then idempotent', async () => {
    const refused = ferry(['store', 'migrate', '--to', 'embedded', '--home', home]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^ferry: error: the target .*ferry\.db already holds 20 object\(s\) .*add --force to make it an exact copy/);
    const forced = ferry(['store', 'migrate', '--to', 'embedded', '--force', '--home', home]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /1 object\(s\) copied/);
    const config = YAML.parse(readFileSync(join(home, 'ferry.yaml'), 'utf8')) as { store?: unknown };
    assert.equal(config.store, undefined);
    const check = ferry(['store', 'check', '--home', home]);
    assert.equal(check.code, 0, check.stdout);
    assert.match(check.stdout, /21 Service/);
    // To etcd again: etcd already holds exactly these objects, so no --force is needed.
    const back = ferry(['store', 'migrate', '--to', `${etcd.url}/ferry/alice/`, '--store-key-file', keyFile, '--home', home]);
    assert.equal(back.code, 0, back.stderr);
    assert.match(back.stdout, /already held every object/);
  });

  test('a non-empty etcd prefix holding other objects is refused, and made a copy with --force', async () => {
    const other = new EtcdStore({ endpoints: etcd.endpoints, prefix: '/ferry/other/' });
    const { parseDocuments } = await import('../../interop/documents.ts');
    await other.apply(parseDocuments(services(3, 500), 'x') as never);
    await other.close();
    const to = `${etcd.url}/ferry/other/`;
    const refused = ferry(['store', 'migrate', '--to', to, '--store-key-file', keyFile, '--home', home]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /already holds 3 object\(s\) \(Service\/svc-500/);
    assert.deepEqual(await listEtcd('/ferry/other/'), ['svc-500', 'svc-501', 'svc-502'], 'nothing changed');
    const forced = ferry(['store', 'migrate', '--to', to, '--store-key-file', keyFile, '--force', '--home', home]);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /21 object\(s\) copied, 3 removed/);
    assert.equal((await listEtcd('/ferry/other/')).length, 21);
  });

  test('bad --to and a missing store key are one-line errors that change nothing', () => {
    const before = readFileSync(join(home, 'ferry.yaml'), 'utf8');
    const bad = ferry(['store', 'migrate', '--to', 'etcd://nohost', '--store-key-file', keyFile, '--home', home]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--to: "nohost" is not host:port/);
    assert.equal(readFileSync(join(home, 'ferry.yaml'), 'utf8'), before);
  });
});
