// A full disk does not kill the node (issue 12, item 5): the home lives on a
// small tmpfs this test mounts; filled, certificate renewal fails, the node
// and its Envoy serve on with the old certificate, the cause shows as a
// status condition and in ferry_write_failures_total; with space back, the
// renewal is retried and succeeds. `ferry start` on a full disk fails in one
// line naming the cause.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startHttpEcho, type Echo } from '../../examples/echo-services.ts';
import { TestNode, curl, waitFor, linkToEcho } from '../support/harness.ts';

const isRoot = process.getuid?.() === 0;
const LIFETIME_S = 45; // renewed 30 s after issue; the old certificate stays valid 15 s more

/** The distinct serials of the certificates Envoy holds (a draining filter chain may hold one more copy for a while). */
async function envoySerials(node: TestNode): Promise<string[]> {
  const body = (await (await fetch(`http://127.0.0.1:${node.ports.admin}/certs`)).json()) as { certificates: { cert_chain?: { serial_number: string }[] }[] };
  return [...new Set(body.certificates.flatMap((c) => (c.cert_chain ?? []).map((x) => x.serial_number.toLowerCase().replace(/^0+/, ''))))].sort();
}

const fill = (home: string) => spawnSync('dd', ['if=/dev/zero', `of=${join(home, 'fill')}`, 'bs=64k'], { encoding: 'utf8' });

describe('a full disk', { skip: isRoot ? false : 'needs root to mount a small tmpfs for the home' }, () => {
  let alice: TestNode, bob: TestNode;
  let echo: Echo;
  let mounted = false;

  before(async () => {
    [alice, bob] = await Promise.all([TestNode.init('alice'), TestNode.init('bob')]);
    // alice's home moves onto an 8 MiB tmpfs.
    renameSync(alice.home, `${alice.home}.orig`);
    mkdirSync(alice.home);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', alice.home], { encoding: 'utf8' });
    assert.equal(m.status, 0, `mount tmpfs: ${m.stderr}`);
    mounted = true;
    cpSync(`${alice.home}.orig`, alice.home, { recursive: true });
    const config = join(alice.home, 'ferry.yaml');
    writeFileSync(config, `${readFileSync(config, 'utf8')}gatewayCertLifetime: ${LIFETIME_S}s\n`);
    echo = await startHttpEcho('echo@bob');
    await Promise.all([alice.start(), bob.start()]);
    await linkToEcho(alice, bob, echo.port);
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await echo?.close();
    if (mounted) spawnSync('umount', ['-l', alice.home]);
    alice?.cleanup();
    bob?.cleanup();
  });

  test('renewal fails with ENOSPC: node and Envoy serve on, the cause is reported, renewal succeeds once space returns', async () => {
    const call = () => curl(['-H', 'Host: echo.bob.svc', `http://127.0.0.1:${alice.ports.internal}/`]);
    assert.equal((await call()).status, 200);
    const before = await envoySerials(alice);
    fill(alice.home);
    // The renewal comes due and fails: a condition with the real cause.
    const status = await waitFor('a write-failure condition', async () => {
      const s = (await alice.status()) as { conditions?: { what: string; code: string; message: string }[] };
      return s.conditions?.find((c) => c.what === 'gateway-certificate');
    }, 60_000);
    assert.equal(status.code, 'ENOSPC');
    assert.match(status.message, /no space left on the filesystem of .*gateway\.key\.new \(ENOSPC\)/);
    const text = alice.cli(['status']).stdout;
    assert.match(text, /WriteFailing: gateway-certificate: could not write the renewed gateway certificate: no space left/);
    const metrics = await (await alice.api('/metrics')).text();
    assert.match(metrics, /ferry_write_failures_total\{what="gateway-certificate",code="ENOSPC"\} [1-9]/);
    assert.match(metrics, /ferry_write_failing\{what="gateway-certificate"\} 1\n/);
    // Still serving, with the old certificate.
    assert.equal((await alice.readyz()).ready, true);
    assert.deepEqual(await envoySerials(alice), before);
    assert.equal((await call()).status, 200);
    assert.equal(alice.pid !== undefined && isAlive(alice.pid), true, 'the node process is alive');

    // Space returns: the retry renews, Envoy gets the new certificate, the condition clears.
    rmSync(join(alice.home, 'fill'));
    await waitFor('the retried renewal', async () => {
      const s = (await alice.status()) as { conditions?: unknown[] };
      const serials = await envoySerials(alice);
      return s.conditions?.length === 0 && serials.join() !== before.join() ? true : undefined;
    }, 90_000);
    assert.equal((await call()).status, 200);
    assert.match(await (await alice.api('/metrics')).text(), /ferry_write_failing\{what="gateway-certificate"\} 0\n/);
  });

  test('`ferry start` on a full disk fails in one line naming the cause', async () => {
    await alice.stop();
    fill(alice.home);
    try {
      const r = alice.cli(['start']);
      assert.equal(r.code, 1);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `one line, no stack trace: ${r.stderr}`);
      assert.match(lines[0]!, /^ferry: error: cannot start the node for .*: no space left on the filesystem of .*ferry\.pid \(ENOSPC\); free space/);
    } finally {
      rmSync(join(alice.home, 'fill'), { force: true });
    }
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
