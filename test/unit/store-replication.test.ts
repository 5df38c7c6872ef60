// Replication pieces against a real etcd: leader election (lease, TTL) and
// the domain's certificates shared sealed (never plain text in etcd).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { EtcdStore } from '../../control-plane/store/etcd.ts';
import { EtcdLeadership } from '../../control-plane/store/leader.ts';
import { SharedCerts } from '../../control-plane/store/shared-secrets.ts';
import { readStoreKey, seal, unseal } from '../../control-plane/store/secrets.ts';
import { startEtcd, ETCD, type EtcdCluster } from '../support/etcd.ts';
import { tempDir, waitFor } from '../support/harness.ts';

describe('store key sealing', () => {
  const dir = tempDir('store-key');
  const keyFile = join(dir, 'k');
  writeFileSync(keyFile, randomBytes(32).toString('base64'));
  const other = join(dir, 'other');
  writeFileSync(other, randomBytes(32).toString('hex'));

  test('round trip; another key, another name or a changed byte are refused by name', () => {
    const k = readStoreKey(keyFile);
    const sealed = seal(k, 'certs/ca.key', 'SECRET PEM');
    assert.doesNotMatch(sealed, /SECRET/);
    assert.equal(unseal(k, 'certs/ca.key', sealed), 'SECRET PEM');
    assert.throws(() => unseal(readStoreKey(other), 'certs/ca.key', sealed), /sealed with another store key .*give every replica the same --store-key-file/);
    assert.throws(() => unseal(k, 'certs/gateway.key', sealed), /does not decrypt with this node's store key/);
    const raw = Buffer.from(sealed.split('.')[2]!, 'base64');
    raw[raw.length - 1]! ^= 1;
    assert.throws(() => unseal(k, 'certs/ca.key', `v1.${k.id}.${raw.toString('base64')}`), /altered, or sealed with another key/);
  });

  test('a key file that is not 32 bytes is refused with the way to make one', () => {
    writeFileSync(join(dir, 'short'), 'abc');
    assert.throws(() => readStoreKey(join(dir, 'short')), /not a 32-byte key in base64 or hex; make one with `openssl rand -base64 32/);
    assert.throws(() => readStoreKey(join(dir, 'missing')), /store key file .*missing: ENOENT/);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
});

describe('replication over etcd', { skip: !ETCD && 'etcd is not installed (scripts/debian-tools.sh installs etcd-server)' }, () => {
  let etcd: EtcdCluster;
  before(async () => { etcd = await startEtcd(1); });
  after(async () => { await etcd?.stop(); });
  const store = (prefix: string) => new EtcdStore({ endpoints: etcd.endpoints, prefix });

  test('one leader; a stopped leader hands over at once, a vanished one when its lease (TTL) runs out', async () => {
    const [sa, sb] = [store('/lead/'), store('/lead/')];
    const a = new EtcdLeadership(sa, { id: 'a', api: '', xds: '' }, { ttlSeconds: 2, heartbeatMs: 200 });
    const b = new EtcdLeadership(sb, { id: 'b', api: '', xds: '' }, { ttlSeconds: 2, heartbeatMs: 200 });
    try {
      await a.start();
      await b.start();
      assert.equal(a.isLeader, true);
      assert.equal(b.isLeader, false);
      assert.equal(await b.leader(), 'a');
      assert.deepEqual((await b.replicas()).map((r) => r.id), ['a', 'b']);
      await a.stop(); // revokes its lease
      await waitFor('b leads', async () => (b.isLeader ? true : undefined), 5000);
      // b vanishes without a word, as a killed process does (no revoke, no more keepalives): c takes over after the TTL.
      const sc = store('/lead/');
      const c = new EtcdLeadership(sc, { id: 'c', api: '', xds: '' }, { ttlSeconds: 2, heartbeatMs: 200 });
      await c.start();
      assert.equal(c.isLeader, false);
      const vanished = b as unknown as { stopped: boolean; lease: { release(): void } };
      vanished.stopped = true;
      vanished.lease.release();
      await waitFor('c leads after b\'s lease expired', async () => (c.isLeader ? true : undefined), 10_000);
      await c.stop();
      await sc.close();
    } finally {
      await sa.close();
      await sb.close();
    }
  });

  test('certificates go to etcd sealed (no PEM in plain text) and a second replica takes them', async () => {
    const key = readStoreKey((() => { const f = join(tempDir('k'), 'k'); writeFileSync(f, randomBytes(32).toString('base64')); return f; })());
    const [d1, d2] = [tempDir('certs1'), tempDir('certs2')];
    writeFileSync(join(d1, 'ca.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n');
    writeFileSync(join(d1, 'ca.crt'), '-----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----\n');
    mkdirSync(d2, { recursive: true });
    writeFileSync(join(d2, 'ca.crt'), 'its own, replaced');
    const [s1, s2] = [store('/certs/'), store('/certs/')];
    const log = pino({ level: 'silent' });
    try {
      assert.equal(await new SharedCerts(s1, key, d1, log).sync(), 'to-store');
      const raw = await s1.client.getAll().prefix('/certs/secrets/').strings();
      assert.deepEqual(Object.keys(raw).sort(), ['/certs/secrets/certs/ca.crt', '/certs/secrets/certs/ca.key']);
      for (const v of Object.values(raw)) assert.doesNotMatch(v, /BEGIN|AAAA|BBBB/);
      const second = new SharedCerts(s2, key, d2, log);
      assert.equal(await second.sync(), 'from-store');
      assert.equal(readFileSync(join(d2, 'ca.key'), 'utf8'), readFileSync(join(d1, 'ca.key'), 'utf8'));
      assert.equal(readFileSync(join(d2, 'ca.crt'), 'utf8'), readFileSync(join(d1, 'ca.crt'), 'utf8'));
      // A renewal on the first is followed by the second.
      let changed = 0;
      await second.follow(() => changed++);
      writeFileSync(join(d1, 'ca.crt'), 'renewed');
      await new SharedCerts(s1, key, d1, log).publish();
      await waitFor('the second follows', async () => (readFileSync(join(d2, 'ca.crt'), 'utf8') === 'renewed' ? true : undefined), 5000);
      assert.ok(changed >= 1);
      await second.stop();
    } finally {
      await s1.close();
      await s2.close();
      for (const d of [d1, d2]) rmSync(d, { recursive: true, force: true });
    }
  });
});
