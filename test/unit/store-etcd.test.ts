// The store contract (store-contract.ts) against a real etcd (Debian
// etcd-server, started by test/support/etcd.ts on its own ports), each test
// under a fresh key prefix; then what only etcd has: a member's loss.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdStore } from '../../control-plane/store/etcd.ts';
import { startEtcd, ETCD, type EtcdCluster } from '../support/etcd.ts';
import { storeContract, service } from './store-contract.ts';

let etcd: EtcdCluster | undefined;
let n = 0;
let prefix = '';
const opened: EtcdStore[] = [];
const open = () => { const s = new EtcdStore({ endpoints: etcd!.endpoints, prefix }); opened.push(s); return s; };

if (!ETCD) test('etcd store contract', { skip: 'etcd is not installed (scripts/debian-tools.sh installs etcd-server)' }, () => {});
before(async () => { if (ETCD) etcd = await startEtcd(1); });
after(async () => { await etcd?.stop(); });

if (ETCD) storeContract({
  name: 'etcd',
  async open() {
    prefix = `/ferry-test/${process.pid}-${++n}/`;
    return open();
  },
  async client() {
    return open();
  },
  async compact(store) {
    await (store as EtcdStore).compactHistory();
  },
  async cleanup() {
    for (const s of opened.splice(0)) await s.close().catch(() => undefined);
  },
});

describe('EtcdStore (cluster)', { skip: !ETCD }, () => {
  test('keys live under the prefix, values hold no resourceVersion (etcd\'s mod_revision is it)', async () => {
    prefix = `/ferry-test/${process.pid}-raw/`;
    const store = open();
    try {
      await store.apply([service('echo')]);
      const raw = await store.client.getAll().prefix(prefix).strings();
      assert.deepEqual(Object.keys(raw), [`${prefix}objects/Service/echo`]);
      assert.doesNotMatch(raw[`${prefix}objects/Service/echo`]!, /resourceVersion/);
    } finally {
      await store.close();
    }
  });
});
